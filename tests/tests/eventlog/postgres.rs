//! The PostgreSQL backend against a real server: schema creation by processes starting at once
//! on an empty database, the version check, and opening errors that say what to fix and never
//! show the password.

use std::process::Command;

use sidefx::log::{LogEvent, LogTarget, PostgresEventLog, Topic};

use super::fixtures::{PgDb, postgres_url};
use super::procs::{HELPER, wait_all};

fn error_of(result: sidefx::Result<impl std::fmt::Debug>) -> String {
    let e = result.expect_err("opening should fail");
    assert_eq!(e.code(), "SIDEFX-LOG");
    e.to_string()
}

/// The test server's URL with another password.
fn with_password(url: &str, password: &str) -> String {
    let mut u = url::Url::parse(url).unwrap();
    u.set_password(Some(password)).unwrap();
    u.to_string()
}

#[test]
fn opening_errors_say_what_to_fix_and_never_show_the_password() {
    let Some(admin) = postgres_url() else { return };
    let real = url::Url::parse(&admin).unwrap().password().unwrap().to_owned();

    let bad = error_of(PostgresEventLog::open(
        "postgres://me:Secr3tPw@127.0.0.1:99999/db",
    ));
    assert!(
        bad.contains("not a valid PostgreSQL URL") && !bad.contains("Secr3tPw"),
        "{bad}"
    );

    // Port 1 on loopback: nothing listens there.
    let refused = error_of(PostgresEventLog::open("postgres://me:Secr3tPw@127.0.0.1:1/db"));
    assert!(
        refused.contains("cannot connect to the PostgreSQL event log at postgres://me:***@127.0.0.1:1/db"),
        "{refused}"
    );
    assert!(!refused.contains("Secr3tPw"), "{refused}");

    let wrong = with_password(&admin, "Wr0ngPassw0rd");
    let auth = error_of(PostgresEventLog::open(&wrong));
    assert!(auth.contains("password authentication failed"), "{auth}");
    assert!(auth.contains("check the user and password"), "{auth}");
    assert!(!auth.contains("Wr0ngPassw0rd") && !auth.contains(&real), "{auth}");

    let mut missing = url::Url::parse(&admin).unwrap();
    missing.set_path("/sidefx_no_such_database");
    let nodb = error_of(PostgresEventLog::open(missing.as_str()));
    assert!(
        nodb.contains("does not exist") && nodb.contains("createdb"),
        "{nodb}"
    );
    assert!(!nodb.contains(&real), "{nodb}");

    // Through the one-string entry point too.
    let via_open = error_of(sidefx::log::open(&wrong));
    assert!(!via_open.contains("Wr0ngPassw0rd"), "{via_open}");
}

#[test]
fn reviewers_tools_never_create_the_tables() {
    let Some(db) = PgDb::create() else { return };
    let err = error_of(LogTarget::parse(&db.url).unwrap().open_existing());
    assert!(err.contains("has no sidefx tables"), "{err}");
    assert!(
        db.sql("SELECT 1 FROM pg_tables WHERE tablename LIKE 'sidefx%'")
            .unwrap()
            .is_empty()
    );
    // An agent host creates them; then the reviewer's tool opens the same log.
    let host = sidefx::log::open(&db.url).unwrap();
    let reviewer = LogTarget::parse(&db.url).unwrap().open_existing().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let t = Topic::new("shared").unwrap();
        host.append(&t, LogEvent::new("hello", serde_json::json!(1)))
            .await
            .unwrap();
        assert_eq!(reviewer.latest(&t).await.unwrap().unwrap().event.kind, "hello");
    });
}

#[test]
fn processes_starting_at_once_on_an_empty_database_all_succeed() {
    let Some(db) = PgDb::create() else { return };
    let children: Vec<_> = (0..4)
        .map(|_| Command::new(HELPER).args(["open", &db.url]).output_child())
        .collect();
    for out in wait_all(children) {
        assert_eq!(out.trim(), "opened");
    }
    let versions = db.sql("SELECT version FROM sidefx_schema_version").unwrap();
    assert_eq!(
        versions,
        vec![vec![Some("1".to_owned())]],
        "each migration applied once"
    );
}

#[test]
fn a_log_written_by_a_newer_sidefx_is_refused() {
    let Some(db) = PgDb::create() else { return };
    drop(PostgresEventLog::open(&db.url).unwrap());
    db.sql("INSERT INTO sidefx_schema_version (version) VALUES (99)")
        .unwrap();
    let err = error_of(PostgresEventLog::open(&db.url));
    assert!(err.contains("newer sidefx") && err.contains("upgrade"), "{err}");
}

/// Spawning with piped output, for [`wait_all`].
trait OutputChild {
    fn output_child(&mut self) -> std::process::Child;
}

impl OutputChild for Command {
    fn output_child(&mut self) -> std::process::Child {
        self.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }
}

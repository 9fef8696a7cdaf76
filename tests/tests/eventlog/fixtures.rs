//! One fresh log per test for each backend: memory, an SQLite file in a temporary directory,
//! and a fresh database on the PostgreSQL server named by `SIDEFX_TEST_POSTGRES`.
//!
//! The PostgreSQL tests run whenever `SIDEFX_TEST_POSTGRES` is set. When it is unset they are
//! skipped with a notice, except under `CI=true`, where they fail: CI never skips them.
//! `scripts/with-postgres cargo test ...` starts a throwaway server and sets the variable.

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use sidefx::log::{EventLog, MemoryEventLog, PostgresEventLog, SqliteEventLog};

/// A log under test, another handle on the same log (another file handle or connection pool;
/// the same log for memory), and a way to open it again.
pub struct Fixture {
    pub log: Arc<dyn EventLog>,
    pub other: Arc<dyn EventLog>,
    reopen: Box<dyn Fn() -> Arc<dyn EventLog> + Send + Sync>,
    _keep: Box<dyn Any + Send + Sync>,
}

impl Fixture {
    /// A new handle on the same log, as after a restart.
    pub fn reopen(&self) -> Arc<dyn EventLog> {
        (self.reopen)()
    }
}

pub fn memory() -> Option<Fixture> {
    let log: Arc<dyn EventLog> = Arc::new(MemoryEventLog::new());
    let same = log.clone();
    Some(Fixture {
        other: log.clone(),
        log,
        reopen: Box::new(move || same.clone()),
        _keep: Box::new(()),
    })
}

pub fn sqlite() -> Option<Fixture> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let reopen_path = path.clone();
    Some(Fixture {
        log: Arc::new(SqliteEventLog::open(&path).unwrap()),
        other: Arc::new(SqliteEventLog::open(&path).unwrap()),
        reopen: Box::new(move || Arc::new(SqliteEventLog::open_existing(&reopen_path).unwrap())),
        _keep: Box::new(dir),
    })
}

pub fn postgres() -> Option<Fixture> {
    let db = PgDb::create()?;
    let url = db.url.clone();
    Some(Fixture {
        log: Arc::new(PostgresEventLog::open(&db.url).unwrap()),
        other: Arc::new(PostgresEventLog::open(&db.url).unwrap()),
        reopen: Box::new(move || Arc::new(PostgresEventLog::open_existing(&url).unwrap())),
        _keep: Box::new(db),
    })
}

/// The server URL for the PostgreSQL tests; `None` (with a notice) when unset outside CI.
///
/// # Panics
/// When `CI=true` and `SIDEFX_TEST_POSTGRES` is unset: CI must run these tests.
pub fn postgres_url() -> Option<String> {
    match std::env::var("SIDEFX_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but SIDEFX_TEST_POSTGRES is unset: the PostgreSQL tests must run in CI; \
                 run the tests through scripts/with-postgres (see .ci/run)"
            );
            eprintln!(
                "skipped: SIDEFX_TEST_POSTGRES is unset; run `scripts/with-postgres cargo test -p sidefx-tests --test eventlog` \
                 to run the PostgreSQL tests"
            );
            None
        }
    }
}

/// A fresh database on the test server, dropped at the end of the test.
pub struct PgDb {
    pub url: String,
    admin: String,
    name: String,
}

impl PgDb {
    pub fn create() -> Option<PgDb> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let admin = postgres_url()?;
        let name = format!(
            "sidefx_t_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        admin_sql(&admin, &format!("CREATE DATABASE {name}")).unwrap();
        let mut url = url::Url::parse(&admin).unwrap();
        url.set_path(&format!("/{name}"));
        Some(PgDb {
            url: url.to_string(),
            admin,
            name,
        })
    }

    /// Runs SQL in this database as the test server's user.
    pub fn sql(&self, sql: &str) -> Result<Vec<Vec<Option<String>>>, String> {
        query(&self.url, sql)
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        // Best effort: the logs of the test may still be closing their connections.
        let _ = admin_sql(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

/// Runs SQL on its own thread and runtime (callers may be inside a runtime).
pub fn admin_sql(url: &str, sql: &str) -> Result<(), String> {
    query(url, sql).map(|_| ())
}

/// Runs SQL (simple protocol) and returns the rows of the last statement as text.
pub fn query(url: &str, sql: &str) -> Result<Vec<Vec<Option<String>>>, String> {
    let (url, sql) = (url.to_owned(), sql.to_owned());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .map_err(|e| e.to_string())?;
            let driver = tokio::spawn(conn);
            let messages = client.simple_query(&sql).await.map_err(|e| e.to_string())?;
            drop(client);
            let _ = driver.await;
            let mut rows = Vec::new();
            for m in messages {
                if let tokio_postgres::SimpleQueryMessage::Row(r) = m {
                    rows.push((0..r.len()).map(|i| r.get(i).map(str::to_owned)).collect());
                }
            }
            Ok(rows)
        })
    })
    .join()
    .unwrap()
}

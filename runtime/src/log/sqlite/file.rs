//! The SQLite file itself: opening, recognising a sidefx log (header and schema), creating one
//! atomically, and WAL mode.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};

use crate::{Error, Result};

/// `PRAGMA application_id` of a sidefx log: the ASCII bytes `SFX1`.
const APPLICATION_ID: i32 = 0x5346_5831;
/// `PRAGMA user_version`: the schema this code writes and reads.
const SCHEMA_VERSION: i32 = 1;
/// How long a writer waits for another process's write lock before the append fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// `events` holds every event; `topics.last_id` is each topic's recorded head, the value
/// compare-and-append checks and `latest` reads (never `max(id)`, so the two always agree).
const SCHEMA: &str = "
CREATE TABLE events (
    topic TEXT NOT NULL,
    id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    headers TEXT NOT NULL,
    occurred_at_ms INTEGER NOT NULL,
    PRIMARY KEY (topic, id)
) WITHOUT ROWID;
CREATE TABLE topics (
    topic TEXT PRIMARY KEY NOT NULL,
    last_id INTEGER NOT NULL
) WITHOUT ROWID;
";

/// An SQLite failure as a `SIDEFX-LOG` error naming the file and what was being done.
pub(super) fn sql_error(path: &Path, what: &str, e: rusqlite::Error) -> Error {
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => not_a_log(path, "the file is not an SQLite database"),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Error::Log(
            format!(
                "{what} {}: another process held the write lock for more than {} s",
                path.display(),
                BUSY_TIMEOUT.as_secs()
            )
            .into(),
        ),
        _ => Error::log(format!("{what} {}", path.display()), e),
    }
}

pub(super) fn not_a_log(path: &Path, why: &str) -> Error {
    Error::Log(format!("{} is not a sidefx event log: {why}", path.display()).into())
}

/// Opens a connection without changing anything in the file.
pub(super) fn connect(path: &Path, create: bool) -> Result<Connection> {
    if !create && !path.exists() {
        return Err(Error::Log(
            format!(
                "no sidefx event log at {}: the file does not exist",
                path.display()
            )
            .into(),
        ));
    }
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let mut conn = Connection::open_with_flags(path, flags).map_err(|e| sql_error(path, "cannot open", e))?;
    conn.busy_handler(Some(wait_for_lock))
        .map_err(|e| sql_error(path, "cannot configure", e))?;
    Ok(conn)
}

/// SQLite's busy handler: `true` to try the lock again after a short sleep, `false` (after
/// [`BUSY_TIMEOUT`]) to fail. Retries often, unlike SQLite's own timeout (which sleeps up to
/// 100 ms between tries): a process whose writer group-commits back to back releases the lock
/// only for the moment between two transactions, and a waiter that rarely looks would starve.
fn wait_for_lock(attempts: i32) -> bool {
    const FIRST: Duration = Duration::from_micros(100);
    const THEN: Duration = Duration::from_micros(500);
    const QUICK: i32 = 10;
    let quick = FIRST * QUICK as u32;
    let waited = match attempts {
        n if n < QUICK => FIRST * n.unsigned_abs(),
        n => quick + THEN * (n - QUICK).unsigned_abs(),
    };
    if waited >= BUSY_TIMEOUT {
        return false;
    }
    std::thread::sleep(if attempts < QUICK { FIRST } else { THEN });
    true
}

/// What the file's header and schema say it is.
pub(super) enum Kind {
    Sidefx,
    Empty,
}

pub(super) fn inspect(conn: &Connection, path: &Path) -> Result<Kind> {
    let read = |pragma: &str| -> Result<i32> {
        conn.pragma_query_value(None, pragma, |r| r.get(0))
            .map_err(|e| sql_error(path, "cannot read", e))
    };
    let app_id = read("application_id")?;
    let version = read("user_version")?;
    if app_id == APPLICATION_ID {
        return match version {
            SCHEMA_VERSION => Ok(Kind::Sidefx),
            v if v > SCHEMA_VERSION => Err(Error::Log(format!(
                "{} was written by a newer sidefx (log schema {v}, this build reads {SCHEMA_VERSION}); upgrade sidefx",
                path.display()
            ).into())),
            v => Err(not_a_log(path, &format!("unknown log schema version {v}"))),
        };
    }
    if app_id != 0 {
        return Err(not_a_log(
            path,
            &format!("it is an SQLite database of another application (application_id {app_id:#x})"),
        ));
    }
    let objects: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
        .map_err(|e| sql_error(path, "cannot read", e))?;
    if objects > 0 || version != 0 {
        return Err(not_a_log(path, "it is an SQLite database with other tables"));
    }
    Ok(Kind::Empty)
}

/// Creates the schema and header in an empty database, under the write lock; does nothing if
/// another process initialized it first.
pub(super) fn initialize(conn: &mut Connection, path: &Path) -> Result<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| sql_error(path, "cannot initialize", e))?;
    if let Kind::Empty = inspect(&tx, path)? {
        tx.execute_batch(SCHEMA)
            .and_then(|()| tx.pragma_update(None, "application_id", APPLICATION_ID))
            .and_then(|()| tx.pragma_update(None, "user_version", SCHEMA_VERSION))
            .map_err(|e| sql_error(path, "cannot initialize", e))?;
    }
    tx.commit().map_err(|e| sql_error(path, "cannot initialize", e))
}

pub(super) fn use_wal(conn: &Connection, path: &Path) -> Result<()> {
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .map_err(|e| sql_error(path, "cannot switch to WAL mode", e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::Log(
            format!(
                "cannot switch {} to WAL mode (SQLite kept {mode}); put the log on a local file system",
                path.display()
            )
            .into(),
        ));
    }
    Ok(())
}

/// Creates a new log so that `path` is never seen half-initialized, even if this process is
/// killed meanwhile: the log is built in a temporary file beside it and hard-linked into place
/// (which fails if another process created it first; then that log is used).
pub(super) fn create_new(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.init", uuid::Uuid::now_v7()));
    let built = (|| {
        let mut conn = connect(&tmp, true)?;
        initialize(&mut conn, &tmp)?;
        use_wal(&conn, &tmp)?;
        // Closing the only connection checkpoints and removes the temporary WAL.
        conn.close().map_err(|(_, e)| sql_error(&tmp, "cannot close", e))
    })();
    let linked = built.and_then(|()| match std::fs::hard_link(&tmp, path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(Error::log(format!("cannot create {}", path.display()), e)),
    });
    for suffix in ["", "-journal", "-wal", "-shm"] {
        let mut p = tmp.clone().into_os_string();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
    if linked? {
        // Make the new directory entry itself durable.
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Opens the writer connection: validates, initializes a new or empty file (when `create`),
/// and switches to WAL with synchronous FULL.
pub(super) fn open_writer(path: &Path, create: bool) -> Result<Connection> {
    if create && !path.exists() {
        create_new(path)?;
    }
    let mut conn = connect(path, create)?;
    if let Kind::Empty = inspect(&conn, path)? {
        if !create {
            return Err(not_a_log(path, "the file is empty"));
        }
        // An empty file someone made for the log (another process may be initializing it too).
        initialize(&mut conn, path)?;
    }
    use_wal(&conn, path)?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(|e| sql_error(path, "cannot configure", e))?;
    Ok(conn)
}

pub(super) fn open_reader(path: &Path) -> Result<Connection> {
    let conn = connect(path, false)?;
    match inspect(&conn, path)? {
        Kind::Sidefx => {}
        Kind::Empty => return Err(not_a_log(path, "the file is empty")),
    }
    conn.pragma_update(None, "query_only", true)
        .map_err(|e| sql_error(path, "cannot configure", e))?;
    Ok(conn)
}

//! The SQLite event log: the embedded, durable default, shared by processes on one machine.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior, params};
use tokio::sync::{oneshot, watch};

use super::{EventId, EventLog, LogEvent, StoredEvent, Topic};
use crate::{Error, Result};

/// `PRAGMA application_id` of a sidefx log: the ASCII bytes `SFX1`.
const APPLICATION_ID: i32 = 0x5346_5831;
/// `PRAGMA user_version`: the schema this code writes and reads.
const SCHEMA_VERSION: i32 = 1;
/// How long a writer waits for another process's write lock before the append fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Most appends committed in one transaction (group commit).
const MAX_BATCH: usize = 512;
/// Reader connections kept open for reuse.
const MAX_IDLE_READERS: usize = 4;
/// Polling backoff for appends made by other processes.
const POLL_START: Duration = Duration::from_millis(1);
const POLL_MAX: Duration = Duration::from_millis(50);

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

/// The path of the default log: `$SIDEFX_LOG` when set and not empty, else
/// `.sidefx/events.db` under the working directory.
///
/// ```
/// let path = sidefx::log::default_path().unwrap();
/// assert!(path.ends_with("events.db") || std::env::var_os("SIDEFX_LOG").is_some());
/// ```
pub fn default_path() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("SIDEFX_LOG").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let cwd = std::env::current_dir().map_err(|e| {
        Error::Log(format!(
            "cannot find the working directory for .sidefx/events.db: {e}"
        ))
    })?;
    Ok(cwd.join(".sidefx").join("events.db"))
}

/// Opens (creating it if needed) the default durable log at [`default_path`]: `$SIDEFX_LOG`,
/// else `.sidefx/events.db` under the working directory, creating the directory.
///
/// ```no_run
/// let log = sidefx::log::open_default().unwrap();
/// # let _ = log;
/// ```
pub fn open_default() -> Result<Arc<dyn EventLog>> {
    let path = default_path()?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::Log(format!("cannot create the log directory {}: {e}", dir.display())))?;
    }
    Ok(Arc::new(SqliteEventLog::open(&path)?))
}

/// A durable event log in one SQLite file (bundled SQLite, WAL mode), shared by every process
/// on the machine that opens the same file.
///
/// # What is durable when
///
/// **When `append` or `append_if_latest` returns `Ok`, the event is committed and on disk:**
/// its transaction was committed to the write-ahead log with `PRAGMA synchronous = FULL`, so
/// SQLite fsynced the WAL before the call returned. The event survives the appending process
/// being killed (even with SIGKILL) and the machine losing power, provided the disk honours
/// fsync. Until the call returns, nothing is promised: a crash before that leaves either the
/// whole event or none of it (transactions are atomic; there are no half-written records), and
/// an id is only ever reported for a committed event. Concurrent appends are batched into one
/// transaction (group commit): every call in the batch returns only after the batch committed.
/// An `append` whose future is dropped after it was queued may still be committed.
/// [`flush`](EventLog::flush) therefore has nothing left to make durable; it waits for queued
/// appends and checkpoints the WAL into the main file (a compaction, not a durability step).
///
/// # Several processes
///
/// Ids are per topic, from 1, without gaps. Appends run in `BEGIN IMMEDIATE` transactions that
/// take SQLite's write lock before reading a topic's head, so `append_if_latest` is atomic
/// across processes and concurrent trust-record writers keep one valid chain. A writer waits up
/// to 10 s for another process's write lock, then the append fails with `SIDEFX-LOG`. Waiters
/// (`wait_for_append`, subscriptions, [`approval::wait`](crate::approval::wait)) on the same
/// `SqliteEventLog` wake at once on its appends; appends made by other processes (or through
/// another handle) are seen by polling with backoff, 1 ms doubling to 50 ms. The file must be
/// on a local file system (WAL needs shared memory between the processes).
///
/// A new log is built in a temporary file beside it and linked into place, so a process killed
/// while creating it never leaves a half-initialized log (at worst a stray `.NAME.UUID.init`
/// file, safe to delete).
///
/// A file that exists but is not a sidefx log (another SQLite database, another kind of file, a
/// newer log schema) is refused with `SIDEFX-LOG` and left untouched.
///
/// SQLite calls never run on the async executor: appends go to a dedicated writer thread per
/// log, reads run on tokio's blocking pool.
///
/// ```
/// use sidefx::log::{EventLog, LogEvent, SqliteEventLog, Topic};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("events.db");
/// let t = Topic::new("demo").unwrap();
/// {
///     let log = SqliteEventLog::open(&path).unwrap();
///     assert_eq!(log.append(&t, LogEvent::new("hello", serde_json::json!(1))).await.unwrap(), 1);
/// }
/// // Another process (or a restart) sees it.
/// let log = SqliteEventLog::open_existing(&path).unwrap();
/// assert_eq!(log.latest(&t).await.unwrap().unwrap().event.kind, "hello");
/// # });
/// ```
pub struct SqliteEventLog {
    shared: Arc<Shared>,
    writer: mpsc::Sender<Command>,
}

impl std::fmt::Debug for SqliteEventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteEventLog")
            .field("path", &self.shared.path)
            .finish_non_exhaustive()
    }
}

struct Shared {
    path: PathBuf,
    readers: Mutex<Vec<Connection>>,
    // The newest id this process knows per topic, so in-process waiters wake at once.
    notify: Mutex<HashMap<Topic, watch::Sender<EventId>>>,
}

impl Shared {
    fn notify_lock(&self) -> MutexGuard<'_, HashMap<Topic, watch::Sender<EventId>>> {
        // Every critical section leaves the map consistent, so a poisoned lock is still usable.
        self.notify.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn announce(&self, topic: &Topic, id: EventId) {
        let map = self.notify_lock();
        if let Some(tx) = map.get(topic) {
            tx.send_if_modified(|seen| {
                let newer = id > *seen;
                if newer {
                    *seen = id;
                }
                newer
            });
        }
    }

    fn watch(&self, topic: &Topic) -> watch::Receiver<EventId> {
        self.notify_lock()
            .entry(topic.clone())
            .or_insert_with(|| watch::Sender::new(0))
            .subscribe()
    }
}

enum Command {
    Append {
        topic: Topic,
        event: Encoded,
        /// `Some(expected)` for compare-and-append.
        expected: Option<Option<EventId>>,
        reply: oneshot::Sender<Result<Option<EventId>>>,
    },
    Flush {
        reply: oneshot::Sender<Result<()>>,
    },
}

struct Encoded {
    kind: String,
    payload: String,
    headers: String,
    occurred_at_ms: i64,
}

impl Encoded {
    fn new(event: LogEvent) -> Result<Encoded> {
        let encode = |what: &str, r: serde_json::Result<String>| {
            r.map_err(|e| Error::Log(format!("cannot encode the event's {what}: {e}")))
        };
        Ok(Encoded {
            payload: encode("payload", serde_json::to_string(&event.payload))?,
            headers: encode("headers", serde_json::to_string(&event.headers))?,
            kind: event.kind,
            occurred_at_ms: i64::try_from(event.occurred_at_ms)
                .map_err(|_| Error::Log("the event's occurred_at_ms does not fit SQLite's integer".into()))?,
        })
    }
}

fn sql_error(path: &Path, what: &str, e: rusqlite::Error) -> Error {
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => not_a_log(path, "the file is not an SQLite database"),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Error::Log(format!(
            "{what} {}: another process held the write lock for more than {} s",
            path.display(),
            BUSY_TIMEOUT.as_secs()
        )),
        _ => Error::Log(format!("{what} {}: {e}", path.display())),
    }
}

fn not_a_log(path: &Path, why: &str) -> Error {
    Error::Log(format!("{} is not a sidefx event log: {why}", path.display()))
}

fn to_i64(id: EventId) -> i64 {
    i64::try_from(id).unwrap_or(i64::MAX)
}

fn to_id(v: i64) -> EventId {
    u64::try_from(v).unwrap_or(0)
}

/// Opens a connection without changing anything in the file.
fn connect(path: &Path, create: bool) -> Result<Connection> {
    if !create && !path.exists() {
        return Err(Error::Log(format!(
            "no sidefx event log at {}: the file does not exist",
            path.display()
        )));
    }
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags).map_err(|e| sql_error(path, "cannot open", e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| sql_error(path, "cannot configure", e))?;
    Ok(conn)
}

/// What the file's header and schema say it is.
enum Kind {
    Sidefx,
    Empty,
}

fn inspect(conn: &Connection, path: &Path) -> Result<Kind> {
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
            ))),
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
fn initialize(conn: &mut Connection, path: &Path) -> Result<()> {
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

fn use_wal(conn: &Connection, path: &Path) -> Result<()> {
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .map_err(|e| sql_error(path, "cannot switch to WAL mode", e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::Log(format!(
            "cannot switch {} to WAL mode (SQLite kept {mode}); put the log on a local file system",
            path.display()
        )));
    }
    Ok(())
}

/// Creates a new log so that `path` is never seen half-initialized, even if this process is
/// killed meanwhile: the log is built in a temporary file beside it and hard-linked into place
/// (which fails if another process created it first; then that log is used).
fn create_new(path: &Path) -> Result<()> {
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
        Err(e) => Err(Error::Log(format!("cannot create {}: {e}", path.display()))),
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
fn open_writer(path: &Path, create: bool) -> Result<Connection> {
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

fn open_reader(path: &Path) -> Result<Connection> {
    let conn = connect(path, false)?;
    match inspect(&conn, path)? {
        Kind::Sidefx => {}
        Kind::Empty => return Err(not_a_log(path, "the file is empty")),
    }
    conn.pragma_update(None, "query_only", true)
        .map_err(|e| sql_error(path, "cannot configure", e))?;
    Ok(conn)
}

impl SqliteEventLog {
    /// Opens the log at `path`, creating the file (not its directory) if it does not exist.
    /// Fails with `SIDEFX-LOG` if the file is not a sidefx log (another database, another
    /// file type, or a newer schema). Opening blocks briefly on file I/O.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let log = sidefx::log::SqliteEventLog::open(dir.path().join("events.db")).unwrap();
    /// assert!(log.path().ends_with("events.db"));
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::start(path.as_ref(), true)
    }

    /// Opens an existing log; fails with `SIDEFX-LOG` if the file does not exist (it is never
    /// created), is empty, or is not a sidefx log. For tools that read a log another process
    /// writes.
    ///
    /// ```
    /// let err = sidefx::log::SqliteEventLog::open_existing("/nonexistent/events.db").unwrap_err();
    /// assert!(err.to_string().contains("does not exist"));
    /// ```
    pub fn open_existing(path: impl AsRef<Path>) -> Result<Self> {
        Self::start(path.as_ref(), false)
    }

    /// The file this log lives in.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let log = sidefx::log::SqliteEventLog::open(dir.path().join("e.db")).unwrap();
    /// assert_eq!(log.path(), dir.path().join("e.db"));
    /// ```
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    fn start(path: &Path, create: bool) -> Result<Self> {
        let conn = open_writer(path, create)?;
        let shared = Arc::new(Shared {
            path: path.to_owned(),
            readers: Mutex::new(Vec::new()),
            notify: Mutex::new(HashMap::new()),
        });
        let (tx, rx) = mpsc::channel();
        let thread_shared = shared.clone();
        std::thread::Builder::new()
            .name("sidefx-sqlite-writer".into())
            .spawn(move || writer_loop(conn, &rx, &thread_shared))
            .map_err(|e| Error::Log(format!("cannot start the SQLite writer thread: {e}")))?;
        Ok(SqliteEventLog { shared, writer: tx })
    }

    async fn send<T>(&self, make: impl FnOnce(oneshot::Sender<Result<T>>) -> Command) -> Result<T> {
        let (reply, rx) = oneshot::channel();
        let stopped = || Error::Log("the SQLite writer thread stopped".into());
        self.writer.send(make(reply)).map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }

    /// Runs a read on a pooled connection, off the async executor.
    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let shared = self.shared.clone();
        let job = move || {
            let pooled = shared.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let conn = match pooled {
                Some(c) => c,
                None => open_reader(&shared.path)?,
            };
            let out = f(&conn);
            let mut idle = shared.readers.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < MAX_IDLE_READERS {
                idle.push(conn);
            }
            out
        };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => handle
                .spawn_blocking(job)
                .await
                .map_err(|e| Error::Log(format!("an SQLite read failed: {e}")))?,
            Err(_) => job(),
        }
    }
}

fn writer_loop(mut conn: Connection, rx: &mpsc::Receiver<Command>, shared: &Shared) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(c) => batch.push(c),
                Err(_) => break,
            }
        }
        let mut appends = Vec::new();
        let mut flushes = Vec::new();
        for c in batch {
            match c {
                Command::Append {
                    topic,
                    event,
                    expected,
                    reply,
                } => appends.push((topic, event, expected, reply)),
                Command::Flush { reply } => flushes.push(reply),
            }
        }
        if !appends.is_empty() {
            match commit(&mut conn, &appends) {
                Ok(ids) => {
                    for ((topic, _, _, reply), id) in appends.into_iter().zip(ids) {
                        if let Ok(Some(id)) = id {
                            shared.announce(&topic, id);
                        }
                        let _ = reply.send(id.map_err(|taken| occupied(&shared.path, &topic, taken)));
                    }
                }
                Err(e) => {
                    let err = sql_error(&shared.path, "cannot append to", e);
                    for (_, _, _, reply) in appends {
                        let _ = reply.send(Err(err.clone()));
                    }
                }
            }
        }
        for reply in flushes {
            // Every append queued before the flush is committed (and fsynced) by now; a passive
            // checkpoint moves WAL pages into the main file without waiting for readers.
            let r = conn
                .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                .map_err(|e| sql_error(&shared.path, "cannot checkpoint", e));
            let _ = reply.send(r);
        }
    }
}

type Append = (
    Topic,
    Encoded,
    Option<Option<EventId>>,
    oneshot::Sender<Result<Option<EventId>>>,
);

/// The error of an append whose next id is already taken: the topic's recorded head was moved
/// back (or an event inserted past it) outside sidefx.
fn occupied(path: &Path, topic: &Topic, taken: EventId) -> Error {
    Error::Log(format!(
        "cannot append to topic {topic} in {}: event {taken} already exists beyond the topic's recorded head \
         (event {}); the file was altered outside sidefx (`sidefx trust verify` reports what changed)",
        path.display(),
        taken.saturating_sub(1)
    ))
}

/// Commits a batch in one `BEGIN IMMEDIATE` transaction. Per append: its new id, `None` when
/// a compare-and-append lost, or `Err(id)` when that id is already taken (a damaged head fails
/// its own appends, not the whole batch).
fn commit(
    conn: &mut Connection,
    batch: &[Append],
) -> rusqlite::Result<Vec<std::result::Result<Option<EventId>, EventId>>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut ids = Vec::with_capacity(batch.len());
    {
        let mut head = tx.prepare_cached("SELECT last_id FROM topics WHERE topic = ?1")?;
        let mut insert = tx.prepare_cached(
            "INSERT INTO events (topic, id, kind, payload, headers, occurred_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (topic, id) DO NOTHING",
        )?;
        let mut advance = tx.prepare_cached(
            "INSERT INTO topics (topic, last_id) VALUES (?1, ?2) ON CONFLICT (topic) DO UPDATE SET last_id = excluded.last_id",
        )?;
        for (topic, e, expected, _) in batch {
            let latest = head
                .query_row([topic.as_str()], |r| r.get::<_, i64>(0))
                .optional()?
                .unwrap_or(0);
            if let Some(expected) = expected
                && to_i64(expected.unwrap_or(0)) != latest
            {
                ids.push(Ok(None));
                continue;
            }
            let id = latest + 1;
            let inserted = insert.execute(params![
                topic.as_str(),
                id,
                e.kind,
                e.payload,
                e.headers,
                e.occurred_at_ms
            ])?;
            if inserted == 0 {
                ids.push(Err(to_id(id)));
                continue;
            }
            advance.execute(params![topic.as_str(), id])?;
            ids.push(Ok(Some(to_id(id))));
        }
    }
    tx.commit()?;
    Ok(ids)
}

fn decode(path: &Path, topic: &str, row: &rusqlite::Row<'_>) -> Result<StoredEvent> {
    decode_at(path, topic, row, 0)
}

/// Decodes `id, kind, payload, headers, occurred_at_ms` starting at column `at`.
fn decode_at(path: &Path, topic: &str, row: &rusqlite::Row<'_>, at: usize) -> Result<StoredEvent> {
    let get = |e: rusqlite::Error| sql_error(path, "cannot read", e);
    let id: i64 = row.get(at).map_err(get)?;
    let corrupt = |what: &str, e: serde_json::Error| {
        Error::Log(format!(
            "event {topic}/{id} in {} is corrupt: its {what} is not valid JSON ({e})",
            path.display()
        ))
    };
    let payload: String = row.get(at + 2).map_err(get)?;
    let headers: String = row.get(at + 3).map_err(get)?;
    let occurred: i64 = row.get(at + 4).map_err(get)?;
    Ok(StoredEvent {
        id: to_id(id),
        event: LogEvent {
            kind: row.get(at + 1).map_err(get)?,
            payload: serde_json::from_str(&payload).map_err(|e| corrupt("payload", e))?,
            headers: serde_json::from_str(&headers).map_err(|e| corrupt("headers", e))?,
            occurred_at_ms: to_id(occurred),
        },
    })
}

#[async_trait::async_trait]
impl EventLog for SqliteEventLog {
    async fn append(&self, topic: &Topic, event: LogEvent) -> Result<EventId> {
        let event = Encoded::new(event)?;
        let topic = topic.clone();
        let id = self
            .send(|reply| Command::Append {
                topic,
                event,
                expected: None,
                reply,
            })
            .await?;
        id.ok_or_else(|| Error::Log("the SQLite writer returned no id for an append".into()))
    }

    async fn append_if_latest(
        &self,
        topic: &Topic,
        expected: Option<EventId>,
        event: LogEvent,
    ) -> Result<Option<EventId>> {
        let event = Encoded::new(event)?;
        let topic = topic.clone();
        self.send(|reply| Command::Append {
            topic,
            event,
            expected: Some(expected),
            reply,
        })
        .await
    }

    async fn read_range(&self, topic: &Topic, after: EventId, limit: usize) -> Result<Vec<StoredEvent>> {
        let name = topic.as_str().to_owned();
        let path = self.shared.path.clone();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT id, kind, payload, headers, occurred_at_ms FROM events
                     WHERE topic = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
                )
                .map_err(|e| sql_error(&path, "cannot read", e))?;
            let mut rows = stmt
                .query(params![name, to_i64(after), limit])
                .map_err(|e| sql_error(&path, "cannot read", e))?;
            let mut out = Vec::new();
            while let Some(row) = rows.next().map_err(|e| sql_error(&path, "cannot read", e))? {
                out.push(decode(&path, &name, row)?);
            }
            Ok(out)
        })
        .await
    }

    async fn latest(&self, topic: &Topic) -> Result<Option<StoredEvent>> {
        let name = topic.as_str().to_owned();
        let path = self.shared.path.clone();
        self.read(move |c| {
            // The head as `commit` checks it (`topics.last_id`), never the newest row: if the two
            // disagree the log is damaged, and a writer must fail rather than retry forever.
            let mut stmt = c
                .prepare_cached(
                    "SELECT t.last_id, e.id, e.kind, e.payload, e.headers, e.occurred_at_ms FROM topics t
                     LEFT JOIN events e ON e.topic = t.topic AND e.id = t.last_id
                     WHERE t.topic = ?1 AND t.last_id > 0",
                )
                .map_err(|e| sql_error(&path, "cannot read", e))?;
            let mut rows = stmt
                .query([&name])
                .map_err(|e| sql_error(&path, "cannot read", e))?;
            let Some(row) = rows.next().map_err(|e| sql_error(&path, "cannot read", e))? else {
                return Ok(None);
            };
            let head: i64 = row.get(0).map_err(|e| sql_error(&path, "cannot read", e))?;
            let found: Option<i64> = row.get(1).map_err(|e| sql_error(&path, "cannot read", e))?;
            if found.is_none() {
                return Err(Error::Log(format!(
                    "topic {name} in {} is damaged: its recorded head is event {head}, which is missing; \
                     the file was altered outside sidefx (`sidefx trust verify` reports what changed)",
                    path.display()
                )));
            }
            decode_at(&path, &name, row, 1).map(Some)
        })
        .await
    }

    async fn last_id(&self, topic: &Topic) -> Result<EventId> {
        let name = topic.as_str().to_owned();
        let path = self.shared.path.clone();
        self.read(move |c| {
            c.prepare_cached("SELECT last_id FROM topics WHERE topic = ?1")
                .and_then(|mut s| s.query_row([&name], |r| r.get::<_, i64>(0)).optional())
                .map(|v| v.map_or(0, to_id))
                .map_err(|e| sql_error(&path, "cannot read", e))
        })
        .await
    }

    async fn wait_for_append(&self, topic: &Topic, after: EventId) -> Result<()> {
        // Subscribe before reading, so an in-process append after this point is never missed.
        let mut rx = self.shared.watch(topic);
        let mut delay = POLL_START;
        loop {
            let last = self.last_id(topic).await?;
            if last > after {
                // Let other waiters of this process see what was just found.
                self.shared.announce(topic, last);
                return Ok(());
            }
            tokio::select! {
                woken = rx.wait_for(|seen| *seen > after) => {
                    let dropped = |_| Error::Log("the SQLite log was dropped while waiting".into());
                    return woken.map(|_| ()).map_err(dropped);
                }
                () = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(POLL_MAX);
        }
    }

    async fn flush(&self) -> Result<()> {
        self.send(|reply| Command::Flush { reply }).await
    }

    async fn topics(&self) -> Result<Vec<Topic>> {
        let path = self.shared.path.clone();
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached("SELECT topic FROM topics WHERE last_id > 0 ORDER BY topic")
                .map_err(|e| sql_error(&path, "cannot read", e))?;
            let names = stmt
                .query_map([], |r| r.get::<_, String>(0))
                .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
                .map_err(|e| sql_error(&path, "cannot read", e))?;
            names
                .into_iter()
                .map(|n| {
                    Topic::new(n.clone()).map_err(|_| {
                        Error::Log(format!("{} holds an invalid topic name {n:?}", path.display()))
                    })
                })
                .collect()
        })
        .await
    }
}

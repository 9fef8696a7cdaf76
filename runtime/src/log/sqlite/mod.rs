//! The SQLite event log: the embedded, durable default, shared by processes on one machine.

mod file;
mod wake;
mod writer;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, mpsc};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::{oneshot, watch};

use self::file::{open_reader, open_writer, sql_error};
use self::wake::FileWatch;
use self::writer::{Command, Encoded, writer_loop};
use super::{ChainAppended, Chained, EventId, EventLog, LogEvent, StoredEvent, Topic};
use crate::{Error, Result};

/// Reader connections kept open for reuse.
const MAX_IDLE_READERS: usize = 4;
/// Polling backoff for appends made by other processes: the fallback when no file-change
/// notification comes.
const POLL: Backoff = Backoff {
    start: Duration::from_millis(1),
    max: Duration::from_millis(50),
};

/// A polling backoff: `start`, doubling up to `max`.
#[derive(Clone, Copy)]
pub(super) struct Backoff {
    start: Duration,
    max: Duration,
}

/// The path of the default SQLite log: `$SIDEFX_LOG` when set and not empty, else
/// `.sidefx/events.db` under the working directory. Fails when `$SIDEFX_LOG` is a URL:
/// [`default_target`](super::default_target) takes both.
///
/// # Errors
/// `SIDEFX-LOG` when the working directory cannot be read.
///
/// ```
/// let path = sidefx::log::default_path();
/// assert!(path.is_err() || path.unwrap().ends_with("events.db") || std::env::var_os("SIDEFX_LOG").is_some());
/// ```
pub fn default_path() -> Result<PathBuf> {
    match super::default_target()? {
        super::LogTarget::File(path) => Ok(path),
        other => Err(Error::Log(
            format!("SIDEFX_LOG is {other}, not a file path; open it with sidefx::log::open_default").into(),
        )),
    }
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
/// another handle) wake them through a file-change notification on the database and its WAL
/// (inotify, on Linux), with polling (1 ms doubling to 50 ms) as the fallback. The file must
/// be on a local file system (WAL needs shared memory between the processes).
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

pub(super) struct Shared {
    path: PathBuf,
    readers: Mutex<Vec<Connection>>,
    // The newest id this process knows per topic, so in-process waiters wake at once.
    notify: Mutex<HashMap<Topic, watch::Sender<EventId>>>,
    // Changes to the file made by any process, watched from the first wait on (`None` where
    // the system cannot report them: waiters then poll).
    file: OnceLock<Option<FileWatch>>,
    poll: Backoff,
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

    fn file_changes(&self) -> Option<watch::Receiver<u64>> {
        self.file
            .get_or_init(|| FileWatch::start(&self.path))
            .as_ref()
            .map(FileWatch::subscribe)
    }

    fn watch(&self, topic: &Topic) -> watch::Receiver<EventId> {
        self.notify_lock()
            .entry(topic.clone())
            .or_insert_with(|| watch::Sender::new(0))
            .subscribe()
    }
}

pub(super) fn to_i64(id: EventId) -> i64 {
    i64::try_from(id).unwrap_or(i64::MAX)
}

pub(super) fn to_id(v: i64) -> EventId {
    u64::try_from(v).unwrap_or(0)
}

impl SqliteEventLog {
    /// Opens the log at `path`, creating the file (not its directory) if it does not exist.
    /// Fails with `SIDEFX-LOG` if the file is not a sidefx log (another database, another
    /// file type, or a newer schema). Opening blocks briefly on file I/O.
    ///
    /// # Errors
    /// `SIDEFX-LOG` when the file cannot be created or opened, is not a sidefx event log, or was
    /// written by a newer version.
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
    /// # Errors
    /// `SIDEFX-LOG` when the file does not exist, cannot be opened, or is not a sidefx event log.
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

    /// Opens the log with a fallback poll of `every`, so a test can tell a wake-up by
    /// notification from one by polling.
    #[cfg(test)]
    pub(super) fn open_polling_every(path: &Path, every: Duration) -> Result<Self> {
        Self::start_with(
            path,
            true,
            Backoff {
                start: every,
                max: every,
            },
        )
    }

    fn start(path: &Path, create: bool) -> Result<Self> {
        Self::start_with(path, create, POLL)
    }

    fn start_with(path: &Path, create: bool, poll: Backoff) -> Result<Self> {
        let conn = open_writer(path, create)?;
        let shared = Arc::new(Shared {
            path: path.to_owned(),
            readers: Mutex::new(Vec::new()),
            notify: Mutex::new(HashMap::new()),
            file: OnceLock::new(),
            poll,
        });
        let (tx, rx) = mpsc::channel();
        let thread_shared = shared.clone();
        std::thread::Builder::new()
            .name("sidefx-sqlite-writer".into())
            .spawn(move || writer_loop(conn, &rx, &thread_shared))
            .map_err(|e| Error::log("cannot start the SQLite writer thread", e))?;
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
                .map_err(|e| Error::log("an SQLite read failed", e))?,
            Err(_) => job(),
        }
    }
}

/// Returns when the watched file changes; never, when it is not watched.
async fn file_changed(file: &mut Option<watch::Receiver<u64>>) {
    if let Some(rx) = file
        && rx.changed().await.is_ok()
    {
        return;
    }
    std::future::pending().await
}

fn decode(path: &Path, topic: &str, row: &rusqlite::Row<'_>) -> Result<StoredEvent> {
    decode_at(path, topic, row, 0)
}

/// Decodes `id, kind, payload, headers, occurred_at_ms` starting at column `at`.
pub(super) fn decode_at(path: &Path, topic: &str, row: &rusqlite::Row<'_>, at: usize) -> Result<StoredEvent> {
    let get = |e: rusqlite::Error| sql_error(path, "cannot read", e);
    let id: i64 = row.get(at).map_err(get)?;
    let corrupt = |what: &str, e: serde_json::Error| {
        Error::log(
            format!(
                "event {topic}/{id} in {} is corrupt: its {what} is not valid JSON",
                path.display()
            ),
            e,
        )
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

    async fn append_chained(&self, topic: &Topic, chained: Chained) -> Result<ChainAppended> {
        let Chained { before, seal } = chained;
        let before = before
            .into_iter()
            .map(|(t, e)| Ok((t, Encoded::from_encoded(e)?)))
            .collect::<Result<Vec<_>>>()?;
        let topic = topic.clone();
        self.send(|reply| Command::Chained {
            topic,
            before,
            seal,
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
                return Err(Error::Log(
                    format!(
                        "topic {name} in {} is damaged: its recorded head is event {head}, which is missing; \
                     the file was altered outside sidefx (`sidefx trust verify` reports what changed)",
                        path.display()
                    )
                    .into(),
                ));
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
        let mut file = self.shared.file_changes();
        let mut delay = self.shared.poll.start;
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
                // Another process committed (or checkpointed): read the head again.
                () = file_changed(&mut file) => {}
                () = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(self.shared.poll.max);
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
                        Error::Log(format!("{} holds an invalid topic name {n:?}", path.display()).into())
                    })
                })
                .collect()
        })
        .await
    }
    fn grant_key_home(&self) -> super::KeyHome {
        // Every process that shares the file shares the key beside it.
        super::KeyHome::File(super::grant_key_beside(&self.shared.path))
    }
}

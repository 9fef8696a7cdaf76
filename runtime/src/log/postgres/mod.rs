//! The PostgreSQL event log (feature `postgres`): one log shared by agent hosts and reviewers
//! on many machines.

mod batch;
mod conn;
mod listen;
mod schema;
mod txn;
mod writer;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::runtime::{Handle, Runtime};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_postgres::Row;
use tokio_postgres::types::{ToSql, Type};

use self::batch::Encoded;
use self::conn::{Pool, Target, transient};
use self::listen::{Listening, listener_loop};
use self::writer::{Command, writer_loop};
use super::{ChainAppended, Chained, EventId, EventLog, LogEvent, StoredEvent, Topic};
use crate::{Error, Result};

/// How long a read keeps retrying while the server is unreachable.
const READ_RETRY_FOR: Duration = Duration::from_secs(30);
/// Polling backoff of waiters while the listener is not connected (the only polling).
const POLL_START: Duration = Duration::from_millis(5);
const POLL_MAX: Duration = Duration::from_millis(200);

/// An event log in a PostgreSQL database, shared by every process on every machine that opens
/// the same database: agent hosts append, reviewers answer approvals, all see one trust chain.
///
/// # What is durable when
///
/// **When `append` or `append_if_latest` returns `Ok`, the event is committed**: its
/// transaction's `COMMIT` was acknowledged, so it is as durable as the server makes commits
/// (with the default `synchronous_commit = on`, flushed to the server's WAL; with synchronous
/// replication configured, also on the standbys). A session setting of `synchronous_commit =
/// off` is overridden for the writer's connection. Until the call returns nothing is promised,
/// and an id is only reported for a committed event. Concurrent appends of one process are
/// batched into one transaction (group commit). If the server goes away mid-batch (a restart,
/// a failover, a network cut) the writer reconnects and retries for up to 30 s; a batch whose
/// `COMMIT` answer was lost is looked up by a token stored with its rows, so it is reported
/// committed if it landed and retried if it did not: an append lands at most once. After 30 s
/// the appends fail with `SIDEFX-LOG`. [`flush`](EventLog::flush) waits for queued appends.
///
/// # Many writers
///
/// Each append transaction locks its topics' head rows (`SELECT .. FOR UPDATE` on
/// `sidefx_topics`, in a fixed order) before numbering events, so ids are per topic, from 1,
/// without gaps, and `append_if_latest` is atomic across every connection of every machine.
///
/// # Waiting
///
/// Appends send `pg_notify('sidefx_log', ..)` in their own transaction, so the wake-up goes
/// out exactly when the events are visible. `wait_for_append`, subscriptions and approval
/// waits listen on that channel through one connection per log and re-read after every
/// wake-up and every reconnect; they poll (5 ms doubling to 200 ms) only while that connection
/// is down.
///
/// # Connections
///
/// The URL is `postgres://USER:PASSWORD@HOST:PORT/DATABASE` (see the README's "Many
/// machines" section; `?host=/dir` for a unix socket). Connections are plain (no TLS in this
/// build). Each log runs its own small runtime thread, so it works from any async runtime and
/// outlives none: a writer connection, a listener connection and up to 8 reader connections.
/// Opening connects, checks the schema and creates or migrates it; it blocks the calling
/// thread until then. The writer's connection is opened at the same time, so a process that
/// appends right after opening (a reviewer answering) does not wait for a connection set-up. Errors never show the password.
///
/// ```no_run
/// use sidefx::log::{EventLog, LogEvent, PostgresEventLog, Topic};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let log = PostgresEventLog::open("postgres://sidefx:secret@db.internal:5432/sidefx").unwrap();
/// let t = Topic::new("demo").unwrap();
/// let id = log.append(&t, LogEvent::new("hello", serde_json::json!(1))).await.unwrap();
/// assert_eq!(log.latest(&t).await.unwrap().unwrap().id, id);
/// # });
/// ```
pub struct PostgresEventLog {
    shared: Arc<Shared>,
    writer: mpsc::UnboundedSender<Command>,
    handle: Handle,
    runtime: Option<Runtime>,
}

impl std::fmt::Debug for PostgresEventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresEventLog")
            .field("url", &self.shared.target.shown())
            .finish_non_exhaustive()
    }
}

impl Drop for PostgresEventLog {
    fn drop(&mut self) {
        // Never blocks, so dropping the log inside async code is fine; open connections close.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

pub(crate) struct Shared {
    target: Target,
    pool: Pool,
    // The newest id this process knows per topic, so waiters wake at once.
    notify: Mutex<HashMap<Topic, watch::Sender<EventId>>>,
    listening: watch::Sender<Listening>,
    listener_started: AtomicBool,
}

impl Shared {
    fn notify_lock(&self) -> MutexGuard<'_, HashMap<Topic, watch::Sender<EventId>>> {
        // Every critical section leaves the map consistent, so a poisoned lock is still usable.
        self.notify.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn announce(&self, topic: &Topic, id: EventId) {
        if let Some(tx) = self.notify_lock().get(topic) {
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

pub(crate) fn to_i64(id: EventId) -> i64 {
    i64::try_from(id).unwrap_or(i64::MAX)
}

pub(crate) fn to_id(v: i64) -> EventId {
    u64::try_from(v).unwrap_or(0)
}

/// A query parameter owned by the task that runs the query.
enum Param {
    Text(String),
    Int(i64),
}

impl Param {
    fn typed(&self) -> (&(dyn ToSql + Sync), Type) {
        match self {
            Param::Text(s) => (s, Type::TEXT),
            Param::Int(i) => (i, Type::INT8),
        }
    }
}

impl PostgresEventLog {
    /// Opens the log in the database at `url`, creating or migrating its tables if needed.
    /// Fails with `SIDEFX-LOG` (never showing the password) for a bad URL, a refused
    /// connection, a failed login, or tables of a newer sidefx.
    ///
    /// ```
    /// let err = sidefx::log::PostgresEventLog::open("postgres://me:hunter2@127.0.0.1:1/x").unwrap_err();
    /// assert!(err.to_string().contains("cannot connect"));
    /// assert!(!err.to_string().contains("hunter2"));
    /// ```
    pub fn open(url: &str) -> Result<Self> {
        Self::start(url, true)
    }

    /// Opens a log whose tables exist; a database without them is refused, never changed.
    /// For reviewers' tools.
    ///
    /// ```
    /// let err = sidefx::log::PostgresEventLog::open_existing("postgres://h/db?port=x").unwrap_err();
    /// assert!(err.to_string().contains("not a valid PostgreSQL URL"));
    /// ```
    pub fn open_existing(url: &str) -> Result<Self> {
        Self::start(url, false)
    }

    /// The URL, with its password replaced by `***`.
    ///
    /// ```no_run
    /// let log = sidefx::log::PostgresEventLog::open("postgres://u:pw@db/x").unwrap();
    /// assert_eq!(log.url(), "postgres://u:***@db/x");
    /// ```
    pub fn url(&self) -> &str {
        self.shared.target.shown()
    }

    fn start(url: &str, create: bool) -> Result<Self> {
        let target = Target::parse(url)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("sidefx-postgres")
            .enable_all()
            .build()
            .map_err(|e| {
                Error::Log(format!("cannot start the PostgreSQL event log's runtime: {e}").into())
            })?;
        let handle = runtime.handle().clone();
        // The writer connects while the schema is checked, not on the first append: a
        // reviewer's process answers right after opening, and its answer should not wait for a
        // connection set-up (a TCP handshake, the password exchange, a server process).
        let early_writer = {
            let target = target.clone();
            handle.spawn(async move { writer::session(&target).await })
        };
        let (tx, rx) = std::sync::mpsc::channel();
        handle.spawn(async move {
            let prepared = async {
                let mut client = target.connect().await?;
                schema::prepare(&mut client, &target, create).await?;
                Ok::<_, Error>(client)
            }
            .await;
            let _ = tx.send(prepared.map(|client| (target, client)));
        });
        // Opening is synchronous, like opening a file: this thread waits for the runtime's.
        let (target, client) = rx
            .recv()
            .map_err(|_| Error::Log("the PostgreSQL event log's runtime stopped while opening".into()))??;
        let pool = Pool::new();
        pool.put_new(client);
        let shared = Arc::new(Shared {
            target,
            pool,
            notify: Mutex::new(HashMap::new()),
            listening: watch::Sender::new(Listening::default()),
            listener_started: AtomicBool::new(false),
        });
        let (writer, commands) = mpsc::unbounded_channel();
        handle.spawn(writer_loop(shared.clone(), early_writer, commands));
        Ok(PostgresEventLog {
            shared,
            writer,
            handle,
            runtime: Some(runtime),
        })
    }

    async fn send<T>(&self, make: impl FnOnce(oneshot::Sender<Result<T>>) -> Command) -> Result<T> {
        let (reply, rx) = oneshot::channel();
        let stopped = || Error::Log("the PostgreSQL event log's writer stopped".into());
        self.writer.send(make(reply)).map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }

    /// Runs a read on a pooled connection of the log's runtime, retrying while the server is
    /// away (reads change nothing, so a retry is always safe).
    async fn query(&self, sql: &'static str, params: Vec<Param>) -> Result<Vec<Row>> {
        let shared = self.shared.clone();
        let task = self.handle.spawn(async move {
            let deadline = Instant::now() + READ_RETRY_FOR;
            let mut delay = Duration::from_millis(10);
            loop {
                let typed: Vec<_> = params.iter().map(Param::typed).collect();
                let result = match shared.pool.get(&shared.target).await {
                    Ok(pooled) => {
                        let rows = pooled.client.query_typed(sql, &typed).await;
                        shared.pool.put(pooled);
                        rows
                    }
                    Err(e) => Err(e),
                };
                match result {
                    Ok(rows) => return Ok(rows),
                    Err(e) if transient(&e) && Instant::now() + delay < deadline => {
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_millis(500));
                    }
                    Err(e) => return Err(shared.target.error("cannot read", &e)),
                }
            }
        });
        task.await
            .map_err(|e| Error::Log(format!("a read of the PostgreSQL event log failed: {e}").into()))?
    }

    fn decode(&self, topic: &str, row: &Row, at: usize) -> Result<StoredEvent> {
        let bad = |e: tokio_postgres::Error| {
            Error::Log(
                format!(
                    "an event of topic {topic} in {} has an unexpected column type: {e}",
                    self.url()
                )
                .into(),
            )
        };
        let id: i64 = row.try_get(at).map_err(bad)?;
        let corrupt = |what: &str, e: serde_json::Error| {
            Error::Log(
                format!(
                    "event {topic}/{id} in {} is corrupt: its {what} is not valid JSON ({e})",
                    self.url()
                )
                .into(),
            )
        };
        let payload: &str = row.try_get(at + 2).map_err(bad)?;
        let headers: &str = row.try_get(at + 3).map_err(bad)?;
        let occurred: i64 = row.try_get(at + 4).map_err(bad)?;
        Ok(StoredEvent {
            id: to_id(id),
            event: LogEvent {
                kind: row.try_get(at + 1).map_err(bad)?,
                payload: serde_json::from_str(payload).map_err(|e| corrupt("payload", e))?,
                headers: serde_json::from_str(headers).map_err(|e| corrupt("headers", e))?,
                occurred_at_ms: to_id(occurred),
            },
        })
    }

    fn start_listener(&self) {
        if !self.shared.listener_started.swap(true, Ordering::AcqRel) {
            self.handle.spawn(listener_loop(self.shared.clone()));
        }
    }
}

#[async_trait::async_trait]
impl EventLog for PostgresEventLog {
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
        id.ok_or_else(|| Error::Log("the PostgreSQL writer returned no id for an append".into()))
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
        // Sealed by the writer inside its transaction, under the lock on the chain's head row:
        // no compare-and-retry, and many decisions share one commit.
        let Chained { before, seal } = chained;
        let before = before
            .into_iter()
            .map(|(t, e)| Ok((t, Encoded::from_sealed(&e)?)))
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
        let rows = self
            .query(
                "SELECT id, kind, payload, headers, occurred_at_ms FROM sidefx_events
                 WHERE topic = $1 AND id > $2 ORDER BY id LIMIT $3",
                vec![
                    Param::Text(topic.as_str().to_owned()),
                    Param::Int(to_i64(after)),
                    Param::Int(i64::try_from(limit).unwrap_or(i64::MAX)),
                ],
            )
            .await?;
        rows.iter().map(|r| self.decode(topic.as_str(), r, 0)).collect()
    }

    async fn latest(&self, topic: &Topic) -> Result<Option<StoredEvent>> {
        // The head as the writer checks it (`sidefx_topics.last_id`), never the newest row.
        let rows = self
            .query(
                "SELECT t.last_id, e.id, e.kind, e.payload, e.headers, e.occurred_at_ms FROM sidefx_topics t
                 LEFT JOIN sidefx_events e ON e.topic = t.topic AND e.id = t.last_id
                 WHERE t.topic = $1 AND t.last_id > 0",
                vec![Param::Text(topic.as_str().to_owned())],
            )
            .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let found: Option<i64> = row.try_get(1).unwrap_or(None);
        if found.is_none() {
            let head: i64 = row.try_get(0).unwrap_or(0);
            return Err(Error::Log(
                format!(
                    "topic {topic} in {} is damaged: its recorded head is event {head}, which is missing; \
                 the tables were altered outside sidefx (`sidefx trust verify` reports what changed)",
                    self.url()
                )
                .into(),
            ));
        }
        self.decode(topic.as_str(), row, 1).map(Some)
    }

    async fn last_id(&self, topic: &Topic) -> Result<EventId> {
        let rows = self
            .query(
                "SELECT last_id FROM sidefx_topics WHERE topic = $1",
                vec![Param::Text(topic.as_str().to_owned())],
            )
            .await?;
        Ok(rows
            .first()
            .and_then(|r| r.try_get::<_, i64>(0).ok())
            .map_or(0, to_id))
    }

    async fn wait_for_append(&self, topic: &Topic, after: EventId) -> Result<()> {
        self.start_listener();
        // Subscribe before reading, so nothing announced after the read is missed.
        let mut rx = self.shared.watch(topic);
        let mut state = self.shared.listening.subscribe();
        let mut delay = POLL_START;
        let dropped = |_| Error::Log("the PostgreSQL event log was dropped while waiting".into());
        loop {
            // Listening since before the read: any later commit is notified.
            let listening = state.borrow_and_update().connected;
            let last = self.last_id(topic).await?;
            if last > after {
                self.shared.announce(topic, last);
                return Ok(());
            }
            tokio::select! {
                woken = rx.wait_for(|seen| *seen > after) => return woken.map(|_| ()).map_err(dropped),
                changed = state.changed() => changed.map_err(dropped)?,
                () = tokio::time::sleep(delay), if !listening => delay = (delay * 2).min(POLL_MAX),
            }
        }
    }

    async fn flush(&self) -> Result<()> {
        self.send(|reply| Command::Flush { reply }).await
    }

    async fn topics(&self) -> Result<Vec<Topic>> {
        let rows = self
            .query("SELECT topic FROM sidefx_topics WHERE last_id > 0", Vec::new())
            .await?;
        let mut topics = rows
            .iter()
            .map(|r| {
                let name: String = r.try_get(0).unwrap_or_default();
                Topic::new(name.clone()).map_err(|_| {
                    Error::Log(format!("{} holds an invalid topic name {name:?}", self.url()).into())
                })
            })
            .collect::<Result<Vec<_>>>()?;
        topics.sort();
        Ok(topics)
    }
}

//! The event log (SPEC §10): the trait every backend implements, the event types, and
//! subscriptions that read history and then follow live appends.
//!
//! ```
//! use sidefx::log::{EventLog, LogEvent, MemoryEventLog, Topic};
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let log = MemoryEventLog::new();
//! let topic = Topic::new("demo").unwrap();
//! let id = log.append(&topic, LogEvent::new("hello", serde_json::json!({"n": 1}))).await.unwrap();
//! assert_eq!(id, 1);
//! let events = log.read_range(&topic, 0, 10).await.unwrap();
//! assert_eq!(events[0].event.kind, "hello");
//! # });
//! ```

mod chain;
mod memory;
pub(crate) mod open;
#[cfg(feature = "postgres")]
mod postgres;
mod retry;
#[cfg(feature = "sqlite")]
mod sqlite;
mod topic;

use std::collections::{BTreeMap, VecDeque};
use std::time::{SystemTime, UNIX_EPOCH};

pub(crate) use chain::append_chained_by_compare;
pub use chain::{ChainAppended, ChainLink, Chained, EncodedEvent, Seal};
pub use memory::MemoryEventLog;
pub use open::{LogTarget, default_target, open, open_default};
#[cfg(feature = "postgres")]
pub use postgres::PostgresEventLog;
pub(crate) use retry::Conflicts;
pub use retry::MAX_APPEND_CONFLICTS;
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteEventLog, default_path};
pub use topic::Topic;

use crate::Result;

/// Where a log keeps the key of its grant digests when `$SIDEFX_GRANT_KEY_FILE` is not set.
///
/// ```
/// use sidefx::log::KeyHome;
/// use sidefx::log::{EventLog, MemoryEventLog};
/// assert_eq!(MemoryEventLog::new().grant_key_home(), KeyHome::Process);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyHome {
    /// A file (created on first use): a SQLite log's is `<log file>.grant-key`.
    File(std::path::PathBuf),
    /// One random key for this process (the memory log, which no other process reads).
    Process,
    /// Nowhere: `$SIDEFX_GRANT_KEY_FILE` must name a file every host shares (PostgreSQL,
    /// custom backends). Without it no call becomes a grant (fail closed).
    Shared,
}

/// The grant key file beside a log file: `<log>.grant-key`.
///
/// ```
/// let p = sidefx::log::grant_key_beside(std::path::Path::new("/x/.sidefx/events.db"));
/// assert_eq!(p, std::path::Path::new("/x/.sidefx/events.db.grant-key"));
/// ```
pub fn grant_key_beside(log: &std::path::Path) -> std::path::PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(".grant-key");
    std::path::PathBuf::from(name)
}

/// A per-topic event id: 1 for the first event of a topic, then strictly increasing.
pub type EventId = u64;

/// One event as appended.
///
/// ```
/// let e = sidefx::log::LogEvent::new("note", serde_json::json!({})).with_header("agent", "a");
/// assert_eq!(e.headers["agent"], "a");
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LogEvent {
    /// What happened, such as `trust_recorded`.
    pub kind: String,
    /// The event's data.
    pub payload: serde_json::Value,
    /// Small string facts for routing and filtering (trace id, agent, tier).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// When it happened, milliseconds since the Unix epoch.
    pub occurred_at_ms: u64,
}

impl LogEvent {
    /// An event of `kind` with `payload`, stamped now, without headers.
    ///
    /// ```
    /// let e = sidefx::log::LogEvent::new("k", serde_json::json!(1));
    /// assert!(e.occurred_at_ms > 0);
    /// ```
    pub fn new(kind: impl Into<String>, payload: serde_json::Value) -> Self {
        LogEvent {
            kind: kind.into(),
            payload,
            headers: BTreeMap::new(),
            occurred_at_ms: now_ms(),
        }
    }

    /// Adds a header (builder style).
    ///
    /// ```
    /// let e = sidefx::log::LogEvent::new("k", serde_json::json!(1)).with_header("trace_id", "t");
    /// assert_eq!(e.headers.len(), 1);
    /// ```
    pub fn with_header(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(key.into(), value.into());
        self
    }
}

/// An event as stored, with its id.
///
/// ```
/// let s = sidefx::log::StoredEvent { id: 3, event: sidefx::log::LogEvent::new("k", serde_json::json!(null)) };
/// assert_eq!(s.id, 3);
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StoredEvent {
    /// The per-topic id.
    pub id: EventId,
    /// The event.
    #[serde(flatten)]
    pub event: LogEvent,
}

/// Milliseconds since the Unix epoch, now.
///
/// ```
/// assert!(sidefx::log::now_ms() > 1_700_000_000_000);
/// ```
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A millisecond time as RFC 3339 (`2025-01-31T12:00:00.000Z`). A time RFC 3339 cannot express
/// (past the year 9999: a wrong clock or an edited log) comes back as the raw number with an
/// `ms` suffix, so printing a stored time never panics.
///
/// ```
/// assert_eq!(sidefx::log::rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
/// assert_eq!(sidefx::log::rfc3339_ms(u64::MAX), "18446744073709551615ms");
/// ```
pub fn rfc3339_ms(ms: u64) -> String {
    use std::fmt::Write;
    let mut text = String::new();
    // humantime's Display returns fmt::Error past 9999, which `to_string` turns into a panic.
    match UNIX_EPOCH.checked_add(std::time::Duration::from_millis(ms)) {
        Some(t) if write!(text, "{}", humantime::format_rfc3339_millis(t)).is_ok() => text,
        _ => format!("{ms}ms"),
    }
}

/// Every event of `topic`, oldest first, read in batches.
///
/// # Errors
/// What the log's [`read_range`](EventLog::read_range) returns.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use sidefx::log::{self, EventLog, LogEvent, MemoryEventLog, Topic};
/// let mem = MemoryEventLog::new();
/// let t = Topic::new("notes").unwrap();
/// for i in 0..3 {
///     mem.append(&t, LogEvent::new("note", serde_json::json!(i))).await.unwrap();
/// }
/// let all = log::read_all(&mem, &t).await.unwrap();
/// assert_eq!(all.iter().map(|e| e.id).collect::<Vec<_>>(), [1, 2, 3]);
/// # });
/// ```
pub async fn read_all(log: &dyn EventLog, topic: &Topic) -> Result<Vec<StoredEvent>> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let batch = log.read_range(topic, after, 1024).await?;
        let Some(last) = batch.last() else { return Ok(out) };
        after = last.id;
        out.extend(batch);
    }
}

/// A durable or in-memory log of events, partitioned into topics.
///
/// Implementations must give each topic strictly increasing ids starting at 1, and make
/// [`append_if_latest`](EventLog::append_if_latest) atomic: it is what keeps the trust chain
/// from forking and an approval from being decided twice when several writers race. `latest`,
/// `last_id` and `append_if_latest` must read the head the same way (a writer that reads it one
/// way and compares it another never agrees with the log); writers give up with `SIDEFX-LOG`
/// after [`MAX_APPEND_CONFLICTS`] conflicts, or sooner when the head does not move.
///
/// ```
/// use sidefx::log::{EventLog, LogEvent, MemoryEventLog, Topic};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let log = MemoryEventLog::new();
/// let t = Topic::new("t").unwrap();
/// // Compare-and-append: succeeds only if the topic's latest id is still the expected one.
/// assert_eq!(log.append_if_latest(&t, None, LogEvent::new("a", serde_json::json!(1))).await.unwrap(), Some(1));
/// assert_eq!(log.append_if_latest(&t, None, LogEvent::new("b", serde_json::json!(2))).await.unwrap(), None);
/// # });
/// ```
#[async_trait::async_trait]
pub trait EventLog: Send + Sync {
    /// Appends an event and returns its id.
    async fn append(&self, topic: &Topic, event: LogEvent) -> Result<EventId>;

    /// Appends only if the topic's latest id is `expected` (`None`: the topic is empty).
    /// Returns the new id, or `None` when another writer appended first (read and retry).
    async fn append_if_latest(
        &self,
        topic: &Topic,
        expected: Option<EventId>,
        event: LogEvent,
    ) -> Result<Option<EventId>>;

    /// Appends `chained.before` and then the event `chained.seal` builds from the topic's head,
    /// atomically: the head cannot move between reading it and appending, so concurrent
    /// writers keep one chain without retrying. This is how trust records are appended.
    ///
    /// The default reads the head and compare-and-appends, retrying when another writer got
    /// there first (bounded, see [`MAX_APPEND_CONFLICTS`]); the `before` events are appended
    /// first, each on its own. Backends with a write transaction (SQLite, the memory log's lock)
    /// build the record inside it and commit it with the `before` events and every other
    /// waiting chained append at once.
    ///
    /// ```
    /// use sidefx::log::{ChainLink, Chained, EncodedEvent, EventLog, LogEvent, MemoryEventLog, Seal, Topic};
    /// struct Counter;
    /// impl Seal for Counter {
    ///     fn link_of(&self, head: &LogEvent) -> sidefx::Result<ChainLink> {
    ///         Ok(ChainLink { index: head.payload["n"].as_u64().unwrap_or(0), hash: String::new() })
    ///     }
    ///     fn seal(&mut self, previous: Option<&ChainLink>) -> sidefx::Result<(EncodedEvent, ChainLink)> {
    ///         let n = previous.map_or(0, |p| p.index + 1);
    ///         let event = EncodedEvent::from_json("count", format!(r#"{{"n":{n}}}"#))?;
    ///         Ok((event, ChainLink { index: n, hash: String::new() }))
    ///     }
    /// }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let log = MemoryEventLog::new();
    /// let t = Topic::new("counts").unwrap();
    /// for _ in 0..3 {
    ///     log.append_chained(&t, Chained { before: Vec::new(), seal: Box::new(Counter) }).await.unwrap();
    /// }
    /// assert_eq!(log.latest(&t).await.unwrap().unwrap().event.payload["n"], 2);
    /// # });
    /// ```
    async fn append_chained(&self, topic: &Topic, chained: Chained) -> Result<ChainAppended> {
        append_chained_by_compare(self, topic, chained).await
    }

    /// Up to `limit` events with id greater than `after`, oldest first.
    async fn read_range(&self, topic: &Topic, after: EventId, limit: usize) -> Result<Vec<StoredEvent>>;

    /// The event at the topic's recorded head ([`last_id`](EventLog::last_id)), the head that
    /// `append_if_latest` checks against; `None` when the topic has none. A backend whose
    /// recorded head names an event it does not hold must fail with `SIDEFX-LOG` rather than
    /// return an older event: a writer that read the head one way and compared it another would
    /// never agree with the log.
    async fn latest(&self, topic: &Topic) -> Result<Option<StoredEvent>>;

    /// The topic's recorded head: the id of its last appended event, 0 when none was. This is
    /// the value `append_if_latest` compares against, read without touching the event itself,
    /// so verification can prove the chain reaches it.
    async fn last_id(&self, topic: &Topic) -> Result<EventId>;

    /// The oldest id this log keeps for the topic by design: 1 for a log that keeps every event
    /// (the default). A bounded log that has dropped older events returns its oldest retained
    /// id. Verification lets a chain start after genesis only where the backend says so here,
    /// never because the stored data happens to start later.
    ///
    /// ```
    /// use sidefx::log::{EventLog, LogEvent, MemoryEventLog, Topic};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let t = Topic::new("t").unwrap();
    /// let log = MemoryEventLog::bounded(2);
    /// for i in 0..5 {
    ///     log.append(&t, LogEvent::new("n", serde_json::json!(i))).await.unwrap();
    /// }
    /// assert_eq!(log.first_retained(&t).await.unwrap(), 4);
    /// assert_eq!(MemoryEventLog::new().first_retained(&t).await.unwrap(), 1);
    /// # });
    /// ```
    async fn first_retained(&self, topic: &Topic) -> Result<EventId> {
        let _ = topic;
        Ok(1)
    }

    /// Returns once the topic may hold an event with id greater than `after`. May return early
    /// (callers re-read); must not miss an append that happens after the call starts.
    async fn wait_for_append(&self, topic: &Topic, after: EventId) -> Result<()>;

    /// Makes every appended event durable (a no-op for memory).
    async fn flush(&self) -> Result<()>;

    /// The topics that hold events.
    async fn topics(&self) -> Result<Vec<Topic>>;

    /// Where the key of this log's [suggestion grant](crate::grant) digests lives when
    /// `$SIDEFX_GRANT_KEY_FILE` does not name one. The default, [`KeyHome::Shared`], keeps none:
    /// every process using the log must then share the key file named by the variable, or no
    /// approved suggestion becomes a grant (fail closed).
    ///
    /// ```
    /// use sidefx::log::EventLog;
    /// let log = sidefx::log::MemoryEventLog::new();
    /// assert_eq!(log.grant_key_home(), sidefx::log::KeyHome::Process);
    /// ```
    fn grant_key_home(&self) -> KeyHome {
        KeyHome::Shared
    }
}

impl std::fmt::Debug for dyn EventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("dyn EventLog")
    }
}

/// Follows a topic: first its history after a given id, then live appends, with nothing lost
/// or repeated at the switch (both phases read by id from one cursor).
///
/// ```
/// use sidefx::log::{subscribe, EventLog, LogEvent, MemoryEventLog, Topic};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let log = MemoryEventLog::new();
/// let t = Topic::new("t").unwrap();
/// log.append(&t, LogEvent::new("old", serde_json::json!(1))).await.unwrap();
/// let mut sub = subscribe(&log, t.clone(), 0);
/// assert_eq!(sub.next().await.unwrap().event.kind, "old");
/// log.append(&t, LogEvent::new("new", serde_json::json!(2))).await.unwrap();
/// assert_eq!(sub.next().await.unwrap().id, 2);
/// # });
/// ```
pub struct Subscription<'a> {
    log: &'a dyn EventLog,
    topic: Topic,
    read_upto: EventId,
    cursor: EventId,
    buffer: VecDeque<StoredEvent>,
}

/// Subscribes to `topic` after id `after` (0: from the beginning).
///
/// ```
/// let log = sidefx::log::MemoryEventLog::new();
/// let sub = sidefx::log::subscribe(&log, sidefx::log::Topic::TRUST_GRAPH, 0);
/// assert_eq!(sub.cursor(), 0);
/// ```
pub fn subscribe(log: &dyn EventLog, topic: Topic, after: EventId) -> Subscription<'_> {
    Subscription {
        log,
        topic,
        read_upto: after,
        cursor: after,
        buffer: VecDeque::new(),
    }
}

impl Subscription<'_> {
    const BATCH: usize = 256;

    /// The next event, waiting for one if the history is exhausted.
    ///
    /// # Errors
    /// `SIDEFX-LOG` when the log fails while reading.
    pub async fn next(&mut self) -> Result<StoredEvent> {
        loop {
            if let Some(e) = self.buffer.pop_front() {
                self.cursor = e.id;
                return Ok(e);
            }
            let batch = self
                .log
                .read_range(&self.topic, self.read_upto, Self::BATCH)
                .await?;
            if let Some(last) = batch.last() {
                self.read_upto = last.id;
                self.buffer.extend(batch);
                continue;
            }
            self.log.wait_for_append(&self.topic, self.read_upto).await?;
        }
    }

    /// The id of the last event handed out (or the starting point).
    pub fn cursor(&self) -> EventId {
        self.cursor
    }
}

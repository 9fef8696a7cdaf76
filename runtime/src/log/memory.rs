//! The in-memory event log, for tests and single-process hosts that need no durability.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, OnceLock};

use tokio::sync::watch;

use super::{
    ChainAppended, ChainLink, Chained, EncodedEvent, EventId, EventLog, LogEvent, StoredEvent, Topic,
};
use crate::Result;

/// An event log in memory. Optionally bounded: a bounded log keeps the newest `capacity` events
/// per topic and drops older ones (ids keep increasing), so history reads and chain
/// verification see only the retained window. It says so through
/// [`first_retained`](EventLog::first_retained): the only log whose trust chain may start after
/// genesis.
///
/// ```
/// use sidefx::log::{EventLog, LogEvent, MemoryEventLog, Topic};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let log = MemoryEventLog::bounded(2);
/// let t = Topic::new("t").unwrap();
/// for i in 0..5 {
///     log.append(&t, LogEvent::new("n", serde_json::json!(i))).await.unwrap();
/// }
/// let kept = log.read_range(&t, 0, 10).await.unwrap();
/// assert_eq!(kept.iter().map(|e| e.id).collect::<Vec<_>>(), vec![4, 5]);
/// # });
/// ```
#[derive(Debug, Default)]
pub struct MemoryEventLog {
    capacity: Option<usize>,
    topics: Mutex<HashMap<Topic, TopicState>>,
}

#[derive(Debug)]
struct TopicState {
    events: VecDeque<Entry>,
    /// The link of the chained event at `last_id`, when it was appended here (so chaining does
    /// not decode the head).
    chain: Option<(EventId, ChainLink)>,
    last_id: EventId,
    // The oldest id kept: advanced only when the bound drops an event, never read off the data.
    first_retained: EventId,
    // Carries the latest id so waiters never miss an append made after they subscribed.
    notify: watch::Sender<EventId>,
}

impl TopicState {
    fn new() -> Self {
        TopicState {
            events: VecDeque::new(),
            chain: None,
            last_id: 0,
            first_retained: 1,
            notify: watch::Sender::new(0),
        }
    }
}

/// A stored event: as appended, or still as the JSON text a chained append wrote (decoded the
/// first time it is read).
#[derive(Debug)]
enum Entry {
    Event(StoredEvent),
    Encoded {
        id: EventId,
        event: EncodedEvent,
        decoded: OnceLock<StoredEvent>,
    },
}

impl Entry {
    fn id(&self) -> EventId {
        match self {
            Entry::Event(e) => e.id,
            Entry::Encoded { id, .. } => *id,
        }
    }

    fn stored(&self) -> Result<StoredEvent> {
        match self {
            Entry::Event(e) => Ok(e.clone()),
            Entry::Encoded { id, event, decoded } => {
                if let Some(e) = decoded.get() {
                    return Ok(e.clone());
                }
                let e = StoredEvent {
                    id: *id,
                    event: event.decode()?,
                };
                Ok(decoded.get_or_init(|| e).clone())
            }
        }
    }
}

impl MemoryEventLog {
    /// An unbounded in-memory log.
    ///
    /// ```
    /// let _log = sidefx::log::MemoryEventLog::new();
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// A log that keeps at most `capacity` events per topic (at least 1).
    ///
    /// ```
    /// let _log = sidefx::log::MemoryEventLog::bounded(10_000);
    /// ```
    pub fn bounded(capacity: usize) -> Self {
        MemoryEventLog {
            capacity: Some(capacity.max(1)),
            topics: Mutex::default(),
        }
    }

    /// Every stored event of every topic, for export or for moving a log elsewhere.
    ///
    /// ```
    /// let log = sidefx::log::MemoryEventLog::new();
    /// assert!(log.snapshot().is_empty());
    /// ```
    pub fn snapshot(&self) -> Vec<(Topic, StoredEvent)> {
        let topics = self.lock();
        let mut out: Vec<_> = topics
            .iter()
            // Encoded payloads are JSON this crate wrote or checked, so decoding them succeeds.
            .flat_map(|(t, s)| {
                s.events
                    .iter()
                    .filter_map(move |e| Some((t.clone(), e.stored().ok()?)))
            })
            .collect();
        out.sort_by(|a, b| (&a.0, a.1.id).cmp(&(&b.0, b.1.id)));
        out
    }

    /// Rebuilds a complete, unbounded log from stored events (as [`snapshot`](Self::snapshot)
    /// returns them), keeping their ids. Each topic's events must start at id 1 and follow
    /// without gaps: a snapshot with events cut off (or of a bounded log that dropped some) is
    /// refused, since the restored log would claim a history it does not hold.
    ///
    /// # Errors
    /// `SIDEFX-LOG` when a topic's ids do not start at 1 or do not follow each other.
    ///
    /// ```
    /// let a = sidefx::log::MemoryEventLog::new();
    /// let b = sidefx::log::MemoryEventLog::restore(a.snapshot()).unwrap();
    /// assert!(b.snapshot().is_empty());
    /// ```
    pub fn restore(events: impl IntoIterator<Item = (Topic, StoredEvent)>) -> Result<Self> {
        let log = MemoryEventLog::new();
        {
            let mut topics = log.lock();
            for (topic, event) in events {
                let state = topics.entry(topic.clone()).or_insert_with(TopicState::new);
                // Ids must be contiguous from 1: reads index by arithmetic, and a restored log
                // keeps everything, so its chains must reach back to genesis.
                if state.events.is_empty() && event.id != 1 {
                    return Err(crate::Error::Log(format!(
                        "cannot restore topic {topic}: it starts at event {}, not 1; a restored log must hold \
                         each topic's whole history",
                        event.id
                    ).into()));
                }
                if event.id != state.last_id + 1 {
                    return Err(crate::Error::Log(
                        format!(
                            "cannot restore topic {topic}: event id {} does not directly follow {}",
                            event.id, state.last_id
                        )
                        .into(),
                    ));
                }
                state.last_id = event.id;
                state.notify.send_replace(event.id);
                state.events.push_back(Entry::Event(event));
            }
        }
        Ok(log)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Topic, TopicState>> {
        // Every critical section leaves the map consistent, so a poisoned lock is still usable.
        self.topics.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(&self, state: &mut TopicState, event: LogEvent) -> EventId {
        self.push_entry(state, |id| Entry::Event(StoredEvent { id, event }))
    }

    fn push_entry(&self, state: &mut TopicState, entry: impl FnOnce(EventId) -> Entry) -> EventId {
        state.last_id += 1;
        let id = state.last_id;
        state.events.push_back(entry(id));
        if let Some(cap) = self.capacity {
            while state.events.len() > cap {
                if let Some(dropped) = state.events.pop_front() {
                    state.first_retained = dropped.id() + 1;
                }
            }
        }
        state.notify.send_replace(id);
        id
    }
}

#[async_trait::async_trait]
impl EventLog for MemoryEventLog {
    async fn append(&self, topic: &Topic, event: LogEvent) -> Result<EventId> {
        let mut topics = self.lock();
        let state = topics.entry(topic.clone()).or_insert_with(TopicState::new);
        Ok(self.push(state, event))
    }

    async fn append_if_latest(
        &self,
        topic: &Topic,
        expected: Option<EventId>,
        event: LogEvent,
    ) -> Result<Option<EventId>> {
        let mut topics = self.lock();
        let state = topics.entry(topic.clone()).or_insert_with(TopicState::new);
        if state.last_id != expected.unwrap_or(0) {
            return Ok(None);
        }
        Ok(Some(self.push(state, event)))
    }

    async fn read_range(&self, topic: &Topic, after: EventId, limit: usize) -> Result<Vec<StoredEvent>> {
        let topics = self.lock();
        let Some(state) = topics.get(topic) else {
            return Ok(Vec::new());
        };
        // Ids are contiguous within the retained window, so the start index is arithmetic.
        let first = state.events.front().map_or(1, Entry::id);
        let skip = usize::try_from(after.saturating_sub(first - 1)).unwrap_or(usize::MAX);
        state
            .events
            .iter()
            .skip(skip)
            .take(limit)
            .map(Entry::stored)
            .collect()
    }

    async fn latest(&self, topic: &Topic) -> Result<Option<StoredEvent>> {
        // The newest retained event is always the one at `last_id` (capacity is at least 1).
        self.lock()
            .get(topic)
            .and_then(|s| s.events.back().map(Entry::stored))
            .transpose()
    }

    async fn append_chained(&self, topic: &Topic, chained: Chained) -> Result<ChainAppended> {
        let Chained { before, mut seal } = chained;
        let mut topics = self.lock();
        // Sealed under the lock, so no other append can move the head meanwhile; sealed before
        // anything is appended, so a failing seal appends nothing.
        let state = topics.entry(topic.clone()).or_insert_with(TopicState::new);
        let previous = match (&state.chain, state.events.back()) {
            (Some((id, link)), _) if *id == state.last_id => Some(link.clone()),
            (_, Some(head)) => Some(seal.link_of(&head.stored()?.event)?),
            (_, None) => None,
        };
        let (event, link) = seal.seal(previous.as_ref())?;
        let ids = before
            .into_iter()
            .map(|(t, event)| {
                let state = topics.entry(t).or_insert_with(TopicState::new);
                self.push_entry(state, |id| Entry::Encoded {
                    id,
                    event,
                    decoded: OnceLock::new(),
                })
            })
            .collect();
        let state = topics.entry(topic.clone()).or_insert_with(TopicState::new);
        let id = self.push_entry(state, |id| Entry::Encoded {
            id,
            event,
            decoded: OnceLock::new(),
        });
        state.chain = Some((id, link.clone()));
        Ok(ChainAppended {
            before: ids,
            id,
            previous,
            link,
        })
    }

    async fn last_id(&self, topic: &Topic) -> Result<EventId> {
        Ok(self.lock().get(topic).map_or(0, |s| s.last_id))
    }

    async fn first_retained(&self, topic: &Topic) -> Result<EventId> {
        Ok(self.lock().get(topic).map_or(1, |s| s.first_retained))
    }

    async fn wait_for_append(&self, topic: &Topic, after: EventId) -> Result<()> {
        let mut rx = {
            let mut topics = self.lock();
            topics
                .entry(topic.clone())
                .or_insert_with(TopicState::new)
                .notify
                .subscribe()
        };
        // The receiver was created under the lock, so an append after that point changes it.
        rx.wait_for(|latest| *latest > after)
            .await
            .map(|_| ())
            .map_err(|_| crate::Error::Log("memory log dropped while waiting".into()))
    }

    async fn flush(&self) -> Result<()> {
        Ok(())
    }

    async fn topics(&self) -> Result<Vec<Topic>> {
        let mut t: Vec<Topic> = self.lock().keys().cloned().collect();
        t.sort();
        Ok(t)
    }
    fn grant_key_home(&self) -> super::KeyHome {
        // No other process reads a memory log.
        super::KeyHome::Process
    }
}

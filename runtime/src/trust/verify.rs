//! Verifying a trust chain (SPEC §10, §11): complete from genesis to the log's recorded head,
//! without gaps, and nothing stored outside the hash that a reader could rely on.
//!
//! A chain may start after genesis only where the backend declares a retained window
//! ([`EventLog::first_retained`]), never because the stored data happens to start later.

use std::fmt;

use super::{GENESIS_HASH, KIND, TrustRecord, headers_of};
use crate::Result;
use crate::log::{EventId, EventLog, StoredEvent, Topic};

/// The first broken link of a chain.
///
/// ```
/// let b = sidefx::trust::BrokenLink { index: 3, event_id: 4, reason: "entry_hash does not match".into() };
/// assert!(b.to_string().contains("3"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BrokenLink {
    /// Position in the chain: the `chain_index` the record there should have (its event id
    /// minus 1). For missing records, the first one missing.
    pub index: u64,
    /// The event id on `trust_graph` (for missing records, the first id missing).
    pub event_id: u64,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for BrokenLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "record {} (event {}): {}",
            self.index, self.event_id, self.reason
        )
    }
}

/// The result of verifying a chain.
///
/// ```
/// let v = sidefx::trust::ChainVerification { records: 0, first_broken: None };
/// assert!(v.is_valid());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChainVerification {
    /// How many records were read.
    pub records: u64,
    /// The first broken link, if any.
    pub first_broken: Option<BrokenLink>,
}

impl ChainVerification {
    /// True when every link holds.
    pub fn is_valid(&self) -> bool {
        self.first_broken.is_none()
    }
}

/// What the log says a chain must cover: every event id from `first_retained` to `head`.
///
/// ```
/// let b = sidefx::trust::ChainBounds::complete(12);
/// assert_eq!((b.first_retained, b.head), (1, 12));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainBounds {
    /// The first id the chain must hold: 1 (the genesis record) unless the backend declares a
    /// retained window ([`EventLog::first_retained`]).
    pub first_retained: EventId,
    /// The log's recorded head ([`EventLog::last_id`]): the chain must end exactly there.
    pub head: EventId,
}

impl ChainBounds {
    /// A complete chain, from genesis to `head`.
    pub const fn complete(head: EventId) -> Self {
        ChainBounds {
            first_retained: 1,
            head,
        }
    }
}

/// Verifies stored trust events in order against `bounds`: ids run from
/// `bounds.first_retained` to `bounds.head` without gaps; each event is a `trust_recorded`
/// event whose payload is exactly the record's canonical form (no field outside the hash) and
/// whose headers are the ones derived from it; each record carries the hash of its content,
/// the chain index of its position and its predecessor's hash (the genesis hash first, unless
/// the bounds declare a window that starts later: then its `previous_hash` is taken as given).
///
/// ```
/// use sidefx::trust::{verify_events, ChainBounds};
/// assert!(verify_events(&[], ChainBounds::complete(0)).is_valid());
/// // The log's head says two records exist, none is stored.
/// let v = verify_events(&[], ChainBounds::complete(2));
/// assert!(v.first_broken.unwrap().reason.contains("events 1 to 2 are missing"));
/// ```
pub fn verify_events(events: &[StoredEvent], bounds: ChainBounds) -> ChainVerification {
    let records = events.len() as u64;
    let broken = |event_id: EventId, reason: String| ChainVerification {
        records,
        first_broken: Some(BrokenLink {
            index: event_id.saturating_sub(1),
            event_id,
            reason,
        }),
    };
    let missing = |from: EventId, to: EventId| {
        let what = if from == to {
            format!("event {from} is missing")
        } else {
            format!("events {from} to {to} are missing")
        };
        format!(
            "{what}; the chain must run without gaps from event {} to the log's recorded head, and the \
             recorded head is event {}",
            bounds.first_retained.max(1),
            bounds.head
        )
    };
    let mut want = bounds.first_retained.max(1);
    let mut prev: Option<TrustRecord> = None;
    for stored in events {
        if stored.id < want {
            return broken(
                stored.id,
                format!(
                    "event {} is out of order (event {want} should come next)",
                    stored.id
                ),
            );
        }
        if stored.id > want {
            return broken(want, missing(want, stored.id - 1));
        }
        if stored.id > bounds.head {
            return broken(
                stored.id,
                format!(
                    "event {} lies beyond the recorded head (event {}): the topic's last id was moved back \
                     or the event was added outside sidefx",
                    stored.id, bounds.head
                ),
            );
        }
        match check(stored, prev.as_ref()) {
            Ok(record) => prev = Some(record),
            Err(reason) => return broken(stored.id, reason),
        }
        want = stored.id + 1;
    }
    if want <= bounds.head {
        return broken(want, missing(want, bounds.head));
    }
    ChainVerification {
        records,
        first_broken: None,
    }
}

/// One record against its predecessor (`None`: the first record read).
fn check(stored: &StoredEvent, prev: Option<&TrustRecord>) -> std::result::Result<TrustRecord, String> {
    let event = &stored.event;
    if event.kind != KIND {
        return Err(format!("the event's kind is {:?}, expected {KIND:?}", event.kind));
    }
    let record = TrustRecord::from_event(event).map_err(|e| e.to_string())?;
    if record.compute_hash() != record.entry_hash {
        return Err("entry_hash does not match the record's content (the record was altered)".into());
    }
    let canonical = serde_json::to_value(&record).map_err(|e| format!("cannot encode the record: {e}"))?;
    if canonical != event.payload {
        let extra = event
            .payload
            .as_object()
            .and_then(|stored| stored.keys().find(|k| canonical.get(k.as_str()).is_none()));
        return Err(match extra {
            Some(key) => format!("the stored record has a field {key:?} outside its canonical, hashed form"),
            None => "the stored record differs from its canonical, hashed form".into(),
        });
    }
    if event.headers != headers_of(&record.agent, record.outcome, &record.trace_id) {
        return Err(
            "the event's headers differ from the record (they must be copies of its agent, outcome and trace_id)"
                .into(),
        );
    }
    let index = stored.id - 1;
    if record.chain_index != index {
        return Err(format!("chain_index is {}, expected {index}", record.chain_index));
    }
    let want_prev = match prev {
        Some(p) => p.entry_hash.as_str(),
        None if stored.id == 1 => GENESIS_HASH,
        // The first record of a window the backend declared: its link backwards was dropped.
        None => record.previous_hash.as_str(),
    };
    if record.previous_hash != want_prev {
        return Err(match prev {
            Some(_) => "previous_hash does not match the previous record's entry_hash".into(),
            None => "previous_hash of the first record is not the genesis hash".into(),
        });
    }
    Ok(record)
}

/// Reads the whole `trust_graph` topic and verifies it (see [`verify_events`]) from genesis, or
/// the window the log declares, to the log's recorded head. An event that cannot be read (a
/// damaged file) is reported as the broken link, after any earlier problem.
///
/// # Errors
/// `SIDEFX-LOG` when the log cannot be read. A broken chain is not an error: the result
/// reports it.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let log = sidefx::log::MemoryEventLog::new();
/// assert!(sidefx::trust::verify_chain(&log).await.unwrap().is_valid());
/// # });
/// ```
pub async fn verify_chain(log: &dyn EventLog) -> Result<ChainVerification> {
    let topic = Topic::TRUST_GRAPH;
    let head_before = log.last_id(&topic).await?;
    let (events, unreadable) = read_checked(log, &topic).await;
    let head_after = log.last_id(&topic).await?;
    let declared = log.first_retained(&topic).await?;
    // A bounded log may drop events while they are read, so its window is read afterwards;
    // a log that keeps everything declares 1, and then the chain must start there.
    let first_retained = events.first().map_or(declared, |e| e.id.min(declared));
    if let Some((after, error)) = unreadable {
        let v = verify_events(
            &events,
            ChainBounds {
                first_retained,
                head: after,
            },
        );
        if !v.is_valid() {
            return Ok(v);
        }
        return Ok(ChainVerification {
            records: v.records,
            first_broken: Some(BrokenLink {
                index: after,
                event_id: after + 1,
                reason: format!("the stored event cannot be read: {error}"),
            }),
        });
    }
    // Appends may land while the chain is read: the chain must reach the head seen before
    // reading and may not pass the head seen after.
    let newest = events.last().map_or(0, |e| e.id);
    let head = newest.clamp(head_before, head_after.max(head_before));
    Ok(verify_events(&events, ChainBounds { first_retained, head }))
}

/// Every event of `topic`; on a read error, the events before the first unreadable one, the id
/// after which it failed, and the error.
async fn read_checked(
    log: &dyn EventLog,
    topic: &Topic,
) -> (Vec<StoredEvent>, Option<(EventId, crate::Error)>) {
    // One read is one consistent snapshot (a bounded log cannot slide between batches).
    if let Ok(all) = log.read_range(topic, 0, usize::MAX).await {
        return (all, None);
    }
    // Find exactly where reading fails, one event at a time.
    let mut out: Vec<StoredEvent> = Vec::new();
    loop {
        let after = out.last().map_or(0, |e| e.id);
        match log.read_range(topic, after, 1).await {
            Ok(batch) => match batch.into_iter().next() {
                Some(e) => out.push(e),
                None => return (out, None),
            },
            Err(e) => return (out, Some((after, e))),
        }
    }
}

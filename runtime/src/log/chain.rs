//! Chained appends (SPEC §10, §11): a record linked to the chain's head is built by the backend
//! inside its own write transaction, so concurrent writers never race for the head and many
//! decisions share one commit.

use std::collections::BTreeMap;

use super::{Conflicts, EventId, EventLog, LogEvent, Topic};
use crate::{Error, Result};

/// A chain's newest link: the position and hash of its last record.
///
/// ```
/// let link = sidefx::log::ChainLink { index: 0, hash: "sha256:ab".into() };
/// assert_eq!(link.index, 0);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainLink {
    /// The record's position in the chain, from 0.
    pub index: u64,
    /// The record's hash, which the next record carries as its `previous_hash`.
    pub hash: String,
}

/// An event whose payload is already JSON text: written once by whoever built it and stored as
/// it is (the SQLite log stores the text; the memory log decodes it only when it is read).
///
/// ```
/// let e = sidefx::log::EncodedEvent::from_json("note", r#"{"n":1}"#.to_owned()).unwrap();
/// assert_eq!(e.decode().unwrap().payload["n"], 1);
/// assert!(sidefx::log::EncodedEvent::from_json("note", "{".to_owned()).is_err());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedEvent {
    kind: String,
    payload: String,
    headers: BTreeMap<String, String>,
    occurred_at_ms: u64,
}

impl EncodedEvent {
    /// An event of `kind` whose payload is the JSON text `payload`, stamped now. Fails with
    /// `SIDEFX-LOG` if the text is not one JSON value.
    ///
    /// # Errors
    /// `SIDEFX-LOG` when `payload` is not JSON.
    ///
    /// ```
    /// assert!(sidefx::log::EncodedEvent::from_json("k", "[1,2]".to_owned()).is_ok());
    /// ```
    pub fn from_json(kind: impl Into<String>, payload: String) -> Result<Self> {
        serde_json::from_str::<serde::de::IgnoredAny>(&payload)
            .map_err(|e| Error::log("an encoded event's payload is not JSON", e))?;
        Ok(Self::trusted(kind.into(), payload))
    }

    /// An event from JSON text this crate wrote itself (so it is known to be valid).
    pub(crate) fn trusted(kind: String, payload: String) -> Self {
        EncodedEvent {
            kind,
            payload,
            headers: BTreeMap::new(),
            occurred_at_ms: super::now_ms(),
        }
    }

    /// The same event with `headers` (builder style).
    ///
    /// ```
    /// let e = sidefx::log::EncodedEvent::from_json("k", "1".to_owned()).unwrap()
    ///     .with_headers([("agent".to_owned(), "a".to_owned())].into());
    /// assert_eq!(e.headers()["agent"], "a");
    /// ```
    pub fn with_headers(mut self, headers: BTreeMap<String, String>) -> Self {
        self.headers = headers;
        self
    }

    /// The event's kind.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The payload as JSON text.
    pub fn payload_json(&self) -> &str {
        &self.payload
    }

    /// The headers.
    pub fn headers(&self) -> &BTreeMap<String, String> {
        &self.headers
    }

    /// When it happened, milliseconds since the Unix epoch.
    pub fn occurred_at_ms(&self) -> u64 {
        self.occurred_at_ms
    }

    /// The event with its payload parsed, as [`EventLog::append`] takes it.
    ///
    /// # Errors
    /// `SIDEFX-LOG` when the stored payload is not JSON.
    ///
    /// ```
    /// let e = sidefx::log::EncodedEvent::from_json("k", "null".to_owned()).unwrap();
    /// assert_eq!(e.decode().unwrap().kind, "k");
    /// ```
    pub fn decode(&self) -> Result<LogEvent> {
        let payload = serde_json::from_str(&self.payload)
            .map_err(|e| Error::log(format!("an encoded {} event's payload is not JSON", self.kind), e))?;
        Ok(LogEvent {
            kind: self.kind.clone(),
            payload,
            headers: self.headers.clone(),
            occurred_at_ms: self.occurred_at_ms,
        })
    }

    /// `event` with its payload written as JSON text.
    ///
    /// # Errors
    /// `SIDEFX-LOG` when the payload cannot be written (a map with non-string keys).
    ///
    /// ```
    /// let e = sidefx::log::LogEvent::new("k", serde_json::json!({"n": 1})).with_header("agent", "a");
    /// let encoded = sidefx::log::EncodedEvent::from_event(e.clone()).unwrap();
    /// assert_eq!(encoded.decode().unwrap(), e);
    /// ```
    pub fn from_event(event: LogEvent) -> Result<Self> {
        let payload = serde_json::to_string(&event.payload)
            .map_err(|e| Error::log(format!("cannot encode a {} event's payload", event.kind), e))?;
        Ok(EncodedEvent {
            kind: event.kind,
            payload,
            headers: event.headers,
            occurred_at_ms: event.occurred_at_ms,
        })
    }

    /// The parts, for backends that store them.
    #[cfg(feature = "sqlite")]
    pub(crate) fn into_parts(self) -> (String, String, BTreeMap<String, String>, u64) {
        (self.kind, self.payload, self.headers, self.occurred_at_ms)
    }
}

/// Builds the event that extends a chain, given the chain's head. The backend calls it inside
/// its write transaction, where the head cannot move, so the link it makes is final.
pub trait Seal: Send {
    /// The link the stored event at the topic's head stands for (its index and hash), or why
    /// nothing can be chained onto it.
    ///
    /// # Errors
    /// `SIDEFX-LOG` when the head is not a well-formed chained event.
    fn link_of(&self, head: &LogEvent) -> Result<ChainLink>;

    /// The event that follows `previous` (`None`: the chain is empty) and the link it makes.
    /// May be called more than once if an append is retried; each call seals afresh.
    ///
    /// # Errors
    /// `SIDEFX-LOG` when the chain cannot be extended (its index is exhausted, or the record
    /// cannot be rendered).
    fn seal(&mut self, previous: Option<&ChainLink>) -> Result<(EncodedEvent, ChainLink)>;
}

/// What [`EventLog::append_chained`] appends: events that go first, in the same transaction
/// (a decision's proposal), then the sealed event on the chain's topic.
pub struct Chained {
    /// Appended first, in order, each to its topic; already written as JSON text, which the
    /// backend stores as it is.
    pub before: Vec<(Topic, EncodedEvent)>,
    /// Builds the chained event from the head.
    pub seal: Box<dyn Seal>,
}

impl std::fmt::Debug for Chained {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chained")
            .field("before", &self.before)
            .finish_non_exhaustive()
    }
}

/// Where a chained append landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainAppended {
    /// The ids of [`Chained::before`], in order.
    pub before: Vec<EventId>,
    /// The chained event's id.
    pub id: EventId,
    /// The link it was chained onto (`None`: it is the first of its chain).
    pub previous: Option<ChainLink>,
    /// The link it made.
    pub link: ChainLink,
}

/// [`EventLog::append_chained`] for a backend that has no transaction of its own to do it in:
/// the `before` events, then compare-and-append against the head until no other writer moved it
/// (bounded, like every compare-and-append loop).
pub(crate) async fn append_chained_by_compare<L: EventLog + ?Sized>(
    log: &L,
    topic: &Topic,
    chained: Chained,
) -> Result<ChainAppended> {
    let Chained { before, mut seal } = chained;
    let mut ids = Vec::with_capacity(before.len());
    for (t, event) in before {
        ids.push(log.append(&t, event.decode()?).await?);
    }
    let mut conflicts = Conflicts::new(topic, "a chained record");
    loop {
        let head = log.latest(topic).await?;
        let (expected, previous) = match &head {
            None => (None, None),
            Some(stored) => (Some(stored.id), Some(seal.link_of(&stored.event)?)),
        };
        let (event, link) = seal.seal(previous.as_ref())?;
        if let Some(id) = log.append_if_latest(topic, expected, event.decode()?).await? {
            return Ok(ChainAppended {
                before: ids,
                id,
                previous,
                link,
            });
        }
        conflicts.conflicted(expected)?;
        tokio::task::yield_now().await;
    }
}

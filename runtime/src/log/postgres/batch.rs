//! Numbering one batch inside the writer's transaction, after the topics' head rows are locked:
//! plain appends, compare-and-appends, and chained appends sealed against the head (read from
//! the locked row's event, or the link sealed just before in the same batch).

use std::collections::HashMap;

use tokio_postgres::Row;

use crate::log::{ChainAppended, ChainLink, EncodedEvent, EventId, LogEvent, Seal, Topic};
use crate::{Error, Result};

/// An event as stored: its JSON written once, before it reaches the writer.
pub(crate) struct Encoded {
    pub(crate) kind: String,
    pub(crate) payload: String,
    pub(crate) headers: String,
    pub(crate) occurred_at_ms: i64,
}

impl Encoded {
    pub(crate) fn new(event: LogEvent) -> Result<Encoded> {
        let encode = |what: &str, r: serde_json::Result<String>| {
            r.map_err(|e| Error::Log(format!("cannot encode the event's {what}: {e}").into()))
        };
        Ok(Encoded {
            payload: encode("payload", serde_json::to_string(&event.payload))?,
            headers: encode("headers", serde_json::to_string(&event.headers))?,
            kind: event.kind,
            occurred_at_ms: i64::try_from(event.occurred_at_ms).map_err(|_| {
                Error::Log("the event's occurred_at_ms does not fit PostgreSQL's bigint".into())
            })?,
        })
    }

    /// A sealed chain record: its payload text is stored as it was written and hashed.
    pub(crate) fn from_sealed(e: &EncodedEvent) -> Result<Encoded> {
        Ok(Encoded {
            kind: e.kind().to_owned(),
            payload: e.payload_json().to_owned(),
            headers: serde_json::to_string(e.headers())
                .map_err(|err| Error::Log(format!("cannot encode the record's headers: {err}").into()))?,
            occurred_at_ms: i64::try_from(e.occurred_at_ms()).map_err(|_| {
                Error::Log("the record's occurred_at_ms does not fit PostgreSQL's bigint".into())
            })?,
        })
    }
}

/// One queued append.
pub(crate) enum Item {
    Plain {
        topic: Topic,
        event: Encoded,
        /// `Some(expected)` for compare-and-append.
        expected: Option<Option<EventId>>,
    },
    Chained {
        topic: Topic,
        before: Vec<(Topic, Encoded)>,
        seal: Box<dyn Seal>,
    },
}

impl Item {
    /// Every topic the item writes to.
    pub(crate) fn topics(&self) -> Vec<&str> {
        match self {
            Item::Plain { topic, .. } => vec![topic.as_str()],
            Item::Chained { topic, before, .. } => {
                let mut t: Vec<&str> = before.iter().map(|(t, _)| t.as_str()).collect();
                t.push(topic.as_str());
                t
            }
        }
    }
}

/// What one item got.
#[derive(Clone)]
pub(crate) enum Outcome {
    Plain(Result<Option<EventId>>),
    Chained(Result<ChainAppended>),
}

impl Outcome {
    pub(crate) fn failed(e: &Error, item: &Item) -> Outcome {
        match item {
            Item::Plain { .. } => Outcome::Plain(Err(e.clone())),
            Item::Chained { .. } => Outcome::Chained(Err(e.clone())),
        }
    }
}

/// What a topic's next chained record links to.
#[derive(Clone)]
enum Src {
    /// The topic is empty.
    Empty,
    /// The event at the locked head, as row `i` of the head events read after locking
    /// (`None`: not read, or missing).
    Db(Option<usize>),
    /// A row written earlier in this batch.
    Row(usize),
    /// A record sealed earlier in this batch.
    Link(ChainLink),
}

#[derive(Clone)]
pub(crate) struct Head {
    id: i64,
    src: Src,
}

/// The locked heads (`SELECT topic, last_id`) and the events at them, read after locking
/// (`SELECT topic, kind, payload, headers, occurred_at_ms`; a statement after the lock sees
/// every commit before it, which a join in the locking statement would not).
pub(crate) fn heads(locked: &[Row], events: &[Row]) -> HashMap<String, Head> {
    locked
        .iter()
        .map(|r| {
            let (topic, id): (String, i64) = (r.get(0), r.get(1));
            let src = if id == 0 {
                Src::Empty
            } else {
                Src::Db(events.iter().position(|e| e.get::<_, &str>(0) == topic))
            };
            (topic, Head { id, src })
        })
        .collect()
}

/// The rows a batch inserts, column by column.
#[derive(Default)]
pub(crate) struct Rows<'a> {
    pub(crate) topic: Vec<&'a str>,
    pub(crate) id: Vec<i64>,
    pub(crate) kind: Vec<String>,
    pub(crate) payload: Vec<String>,
    pub(crate) headers: Vec<String>,
    pub(crate) at: Vec<i64>,
}

impl<'a> Rows<'a> {
    fn push(&mut self, topic: &'a str, id: i64, e: &Encoded) {
        self.topic.push(topic);
        self.id.push(id);
        self.kind.push(e.kind.clone());
        self.payload.push(e.payload.clone());
        self.headers.push(e.headers.clone());
        self.at.push(e.occurred_at_ms);
    }

    fn truncate(&mut self, len: usize) {
        self.topic.truncate(len);
        self.id.truncate(len);
        self.kind.truncate(len);
        self.payload.truncate(len);
        self.headers.truncate(len);
        self.at.truncate(len);
    }

    /// Row `i` as an event, for sealing onto it.
    fn event(&self, i: usize) -> Result<LogEvent> {
        decode(&self.kind[i], &self.payload[i], &self.headers[i], self.at[i])
    }
}

fn decode(kind: &str, payload: &str, headers: &str, at: i64) -> Result<LogEvent> {
    let bad =
        |e: serde_json::Error| Error::Log(format!("the head event of a chain is not valid JSON: {e}").into());
    Ok(LogEvent {
        kind: kind.to_owned(),
        payload: serde_json::from_str(payload).map_err(bad)?,
        headers: serde_json::from_str(headers).map_err(bad)?,
        occurred_at_ms: u64::try_from(at).unwrap_or(0),
    })
}

/// Numbers `items` from the locked `heads` (`events`: the events at them). `occupied`
/// fails the items of topics whose next id is taken.
pub(crate) fn number<'a>(
    items: &'a mut [Item],
    heads: &mut HashMap<String, Head>,
    events: &[Row],
    occupied: &dyn Fn(&str) -> Option<Error>,
) -> (Vec<Outcome>, Rows<'a>) {
    let mut rows = Rows::default();
    let mut out = Vec::with_capacity(items.len());
    for item in items.iter_mut() {
        if let Some(e) = item.topics().into_iter().find_map(occupied) {
            out.push(Outcome::failed(&e, item));
            continue;
        }
        match item {
            Item::Plain {
                topic,
                event,
                expected,
            } => {
                let Some(head) = heads.get_mut(topic.as_str()) else {
                    out.push(Outcome::Plain(Err(Error::Log(
                        format!("topic {topic} has no head row").into(),
                    ))));
                    continue;
                };
                if let Some(expected) = expected
                    && super::to_i64(expected.unwrap_or(0)) != head.id
                {
                    out.push(Outcome::Plain(Ok(None)));
                    continue;
                }
                head.id += 1;
                head.src = Src::Row(rows.id.len());
                rows.push(topic.as_str(), head.id, event);
                out.push(Outcome::Plain(Ok(Some(super::to_id(head.id)))));
            }
            Item::Chained { topic, before, seal } => {
                let (saved_heads, saved_len) = (heads.clone(), rows.id.len());
                let result = chain(topic, before, seal.as_mut(), heads, events, &mut rows);
                if result.is_err() {
                    // Nothing of a failed item is written.
                    *heads = saved_heads;
                    rows.truncate(saved_len);
                }
                out.push(Outcome::Chained(result));
            }
        }
    }
    (out, rows)
}

fn chain<'a>(
    topic: &'a Topic,
    before: &'a [(Topic, Encoded)],
    seal: &mut dyn Seal,
    heads: &mut HashMap<String, Head>,
    events: &[Row],
    rows: &mut Rows<'a>,
) -> Result<ChainAppended> {
    let missing = |t: &Topic| Error::Log(format!("topic {t} has no head row").into());
    let mut ids = Vec::with_capacity(before.len());
    for (t, event) in before {
        let head = heads.get_mut(t.as_str()).ok_or_else(|| missing(t))?;
        head.id += 1;
        head.src = Src::Row(rows.id.len());
        rows.push(t.as_str(), head.id, event);
        ids.push(super::to_id(head.id));
    }
    let head = heads.get_mut(topic.as_str()).ok_or_else(|| missing(topic))?;
    let previous = match &head.src {
        Src::Link(link) => Some(link.clone()),
        Src::Empty => None,
        Src::Db(found) => {
            let r = found.and_then(|i| events.get(i));
            let text = |c: usize| r.and_then(|r| r.try_get::<_, Option<&str>>(c).ok().flatten());
            let (Some(r), Some(kind), Some(payload), Some(headers)) = (r, text(1), text(2), text(3)) else {
                return Err(Error::Log(
                    format!(
                        "topic {topic} is damaged: its recorded head is event {}, which is missing; \
                     the tables were altered outside sidefx (`sidefx trust verify` reports what changed)",
                        head.id
                    )
                    .into(),
                ));
            };
            let at = r.try_get::<_, Option<i64>>(4).ok().flatten().unwrap_or(0);
            Some(seal.link_of(&decode(kind, payload, headers, at)?)?)
        }
        Src::Row(i) => Some(seal.link_of(&rows.event(*i)?)?),
    };
    let (sealed, link) = seal.seal(previous.as_ref())?;
    let encoded = Encoded::from_sealed(&sealed)?;
    head.id += 1;
    head.src = Src::Link(link.clone());
    rows.push(topic.as_str(), head.id, &encoded);
    Ok(ChainAppended {
        before: ids,
        id: super::to_id(head.id),
        previous,
        link,
    })
}

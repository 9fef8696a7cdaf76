//! The writer thread: group commit of queued appends in one `BEGIN IMMEDIATE` transaction.
//!
//! Chained appends (trust records) are sealed here, inside the transaction, against the head
//! the transaction reads: every decision waiting in the queue (its proposal and its record) is
//! committed under one fsync, and no writer ever retries for the head.

use std::collections::HashMap;
use std::path::Path;
use std::sync::mpsc;

use rusqlite::{CachedStatement, Connection, OptionalExtension, TransactionBehavior, params};
use tokio::sync::oneshot;

use super::file::sql_error;
use super::{Shared, decode_at, to_i64, to_id};
use crate::log::{ChainAppended, ChainLink, EncodedEvent, EventId, LogEvent, Seal, Topic};
use crate::{Error, Result};

/// Most commands committed in one transaction (group commit).
const MAX_BATCH: usize = 512;

pub(super) enum Command {
    Append {
        topic: Topic,
        event: Encoded,
        /// `Some(expected)` for compare-and-append.
        expected: Option<Option<EventId>>,
        reply: oneshot::Sender<Result<Option<EventId>>>,
    },
    Chained {
        topic: Topic,
        before: Vec<(Topic, Encoded)>,
        seal: Box<dyn Seal>,
        reply: oneshot::Sender<Result<ChainAppended>>,
    },
    Flush {
        reply: oneshot::Sender<Result<()>>,
    },
}

pub(super) struct Encoded {
    kind: String,
    payload: String,
    headers: String,
    occurred_at_ms: i64,
}

fn encode(what: &str, r: serde_json::Result<String>) -> Result<String> {
    r.map_err(|e| Error::log(format!("cannot encode the event's {what}"), e))
}

fn stored_time(ms: u64) -> Result<i64> {
    i64::try_from(ms)
        .map_err(|_| Error::Log("the event's occurred_at_ms does not fit SQLite's integer".into()))
}

impl Encoded {
    pub(super) fn new(event: LogEvent) -> Result<Encoded> {
        Ok(Encoded {
            payload: encode("payload", serde_json::to_string(&event.payload))?,
            headers: encode("headers", serde_json::to_string(&event.headers))?,
            kind: event.kind,
            occurred_at_ms: stored_time(event.occurred_at_ms)?,
        })
    }

    /// An event whose payload is already JSON text: stored as it is.
    pub(super) fn from_encoded(event: EncodedEvent) -> Result<Encoded> {
        let (kind, payload, headers, occurred_at_ms) = event.into_parts();
        Ok(Encoded {
            kind,
            payload,
            headers: encode("headers", serde_json::to_string(&headers))?,
            occurred_at_ms: stored_time(occurred_at_ms)?,
        })
    }
}

/// What the writer remembers of each chain it extended: the head's id and link, so sealing
/// reads the head event only when another process (or handle) moved it.
type Heads = HashMap<Topic, (EventId, ChainLink)>;

pub(super) fn writer_loop(mut conn: Connection, rx: &mpsc::Receiver<Command>, shared: &Shared) {
    let mut heads = Heads::new();
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(c) => batch.push(c),
                Err(_) => break,
            }
        }
        let mut writes = Vec::new();
        let mut flushes = Vec::new();
        for c in batch {
            match c {
                Command::Flush { reply } => flushes.push(reply),
                write => writes.push(write),
            }
        }
        if !writes.is_empty() {
            match commit(&mut conn, &shared.path, &mut writes, &mut heads) {
                Ok(outcomes) => {
                    // Before the replies: another process's waiter may be woken first.
                    super::wake::committed(&shared.path);
                    reply_all(shared, writes, outcomes);
                }
                Err(e) => {
                    // Nothing of the batch was committed: forget the heads it moved.
                    heads.clear();
                    let err = sql_error(&shared.path, "cannot append to", e);
                    for w in writes {
                        match w {
                            Command::Append { reply, .. } => drop(reply.send(Err(err.clone()))),
                            Command::Chained { reply, .. } => drop(reply.send(Err(err.clone()))),
                            Command::Flush { .. } => {}
                        }
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

/// What one command of a committed batch did.
enum Outcome {
    /// An append: its id, `None` when a compare-and-append lost, or `Err(id)` when that id is
    /// already taken (a damaged head fails its own appends, not the whole batch).
    Appended(std::result::Result<Option<EventId>, EventId>),
    Chained(Result<ChainAppended>),
}

fn reply_all(shared: &Shared, writes: Vec<Command>, outcomes: Vec<Outcome>) {
    for (w, outcome) in writes.into_iter().zip(outcomes) {
        match (w, outcome) {
            (Command::Append { topic, reply, .. }, Outcome::Appended(id)) => {
                if let Ok(Some(id)) = id {
                    shared.announce(&topic, id);
                }
                let _ = reply.send(id.map_err(|taken| occupied(&shared.path, &topic, taken)));
            }
            (
                Command::Chained {
                    topic, before, reply, ..
                },
                Outcome::Chained(done),
            ) => {
                if let Ok(done) = &done {
                    for ((t, _), id) in before.iter().zip(&done.before) {
                        shared.announce(t, *id);
                    }
                    shared.announce(&topic, done.id);
                }
                let _ = reply.send(done);
            }
            // `commit` answers each command with its own kind of outcome.
            _ => {}
        }
    }
}

/// The error of an append whose next id is already taken: the topic's recorded head was moved
/// back (or an event inserted past it) outside sidefx.
fn occupied(path: &Path, topic: &Topic, taken: EventId) -> Error {
    Error::Log(format!(
        "cannot append to topic {topic} in {}: event {taken} already exists beyond the topic's recorded head \
         (event {}); the file was altered outside sidefx (`sidefx trust verify` reports what changed)",
        path.display(),
        taken.saturating_sub(1)
    ).into())
}

/// The batch's prepared statements, and each topic's head as the transaction has moved it:
/// read from `topics` once per topic and batch, written back once before the commit.
struct Statements<'c> {
    head: CachedStatement<'c>,
    exists: CachedStatement<'c>,
    event: CachedStatement<'c>,
    insert: CachedStatement<'c>,
    remove: CachedStatement<'c>,
    advance: CachedStatement<'c>,
    /// Each topic's head inside the transaction, and whether it moved.
    last: HashMap<Topic, (i64, bool)>,
}

impl Statements<'_> {
    fn last_id(&mut self, topic: &Topic) -> rusqlite::Result<i64> {
        if let Some(&(id, _)) = self.last.get(topic) {
            return Ok(id);
        }
        let id = self
            .head
            .query_row([topic.as_str()], |r| r.get::<_, i64>(0))
            .optional()?
            .unwrap_or(0);
        self.last.insert(topic.clone(), (id, false));
        Ok(id)
    }

    fn exists(&mut self, topic: &Topic, id: i64) -> rusqlite::Result<bool> {
        self.exists.exists(params![topic.as_str(), id])
    }

    /// Inserts `e` as the topic's next event; `Err(id)` when that id is taken.
    fn insert(
        &mut self,
        topic: &Topic,
        e: &Encoded,
    ) -> rusqlite::Result<std::result::Result<EventId, EventId>> {
        let id = self.last_id(topic)? + 1;
        let inserted = self.insert.execute(params![
            topic.as_str(),
            id,
            e.kind,
            e.payload,
            e.headers,
            e.occurred_at_ms
        ])?;
        if inserted == 0 {
            return Ok(Err(to_id(id)));
        }
        self.last.insert(topic.clone(), (id, true));
        Ok(Ok(to_id(id)))
    }

    /// Takes back the event just inserted at `topic`'s head (a chained append that failed
    /// after its `before` events went in).
    fn undo(&mut self, topic: &Topic) -> rusqlite::Result<()> {
        let id = self.last_id(topic)?;
        self.remove.execute(params![topic.as_str(), id])?;
        self.last.insert(topic.clone(), (id - 1, true));
        Ok(())
    }

    /// Records every moved head in `topics`, in the batch's transaction.
    fn advance_all(&mut self) -> rusqlite::Result<()> {
        for (topic, (id, moved)) in &self.last {
            if *moved {
                self.advance.execute(params![topic.as_str(), id])?;
            }
        }
        Ok(())
    }
}

/// Commits a batch in one `BEGIN IMMEDIATE` transaction, answering each command. An SQLite
/// failure fails the whole batch (nothing is committed); a damaged head or a failing seal fails
/// only its own command, whose writes are taken back.
fn commit(
    conn: &mut Connection,
    path: &Path,
    batch: &mut [Command],
    heads: &mut Heads,
) -> rusqlite::Result<Vec<Outcome>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut moved: Heads = HashMap::new();
    {
        let mut st = Statements {
            head: tx.prepare_cached("SELECT last_id FROM topics WHERE topic = ?1")?,
            exists: tx.prepare_cached("SELECT 1 FROM events WHERE topic = ?1 AND id = ?2")?,
            event: tx.prepare_cached(
                "SELECT id, kind, payload, headers, occurred_at_ms FROM events WHERE topic = ?1 AND id = ?2",
            )?,
            insert: tx.prepare_cached(
                "INSERT INTO events (topic, id, kind, payload, headers, occurred_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (topic, id) DO NOTHING",
            )?,
            remove: tx.prepare_cached("DELETE FROM events WHERE topic = ?1 AND id = ?2")?,
            advance: tx.prepare_cached(
                "INSERT INTO topics (topic, last_id) VALUES (?1, ?2) ON CONFLICT (topic) DO UPDATE SET last_id = excluded.last_id",
            )?,
            last: HashMap::new(),
        };
        for command in batch.iter_mut() {
            match command {
                Command::Append {
                    topic,
                    event,
                    expected,
                    ..
                } => {
                    if let Some(expected) = expected
                        && to_i64(expected.unwrap_or(0)) != st.last_id(topic)?
                    {
                        outcomes.push(Outcome::Appended(Ok(None)));
                        continue;
                    }
                    outcomes.push(Outcome::Appended(st.insert(topic, event)?.map(Some)));
                }
                Command::Chained {
                    topic, before, seal, ..
                } => {
                    let done = chain(&mut st, path, topic, before, seal.as_mut(), &moved, heads)?;
                    if let Ok(d) = &done {
                        moved.insert(topic.clone(), (d.id, d.link.clone()));
                    }
                    outcomes.push(Outcome::Chained(done));
                }
                Command::Flush { .. } => {}
            }
        }
        st.advance_all()?;
    }
    tx.commit()?;
    heads.extend(moved);
    Ok(outcomes)
}

/// One chained append inside the batch's transaction: the `before` events, then the event the
/// seal builds on the chain's current head. Sealed before anything is inserted; if an insert
/// then finds its id taken (the file was altered), the `before` events already inserted are
/// taken back, so the command leaves nothing behind.
fn chain(
    st: &mut Statements<'_>,
    path: &Path,
    topic: &Topic,
    before: &[(Topic, Encoded)],
    seal: &mut dyn Seal,
    moved: &Heads,
    heads: &Heads,
) -> rusqlite::Result<Result<ChainAppended>> {
    let latest = st.last_id(topic)?;
    let previous = match moved.get(topic) {
        _ if latest == 0 => None,
        // Appended in this transaction: it is the head, and it is there.
        Some((id, link)) if to_i64(*id) == latest => Some(link.clone()),
        // The head this writer appended before is still the head, and still there (a head
        // deleted outside sidefx fails the append as it would without the remembered link).
        _ => match heads.get(topic) {
            Some((id, link)) if to_i64(*id) == latest && st.exists(topic, latest)? => Some(link.clone()),
            _ => match head_link(st, path, topic, latest, seal)? {
                Ok(link) => Some(link),
                Err(e) => return Ok(Err(e)),
            },
        },
    };
    let (event, link) = match seal
        .seal(previous.as_ref())
        .and_then(|(e, l)| Ok((Encoded::from_encoded(e)?, l)))
    {
        Ok(sealed) => sealed,
        Err(e) => return Ok(Err(e)),
    };
    let mut ids = Vec::with_capacity(before.len());
    for (t, e) in before.iter() {
        match st.insert(t, e)? {
            Ok(id) => ids.push((t, id)),
            Err(taken) => return take_back(st, &ids, occupied(path, t, taken)),
        }
    }
    let id = match st.insert(topic, &event)? {
        Ok(id) => id,
        Err(taken) => return take_back(st, &ids, occupied(path, topic, taken)),
    };
    Ok(Ok(ChainAppended {
        before: ids.into_iter().map(|(_, id)| id).collect(),
        id,
        previous,
        link,
    }))
}

/// Takes back the events a failed chained append inserted (newest first) and fails it with `e`.
fn take_back(
    st: &mut Statements<'_>,
    inserted: &[(&Topic, EventId)],
    e: Error,
) -> rusqlite::Result<Result<ChainAppended>> {
    for (t, _) in inserted.iter().rev() {
        st.undo(t)?;
    }
    Ok(Err(e))
}

/// The link of the event at the topic's recorded head, read from the file.
fn head_link(
    st: &mut Statements<'_>,
    path: &Path,
    topic: &Topic,
    latest: i64,
    seal: &dyn Seal,
) -> rusqlite::Result<Result<ChainLink>> {
    let mut rows = st.event.query(params![topic.as_str(), latest])?;
    let Some(row) = rows.next()? else {
        return Ok(Err(Error::Log(
            format!(
                "topic {topic} in {} is damaged: its recorded head is event {latest}, which is missing; \
             the file was altered outside sidefx (`sidefx trust verify` reports what changed)",
                path.display()
            )
            .into(),
        )));
    };
    Ok(decode_at(path, topic.as_str(), row, 0).and_then(|head| seal.link_of(&head.event)))
}

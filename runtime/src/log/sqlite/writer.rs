//! The writer thread: group commit of queued appends in one `BEGIN IMMEDIATE` transaction.

use std::path::Path;
use std::sync::mpsc;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use tokio::sync::oneshot;

use super::file::sql_error;
use super::{Shared, to_i64, to_id};
use crate::log::{EventId, LogEvent, Topic};
use crate::{Error, Result};

/// Most appends committed in one transaction (group commit).
const MAX_BATCH: usize = 512;

pub(super) enum Command {
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

pub(super) struct Encoded {
    kind: String,
    payload: String,
    headers: String,
    occurred_at_ms: i64,
}

impl Encoded {
    pub(super) fn new(event: LogEvent) -> Result<Encoded> {
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

pub(super) fn writer_loop(mut conn: Connection, rx: &mpsc::Receiver<Command>, shared: &Shared) {
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

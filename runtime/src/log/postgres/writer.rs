//! The writer task: group commit of queued appends in one transaction that locks each topic's
//! head row, retried on a fresh connection when the server goes away, and never applied twice.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_postgres::Client;
use tokio_postgres::types::Type;

use super::Shared;
use crate::log::{EventId, LogEvent, Topic};
use crate::{Error, Result};

/// Most appends committed in one transaction (group commit).
const MAX_BATCH: usize = 512;
/// How long a batch keeps retrying while the server is unreachable (a restart, a failover)
/// before its appends fail.
const RETRY_FOR: Duration = Duration::from_secs(30);
const RETRY_START: Duration = Duration::from_millis(10);
const RETRY_MAX: Duration = Duration::from_millis(500);

pub(crate) enum Command {
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

/// An event as stored: its JSON written once, before it reaches the writer.
pub(crate) struct Encoded {
    kind: String,
    payload: String,
    headers: String,
    occurred_at_ms: i64,
}

impl Encoded {
    pub(crate) fn new(event: LogEvent) -> Result<Encoded> {
        let encode = |what: &str, r: serde_json::Result<String>| {
            r.map_err(|e| Error::Log(format!("cannot encode the event's {what}: {e}")))
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
}

struct Append {
    topic: Topic,
    event: Encoded,
    expected: Option<Option<EventId>>,
}

/// Per append: its id, `None` when a compare-and-append lost, or the error.
type Ids = Vec<Result<Option<EventId>>>;

/// Inserts the batch, moves the heads and queues one notification per topic, in one statement
/// (data-modifying CTEs always run; `woken` runs because it is counted). Notifications are
/// delivered only when the transaction commits.
const WRITE: &str = "
WITH ins AS (
    INSERT INTO sidefx_events (topic, id, kind, payload, headers, occurred_at_ms, token)
    SELECT r.topic, r.id, r.kind, r.payload, r.headers, r.occurred_at_ms, $7
    FROM unnest($1::text[], $2::int8[], $3::text[], $4::text[], $5::text[], $6::int8[])
        AS r(topic, id, kind, payload, headers, occurred_at_ms)
    ON CONFLICT (topic, id) DO NOTHING
    RETURNING 1
), heads AS (
    UPDATE sidefx_topics t SET last_id = h.last_id
    FROM unnest($8::text[], $9::int8[]) AS h(topic, last_id)
    WHERE t.topic = h.topic
    RETURNING 1
), woken AS (
    SELECT pg_notify('sidefx_log', h.last_id::text || ' ' || h.topic)
    FROM unnest($8::text[], $9::int8[]) AS h(topic, last_id)
)
SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM heads), (SELECT count(*) FROM woken)";

/// Why an attempt did not finish.
struct Failure {
    error: Error,
    /// A retry on a fresh connection may succeed.
    retry: bool,
    /// The commit was sent but its answer lost.
    unknown: Option<Unknown>,
}

/// A commit whose answer was lost: the row `(topic, id)` carries `token` if it landed, and
/// then the appends got `ids`.
struct Unknown {
    topic: String,
    id: i64,
    token: i64,
    ids: Ids,
}

enum Attempt {
    Done(Ids),
    /// These topics' next ids are taken (the head was moved back outside sidefx).
    Occupied(HashMap<String, i64>),
}

pub(crate) async fn writer_loop(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<Command>) {
    let mut writer = Writer {
        shared,
        client: None,
        known: HashSet::new(),
    };
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(c) => batch.push(c),
                Err(_) => break,
            }
        }
        let mut appends = Vec::new();
        let mut replies = Vec::new();
        let mut flushes = Vec::new();
        for c in batch {
            match c {
                Command::Append {
                    topic,
                    event,
                    expected,
                    reply,
                } => {
                    appends.push(Append {
                        topic,
                        event,
                        expected,
                    });
                    replies.push(reply);
                }
                Command::Flush { reply } => flushes.push(reply),
            }
        }
        if !appends.is_empty() {
            let ids = writer.commit(&appends).await;
            for (reply, id) in replies.into_iter().zip(ids) {
                let _ = reply.send(id);
            }
        }
        // Every append queued before a flush has committed by now, and a commit is durable.
        for reply in flushes {
            let _ = reply.send(Ok(()));
        }
    }
}

struct Writer {
    shared: Arc<Shared>,
    client: Option<Client>,
    /// Topics whose head row is known to exist.
    known: HashSet<String>,
}

impl Writer {
    /// Commits the batch, retrying while the server is away; each append lands at most once.
    async fn commit(&mut self, batch: &[Append]) -> Ids {
        let deadline = Instant::now() + RETRY_FOR;
        let mut delay = RETRY_START;
        let mut occupied: HashMap<String, i64> = HashMap::new();
        loop {
            let failure = match self.attempt(batch, &occupied).await {
                Ok(Attempt::Done(ids)) => return ids,
                Ok(Attempt::Occupied(taken)) => {
                    occupied.extend(taken);
                    continue;
                }
                Err(f) => f,
            };
            self.client = None;
            if let Some(unknown) = failure.unknown {
                match self
                    .landed(&unknown.topic, unknown.id, unknown.token, deadline)
                    .await
                {
                    Some(true) => {
                        self.announce(batch, &unknown.ids);
                        return unknown.ids;
                    }
                    Some(false) => {}
                    None => {
                        let e = Error::Log(format!(
                            "{}; the connection was lost while committing and the server stayed unreachable for {} s, \
                             so whether these events landed is unknown (each landed at most once: `sidefx log tail` shows them)",
                            failure.error,
                            RETRY_FOR.as_secs()
                        ));
                        return batch.iter().map(|_| Err(e.clone())).collect();
                    }
                }
            }
            if !failure.retry || Instant::now() + delay > deadline {
                let e = if failure.retry {
                    Error::Log(format!(
                        "{}; gave up after retrying for {} s; nothing was appended",
                        failure.error,
                        RETRY_FOR.as_secs()
                    ))
                } else {
                    failure.error
                };
                return batch.iter().map(|_| Err(e.clone())).collect();
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(RETRY_MAX);
        }
    }

    /// After a lost commit answer: whether the row `(topic, id)` carries `token` (the batch
    /// landed), or `None` if the server stayed away.
    async fn landed(&mut self, topic: &str, id: i64, token: i64, deadline: Instant) -> Option<bool> {
        let mut delay = RETRY_START;
        loop {
            if let Ok(client) = self.connected().await {
                let row = client
                    .query_typed(
                        "SELECT token FROM sidefx_events WHERE topic = $1 AND id = $2",
                        &[(&topic, Type::TEXT), (&id, Type::INT8)],
                    )
                    .await;
                match row {
                    Ok(rows) => return Some(rows.first().is_some_and(|r| r.get::<_, i64>(0) == token)),
                    Err(_) => self.client = None,
                }
            }
            if Instant::now() + delay > deadline {
                return None;
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(RETRY_MAX);
        }
    }

    async fn connected(&mut self) -> std::result::Result<&Client, Failure> {
        if self.client.as_ref().is_some_and(Client::is_closed) {
            self.client = None;
        }
        if self.client.is_none() {
            let target = &self.shared.target;
            let client = target.connect().await.map_err(|error| Failure {
                error,
                retry: true,
                unknown: None,
            })?;
            // A commit must be durable when it returns: refuse the one setting that skips the
            // flush (stronger replicated settings are kept).
            let mode = client.query_one("SHOW synchronous_commit", &[]).await;
            if let Ok(row) = mode
                && row.get::<_, String>(0) == "off"
            {
                let _ = client.batch_execute("SET synchronous_commit = on").await;
            }
            self.client = Some(client);
        }
        self.client.as_ref().ok_or_else(|| Failure {
            error: Error::Log("no connection to the PostgreSQL event log".into()),
            retry: true,
            unknown: None,
        })
    }

    fn fail(&self, what: &str, e: &tokio_postgres::Error) -> Failure {
        Failure {
            error: self.shared.target.error(what, e),
            retry: super::conn::transient(e),
            unknown: None,
        }
    }

    async fn attempt(
        &mut self,
        batch: &[Append],
        occupied: &HashMap<String, i64>,
    ) -> std::result::Result<Attempt, Failure> {
        let mut topics: Vec<&str> = batch
            .iter()
            .map(|a| a.topic.as_str())
            .filter(|t| !occupied.contains_key(*t))
            .collect();
        topics.sort_unstable();
        topics.dedup();
        let missing: Vec<&str> = topics
            .iter()
            .copied()
            .filter(|t| !self.known.contains(*t))
            .collect();
        if !missing.is_empty() {
            // Head rows exist before any transaction locks them, so two writers of a new topic
            // still serialise on its row. In sorted order, like the locks below.
            let client = self.connected().await?;
            client
                .query_typed(
                    "INSERT INTO sidefx_topics (topic, last_id) SELECT t, 0 FROM unnest($1::text[]) AS t ORDER BY t
                     ON CONFLICT (topic) DO NOTHING",
                    &[(&missing, Type::TEXT_ARRAY)],
                )
                .await
                .map_err(|e| self.fail("cannot append to", &e))?;
            self.known.extend(missing.iter().map(|t| (*t).to_owned()));
        }
        let client = self.connected().await?;
        client
            .batch_execute("BEGIN")
            .await
            .map_err(|e| self.fail("cannot append to", &e))?;
        let result = self.write(batch, occupied, &topics).await;
        if (result.is_err() || matches!(result, Ok(Attempt::Occupied(_))))
            && let Some(c) = &self.client
            && c.batch_execute("ROLLBACK").await.is_err()
        {
            self.client = None;
        }
        result
    }

    /// Inside the transaction: lock the heads, number the appends, write, commit.
    async fn write(
        &mut self,
        batch: &[Append],
        occupied: &HashMap<String, i64>,
        topics: &[&str],
    ) -> std::result::Result<Attempt, Failure> {
        let Some(client) = self.client.as_ref() else {
            return Err(Failure {
                error: Error::Log("no connection to the PostgreSQL event log".into()),
                retry: true,
                unknown: None,
            });
        };
        let rows = client
            .query_typed(
                "SELECT topic, last_id FROM sidefx_topics WHERE topic = ANY($1) ORDER BY topic FOR UPDATE",
                &[(&topics, Type::TEXT_ARRAY)],
            )
            .await
            .map_err(|e| self.fail("cannot append to", &e))?;
        let mut heads: HashMap<String, i64> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        if heads.len() != topics.len() {
            // A head row vanished (deleted outside sidefx): recreate it on the next attempt.
            self.known.clear();
            return Err(Failure {
                error: Error::Log(format!(
                    "cannot append to the PostgreSQL event log at {}: a topic's head row in sidefx_topics is missing",
                    self.shared.target.shown()
                )),
                retry: true,
                unknown: None,
            });
        }
        let mut ids: Ids = Vec::with_capacity(batch.len());
        let (mut t, mut id, mut kind, mut payload, mut headers, mut at) = (
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
        );
        for a in batch {
            let name = a.topic.as_str();
            if let Some(taken) = occupied.get(name) {
                ids.push(Err(self.occupied(&a.topic, *taken)));
                continue;
            }
            let Some(head) = heads.get_mut(name) else {
                ids.push(Err(Error::Log(format!("topic {name} has no head row"))));
                continue;
            };
            if let Some(expected) = a.expected
                && super::to_i64(expected.unwrap_or(0)) != *head
            {
                ids.push(Ok(None));
                continue;
            }
            *head += 1;
            t.push(name);
            id.push(*head);
            kind.push(a.event.kind.as_str());
            payload.push(a.event.payload.as_str());
            headers.push(a.event.headers.as_str());
            at.push(a.event.occurred_at_ms);
            ids.push(Ok(Some(super::to_id(*head))));
        }
        if t.is_empty() {
            return Ok(Attempt::Done(ids));
        }
        let mut moved: Vec<(&str, i64)> = Vec::new();
        for (name, i) in t.iter().zip(&id) {
            match moved.iter_mut().find(|(n, _)| n == name) {
                Some(entry) => entry.1 = *i,
                None => moved.push((name, *i)),
            }
        }
        let (head_topics, head_ids): (Vec<&str>, Vec<i64>) = moved.into_iter().unzip();
        let token = i64::from_ne_bytes(uuid::Uuid::now_v7().as_u64_pair().1.to_ne_bytes());
        let row = client
            .query_typed(
                WRITE,
                &[
                    (&t, Type::TEXT_ARRAY),
                    (&id, Type::INT8_ARRAY),
                    (&kind, Type::TEXT_ARRAY),
                    (&payload, Type::TEXT_ARRAY),
                    (&headers, Type::TEXT_ARRAY),
                    (&at, Type::INT8_ARRAY),
                    (&token, Type::INT8),
                    (&head_topics, Type::TEXT_ARRAY),
                    (&head_ids, Type::INT8_ARRAY),
                ],
            )
            .await
            .map_err(|e| self.fail("cannot append to", &e))?;
        let inserted: i64 = row.first().map_or(0, |r| r.get(0));
        if inserted != i64::try_from(t.len()).unwrap_or(i64::MAX) {
            return self.find_occupied(client, &t, &id).await.map(Attempt::Occupied);
        }
        if let Err(e) = client.batch_execute("COMMIT").await {
            let mut f = self.fail("cannot commit to", &e);
            f.unknown = Some(Unknown {
                topic: t[0].to_owned(),
                id: id[0],
                token,
                ids,
            });
            return Err(f);
        }
        self.announce(batch, &ids);
        Ok(Attempt::Done(ids))
    }

    /// Announces a batch that committed to this process's waiters.
    fn announce(&self, batch: &[Append], ids: &Ids) {
        for (a, id) in batch.iter().zip(ids) {
            if let Ok(Some(id)) = id {
                self.shared.announce(&a.topic, *id);
            }
        }
    }

    async fn find_occupied(
        &self,
        client: &Client,
        t: &[&str],
        id: &[i64],
    ) -> std::result::Result<HashMap<String, i64>, Failure> {
        let rows = client
            .query_typed(
                "SELECT e.topic, e.id FROM sidefx_events e
                 JOIN unnest($1::text[], $2::int8[]) AS r(topic, id) ON e.topic = r.topic AND e.id = r.id",
                &[(&t, Type::TEXT_ARRAY), (&id, Type::INT8_ARRAY)],
            )
            .await
            .map_err(|e| self.fail("cannot append to", &e))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// The error of an append whose next id is already taken.
    fn occupied(&self, topic: &Topic, taken: i64) -> Error {
        Error::Log(format!(
            "cannot append to topic {topic} in the PostgreSQL event log at {}: event {taken} already exists beyond the \
             topic's recorded head (event {}); the tables were altered outside sidefx (`sidefx trust verify` reports what changed)",
            self.shared.target.shown(),
            taken.saturating_sub(1)
        ))
    }
}

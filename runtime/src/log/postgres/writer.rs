//! The writer task: group commit of queued appends in one transaction that locks each topic's
//! head row, retried on a fresh connection when the server goes away, and never applied twice.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_postgres::Client;
use tokio_postgres::types::Type;

use super::Shared;
use super::batch::{Encoded, Item, Outcome};
use super::conn::Target;
use crate::log::{ChainAppended, EventId, Seal, Topic};
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

enum Reply {
    Plain(oneshot::Sender<Result<Option<EventId>>>),
    Chained(oneshot::Sender<Result<ChainAppended>>),
}

/// Per item: what it got.
pub(super) type Ids = Vec<Outcome>;

/// Why an attempt did not finish.
pub(super) struct Failure {
    pub(super) error: Error,
    /// A retry on a fresh connection may succeed.
    pub(super) retry: bool,
    /// The commit was sent but its answer lost.
    pub(super) unknown: Option<Unknown>,
}

/// A commit whose answer was lost: the row `(topic, id)` carries `token` if it landed, and
/// then the appends got `ids`.
pub(super) struct Unknown {
    pub(super) topic: String,
    pub(super) id: i64,
    pub(super) token: i64,
    pub(super) ids: Ids,
}

pub(super) enum Attempt {
    Done(Ids),
    /// These topics' next ids are taken (the head was moved back outside sidefx).
    Occupied(HashMap<String, i64>),
}

/// Opens the writer's connection: a commit must be durable when it returns, so the one setting
/// that skips the flush is refused (stronger replicated settings are kept).
pub(crate) async fn session(target: &Target) -> Result<Client> {
    let client = target.connect().await?;
    let mode = client.query_one("SHOW synchronous_commit", &[]).await;
    if let Ok(row) = mode
        && row.get::<_, String>(0) == "off"
    {
        let _ = client.batch_execute("SET synchronous_commit = on").await;
    }
    Ok(client)
}

/// Commits what `rx` queues. `early` is the connection opened while the log was opening, so
/// the first append does not pay for connecting (`None` or a failure: connect on demand).
pub(crate) async fn writer_loop(
    shared: Arc<Shared>,
    early: JoinHandle<Result<Client>>,
    mut rx: mpsc::UnboundedReceiver<Command>,
) {
    let mut writer = Writer {
        shared,
        client: early.await.ok().and_then(Result::ok),
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
                    appends.push(Item::Plain {
                        topic,
                        event,
                        expected,
                    });
                    replies.push(Reply::Plain(reply));
                }
                Command::Chained {
                    topic,
                    before,
                    seal,
                    reply,
                } => {
                    appends.push(Item::Chained { topic, before, seal });
                    replies.push(Reply::Chained(reply));
                }
                Command::Flush { reply } => flushes.push(reply),
            }
        }
        if !appends.is_empty() {
            let outcomes = writer.commit(&mut appends).await;
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                match (reply, outcome) {
                    (Reply::Plain(r), Outcome::Plain(o)) => {
                        let _ = r.send(o);
                    }
                    (Reply::Chained(r), Outcome::Chained(o)) => {
                        let _ = r.send(o);
                    }
                    (Reply::Plain(r), Outcome::Chained(_)) => {
                        let _ = r.send(Err(Error::Log(
                            "the PostgreSQL writer mixed up its replies".into(),
                        )));
                    }
                    (Reply::Chained(r), Outcome::Plain(_)) => {
                        let _ = r.send(Err(Error::Log(
                            "the PostgreSQL writer mixed up its replies".into(),
                        )));
                    }
                }
            }
        }
        // Every append queued before a flush has committed by now, and a commit is durable.
        for reply in flushes {
            let _ = reply.send(Ok(()));
        }
    }
}

pub(super) struct Writer {
    pub(super) shared: Arc<Shared>,
    pub(super) client: Option<Client>,
    /// Topics whose head row is known to exist.
    pub(super) known: HashSet<String>,
}

impl Writer {
    /// Commits the batch, retrying while the server is away; each append lands at most once.
    async fn commit(&mut self, batch: &mut [Item]) -> Ids {
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
                        ).into());
                        return batch.iter().map(|i| Outcome::failed(&e, i)).collect();
                    }
                }
            }
            if !failure.retry || Instant::now() + delay > deadline {
                let e = if failure.retry {
                    Error::Log(
                        format!(
                            "{}; gave up after retrying for {} s; nothing was appended",
                            failure.error,
                            RETRY_FOR.as_secs()
                        )
                        .into(),
                    )
                } else {
                    failure.error
                };
                return batch.iter().map(|i| Outcome::failed(&e, i)).collect();
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

    pub(super) async fn connected(&mut self) -> std::result::Result<&Client, Failure> {
        if self.client.as_ref().is_some_and(Client::is_closed) {
            self.client = None;
        }
        if self.client.is_none() {
            let client = session(&self.shared.target).await.map_err(|error| Failure {
                error,
                retry: true,
                unknown: None,
            })?;
            self.client = Some(client);
        }
        self.client.as_ref().ok_or_else(|| Failure {
            error: Error::Log("no connection to the PostgreSQL event log".into()),
            retry: true,
            unknown: None,
        })
    }

    pub(super) fn fail(&self, what: &str, e: &tokio_postgres::Error) -> Failure {
        Failure {
            error: self.shared.target.error(what, e),
            retry: super::conn::transient(e),
            unknown: None,
        }
    }
}

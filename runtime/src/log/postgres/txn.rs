//! One attempt at a batch: the transaction that locks the topics' heads, numbers the appends,
//! writes them with their notifications in one statement, and commits.

use std::collections::HashMap;

use tokio_postgres::types::Type;
use tokio_postgres::{Client, Row};

use super::batch::{Item, Outcome, heads, number};
use super::writer::{Attempt, Failure, Ids, Unknown, Writer};
use crate::Error;

/// Inserts the batch, moves the heads and queues one notification per topic, in one statement
/// (data-modifying CTEs always run; `woken` runs because it is counted). Notifications are
/// delivered only when the transaction commits.
/// Creates missing head rows (on its own, before the transaction).
const INSERT_HEADS: &str =
    "INSERT INTO sidefx_topics (topic, last_id) SELECT t, 0 FROM unnest($1::text[]) AS t ORDER BY t
     ON CONFLICT (topic) DO NOTHING";
/// Locks the batch's head rows, in a fixed order.
const LOCK_HEADS: &str =
    "SELECT topic, last_id FROM sidefx_topics WHERE topic = ANY($1) ORDER BY topic FOR UPDATE";

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

impl Writer {
    pub(super) async fn attempt(
        &mut self,
        batch: &mut [Item],
        occupied: &HashMap<String, i64>,
    ) -> std::result::Result<Attempt, Failure> {
        let mut topics: Vec<String> = batch
            .iter()
            .flat_map(Item::topics)
            .filter(|t| !occupied.contains_key(*t))
            .map(str::to_owned)
            .collect();
        topics.sort_unstable();
        topics.dedup();
        let missing: Vec<&str> = topics
            .iter()
            .map(String::as_str)
            .filter(|t| !self.known.contains(*t))
            .collect();
        let client = self.connected().await?;
        // Head rows exist before any transaction locks them (the insert commits on its own), so
        // two writers of a new topic still serialise on its row; in sorted order, like the locks.
        let insert = async {
            if missing.is_empty() {
                return Ok(Vec::new());
            }
            client
                .query_typed(INSERT_HEADS, &[(&missing, Type::TEXT_ARRAY)])
                .await
        };
        // The insert, `BEGIN` and the lock on the heads are sent together and answered in
        // order (tokio-postgres queues a request when it is first polled, and `join!` polls in
        // order): one round trip instead of two (three for a new topic) on every commit.
        let lock_params = [(
            &topics as &(dyn tokio_postgres::types::ToSql + Sync),
            Type::TEXT_ARRAY,
        )];
        let (inserted, begun, locked) = tokio::join!(
            insert,
            client.batch_execute("BEGIN"),
            client.query_typed(LOCK_HEADS, &lock_params),
        );
        let result = match (inserted, begun, locked) {
            (Ok(_), Ok(()), Ok(locked)) => {
                self.known.extend(missing.iter().map(|t| (*t).to_owned()));
                self.write(batch, occupied, &topics, &locked).await
            }
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => Err(self.fail("cannot append to", &e)),
        };
        if (result.is_err() || matches!(result, Ok(Attempt::Occupied(_))))
            && let Some(c) = &self.client
            && c.batch_execute("ROLLBACK").await.is_err()
        {
            self.client = None;
        }
        result
    }

    /// Inside the transaction, the heads `locked`: number the appends, write, commit.
    async fn write(
        &mut self,
        batch: &mut [Item],
        occupied: &HashMap<String, i64>,
        topics: &[String],
        locked: &[Row],
    ) -> std::result::Result<Attempt, Failure> {
        let Some(client) = self.client.as_ref() else {
            return Err(Failure {
                error: Error::Log("no connection to the PostgreSQL event log".into()),
                retry: true,
                unknown: None,
            });
        };
        // Chained records are sealed onto the event at their topic's head, read now that the
        // head cannot move.
        let chained: Vec<&str> = batch
            .iter()
            .filter_map(|i| match i {
                Item::Chained { topic, .. } => Some(topic.as_str()),
                Item::Plain { .. } => None,
            })
            .collect();
        let events = if chained.is_empty() {
            Vec::new()
        } else {
            let (t, id): (Vec<String>, Vec<i64>) = locked
                .iter()
                .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1)))
                .filter(|(t, id)| *id > 0 && chained.contains(&t.as_str()))
                .unzip();
            client
                .query_typed(
                    "SELECT e.topic, e.kind, e.payload, e.headers, e.occurred_at_ms FROM sidefx_events e
                     JOIN unnest($1::text[], $2::int8[]) AS h(topic, id) ON e.topic = h.topic AND e.id = h.id",
                    &[(&t, Type::TEXT_ARRAY), (&id, Type::INT8_ARRAY)],
                )
                .await
                .map_err(|e| self.fail("cannot append to", &e))?
        };
        let mut heads = heads(locked, &events);
        if heads.len() != topics.len() {
            // A head row vanished (deleted outside sidefx): recreate it on the next attempt.
            self.known.clear();
            return Err(Failure {
                error: Error::Log(format!(
                    "cannot append to the PostgreSQL event log at {}: a topic's head row in sidefx_topics is missing",
                    self.shared.target.shown()
                ).into()),
                retry: true,
                unknown: None,
            });
        }
        let occupied_error = |name: &str| occupied.get(name).map(|taken| self.occupied(name, *taken));
        let (ids, rows) = number(batch, &mut heads, &events, &occupied_error);
        if rows.id.is_empty() {
            return Ok(Attempt::Done(ids));
        }
        let mut moved: Vec<(&str, i64)> = Vec::new();
        for (name, i) in rows.topic.iter().zip(&rows.id) {
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
                    (&rows.topic, Type::TEXT_ARRAY),
                    (&rows.id, Type::INT8_ARRAY),
                    (&rows.kind, Type::TEXT_ARRAY),
                    (&rows.payload, Type::TEXT_ARRAY),
                    (&rows.headers, Type::TEXT_ARRAY),
                    (&rows.at, Type::INT8_ARRAY),
                    (&token, Type::INT8),
                    (&head_topics, Type::TEXT_ARRAY),
                    (&head_ids, Type::INT8_ARRAY),
                ],
            )
            .await
            .map_err(|e| self.fail("cannot append to", &e))?;
        let inserted: i64 = row.first().map_or(0, |r| r.get(0));
        if inserted != i64::try_from(rows.id.len()).unwrap_or(i64::MAX) {
            return self
                .find_occupied(client, &rows.topic, &rows.id)
                .await
                .map(Attempt::Occupied);
        }
        if let Err(e) = client.batch_execute("COMMIT").await {
            let mut f = self.fail("cannot commit to", &e);
            f.unknown = Some(Unknown {
                topic: rows.topic[0].to_owned(),
                id: rows.id[0],
                token,
                ids,
            });
            return Err(f);
        }
        drop(rows);
        self.announce(batch, &ids);
        Ok(Attempt::Done(ids))
    }

    /// Announces a batch that committed to this process's waiters.
    pub(super) fn announce(&self, batch: &[Item], ids: &Ids) {
        for (item, outcome) in batch.iter().zip(ids) {
            match (item, outcome) {
                (Item::Plain { topic, .. }, Outcome::Plain(Ok(Some(id)))) => self.shared.announce(topic, *id),
                (Item::Chained { topic, before, .. }, Outcome::Chained(Ok(done))) => {
                    for ((t, _), id) in before.iter().zip(&done.before) {
                        self.shared.announce(t, *id);
                    }
                    self.shared.announce(topic, done.id);
                }
                _ => {}
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
    fn occupied(&self, topic: &str, taken: i64) -> Error {
        Error::Log(format!(
            "cannot append to topic {topic} in the PostgreSQL event log at {}: event {taken} already exists beyond the \
             topic's recorded head (event {}); the tables were altered outside sidefx (`sidefx trust verify` reports what changed)",
            self.shared.target.shown(),
            taken.saturating_sub(1)
        ).into())
    }
}

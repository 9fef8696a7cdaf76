//! The tables, created and migrated on first use under an advisory lock, with a version table,
//! so processes starting at once on an empty database all succeed and apply each step once.

use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

use super::conn::Target;
use crate::{Error, Result};

/// The schema this code writes and reads.
pub(crate) const VERSION: i32 = 1;

/// The advisory lock migrations hold (the ASCII bytes `SFX1` and 1): transaction-scoped, so a
/// process killed while migrating releases it with its connection.
const LOCK_KEY: i64 = 0x5346_5831_0000_0001;

/// `sidefx_events` holds every event; `sidefx_topics.last_id` is each topic's recorded head,
/// the row writers lock (`FOR UPDATE`) to append and the value compare-and-append checks.
/// Payloads are stored as the exact JSON text written (not `jsonb`, which would reorder and
/// renormalise what the trust chain hashes). `token` tells which transaction wrote a row, so a
/// writer whose commit was cut off can learn whether it landed.
const MIGRATIONS: &[&str] = &["
CREATE TABLE sidefx_topics (
    topic text PRIMARY KEY,
    last_id bigint NOT NULL CHECK (last_id >= 0)
);
CREATE TABLE sidefx_events (
    topic text NOT NULL,
    id bigint NOT NULL CHECK (id > 0),
    kind text NOT NULL,
    payload text NOT NULL,
    headers text NOT NULL,
    occurred_at_ms bigint NOT NULL,
    token bigint NOT NULL,
    PRIMARY KEY (topic, id)
);
"];

/// Checks the schema and, when `create`, creates or migrates it. Without `create` a database
/// without the tables is refused: reviewers' tools never create a log.
pub(crate) async fn prepare(client: &mut Client, target: &Target, create: bool) -> Result<()> {
    let found = installed(client, target).await?;
    if found == Some(VERSION) {
        return Ok(());
    }
    check_not_newer(found, target)?;
    if found.is_none() && !create {
        return Err(Error::Log(format!(
            "no sidefx event log at {}: the database has no sidefx tables (an agent host creates them on first use)",
            target.shown()
        ).into()));
    }
    let fail = |e: tokio_postgres::Error| target.error("cannot create the tables of", &e);
    let tx = client.transaction().await.map_err(fail)?;
    // Whoever takes the lock first migrates; the others wait here and then find it done.
    tx.batch_execute(&format!(
        "SELECT pg_advisory_xact_lock({LOCK_KEY});
         CREATE TABLE IF NOT EXISTS sidefx_schema_version (
             version integer PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now()
         );"
    ))
    .await
    .map_err(fail)?;
    let row = tx
        .query_one("SELECT coalesce(max(version), 0) FROM sidefx_schema_version", &[])
        .await
        .map_err(fail)?;
    let current: i32 = row.get(0);
    check_not_newer(Some(current), target)?;
    for (step, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(current).unwrap_or(0))
    {
        let version = i32::try_from(step + 1).unwrap_or(i32::MAX);
        tx.batch_execute(sql).await.map_err(|e| {
            if e.code() == Some(&SqlState::DUPLICATE_TABLE) {
                Error::Log(format!(
                    "cannot create the sidefx tables at {}: a table of that name exists that sidefx did not record \
                     in sidefx_schema_version; use another database or schema (?options=-csearch_path%3DNAME)",
                    target.shown()
                ).into())
            } else {
                fail(e)
            }
        })?;
        tx.execute(
            "INSERT INTO sidefx_schema_version (version) VALUES ($1)",
            &[&version],
        )
        .await
        .map_err(fail)?;
    }
    tx.commit().await.map_err(fail)
}

/// The installed schema version, `None` when there are no sidefx tables.
async fn installed(client: &Client, target: &Target) -> Result<Option<i32>> {
    match client
        .query_one("SELECT coalesce(max(version), 0) FROM sidefx_schema_version", &[])
        .await
    {
        Ok(row) => Ok(Some(row.get::<_, i32>(0)).filter(|v| *v > 0)),
        Err(e) if e.code() == Some(&SqlState::UNDEFINED_TABLE) => Ok(None),
        Err(e) => Err(target.error("cannot read the schema version of", &e)),
    }
}

fn check_not_newer(found: Option<i32>, target: &Target) -> Result<()> {
    match found {
        Some(v) if v > VERSION => Err(Error::Log(format!(
            "the event log at {} was written by a newer sidefx (log schema {v}, this build reads {VERSION}); upgrade sidefx",
            target.shown()
        ).into())),
        _ => Ok(()),
    }
}

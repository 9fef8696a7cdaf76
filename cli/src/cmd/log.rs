//! `sidefx log tail`: the newest raw events, optionally following appends.

use std::sync::Arc;

use clap::Subcommand;
use serde_json::{Value, json};
use sidefx::log::{EventLog, StoredEvent, Topic, rfc3339_ms, subscribe};

use crate::Res;
use crate::output::{escape, out, out_text};
use crate::table::shorten;

#[derive(Debug, Subcommand)]
pub enum LogCmd {
    /// The newest events, of one topic or of all; `--follow` keeps printing new ones.
    Tail {
        /// Only this topic (`trigger.outbox`, `trust_graph`, `hitl.approvals`, ...).
        #[arg(long)]
        topic: Option<String>,
        /// Keep running and print events as they are appended (by any process).
        #[arg(long, short)]
        follow: bool,
        /// How many past events to print.
        #[arg(long, short = 'n', default_value_t = 20)]
        limit: usize,
    },
}

fn event_json(topic: &Topic, e: &StoredEvent) -> Value {
    json!({
        "topic": topic,
        "id": e.id,
        "kind": e.event.kind,
        "occurred_at_ms": e.event.occurred_at_ms,
        "headers": e.event.headers,
        "payload": e.event.payload,
    })
}

/// JSON lines are exact; text lines are escaped.
fn print(text: &str, json: bool) -> Res {
    if json { out(text) } else { out_text(text) }
}

fn event_line(topic: &Topic, e: &StoredEvent, json: bool) -> String {
    if json {
        return format!("{}\n", event_json(topic, e));
    }
    let headers: Vec<String> = e.event.headers.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let payload = serde_json::to_string(&e.event.payload).unwrap_or_default();
    let payload: String = if payload.chars().count() > 160 {
        payload.chars().take(159).chain(['…']).collect()
    } else {
        payload
    };
    format!(
        "{}  {}#{}  {}  {}  {}\n",
        rfc3339_ms(e.event.occurred_at_ms),
        topic,
        e.id,
        escape(&e.event.kind),
        shorten(&headers.join(" ")),
        escape(&payload)
    )
}

/// Runs a `log` subcommand.
pub async fn run(log: Arc<dyn EventLog>, cmd: LogCmd, json: bool) -> Res {
    match cmd {
        LogCmd::Tail { topic, follow, limit } => tail(log, topic, follow, limit, json).await,
    }
}

async fn tail(log: Arc<dyn EventLog>, topic: Option<String>, follow: bool, limit: usize, json: bool) -> Res {
    let topics = match topic {
        Some(t) => vec![Topic::new(t)?],
        None => {
            let mut t = log.topics().await?;
            if follow {
                for known in [Topic::TRIGGER_OUTBOX, Topic::TRUST_GRAPH, Topic::HITL_APPROVALS] {
                    if !t.contains(&known) {
                        t.push(known);
                    }
                }
            }
            t
        }
    };
    let mut recent = Vec::new();
    let mut cursors = Vec::new();
    for t in &topics {
        let last = log.last_id(t).await?;
        let events = log
            .read_range(t, last.saturating_sub(limit as u64), limit)
            .await?;
        let cursor = events.last().map_or(last, |e| e.id.max(last));
        cursors.push((t.clone(), cursor));
        recent.extend(events.into_iter().map(|e| (t.clone(), e)));
    }
    recent.sort_by(|a, b| {
        (a.1.event.occurred_at_ms, &a.0, a.1.id).cmp(&(b.1.event.occurred_at_ms, &b.0, b.1.id))
    });
    let skip = recent.len().saturating_sub(limit);
    let mut text = String::new();
    for (t, e) in &recent[skip..] {
        text.push_str(&event_line(t, e, json));
    }
    print(&text, json)?;
    if !follow {
        return Ok(());
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel::<sidefx::Result<(Topic, StoredEvent)>>(256);
    for (t, cursor) in cursors {
        let (log, tx) = (log.clone(), tx.clone());
        tokio::spawn(async move {
            let mut sub = subscribe(log.as_ref(), t.clone(), cursor);
            loop {
                let next = sub.next().await.map(|e| (t.clone(), e));
                let stop = next.is_err();
                if tx.send(next).await.is_err() || stop {
                    return;
                }
            }
        });
    }
    drop(tx);
    while let Some(next) = rx.recv().await {
        let (t, e) = next?;
        print(&event_line(&t, &e, json), json)?;
    }
    Ok(())
}

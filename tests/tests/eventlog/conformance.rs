//! The `EventLog` conformance suite, written once against the trait and run on every backend
//! (memory, SQLite, PostgreSQL): ordering, per-topic ids, compare-and-append and its races,
//! subscriptions across the history/live switch, waits woken by another handle, `latest`,
//! `read_range`, `topics`, flush and reopen, and one trust chain from many writers.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use sidefx::Tier;
use sidefx::log::{EventLog, LogEvent, Topic, subscribe};
use sidefx::trust::{self, Outcome, TrustDraft};

use super::fixtures::Fixture;

/// Generous: only a hang reaches it, and then the test fails instead of hanging.
const HANG: Duration = Duration::from_secs(120);

fn topic(name: &str) -> Topic {
    Topic::new(name).unwrap()
}

fn ev(kind: &str, n: u64) -> LogEvent {
    LogEvent::new(kind, json!({ "n": n }))
}

fn ns(events: &[sidefx::log::StoredEvent]) -> Vec<u64> {
    events
        .iter()
        .map(|e| e.event.payload["n"].as_u64().unwrap())
        .collect()
}

fn ids(events: &[sidefx::log::StoredEvent]) -> Vec<u64> {
    events.iter().map(|e| e.id).collect()
}

pub async fn ids_are_per_topic_from_one(f: &Fixture) {
    let (a, b) = (topic("conf.a"), topic("conf.b"));
    assert_eq!(f.log.last_id(&a).await.unwrap(), 0);
    assert_eq!(f.log.latest(&a).await.unwrap(), None);
    assert!(f.log.read_range(&a, 0, 10).await.unwrap().is_empty());
    assert!(f.log.topics().await.unwrap().is_empty());
    for n in 0..6 {
        assert_eq!(f.log.append(&b, ev("b", n)).await.unwrap(), n + 1);
        if n % 2 == 0 {
            assert_eq!(f.other.append(&a, ev("a", n)).await.unwrap(), n / 2 + 1);
        }
    }
    let got = f.log.read_range(&b, 0, 100).await.unwrap();
    assert_eq!(ids(&got), vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(ns(&got), vec![0, 1, 2, 3, 4, 5], "oldest first, in append order");
    assert_eq!(ids(&f.other.read_range(&a, 0, 100).await.unwrap()), vec![1, 2, 3]);
    assert_eq!(f.log.topics().await.unwrap(), vec![a.clone(), b.clone()]);
    assert_eq!(f.log.last_id(&a).await.unwrap(), 3);
}

pub async fn events_round_trip_exactly(f: &Fixture) {
    let t = topic("conf.exact");
    let event = LogEvent {
        kind: "kind with spaces ü".into(),
        payload: json!({
            "text": "line\nbreak \"quoted\" \u{0} nul, emoji 🚀",
            "big": u64::MAX, "neg": i64::MIN, "float": 0.1, "tiny": 1e-300,
            "nested": {"z": [1, {"a": null}], "a": true},
        }),
        headers: BTreeMap::from([("agent".into(), "a-1".into()), ("trace_id".into(), "ü".into())]),
        occurred_at_ms: 1_700_000_000_123,
    };
    f.log.append(&t, event.clone()).await.unwrap();
    assert_eq!(f.other.latest(&t).await.unwrap().unwrap().event, event);
    assert_eq!(f.log.read_range(&t, 0, 1).await.unwrap()[0].event, event);
}

pub async fn read_range_pages(f: &Fixture) {
    let t = topic("conf.pages");
    for n in 0..10 {
        f.log.append(&t, ev("p", n)).await.unwrap();
    }
    assert_eq!(ids(&f.log.read_range(&t, 3, 4).await.unwrap()), vec![4, 5, 6, 7]);
    assert_eq!(ids(&f.log.read_range(&t, 8, 100).await.unwrap()), vec![9, 10]);
    assert!(f.log.read_range(&t, 10, 100).await.unwrap().is_empty());
    assert!(f.log.read_range(&t, 99, 100).await.unwrap().is_empty());
    assert!(f.log.read_range(&t, 0, 0).await.unwrap().is_empty());
    let latest = f.log.latest(&t).await.unwrap().unwrap();
    assert_eq!((latest.id, ns(&[latest])[0]), (10, 9));
    assert_eq!(f.log.last_id(&t).await.unwrap(), 10);
}

pub async fn compare_and_append_checks_the_head(f: &Fixture) {
    let t = topic("conf.cas");
    assert_eq!(
        f.log.append_if_latest(&t, Some(1), ev("x", 0)).await.unwrap(),
        None
    );
    assert_eq!(
        f.log.append_if_latest(&t, None, ev("x", 1)).await.unwrap(),
        Some(1)
    );
    assert_eq!(
        f.other.append_if_latest(&t, None, ev("x", 2)).await.unwrap(),
        None
    );
    assert_eq!(
        f.other.append_if_latest(&t, Some(1), ev("x", 3)).await.unwrap(),
        Some(2)
    );
    assert_eq!(
        f.log.append_if_latest(&t, Some(1), ev("x", 4)).await.unwrap(),
        None,
        "stale head"
    );
    assert_eq!(
        f.log.append_if_latest(&t, Some(7), ev("x", 5)).await.unwrap(),
        None,
        "future head"
    );
    assert_eq!(f.log.append(&t, ev("x", 6)).await.unwrap(), 3);
    assert_eq!(
        ns(&f.log.read_range(&t, 0, 10).await.unwrap()),
        vec![1, 3, 6],
        "losers wrote nothing"
    );
}

pub async fn compare_and_append_races_keep_one_chain(f: &Fixture) {
    let t = topic("conf.race");
    let (tasks, each) = (8u64, 15u64);
    let mut handles = Vec::new();
    for task in 0..tasks {
        let log = if task % 2 == 0 {
            f.log.clone()
        } else {
            f.other.clone()
        };
        let t = t.clone();
        handles.push(tokio::spawn(async move {
            for _ in 0..each {
                let mut attempts = 0;
                loop {
                    attempts += 1;
                    assert!(attempts < 10_000, "compare-and-append never won");
                    let head = log.latest(&t).await.unwrap().map(|e| e.id);
                    let event = LogEvent::new("link", json!({ "prev": head.unwrap_or(0), "task": task }));
                    if let Some(id) = log.append_if_latest(&t, head, event).await.unwrap() {
                        assert_eq!(id, head.unwrap_or(0) + 1);
                        break;
                    }
                }
            }
        }));
    }
    for h in handles {
        tokio::time::timeout(HANG, h).await.unwrap().unwrap();
    }
    let all = f.log.read_range(&t, 0, 1_000).await.unwrap();
    assert_eq!(ids(&all), (1..=tasks * each).collect::<Vec<_>>());
    for e in &all {
        assert_eq!(
            e.event.payload["prev"],
            e.id - 1,
            "each link names the head it extended"
        );
    }
}

pub async fn subscribe_switches_to_live_without_gap_or_duplicate(f: &Fixture) {
    let t = topic("conf.sub");
    // More than one read batch of history (the subscription reads 256 at a time).
    for n in 0..300 {
        f.log.append(&t, ev("old", n)).await.unwrap();
    }
    let writer = {
        let (other, t) = (f.other.clone(), t.clone());
        tokio::spawn(async move {
            for n in 300..600 {
                other.append(&t, ev("new", n)).await.unwrap();
            }
        })
    };
    let mut sub = subscribe(f.log.as_ref(), t.clone(), 0);
    let mut got = Vec::new();
    while got.len() < 600 {
        got.push(tokio::time::timeout(HANG, sub.next()).await.unwrap().unwrap());
    }
    writer.await.unwrap();
    assert_eq!(ids(&got), (1..=600).collect::<Vec<_>>());
    assert_eq!(ns(&got), (0..600).collect::<Vec<_>>());
    assert_eq!(sub.cursor(), 600);
    let mut late = subscribe(f.other.as_ref(), t, 598);
    assert_eq!(late.next().await.unwrap().id, 599);
    assert_eq!(late.next().await.unwrap().id, 600);
}

pub async fn waits_wake_on_another_handles_append(f: &Fixture) {
    let t = topic("conf.wait");
    f.log.append(&t, ev("first", 0)).await.unwrap();
    // Already past: returns at once.
    tokio::time::timeout(HANG, f.log.wait_for_append(&t, 0))
        .await
        .unwrap()
        .unwrap();
    let waiter = {
        let (log, t) = (f.log.clone(), t.clone());
        tokio::spawn(async move { log.wait_for_append(&t, 1).await })
    };
    let other_topic = topic("conf.wait.other");
    f.other.append(&other_topic, ev("elsewhere", 0)).await.unwrap();
    f.other.append(&t, ev("second", 1)).await.unwrap();
    tokio::time::timeout(HANG, waiter)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(f.log.last_id(&t).await.unwrap(), 2);
}

pub async fn flush_and_reopen_keep_every_event(f: &Fixture) {
    let (a, b) = (topic("conf.keep.a"), topic("conf.keep.b"));
    let mut handles = Vec::new();
    for task in 0..4u64 {
        let (log, a, b) = (f.log.clone(), a.clone(), b.clone());
        handles.push(tokio::spawn(async move {
            for n in 0..10 {
                log.append(if n % 2 == 0 { &a } else { &b }, ev("k", task * 100 + n))
                    .await
                    .unwrap();
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    f.log.flush().await.unwrap();
    let before = (
        f.log.read_range(&a, 0, 100).await.unwrap(),
        f.log.read_range(&b, 0, 100).await.unwrap(),
    );
    let reopened = f.reopen();
    let after = (
        reopened.read_range(&a, 0, 100).await.unwrap(),
        reopened.read_range(&b, 0, 100).await.unwrap(),
    );
    assert_eq!(before, after);
    assert_eq!(ids(&after.0), (1..=20).collect::<Vec<_>>());
    assert_eq!(reopened.topics().await.unwrap(), vec![a, b]);
}

pub async fn trust_chain_from_many_writers_verifies(f: &Fixture) {
    let mut handles = Vec::new();
    for task in 0..4u64 {
        let log = if task % 2 == 0 {
            f.log.clone()
        } else {
            f.other.clone()
        };
        handles.push(tokio::spawn(async move {
            for n in 0..10u64 {
                let draft =
                    TrustDraft::new(format!("agent-{task}"), "fs.write", Outcome::Denied, Tier::Shadow)
                        .meta("n", n);
                trust::append(log.as_ref(), draft).await.unwrap();
            }
        }));
    }
    for h in handles {
        tokio::time::timeout(HANG, h).await.unwrap().unwrap();
    }
    let log: Arc<dyn EventLog> = f.reopen();
    let v = trust::verify_chain(log.as_ref()).await.unwrap();
    assert!(v.is_valid(), "{v:?}");
    assert_eq!(log.last_id(&Topic::TRUST_GRAPH).await.unwrap(), 40);
}

/// One test per suite function for the backend `$make` (a `fixtures` function).
macro_rules! suite {
    ($backend:ident) => {
        suite!(@each $backend;
            ids_are_per_topic_from_one,
            events_round_trip_exactly,
            read_range_pages,
            compare_and_append_checks_the_head,
            compare_and_append_races_keep_one_chain,
            subscribe_switches_to_live_without_gap_or_duplicate,
            waits_wake_on_another_handles_append,
            flush_and_reopen_keep_every_event,
            trust_chain_from_many_writers_verifies
        );
    };
    (@each $backend:ident; $($test:ident),*) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let Some(fixture) = crate::fixtures::$backend() else { return };
                    super::$test(&fixture).await;
                }
            )*
        }
    };
}

suite!(memory);
suite!(sqlite);
suite!(postgres);

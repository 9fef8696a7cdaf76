//! Faults against a real PostgreSQL server, with real processes standing in for machines: two
//! writer processes with their own pools, an approval answered by the CLI from another
//! process, a server restart during appends, and a client killed mid-transaction.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use sidefx::log::{EventLog, PostgresEventLog, Topic};
use sidefx::trust::{self, TrustRecord};

use super::fixtures::{PgDb, postgres_url};
use super::procs::{Cluster, Proc, sidefx};

/// `committed CHAIN_INDEX RECORD_ID` lines as index -> record id (each index once).
fn committed(lines: &[String]) -> BTreeMap<u64, String> {
    let mut out = BTreeMap::new();
    for line in lines {
        if let Some(rest) = line.strip_prefix("committed ") {
            let (index, id) = rest.split_once(' ').unwrap();
            let previous = out.insert(index.parse().unwrap(), id.to_owned());
            assert!(previous.is_none(), "chain index {index} reported twice");
        }
    }
    out
}

/// Every record on the chain, checked to verify, as chain index -> record id.
async fn chain(log: &dyn EventLog) -> BTreeMap<u64, String> {
    let v = trust::verify_chain(log).await.unwrap();
    assert!(v.is_valid(), "{v:?}");
    let events = log.read_range(&Topic::TRUST_GRAPH, 0, usize::MAX).await.unwrap();
    let mut out = BTreeMap::new();
    let mut ids = BTreeSet::new();
    for e in events {
        let r: TrustRecord = serde_json::from_value(e.event.payload).unwrap();
        assert!(
            ids.insert(r.record_id.clone()),
            "record {} stored twice",
            r.record_id
        );
        out.insert(r.chain_index, r.record_id);
    }
    out
}

/// Each reported commit is on the chain at its index.
fn all_present(reported: &BTreeMap<u64, String>, stored: &BTreeMap<u64, String>) {
    for (index, id) in reported {
        assert_eq!(
            stored.get(index),
            Some(id),
            "committed record {id} (index {index}) is missing"
        );
    }
}

#[test]
fn two_writer_processes_keep_one_chain_that_the_cli_verifies() {
    let Some(db) = PgDb::create() else { return };
    // Both start on the empty database at once: both create-or-find the schema.
    let mut writers: Vec<Proc> = (0..2)
        .map(|i| Proc::helper(&["trust", &db.url, &format!("machine-{i}"), "120", "4"]))
        .collect();
    for w in &mut writers {
        w.until("ready");
    }
    for w in &mut writers {
        w.go();
    }
    let lines: Vec<String> = writers.into_iter().flat_map(Proc::finish).collect();
    let reported = committed(&lines);
    assert_eq!(reported.len(), 240);
    assert_eq!(
        reported.keys().copied().collect::<Vec<_>>(),
        (0..240).collect::<Vec<_>>()
    );

    let rt = tokio::runtime::Runtime::new().unwrap();
    let stored = rt.block_on(async {
        let log = PostgresEventLog::open_existing(&db.url).unwrap();
        chain(&log).await
    });
    assert_eq!(stored, reported, "no id lost or repeated");

    let (ok, out, err) = sidefx(&db.url, &["trust", "verify"]);
    assert!(ok, "sidefx trust verify failed: {out}{err}");
    assert!(out.contains("240"), "{out}");
}

#[test]
fn an_approval_from_the_cli_wakes_a_call_waiting_on_another_machine() {
    let Some(db) = PgDb::create() else { return };
    drop(PostgresEventLog::open(&db.url).unwrap());
    let mut caller = Proc::helper(&["call", &db.url, "deployer"]);
    let waiting = caller.until("waiting ");
    let id = waiting.trim_start_matches("waiting ").to_owned();
    let (ok, out, err) = sidefx(&db.url, &["approvals", "list", "--pending"]);
    assert!(ok && out.contains(&id), "{out}{err}");

    let approved = Instant::now();
    let (ok, out, err) = sidefx(&db.url, &["approvals", "approve", &id, "--reviewer", "alice"]);
    assert!(ok, "{out}{err}");
    let ran = caller.until("ran ");
    eprintln!(
        "approval wake, from the CLI's start to the body: {:?}",
        approved.elapsed()
    );
    assert_eq!(ran, "ran pushed main");
    caller.finish();
    let (ok, out, _) = sidefx(&db.url, &["approvals", "show", &id]);
    assert!(ok && out.contains("approved"), "{out}");
}

#[test]
fn a_server_restart_during_appends_loses_no_committed_event_and_repeats_none() {
    if postgres_url().is_none() {
        return;
    }
    let cluster = Cluster::start();
    let mut writers: Vec<Proc> = (0..2)
        .map(|i| Proc::helper(&["writer", &cluster.url, &format!("machine-{i}"), "3"]))
        .collect();
    for w in &mut writers {
        w.until("ready");
    }
    let mut follower = Proc::helper(&["follow", &cluster.url, "trust_graph"]);
    follower.until("ready");
    for w in &mut writers {
        w.go();
    }
    while writers.iter().map(Proc::committed).sum::<usize>() < 60 {
        writers[0].next_line();
        writers[1].next_line();
    }
    cluster.restart();
    let before: Vec<usize> = writers.iter().map(Proc::committed).collect();
    // Both writers commit again after the restart: they reconnected.
    for (w, before) in writers.iter_mut().zip(&before) {
        while w.committed() < before + 30 {
            w.next_line();
            assert!(
                w.seen.len() < 100_000,
                "the writer never committed again: {:?}",
                w.seen.last()
            );
        }
    }
    let lines: Vec<String> = writers.into_iter().flat_map(Proc::kill).collect();
    for line in lines.iter().filter(|l| l.starts_with("error ")) {
        // An append in flight may fail, clearly; it never lands twice (checked below).
        assert!(line.contains("PostgreSQL event log"), "unclear error: {line}");
    }
    let reported = committed(&lines);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let stored = rt.block_on(async {
        let log = PostgresEventLog::open_existing(&cluster.url).unwrap();
        chain(&log).await
    });
    all_present(&reported, &stored);

    // The subscriber reconnected too: it reaches the newest event, with no gap or repeat.
    let newest = stored.len() as u64;
    let mut seen = Vec::new();
    while seen.last() != Some(&newest) {
        let line = follower.until("event ");
        seen.push(line.trim_start_matches("event ").parse::<u64>().unwrap());
    }
    assert_eq!(seen, (1..=newest).collect::<Vec<_>>());
    follower.kill();
}

#[test]
fn a_client_killed_mid_transaction_leaves_nothing_half_written() {
    let Some(db) = PgDb::create() else { return };
    let mut reported = BTreeMap::new();
    for round in 0..5usize {
        let mut writer = Proc::helper(&["trust", &db.url, &format!("victim-{round}"), "0", "8"]);
        writer.until("ready");
        writer.go();
        // Kill at a different depth each round; the writer is almost always inside a
        // transaction (group commits of 8 tasks back to back).
        while writer.committed() < 10 + round * 17 {
            writer.next_line();
        }
        reported.extend(committed(&writer.kill()));
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let log = PostgresEventLog::open_existing(&db.url).unwrap();
        let stored = chain(&log).await;
        all_present(&reported, &stored);
        // The killed sessions' locks are gone: a new writer appends at once.
        let draft = trust::TrustDraft::new(
            "after",
            "fs.write",
            trust::Outcome::Success,
            sidefx::Tier::ActAuto,
        );
        trust::append(&log, draft).await.unwrap();
    });
    // Every topic's recorded head is its last event; no event lies beyond a head.
    let heads = db
        .sql(
            "SELECT t.topic, t.last_id, count(e.id), coalesce(max(e.id), 0) FROM sidefx_topics t
             LEFT JOIN sidefx_events e ON e.topic = t.topic GROUP BY t.topic, t.last_id",
        )
        .unwrap();
    assert!(!heads.is_empty());
    for row in heads {
        assert_eq!(row[1], row[2], "{row:?}");
        assert_eq!(row[1], row[3], "{row:?}");
    }
}

//! Records written by earlier code keep their bytes and hashes, and chains built by
//! `append_chained` under concurrency verify.

use std::sync::Arc;

use serde_json::Value;

use super::seal::RecordSeal;
use super::{Outcome, TrustDraft, TrustRecord};
use crate::Tier;
#[cfg(feature = "sqlite")]
use crate::log::SqliteEventLog;
use crate::log::{ChainLink, EncodedEvent, EventLog, MemoryEventLog, Seal, StoredEvent, Topic};

/// A log written by the code before records were written once (commit 1d040ea, where every
/// record went through `serde_json::to_value` and `canonical::sha256` of that tree): plain
/// drafts with unicode, escapes, floats, extreme integers and an approver, and shadow and
/// suggest decisions through `sidefx::enforce` with a dispatch context (proposals, approval
/// requests and their records).
const OLD_LOG: &str = include_str!("fixtures/log-1d040ea.json");

fn old_events() -> Vec<(Topic, StoredEvent)> {
    let raw: Vec<(String, StoredEvent)> = serde_json::from_str(OLD_LOG).unwrap();
    raw.into_iter()
        .map(|(t, e)| (Topic::new(t).unwrap(), e))
        .collect()
}

fn old_records() -> Vec<StoredEvent> {
    old_events()
        .into_iter()
        .filter(|(t, _)| *t == Topic::TRUST_GRAPH)
        .map(|(_, e)| e)
        .collect()
}

/// The hash as the old code computed it: the record as a `Value` tree, without `entry_hash`.
fn reference_hash(record: &TrustRecord) -> String {
    let mut value = serde_json::to_value(record).unwrap();
    value.as_object_mut().unwrap().remove("entry_hash");
    crate::canonical::sha256(&value)
}

#[test]
fn records_written_by_the_old_code_are_sealed_to_the_same_bytes_and_hashes() {
    let records = old_records();
    assert_eq!(records.len(), 8, "the fixture's trust records");
    for stored in &records {
        let record = TrustRecord::from_event(&stored.event).unwrap();
        assert_eq!(
            reference_hash(&record),
            record.entry_hash,
            "fixture record {}",
            stored.id
        );
        assert_eq!(record.compute_hash(), record.entry_hash, "record {}", stored.id);
        let previous = (record.chain_index > 0).then(|| ChainLink {
            index: record.chain_index - 1,
            hash: record.previous_hash.clone(),
        });
        let (event, link) = RecordSeal::new(&record).seal(previous.as_ref()).unwrap();
        assert_eq!(link.index, record.chain_index);
        assert_eq!(link.hash, record.entry_hash, "record {}", stored.id);
        // Byte for byte: the sealed text is the canonical form of what the old code stored.
        assert_eq!(
            event.payload_json(),
            crate::canonical::to_string(&stored.event.payload),
            "record {}",
            stored.id
        );
        assert_eq!(event.headers(), &stored.event.headers);
        assert_eq!(event.kind(), stored.event.kind);
    }
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn an_old_log_verifies_and_new_records_chain_onto_it_in_memory_and_sqlite() {
    let memory = MemoryEventLog::restore(old_events()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteEventLog::open(dir.path().join("events.db")).unwrap();
    for (topic, e) in old_events() {
        assert_eq!(sqlite.append(&topic, e.event).await.unwrap(), e.id);
    }
    let old_head = old_records().last().unwrap().event.payload["entry_hash"].clone();
    for log in [&memory as &dyn EventLog, &sqlite] {
        assert!(super::verify_chain(log).await.unwrap().is_valid());
        let draft =
            TrustDraft::new("new", "fs.write", Outcome::Denied, Tier::Shadow).enforcement("shadow_noop");
        let record = super::append(log, draft).await.unwrap();
        assert_eq!(record.chain_index, 8);
        assert_eq!(Value::from(record.previous_hash.clone()), old_head);
        let v = super::verify_chain(log).await.unwrap();
        assert!(v.is_valid(), "{v:?}");
        assert_eq!(v.records, 9);
    }
}

/// `callers` tasks append `each` records concurrently; the chain must hold all of them, in
/// one line, and verify.
async fn concurrent_chain(log: Arc<dyn EventLog>, callers: usize, each: usize) {
    let tasks: Vec<_> = (0..callers)
        .map(|c| {
            let log = log.clone();
            tokio::spawn(async move {
                let mut indexes = Vec::new();
                for n in 0..each {
                    let draft =
                        TrustDraft::new(format!("caller-{c}"), "fs.write", Outcome::Denied, Tier::Shadow)
                            .meta("n", n);
                    let proposal =
                        crate::log::LogEvent::new("dispatch_proposed", serde_json::json!({"c": c, "n": n}));
                    let proposal = EncodedEvent::from_event(proposal).unwrap();
                    let record =
                        super::append_after(log.as_ref(), vec![(Topic::TRIGGER_OUTBOX, proposal)], draft)
                            .await
                            .unwrap();
                    indexes.push(record.chain_index);
                }
                indexes
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_unstable();
    let expected: Vec<u64> = (0..(callers * each) as u64).collect();
    assert_eq!(all, expected, "every record got its own place in one chain");
    let v = super::verify_chain(log.as_ref()).await.unwrap();
    assert!(v.is_valid(), "{v:?}");
    assert_eq!(v.records, (callers * each) as u64);
    let proposals = log.last_id(&Topic::TRIGGER_OUTBOX).await.unwrap();
    assert_eq!(
        proposals,
        (callers * each) as u64,
        "each record's proposal was appended with it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_written_by_64_concurrent_callers_verifies_in_memory() {
    concurrent_chain(Arc::new(MemoryEventLog::new()), 64, 8).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_written_by_64_concurrent_callers_verifies_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(SqliteEventLog::open(dir.path().join("events.db")).unwrap());
    concurrent_chain(log, 64, 4).await;
}

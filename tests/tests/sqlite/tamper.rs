//! Damaged logs (issue 9): a decision on a log whose head was tampered with fails closed with
//! `SIDEFX-LOG` (the body does not run) after a bounded number of attempts instead of spinning
//! forever, and only a bounded in-memory log may hold a chain that starts after genesis.
//! (The file-level tamper suite runs the real `sidefx trust verify`: cli/tests/cli/tamper.rs.)

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;
use sidefx::approval::{self, ApprovalDraft};
use sidefx::log::{
    EventId, EventLog, LogEvent, MemoryEventLog, SqliteEventLog, StoredEvent, Topic, subscribe,
};
use sidefx::trust::{self, Outcome, TrustDraft};
use sidefx::{AutonomyPolicy, DispatchContext, Tier, side_effect};

use super::no_hang;

#[side_effect(class = "fs.write", name = "tamper.write_file", path(path), skip(ran))]
async fn write_file(ran: &AtomicUsize, path: &str) -> Result<(), sidefx::Error> {
    let _ = path;
    ran.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

/// A fresh SQLite log with `n` trust records.
async fn log_with_records(path: &Path, n: u64) -> Arc<SqliteEventLog> {
    let log = Arc::new(SqliteEventLog::open(path).unwrap());
    for i in 0..n {
        let d = TrustDraft::new("planner", "fs.write", Outcome::Success, Tier::ActAuto).meta("i", i);
        trust::append(log.as_ref(), d).await.unwrap();
    }
    log
}

fn tamper(path: &Path, sql: &str) {
    rusqlite::Connection::open(path)
        .unwrap()
        .execute_batch(sql)
        .unwrap();
}

/// Runs `fut` as agent `planner` at `tier` with `log` active.
async fn at_tier<F: std::future::Future>(log: Arc<dyn EventLog>, tier: Tier, fut: F) -> F::Output {
    let policy = AutonomyPolicy::at_tier(tier).for_agent("planner");
    let ctx = DispatchContext::new("planner");
    sidefx::with_event_log(log, sidefx::with_policy(policy, sidefx::with_dispatch(ctx, fut))).await
}

/// Approves the first blocking request filed on `log`.
fn approve_first(log: Arc<dyn EventLog>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut sub = subscribe(log.as_ref(), Topic::HITL_APPROVALS, 0);
        loop {
            let e = sub.next().await.unwrap();
            if e.event.kind == "approval_requested" {
                let id = e.event.payload["request_id"].as_str().unwrap().to_owned();
                approval::respond(log.as_ref(), &id, "alice", true, None)
                    .await
                    .unwrap();
                return;
            }
        }
    })
}

fn assert_log_error(r: Result<(), sidefx::Error>, what: &str) {
    let err = r.expect_err(what);
    assert_eq!(err.code(), "SIDEFX-LOG", "{what}: {err}");
    assert!(
        !err.is_refusal(),
        "{what}: a damaged log is a failure, not a refusal"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_on_a_trust_chain_with_a_damaged_head_fails_closed() {
    for (damage, sql) in [
        (
            "raised last id",
            "UPDATE topics SET last_id = last_id + 3 WHERE topic = 'trust_graph'",
        ),
        (
            "deleted newest record",
            "DELETE FROM events WHERE topic = 'trust_graph' AND id = 4",
        ),
        (
            "lowered last id",
            "UPDATE topics SET last_id = 2 WHERE topic = 'trust_graph'",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.db");
        let log: Arc<dyn EventLog> = log_with_records(&path, 4).await;
        tamper(&path, sql);
        let ran = AtomicUsize::new(0);

        let shadow = no_hang(
            damage,
            at_tier(log.clone(), Tier::Shadow, write_file(&ran, "a.txt")),
        )
        .await;
        assert_log_error(shadow, damage);
        // The decision's proposal was not left behind without its record (with "lowered last
        // id" the proposal goes in and the record's id is then found taken: it is taken back).
        assert!(
            log.read_range(&Topic::TRIGGER_OUTBOX, 0, 10)
                .await
                .unwrap()
                .is_empty(),
            "{damage}: a failed decision leaves no proposal"
        );
        assert_eq!(log.last_id(&Topic::TRIGGER_OUTBOX).await.unwrap(), 0, "{damage}");

        let answer = approve_first(log.clone());
        let approved = no_hang(
            damage,
            at_tier(log.clone(), Tier::ActWithApproval, write_file(&ran, "a.txt")),
        )
        .await;
        answer.await.unwrap();
        assert_log_error(approved, damage);

        let enforced = no_hang(
            damage,
            at_tier(log.clone(), Tier::Suggest, async {
                sidefx::enforce("tamper.write_file", &json!({"path": "b.txt"}))
                    .await
                    .map(|_| ())
            }),
        )
        .await;
        assert_log_error(enforced, damage);
        assert_eq!(ran.load(Ordering::SeqCst), 0, "{damage}: the body never ran");
        let err = trust::append(
            log.as_ref(),
            TrustDraft::new("a", "x", Outcome::Denied, Tier::Shadow),
        )
        .await
        .unwrap_err();
        assert!(
            err.to_string().contains("trust_graph") && err.to_string().contains("sidefx trust verify"),
            "{damage}: the error names the topic and the way to inspect it: {err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settling_an_approval_on_a_damaged_head_fails_closed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let log = SqliteEventLog::open(&path).unwrap();
    let draft = ApprovalDraft::new("planner", "git.push", "git.write").timeout(std::time::Duration::ZERO);
    let req = approval::request(&log, draft).await.unwrap();
    // The deadline passes (a wait, not a timed assertion), so settling writes `approval_timed_out`.
    while sidefx::log::now_ms() <= req.deadline_ms {
        tokio::task::yield_now().await;
    }
    tamper(
        &path,
        "UPDATE topics SET last_id = last_id + 1 WHERE topic = 'hitl.approvals'",
    );
    let err = no_hang("settling", approval::wait(&log, &req)).await.unwrap_err();
    assert_eq!(err.code(), "SIDEFX-LOG", "{err}");
    assert!(err.to_string().contains("hitl.approvals"), "{err}");
}

/// A backend whose compare-and-append never agrees with the head it reports: the failure mode
/// of reading the head one way and checking it another. Everything else is a real memory log.
#[derive(Default)]
struct NeverAgrees {
    inner: MemoryEventLog,
    attempts: AtomicUsize,
}

#[sidefx::async_trait]
impl EventLog for NeverAgrees {
    async fn append(&self, topic: &Topic, event: LogEvent) -> sidefx::Result<EventId> {
        self.inner.append(topic, event).await
    }
    async fn append_if_latest(
        &self,
        _topic: &Topic,
        _expected: Option<EventId>,
        _event: LogEvent,
    ) -> sidefx::Result<Option<EventId>> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        Ok(None)
    }
    async fn read_range(
        &self,
        topic: &Topic,
        after: EventId,
        limit: usize,
    ) -> sidefx::Result<Vec<StoredEvent>> {
        self.inner.read_range(topic, after, limit).await
    }
    async fn latest(&self, topic: &Topic) -> sidefx::Result<Option<StoredEvent>> {
        self.inner.latest(topic).await
    }
    async fn last_id(&self, topic: &Topic) -> sidefx::Result<EventId> {
        self.inner.last_id(topic).await
    }
    async fn wait_for_append(&self, topic: &Topic, after: EventId) -> sidefx::Result<()> {
        self.inner.wait_for_append(topic, after).await
    }
    async fn flush(&self) -> sidefx::Result<()> {
        Ok(())
    }
    async fn topics(&self) -> sidefx::Result<Vec<Topic>> {
        self.inner.topics().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_compare_and_append_loop_gives_up_after_a_bounded_number_of_conflicts() {
    let log = Arc::new(NeverAgrees::default());
    let err = no_hang(
        "trust append",
        trust::append(
            log.as_ref(),
            TrustDraft::new("a", "x", Outcome::Denied, Tier::Shadow),
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "SIDEFX-LOG");
    assert!(err.to_string().contains("conflict"), "{err}");
    let attempts = log.attempts.swap(0, Ordering::SeqCst);
    assert!(
        (1..=sidefx::log::MAX_APPEND_CONFLICTS + 1).contains(&attempts),
        "{attempts} attempts"
    );

    let ran = AtomicUsize::new(0);
    let shadow = no_hang(
        "shadow call",
        at_tier(log.clone(), Tier::Shadow, write_file(&ran, "a.txt")),
    )
    .await;
    assert_log_error(shadow, "shadow call");
    assert_eq!(ran.load(Ordering::SeqCst), 0);

    let draft = ApprovalDraft::new("planner", "git.push", "git.write").timeout(std::time::Duration::ZERO);
    let req = approval::request(log.as_ref(), draft).await.unwrap();
    while sidefx::log::now_ms() <= req.deadline_ms {
        tokio::task::yield_now().await;
    }
    log.attempts.store(0, Ordering::SeqCst);
    let err = no_hang("settling", approval::wait(log.as_ref(), &req))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "SIDEFX-LOG", "{err}");
    assert!(log.attempts.load(Ordering::SeqCst) <= sidefx::log::MAX_APPEND_CONFLICTS + 1);
}

#[tokio::test]
async fn only_a_bounded_memory_log_declares_a_chain_that_starts_after_genesis() {
    let bounded = MemoryEventLog::bounded(3);
    for i in 0..10 {
        let d = TrustDraft::new("a", "x", Outcome::Success, Tier::ActAuto).meta("i", i);
        trust::append(&bounded, d).await.unwrap();
    }
    assert_eq!(bounded.first_retained(&Topic::TRUST_GRAPH).await.unwrap(), 8);
    assert_eq!(bounded.last_id(&Topic::TRUST_GRAPH).await.unwrap(), 10);
    let v = trust::verify_chain(&bounded).await.unwrap();
    assert!(v.is_valid(), "{:?}", v.first_broken);
    assert_eq!(v.records, 3);

    // A complete log keeps everything: its chain must start at genesis.
    let full = MemoryEventLog::new();
    for i in 0..10 {
        let d = TrustDraft::new("a", "x", Outcome::Success, Tier::ActAuto).meta("i", i);
        trust::append(&full, d).await.unwrap();
    }
    assert_eq!(full.first_retained(&Topic::TRUST_GRAPH).await.unwrap(), 1);
    // Restoring a snapshot with its first records cut off is refused rather than taken as a
    // window (a restored log is complete).
    let cut: Vec<_> = full.snapshot().into_iter().filter(|(_, e)| e.id > 3).collect();
    let err = MemoryEventLog::restore(cut).unwrap_err();
    assert_eq!(err.code(), "SIDEFX-LOG");
    assert!(err.to_string().contains("starts at event 4"), "{err}");
}

#[tokio::test]
async fn a_record_with_a_field_outside_its_canonical_form_fails_verification() {
    let log = MemoryEventLog::new();
    for i in 0..3 {
        let d = TrustDraft::new("a", "x", Outcome::Success, Tier::ActAuto).meta("i", i);
        trust::append(&log, d).await.unwrap();
    }
    let mut events = log.snapshot();
    events[1].1.event.payload["extra"] = json!("not hashed");
    let v = trust::verify_chain(&MemoryEventLog::restore(events).unwrap())
        .await
        .unwrap();
    let broken = v.first_broken.expect("an added field is found");
    assert_eq!((broken.index, broken.event_id), (1, 2));
    assert!(broken.reason.contains("extra"), "{broken}");
}

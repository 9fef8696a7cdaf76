//! The approval and its grant are two writes: when the second fails (or the process dies in
//! between), the request is approved with no grant. The next answer (or a wait on the request)
//! records the missing grant, once, with the approval's own time; until then the call is refused.

use std::sync::atomic::AtomicBool;

use sidefx::log::{ChainAppended, Chained, EventId, KeyHome};

use super::*;

/// A real memory log whose next compare-and-append on a `grants.*` topic fails, once armed.
#[derive(Default)]
struct FailGrantOnce {
    inner: MemoryEventLog,
    armed: AtomicBool,
}

#[sidefx::async_trait]
impl EventLog for FailGrantOnce {
    async fn append(&self, topic: &Topic, event: LogEvent) -> sidefx::Result<EventId> {
        self.inner.append(topic, event).await
    }
    async fn append_if_latest(
        &self,
        topic: &Topic,
        expected: Option<EventId>,
        event: LogEvent,
    ) -> sidefx::Result<Option<EventId>> {
        if topic.as_str().starts_with("grants.") && self.armed.swap(false, Ordering::SeqCst) {
            return Err(Error::log(
                "injected: the grant write failed",
                std::io::Error::other("disk full"),
            ));
        }
        self.inner.append_if_latest(topic, expected, event).await
    }
    async fn append_chained(&self, topic: &Topic, chained: Chained) -> sidefx::Result<ChainAppended> {
        self.inner.append_chained(topic, chained).await
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
        self.inner.flush().await
    }
    async fn topics(&self) -> sidefx::Result<Vec<Topic>> {
        self.inner.topics().await
    }
    fn grant_key_home(&self) -> KeyHome {
        self.inner.grant_key_home()
    }
}

/// A suggestion approved by alice whose grant write failed: the log, the request and the time
/// the approval recorded.
async fn approved_without_grant(
    name: &'static str,
    args: &Value,
    ran: &AtomicUsize,
) -> (Arc<FailGrantOnce>, Arc<dyn EventLog>, String, u64) {
    let flaky = Arc::new(FailGrantOnce::default());
    let log: Arc<dyn EventLog> = flaky.clone();
    let p = suggest("planner");
    let id = request_id(&suggested(&log, &p, name, args.clone(), ran).await.unwrap_err());
    flaky.armed.store(true, Ordering::SeqCst);
    let err = approval::respond(log.as_ref(), &id, "alice", true, None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "SIDEFX-LOG", "{err}");
    let status = approval::status(log.as_ref(), &id).await.unwrap();
    assert_eq!(
        status.state(),
        approval::ApprovalState::Approved,
        "the decision was written"
    );
    assert!(
        grant_of(log.as_ref(), &id).await.grant.is_none(),
        "its grant was not"
    );
    // Meanwhile the call is refused: fail closed.
    let e = suggested(&log, &p, name, args.clone(), ran).await.unwrap_err();
    assert_eq!(e.code(), "SIDEFX-SKIPPED");
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    let decided = log
        .read_range(&Topic::HITL_APPROVALS, 0, usize::MAX)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.event.kind == "approval_approved" && e.event.payload["request_id"] == json!(id))
        .and_then(|e| e.event.payload["decided_at_ms"].as_u64())
        .expect("the decision records its time");
    (flaky, log, id, decided)
}

/// The grant, now recorded, runs the identical call once, dated from the approval.
async fn runs_once(
    log: &Arc<dyn EventLog>,
    name: &str,
    args: &Value,
    id: &str,
    decided: u64,
    ran: &AtomicUsize,
) {
    let g = grant_of(log.as_ref(), id)
        .await
        .grant
        .expect("the grant is recorded now");
    assert_eq!(
        (g.issued_at_ms, g.approvers.clone()),
        (decided, vec!["alice".to_owned()])
    );
    let grants = log
        .topics()
        .await
        .unwrap()
        .into_iter()
        .filter(|t| t.as_str().starts_with("grants."))
        .count();
    assert_eq!(grants, 1, "one grant topic");
    let p = suggest("planner");
    let (request, _) = suggested(log, &p, name, args.clone(), ran)
        .await
        .unwrap()
        .expect("the approved suggestion runs");
    assert_eq!(request, id);
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    let e = suggested(log, &p, name, args.clone(), ran).await.unwrap_err();
    assert_eq!(e.code(), "SIDEFX-SKIPPED", "once");
    assert_eq!(ran.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_later_answer_records_the_grant_a_failed_write_left_out() {
    let name = builtin("grant_stuck_respond", "fs.write");
    let args = json!({"path": "stuck.txt", "text": "x"});
    let ran = AtomicUsize::new(0);
    let (_flaky, log, id, decided) = approved_without_grant(name, &args, &ran).await;

    // The request is closed to new answers, but answering it records the missing grant.
    let again = approval::respond(log.as_ref(), &id, "bob", true, None)
        .await
        .unwrap_err();
    assert_eq!(again.code(), "SIDEFX-APPROVAL-CLOSED", "{again}");
    let status = approval::status(log.as_ref(), &id).await.unwrap();
    assert_eq!(status.responses.len(), 1, "bob's late answer is not recorded");
    // Idempotent: a third answer issues no second grant.
    let _ = approval::respond(log.as_ref(), &id, "carol", true, None).await;
    runs_once(&log, name, &args, &id, decided, &ran).await;
}

#[tokio::test]
async fn waiting_on_the_approved_request_records_the_missing_grant() {
    let name = builtin("grant_stuck_wait", "fs.write");
    let args = json!({"path": "stuck.txt", "text": "y"});
    let ran = AtomicUsize::new(0);
    let (_flaky, log, id, decided) = approved_without_grant(name, &args, &ran).await;
    let request = approval::status(log.as_ref(), &id).await.unwrap().request;
    let d = approval::wait(log.as_ref(), &request).await.unwrap();
    assert!(matches!(d, approval::ApprovalDecision::Approved { .. }), "{d:?}");
    runs_once(&log, name, &args, &id, decided, &ran).await;
}

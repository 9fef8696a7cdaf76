//! The enforcement table (SPEC §9): what each tier does with a call, fail-closed cases.

use super::*;

/// Runs one call of `name` under `p` with a fresh memory log.
async fn under(
    p: AutonomyPolicy,
    name: &'static str,
    args: Value,
) -> (
    Arc<MemoryEventLog>,
    usize,
    Result<Option<(String, Vec<String>)>, Error>,
) {
    let log = Arc::new(MemoryEventLog::new());
    let ran = AtomicUsize::new(0);
    let result = sidefx::with_event_log(log.clone(), sidefx::with_policy(p, call(name, args, &ran))).await;
    (log, ran.load(Ordering::SeqCst), result)
}

#[tokio::test]
async fn act_auto_runs_and_records_nothing_by_default() {
    let name = builtin("core_auto_write", "fs.write");
    let (log, ran, result) = under(AutonomyPolicy::at_tier(Tier::ActAuto), name, json!({"path": "a"})).await;
    assert!(result.is_ok());
    assert_eq!(ran, 1);
    assert!(log.topics().await.unwrap().is_empty(), "no event of any kind");
}

#[tokio::test]
async fn act_auto_with_audit_records_success() {
    let name = builtin("core_audit_write", "fs.write");
    let p = policy(json!({"autonomy_tier": "act_auto", "audit_auto": true}));
    let (log, ran, result) = under(p, name, json!({"path": "a"})).await;
    assert!(result.is_ok());
    assert_eq!(ran, 1);
    let recs = records(&log).await;
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].outcome, Outcome::Success);
    assert_eq!(recs[0].enforcement(), Some("act_auto"));
    assert_eq!(recs[0].metadata["args"], json!({"path": "a"}));
}

#[tokio::test]
async fn shadow_skips_proposes_and_records_denied_shadow_noop() {
    let name = builtin("core_shadow_delete", "fs.delete");
    let p = AutonomyPolicy::at_tier(Tier::Shadow).for_agent("planner");
    let (log, ran, result) = under(p, name, json!({"path": "x.txt"})).await;
    let err = result.unwrap_err();
    assert_eq!(ran, 0, "shadow never runs the body");
    assert_eq!(err.code(), "SIDEFX-SKIPPED");
    assert!(err.is_skipped());

    let proposals = events(&log, &Topic::TRIGGER_OUTBOX).await;
    assert_eq!(proposals.len(), 1);
    let p = &proposals[0].event;
    assert_eq!(p.kind, "dispatch_proposed");
    assert_eq!(p.payload["agent"], "planner");
    assert_eq!(p.payload["builtin"], name);
    assert_eq!(p.payload["action_class"], "fs.delete");
    assert_eq!(p.payload["args"], json!({"path": "x.txt"}));
    assert_eq!(p.payload["autonomy_tier"], "shadow");
    assert_eq!(p.payload["proposal"], true);
    assert_eq!(p.headers["agent"], "planner");
    assert_eq!(p.headers["autonomy_tier"], "shadow");
    assert_eq!(p.headers["trace_id"], p.payload["trace_id"].as_str().unwrap());

    let recs = records(&log).await;
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].outcome, Outcome::Denied);
    assert_eq!(recs[0].enforcement(), Some("shadow_noop"));
    assert_eq!(recs[0].action, "fs.delete");
    assert_eq!(recs[0].trace_id, p.payload["trace_id"].as_str().unwrap());
    assert!(
        events(&log, &Topic::HITL_APPROVALS).await.is_empty(),
        "shadow files no approval request"
    );
}

#[tokio::test]
async fn suggest_skips_with_a_non_blocking_request() {
    let name = builtin("core_suggest_exec", "process.exec");
    let (log, ran, result) = under(AutonomyPolicy::at_tier(Tier::Suggest), name, json!({"cmd": "ls"})).await;
    let err = result.unwrap_err();
    assert_eq!(ran, 0);
    assert_eq!(err.code(), "SIDEFX-SKIPPED");
    let request_id = err
        .approval_request_id()
        .expect("suggest returns the request id")
        .to_owned();

    let pending = approval::pending(log.as_ref()).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].request_id, request_id);
    assert!(!pending[0].blocking);
    assert_eq!(pending[0].capabilities_requested, vec!["process.exec".to_owned()]);
    assert_eq!(pending[0].args, json!({"cmd": "ls"}));

    assert_eq!(events(&log, &Topic::TRIGGER_OUTBOX).await.len(), 1);
    let recs = records(&log).await;
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].outcome, Outcome::Denied);
    assert_eq!(recs[0].enforcement(), Some("suggest_approval_request"));
    assert_eq!(recs[0].metadata["approval_request_id"], request_id.as_str());
}

#[tokio::test]
async fn needs_human_overrides_every_tier() {
    let name = builtin("core_human_push", "git.write");
    for p in [
        json!({"autonomy_tier": "act_auto", "requires_human": true}),
        json!({"autonomy_tier": "act_auto", "requires_human_actions": ["git.write"]}),
        json!({"autonomy_tier": "act_auto", "requires_human_actions": [name]}),
        json!({"agent_id": "bot", "autonomy_tier": "act_auto", "requires_human_agents": ["bot"]}),
    ] {
        let (log, ran, result) = under(policy(p.clone()), name, json!({})).await;
        let err = result.unwrap_err();
        assert_eq!(ran, 0, "{p}");
        assert_eq!(err.code(), "SIDEFX-NEEDS-HUMAN", "{p}");
        let request_id = err.approval_request_id().unwrap().to_owned();
        assert_eq!(
            approval::pending(log.as_ref()).await.unwrap()[0].request_id,
            request_id
        );
        assert_eq!(events(&log, &Topic::TRIGGER_OUTBOX).await.len(), 1, "{p}");
        let recs = records(&log).await;
        assert_eq!(recs[0].outcome, Outcome::Denied);
        assert_eq!(recs[0].enforcement(), Some("needs_human_denied"));
        assert_eq!(recs[0].metadata["deny_code"], "SIDEFX-NEEDS-HUMAN");
    }
    // Another agent is not caught by requires_human_agents.
    let p = json!({"agent_id": "other", "autonomy_tier": "act_auto", "requires_human_agents": ["bot"]});
    let (_, ran, result) = under(policy(p), name, json!({})).await;
    assert!(result.is_ok());
    assert_eq!(ran, 1);
}

/// Answers the first blocking request on `log` with `answers`, in order.
fn reviewers_answer(
    log: Arc<MemoryEventLog>,
    answers: Vec<(&'static str, bool)>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut sub = subscribe(log.as_ref(), Topic::HITL_APPROVALS, 0);
        let request_id = loop {
            let e = sub.next().await.unwrap();
            if e.event.kind == "approval_requested" {
                break e.event.payload["request_id"].as_str().unwrap().to_owned();
            }
        };
        for (who, approve) in answers {
            let reason = (!approve).then(|| format!("{who} says no"));
            // Answers after the decision are refused with ApprovalClosed; that is expected.
            let _ = approval::respond(log.as_ref(), &request_id, who, approve, reason).await;
        }
    })
}

fn approval_policy(extra: Value) -> AutonomyPolicy {
    let mut v = json!({
        "autonomy_tier": "act_with_approval",
        "reviewers": ["alice", "bob", "carol"],
        "approval_quorum": 2,
    });
    v.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    policy(v)
}

async fn under_with_reviewers(
    p: AutonomyPolicy,
    name: &'static str,
    answers: Vec<(&'static str, bool)>,
) -> (
    Arc<MemoryEventLog>,
    usize,
    Result<Option<(String, Vec<String>)>, Error>,
) {
    let log = Arc::new(MemoryEventLog::new());
    let reviewer = reviewers_answer(log.clone(), answers);
    let ran = AtomicUsize::new(0);
    let result = sidefx::with_event_log(
        log.clone(),
        sidefx::with_policy(p, call(name, json!({"n": 1}), &ran)),
    )
    .await;
    reviewer.await.unwrap();
    (log, ran.load(Ordering::SeqCst), result)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quorum_of_two_distinct_allowlisted_approvals_runs_the_body() {
    let name = builtin("core_awa_push", "git.write");
    let answers = vec![
        ("mallory", true),
        ("alice", true),
        ("alice", true),
        ("", true),
        ("bob", true),
    ];
    let (log, ran, result) = under_with_reviewers(approval_policy(json!({})), name, answers).await;
    let (request_id, approvers) = result.unwrap().expect("approved");
    assert_eq!(ran, 1);
    assert_eq!(
        approvers,
        vec!["alice".to_owned(), "bob".to_owned()],
        "mallory, a repeat and an anonymous answer do not count"
    );

    let status = approval::status(log.as_ref(), &request_id).await.unwrap();
    assert_eq!(status.state(), sidefx::approval::ApprovalState::Approved);
    assert_eq!(status.request.quorum, 2);
    assert!(status.request.blocking);
    let kinds: Vec<String> = events(&log, &Topic::HITL_APPROVALS)
        .await
        .into_iter()
        .map(|e| e.event.kind)
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| k.as_str() == "approval_approved").count(),
        1,
        "{kinds:?}"
    );

    let recs = records(&log).await;
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].outcome, Outcome::Success);
    assert_eq!(recs[0].enforcement(), Some("approval_granted"));
    assert_eq!(recs[0].approver.as_deref(), Some("alice,bob"));
    assert_eq!(recs[0].metadata["approvers"], json!(["alice", "bob"]));
    assert_eq!(recs[0].metadata["approval_request_id"], request_id.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_from_outside_the_allowlist_is_ignored() {
    let name = builtin("core_awa_outsider", "git.write");
    // Quorum 1, only mallory answers: the request stays undecided until its deadline.
    let p = approval_policy(json!({"approval_quorum": 1, "approval_timeout_ms": 300}));
    let (log, ran, result) = under_with_reviewers(p, name, vec![("mallory", true)]).await;
    assert_eq!(result.unwrap_err().code(), "SIDEFX-APPROVAL-TIMEOUT");
    assert_eq!(ran, 0);
    assert_eq!(records(&log).await[0].outcome, Outcome::Timeout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_counted_denial_vetoes() {
    let name = builtin("core_awa_veto", "git.write");
    let answers = vec![("alice", true), ("bob", false), ("carol", true)];
    let (log, ran, result) = under_with_reviewers(approval_policy(json!({})), name, answers).await;
    let err = result.unwrap_err();
    assert_eq!(err.code(), "SIDEFX-APPROVAL-DENIED");
    assert!(
        matches!(err.refusal().map(|r| &r.kind), Some(sidefx::RefusalKind::ApprovalDenied { reviewer, .. }) if reviewer == "bob")
    );
    assert_eq!(ran, 0);
    let recs = records(&log).await;
    assert_eq!(recs[0].outcome, Outcome::Denied);
    assert_eq!(recs[0].enforcement(), Some("approval_denied"));
    assert_eq!(recs[0].approver.as_deref(), Some("bob"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deadline_times_out_with_a_timeout_record() {
    let name = builtin("core_awa_deadline", "git.write");
    let p = approval_policy(json!({"approval_timeout_ms": 200}));
    let (log, ran, result) = under_with_reviewers(p, name, vec![("alice", true)]).await;
    let err = result.unwrap_err();
    assert_eq!(err.code(), "SIDEFX-APPROVAL-TIMEOUT");
    assert_eq!(ran, 0);
    let recs = records(&log).await;
    assert_eq!(recs[0].outcome, Outcome::Timeout);
    assert_eq!(recs[0].enforcement(), Some("approval_timed_out"));
    let status = approval::status(log.as_ref(), err.approval_request_id().unwrap())
        .await
        .unwrap();
    assert_eq!(status.state(), sidefx::approval::ApprovalState::TimedOut);
    // A late answer is refused: the request is closed.
    let late = approval::respond(log.as_ref(), &status.request.request_id, "bob", true, None).await;
    assert_eq!(late.unwrap_err().code(), "SIDEFX-APPROVAL-CLOSED");
}

#[tokio::test]
async fn tiers_that_need_a_log_fail_closed_without_one() {
    let name = builtin("core_nolog_write", "fs.write");
    for p in [
        AutonomyPolicy::at_tier(Tier::Suggest),
        AutonomyPolicy::at_tier(Tier::ActWithApproval),
        policy(json!({"autonomy_tier": "act_auto", "requires_human": true})),
    ] {
        let ran = AtomicUsize::new(0);
        let err = sidefx::with_policy(p.clone(), call(name, json!({}), &ran))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "SIDEFX-NO-EVENT-LOG", "{p:?}");
        assert!(err.to_string().contains("with_event_log"), "names the fix: {err}");
        assert_eq!(ran.load(Ordering::SeqCst), 0, "{p:?}");
    }
}

#[tokio::test]
async fn unknown_builtin_is_an_error_with_a_suggestion() {
    builtin("core_known_builtin", "fs.write");
    let err = sidefx::enforce("core_knwon_builtin", &json!({}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "SIDEFX-UNKNOWN-BUILTIN");
    assert!(
        err.to_string().contains("did you mean `core_known_builtin`"),
        "{err}"
    );
}

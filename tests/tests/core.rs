//! Runtime core behaviour (issue 2): resolution order, tighten-only scopes, enforcement per
//! tier, approvals, fail-closed cases, task isolation, the trust chain and policy errors.
//!
//! Builtins here are registered at run time and reached through the dynamic entry point
//! `sidefx::enforce`, with a counter standing in for the side effect so every test observes
//! whether the body ran.

#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

// Submodules live under tests/core/ so that cargo does not build each as its own test binary.
#[path = "core/replay.rs"]
mod replay;
#[path = "core/tracing_events.rs"]
mod tracing_events;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use sidefx::approval::{self, ApprovalDraft};
use sidefx::log::{EventLog, LogEvent, MemoryEventLog, StoredEvent, Topic, subscribe};
use sidefx::registry::{self, BuiltinInfo};
use sidefx::trust::{self, Outcome, TrustDraft, TrustRecord};
use sidefx::{AutonomyPolicy, Decision, DispatchContext, Error, SideEffectAction, Tier};

fn action(builtin: &'static str, class: &'static str) -> SideEffectAction {
    let capability = sidefx::catalogue::capability_of(class).unwrap_or("custom.cap");
    SideEffectAction::new(builtin, class, capability)
}

/// Registers `name` once per process (tests run in parallel threads of one process).
fn builtin(name: &'static str, class: &'static str) -> &'static str {
    if registry::lookup(name).is_none() {
        let cap = sidefx::catalogue::capability_of(class).expect("catalogue class");
        registry::register(BuiltinInfo::new(name, class, cap)).expect("valid registration");
    }
    name
}

/// Calls a builtin through `enforce`; the "side effect" is bumping `ran`.
async fn call(name: &str, args: Value, ran: &AtomicUsize) -> Result<Option<(String, Vec<String>)>, Error> {
    match sidefx::enforce(name, &args).await? {
        Decision::Proceed(permit) => {
            ran.fetch_add(1, Ordering::SeqCst);
            permit.finish(true).await;
            Ok(None)
        }
        Decision::Approved {
            permit,
            request_id,
            approvers,
        } => {
            ran.fetch_add(1, Ordering::SeqCst);
            permit.finish(true).await;
            Ok(Some((request_id, approvers)))
        }
        Decision::Skip { reason } => Err(reason),
    }
}

async fn events(log: &MemoryEventLog, topic: &Topic) -> Vec<StoredEvent> {
    log.read_range(topic, 0, usize::MAX).await.expect("read")
}

async fn records(log: &MemoryEventLog) -> Vec<TrustRecord> {
    events(log, &Topic::TRUST_GRAPH)
        .await
        .iter()
        .map(|e| TrustRecord::from_event(&e.event).expect("record parses"))
        .collect()
}

fn policy(json: Value) -> AutonomyPolicy {
    AutonomyPolicy::from_value(&json).expect("valid policy")
}

// ---------------------------------------------------------------- resolution order (§7)

/// Each row, with every lower row present and answering differently, so a row that stopped
/// matching would be noticed.
#[test]
fn each_resolution_row_wins_over_the_rows_below_it() {
    let push = action("git.push", "git.write");
    let full = json!({
        "agent_action_tiers": { "ci": { "git.push": "shadow", "git.write": "suggest" } },
        "agent_tiers": { "ci": "act_with_approval" },
        "action_tiers": { "git.push": "act_auto", "git.write": "shadow" },
        "autonomy_tier": "suggest",
        "tier": "act_with_approval",
    });
    let rows: [(&[&str], Tier); 7] = [
        (&[], Tier::Shadow),                                  // agent_action_tiers[agent][builtin]
        (&["agent_action_tiers.ci.git.push"], Tier::Suggest), // agent_action_tiers[agent][class]
        (&["agent_action_tiers"], Tier::ActWithApproval),     // agent_tiers[agent]
        (&["agent_action_tiers", "agent_tiers"], Tier::ActAuto), // action_tiers[builtin]
        (
            &["agent_action_tiers", "agent_tiers", "action_tiers.git.push"],
            Tier::Shadow,
        ), // action_tiers[class]
        (
            &["agent_action_tiers", "agent_tiers", "action_tiers"],
            Tier::Suggest,
        ), // autonomy_tier
        (
            &[
                "agent_action_tiers",
                "agent_tiers",
                "action_tiers",
                "autonomy_tier",
            ],
            Tier::ActWithApproval,
        ), // tier
    ];
    for (i, (removed, want)) in rows.iter().enumerate() {
        let mut v = full.clone();
        for path in removed.iter() {
            match *path {
                "agent_action_tiers.ci.git.push" => {
                    v["agent_action_tiers"]["ci"]
                        .as_object_mut()
                        .unwrap()
                        .remove("git.push");
                }
                "action_tiers.git.push" => {
                    v["action_tiers"].as_object_mut().unwrap().remove("git.push");
                }
                key => {
                    v.as_object_mut().unwrap().remove(key);
                }
            }
        }
        let p = policy(v);
        assert_eq!(
            p.tier_for("ci", &push),
            Some(*want),
            "row {} of the resolution order",
            i + 1
        );
    }
    // Nothing at all: no answer.
    assert_eq!(AutonomyPolicy::default().tier_for("ci", &push), None);
    // Agent rows only apply to their agent.
    assert_eq!(policy(full).tier_for("someone-else", &push), Some(Tier::ActAuto));
}

#[tokio::test]
async fn inner_scope_can_tighten_but_never_loosen() {
    let exec = action("exec", "process.exec");
    let outer = AutonomyPolicy::at_tier(Tier::Shadow);
    let inner = AutonomyPolicy::at_tier(Tier::ActAuto).for_agent("inner-agent");
    let r = sidefx::with_policy(
        outer,
        sidefx::with_policy(inner, async { sidefx::resolve(&exec) }),
    )
    .await
    .unwrap();
    assert_eq!(
        r.tier,
        Tier::Shadow,
        "inner act_auto under outer shadow stays shadow"
    );
    assert_eq!(
        r.agent, "inner-agent",
        "the innermost policy's agent_id names the caller"
    );

    // Tightening works: inner suggest under outer act_auto is suggest.
    let r = sidefx::with_policy(
        AutonomyPolicy::at_tier(Tier::ActAuto),
        sidefx::with_policy(AutonomyPolicy::at_tier(Tier::Suggest), async {
            sidefx::resolve(&exec)
        }),
    )
    .await
    .unwrap();
    assert_eq!(r.tier, Tier::Suggest);
}

#[tokio::test]
async fn dispatch_tier_is_composed_tighten_only() {
    let exec = action("exec", "process.exec");
    let ctx = DispatchContext::new("worker").tier(Tier::Shadow);
    let r = sidefx::with_dispatch(
        ctx,
        sidefx::with_policy(AutonomyPolicy::at_tier(Tier::ActAuto), async {
            sidefx::resolve(&exec)
        }),
    )
    .await
    .unwrap();
    assert_eq!((r.agent.as_str(), r.tier), ("worker", Tier::Shadow));

    // A looser dispatch tier does not loosen a policy.
    let ctx = DispatchContext::new("worker").tier(Tier::ActAuto);
    let r = sidefx::with_policy(
        AutonomyPolicy::at_tier(Tier::Suggest),
        sidefx::with_dispatch(ctx, async { sidefx::resolve(&exec) }),
    )
    .await
    .unwrap();
    assert_eq!(r.tier, Tier::Suggest);
}

#[tokio::test]
async fn identity_defaults_to_runtime_and_tier_to_act_auto() {
    let exec = action("exec", "process.exec");
    let r = sidefx::resolve(&exec).unwrap();
    assert_eq!((r.agent.as_str(), r.tier), ("runtime", Tier::ActAuto));
    // A policy that answers nothing for this action leaves the process default.
    let p = policy(json!({"action_tiers": {"fs.write": "shadow"}}));
    let r = sidefx::with_policy(p, async { sidefx::resolve(&exec) })
        .await
        .unwrap();
    assert_eq!(r.tier, Tier::ActAuto);
}

#[tokio::test]
async fn strict_mode_fails_closed_and_the_body_never_runs() {
    let name = builtin("core_strict_exec", "process.exec");
    let ran = AtomicUsize::new(0);
    let err = sidefx::with_strict(call(name, json!({}), &ran))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "SIDEFX-STRICT-NO-CONTEXT");
    assert!(
        err.to_string().contains("autonomy_tier"),
        "the message names the fix: {err}"
    );
    assert_eq!(ran.load(Ordering::SeqCst), 0);

    // A policy that names a tier satisfies strict mode.
    let p = AutonomyPolicy::at_tier(Tier::ActAuto);
    sidefx::with_strict(sidefx::with_policy(p, call(name, json!({}), &ran)))
        .await
        .unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 1);

    // A policy that answers nothing for this action does not.
    let p = policy(json!({"action_tiers": {"fs.write": "act_auto"}}));
    let err = sidefx::with_strict(sidefx::with_policy(p, call(name, json!({}), &ran)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "SIDEFX-STRICT-NO-CONTEXT");
    assert_eq!(ran.load(Ordering::SeqCst), 1);
}

// ---------------------------------------------------------------- enforcement table (§9)

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
    assert_eq!(status.state(), "approved");
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
    assert!(matches!(&err, Error::ApprovalDenied { reviewer, .. } if reviewer == "bob"));
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
    assert_eq!(status.state(), "timed_out");
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

// ---------------------------------------------------------------- task isolation (§8)

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_tasks_never_cross_wire() {
    let name = builtin("core_isolation_write", "fs.write");
    let write = action("core_isolation_write", "fs.write");
    let log: Arc<dyn EventLog> = Arc::new(MemoryEventLog::new());
    let mut handles = Vec::new();
    for i in 0..1000usize {
        let tier = Tier::ALL[i % 4];
        let agent = format!("agent-{i}");
        let p = AutonomyPolicy::at_tier(tier).for_agent(agent.clone());
        let p = AutonomyPolicy {
            approval_timeout_ms: Some(1),
            ..p
        };
        let log = log.clone();
        handles.push(tokio::spawn(sidefx::with_event_log(
            log,
            sidefx::with_policy(p, async move {
                let mut mismatches = 0;
                let ran = AtomicUsize::new(0);
                for hop in 0..5 {
                    // Hop threads: yield and sleep so the task resumes on another worker.
                    tokio::task::yield_now().await;
                    tokio::time::sleep(Duration::from_micros((i % 7 + hop) as u64)).await;
                    let r = sidefx::resolve(&write).unwrap();
                    if r.agent != agent || r.tier != tier {
                        mismatches += 1;
                    }
                }
                let result = call(name, json!({"i": i}), &ran).await;
                let ran_ok = ran.load(Ordering::SeqCst) == usize::from(tier == Tier::ActAuto);
                let err_ok = match tier {
                    Tier::ActAuto => result.is_ok(),
                    Tier::ActWithApproval => result.is_err_and(|e| e.code() == "SIDEFX-APPROVAL-TIMEOUT"),
                    _ => result.is_err_and(|e| e.code() == "SIDEFX-SKIPPED"),
                };
                (mismatches, ran_ok && err_ok)
            }),
        )));
    }
    let mut wrong = 0;
    for h in handles {
        let (mismatches, ok) = h.await.unwrap();
        wrong += mismatches + usize::from(!ok);
    }
    assert_eq!(wrong, 0, "every decision matches its own task's policy");
    // Each record names the agent whose policy decided it.
    let recs: Vec<TrustRecord> = log
        .read_range(&Topic::TRUST_GRAPH, 0, usize::MAX)
        .await
        .unwrap()
        .iter()
        .map(|e| TrustRecord::from_event(&e.event).unwrap())
        .collect();
    assert_eq!(recs.len(), 750);
    for r in &recs {
        let i: usize = r.agent.trim_start_matches("agent-").parse().unwrap();
        assert_eq!(r.autonomy_tier, Tier::ALL[i % 4], "{}", r.agent);
        assert_eq!(r.metadata["args"]["i"], i);
    }
    assert!(trust::verify_chain(log.as_ref()).await.unwrap().is_valid());
}

#[tokio::test]
async fn spawned_tasks_start_empty_unless_the_scope_is_propagated() {
    let exec = action("exec", "process.exec");
    let p = AutonomyPolicy::at_tier(Tier::Shadow).for_agent("parent");
    let (plain, propagated, captured) = sidefx::with_policy(p, async {
        let plain = tokio::spawn(async move { sidefx::resolve(&exec).unwrap() })
            .await
            .unwrap();
        let propagated = sidefx::spawn(async move { sidefx::resolve(&exec).unwrap() })
            .await
            .unwrap();
        let scope = sidefx::Scope::capture();
        let captured = tokio::spawn(scope.run(async move { sidefx::resolve(&exec).unwrap() }))
            .await
            .unwrap();
        (plain, propagated, captured)
    })
    .await;
    assert_eq!((plain.agent.as_str(), plain.tier), ("runtime", Tier::ActAuto));
    assert_eq!(
        (propagated.agent.as_str(), propagated.tier),
        ("parent", Tier::Shadow)
    );
    assert_eq!(captured, propagated);
}

// ---------------------------------------------------------------- trust chain (§11)

#[tokio::test]
async fn a_tampered_record_is_found_at_its_index() {
    let log = MemoryEventLog::new();
    for i in 0..6 {
        let d = TrustDraft::new(format!("a{i}"), "fs.write", Outcome::Success, Tier::ActAuto);
        trust::append(&log, d).await.unwrap();
    }
    assert!(trust::verify_chain(&log).await.unwrap().is_valid());

    // Alter record 3's outcome in storage, keep its hash: the content no longer matches.
    let mut events = log.snapshot();
    let (_, e) = events
        .iter_mut()
        .find(|(t, e)| *t == Topic::TRUST_GRAPH && e.id == 4)
        .unwrap();
    e.event.payload["outcome"] = json!("denied");
    let tampered = MemoryEventLog::restore(events).unwrap();
    let v = trust::verify_chain(&tampered).await.unwrap();
    let broken = v.first_broken.expect("tampering detected");
    assert_eq!(broken.index, 3);
    assert!(broken.reason.contains("entry_hash"), "{broken}");

    // Re-hashing the altered record breaks the next link instead.
    let mut events = log.snapshot();
    let (_, e) = events
        .iter_mut()
        .find(|(t, e)| *t == Topic::TRUST_GRAPH && e.id == 4)
        .unwrap();
    let mut rec = TrustRecord::from_event(&e.event).unwrap();
    rec.outcome = Outcome::Denied;
    rec.entry_hash = rec.compute_hash();
    e.event.payload = serde_json::to_value(&rec).unwrap();
    // A thorough forger also fixes the headers, which verification checks against the record.
    e.event.headers.insert("outcome".into(), "denied".into());
    let v = trust::verify_chain(&MemoryEventLog::restore(events).unwrap())
        .await
        .unwrap();
    let broken = v.first_broken.expect("re-hashed tampering detected");
    assert_eq!(broken.index, 4);
    assert!(broken.reason.contains("previous_hash"), "{broken}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_concurrent_appenders_make_one_chain_without_gaps() {
    let log = Arc::new(MemoryEventLog::new());
    let mut handles = Vec::new();
    for w in 0..8 {
        let log = log.clone();
        handles.push(tokio::spawn(async move {
            for n in 0..50 {
                let d = TrustDraft::new(format!("w{w}"), "fs.write", Outcome::Success, Tier::ActAuto)
                    .meta("n", n);
                trust::append(log.as_ref(), d).await.unwrap();
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let recs = records(&log).await;
    assert_eq!(recs.len(), 400);
    for (i, r) in recs.iter().enumerate() {
        assert_eq!(r.chain_index, i as u64, "no gaps, no forks");
    }
    let v = trust::verify_chain(log.as_ref()).await.unwrap();
    assert!(v.is_valid(), "{:?}", v.first_broken);
    assert_eq!(v.records, 400);
}

#[tokio::test]
async fn trust_queries_filter_and_keep_the_newest() {
    let log = MemoryEventLog::new();
    for (agent, outcome, tier) in [
        ("a", Outcome::Denied, Tier::Shadow),
        ("b", Outcome::Success, Tier::ActAuto),
        ("a", Outcome::Success, Tier::ActAuto),
        ("a", Outcome::Denied, Tier::Suggest),
    ] {
        trust::append(
            &log,
            TrustDraft::new(agent, "fs.write", outcome, tier).trace(format!("t-{agent}")),
        )
        .await
        .unwrap();
    }
    let q = |q: trust::TrustQuery| {
        let log = &log;
        async move {
            trust::query(log, &q)
                .await
                .unwrap()
                .iter()
                .map(|r| r.chain_index)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        q(trust::TrustQuery {
            agent: Some("a".into()),
            ..Default::default()
        })
        .await,
        vec![0, 2, 3]
    );
    assert_eq!(
        q(trust::TrustQuery {
            outcome: Some(Outcome::Denied),
            ..Default::default()
        })
        .await,
        vec![0, 3]
    );
    assert_eq!(
        q(trust::TrustQuery {
            tier: Some(Tier::ActAuto),
            ..Default::default()
        })
        .await,
        vec![1, 2]
    );
    assert_eq!(
        q(trust::TrustQuery {
            agent: Some("a".into()),
            limit: Some(2),
            ..Default::default()
        })
        .await,
        vec![2, 3]
    );
    assert_eq!(
        q(trust::TrustQuery {
            trace_id: Some("t-b".into()),
            ..Default::default()
        })
        .await,
        vec![1]
    );
    assert_eq!(
        q(trust::TrustQuery {
            since_ms: Some(u64::MAX),
            ..Default::default()
        })
        .await,
        Vec::<u64>::new()
    );
}

// ---------------------------------------------------------------- event log (§10)

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_reads_history_then_live_without_loss_or_repeats() {
    let log = Arc::new(MemoryEventLog::new());
    let topic = Topic::new("stream.test").unwrap();
    for i in 0..100 {
        log.append(&topic, LogEvent::new("n", json!(i))).await.unwrap();
    }
    let writer = {
        let (log, topic) = (log.clone(), topic.clone());
        tokio::spawn(async move {
            for i in 100..1000 {
                log.append(&topic, LogEvent::new("n", json!(i))).await.unwrap();
                if i % 50 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        })
    };
    let mut sub = subscribe(log.as_ref(), topic.clone(), 0);
    for want in 0..1000u64 {
        let e = sub.next().await.unwrap();
        assert_eq!(e.id, want + 1);
        assert_eq!(e.event.payload, json!(want));
    }
    writer.await.unwrap();
    // Starting mid-stream continues after the given id.
    let mut sub = subscribe(log.as_ref(), topic, 990);
    assert_eq!(sub.next().await.unwrap().id, 991);
}

#[tokio::test]
async fn topics_are_validated_and_ids_are_per_topic() {
    for bad in ["", "has space", "slash/ed", "ümlaut", &"x".repeat(256)] {
        assert_eq!(
            Topic::new(bad).unwrap_err().code(),
            "SIDEFX-INVALID-TOPIC",
            "{bad:?}"
        );
    }
    assert!(Topic::new("a.B_c-9").is_ok());
    assert!(Topic::new("x".repeat(255)).is_ok());
    let log = MemoryEventLog::new();
    let (a, b) = (Topic::new("a").unwrap(), Topic::new("b").unwrap());
    assert_eq!(log.append(&a, LogEvent::new("k", json!(1))).await.unwrap(), 1);
    assert_eq!(log.append(&a, LogEvent::new("k", json!(2))).await.unwrap(), 2);
    assert_eq!(log.append(&b, LogEvent::new("k", json!(3))).await.unwrap(), 1);
    assert_eq!(log.latest(&a).await.unwrap().unwrap().event.payload, json!(2));
    assert_eq!(log.read_range(&a, 1, 10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_bounded_memory_log_keeps_the_newest_and_verifies_its_window() {
    let log = MemoryEventLog::bounded(5);
    for i in 0..12 {
        trust::append(
            &log,
            TrustDraft::new("a", "fs.write", Outcome::Success, Tier::ActAuto).meta("i", i),
        )
        .await
        .unwrap();
    }
    let kept = log.read_range(&Topic::TRUST_GRAPH, 0, 100).await.unwrap();
    assert_eq!(
        kept.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![8, 9, 10, 11, 12]
    );
    assert_eq!(
        log.read_range(&Topic::TRUST_GRAPH, 10, 100).await.unwrap().len(),
        2
    );
    let v = trust::verify_chain(&log).await.unwrap();
    assert!(v.is_valid());
    assert_eq!(v.records, 5);
}

#[tokio::test]
async fn approvals_resolve_in_log_order_and_decide_once() {
    let log = MemoryEventLog::new();
    let req = approval::request(
        &log,
        ApprovalDraft::new("a", "git.push", "git.write").reviewers(["alice"]),
    )
    .await
    .unwrap();
    let s = approval::respond(&log, &req.request_id, "bob", true, None)
        .await
        .unwrap();
    assert_eq!(s.state(), "pending", "bob is not on the allowlist");
    let s = approval::respond(&log, &req.request_id, "alice", true, None)
        .await
        .unwrap();
    assert_eq!(s.state(), "approved");
    assert_eq!(
        approval::respond(&log, &req.request_id, "alice", false, None)
            .await
            .unwrap_err()
            .code(),
        "SIDEFX-APPROVAL-CLOSED"
    );
    assert_eq!(
        approval::status(&log, "missing").await.unwrap_err().code(),
        "SIDEFX-UNKNOWN-APPROVAL"
    );
    assert!(approval::pending(&log).await.unwrap().is_empty());
    // A waiter that arrives after the decision gets it at once.
    assert!(matches!(
        approval::wait(&log, &req).await.unwrap(),
        approval::ApprovalDecision::Approved { .. }
    ));
}

// ---------------------------------------------------------------- policy errors (§7)

#[test]
fn invalid_policies_name_the_key_and_the_fix() {
    let cases: &[(&str, &[&str])] = &[
        (
            r#"{"autonomy_tier": "act-autoo"}"#,
            &["autonomy_tier", "did you mean `act_auto`"],
        ),
        (
            r#"{"action_tiers": {"fs.write": "shadw"}}"#,
            &["action_tiers.fs.write", "did you mean `shadow`"],
        ),
        (
            r#"{"agent_action_tiers": {"a": {"exec": "later"}}}"#,
            &["agent_action_tiers.a.exec", "expected one of"],
        ),
        (
            r#"{"autonomy_teir": "shadow"}"#,
            &["unknown field `autonomy_teir`", "did you mean `autonomy_tier`"],
        ),
        (
            r#"{"colour": "blue"}"#,
            &["unknown field `colour`", "expected one of"],
        ),
        (
            r#"{"requires_human": "yes"}"#,
            &["requires_human", "true or false"],
        ),
        (r#"{"reviewers": "alice"}"#, &["reviewers", "list of strings"]),
        (
            r#"{"reviewers": ["alice", 7]}"#,
            &["reviewers[1]", "must be a string"],
        ),
        (r#"{"agent_tiers": ["a"]}"#, &["agent_tiers", "object"]),
        (r#"{"approval_quorum": 0}"#, &["approval_quorum", "at least 1"]),
        (r#"["shadow"]"#, &["must be an object"]),
        (r#"{"tier": "shadow""#, &["not valid JSON"]),
    ];
    for (text, needles) in cases {
        let err = AutonomyPolicy::from_json(text).unwrap_err();
        assert_eq!(err.code(), "SIDEFX-POLICY");
        let msg = err.to_string();
        for n in *needles {
            assert!(msg.contains(n), "{text}: {msg:?} lacks {n:?}");
        }
    }
    // Several mistakes are reported at once.
    let err = AutonomyPolicy::from_json(r#"{"tier": "x", "agent_id": 3}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("`tier`") && err.contains("`agent_id`"), "{err}");
    // TOML goes through the same checks.
    let err = AutonomyPolicy::from_toml("autonomy_tier = \"sugest\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("did you mean `suggest`"), "{err}");
}

#[test]
fn misspelled_builtin_and_class_keys_fail_validation() {
    builtin("core_validate_builtin", "store.write");
    let registry = registry::snapshot();
    let p = policy(json!({
        "action_tiers": {"fs.wirte": "act_auto", "core_validate_biultin": "act_auto", "git.push": "shadow"},
        "agent_action_tiers": {"a": {"proces.exec": "act_auto"}},
        "requires_human_actions": ["store.wirte"],
        "agent_tiers": {"": "shadow"},
    }));
    let msg = p.validate(&registry).unwrap_err().to_string();
    for n in [
        "`action_tiers.fs.wirte`",
        "did you mean `fs.write`",
        "did you mean `core_validate_builtin`",
        "`agent_action_tiers.a.proces.exec`",
        "did you mean `process.exec`",
        "did you mean `store.write`",
        "empty agent id",
    ] {
        assert!(msg.contains(n), "{msg:?} lacks {n:?}");
    }
    assert!(!msg.contains("git.push"), "catalogue builtins are known: {msg}");
    // A clean policy validates.
    policy(json!({"action_tiers": {"fs.write": "shadow", "core_validate_builtin": "act_auto"}}))
        .validate(&registry)
        .unwrap();
}

#[test]
fn tiers_parse_display_and_order() {
    for t in Tier::ALL {
        assert_eq!(t.to_string().parse::<Tier>().unwrap(), t);
        assert_eq!(t.to_string().replace('_', "-").parse::<Tier>().unwrap(), t);
        assert_eq!(serde_json::to_value(t).unwrap(), json!(t.as_str()));
    }
    assert!(
        Tier::Shadow < Tier::Suggest
            && Tier::Suggest < Tier::ActWithApproval
            && Tier::ActWithApproval < Tier::ActAuto
    );
    assert!("Act_Auto".parse::<Tier>().is_err());
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn tier() -> impl Strategy<Value = Option<Tier>> {
        prop_oneof![Just(None), (0..4usize).prop_map(|i| Some(Tier::ALL[i]))]
    }

    proptest! {
        /// Composition is the minimum of every answer, whatever the nesting.
        #[test]
        fn composed_tier_is_the_most_restrictive(tiers in proptest::collection::vec(tier(), 0..5), dispatch in tier()) {
            let exec = action("exec", "process.exec");
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let got = rt.block_on(async {
                let mut fut: std::pin::Pin<Box<dyn std::future::Future<Output = Tier>>> =
                    Box::pin(async move { sidefx::resolve(&exec).unwrap().tier });
                for t in &tiers {
                    let p = AutonomyPolicy { autonomy_tier: *t, ..Default::default() };
                    fut = Box::pin(sidefx::with_policy(p, fut));
                }
                let ctx = DispatchContext { tier: dispatch, ..Default::default() };
                sidefx::with_dispatch(ctx, fut).await
            });
            let want = tiers.iter().flatten().chain(dispatch.iter()).min().copied().unwrap_or(Tier::ActAuto);
            prop_assert_eq!(got, want);
        }

        /// Arbitrary JSON never panics the policy parser.
        #[test]
        fn policy_parser_never_panics(s in "\\PC{0,80}") {
            let _ = AutonomyPolicy::from_json(&s);
            let _ = AutonomyPolicy::from_json(&format!("{{\"tier\": {s:?}}}"));
        }
    }
}

#[path = "core/tighten.rs"]
mod tighten;

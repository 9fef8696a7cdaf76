//! Tighten-only everywhere (SPEC §7, §8) and hostile policy input (issue 9): nested dispatch
//! contexts, agent ids and reviewer allowlists can only tighten; policy files with duplicate
//! keys, huge timeouts, impossible quorums or huge values are rejected with short messages.

use super::*;

fn resolve_in<F: std::future::Future>(fut: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(fut)
}

// ---------------------------------------------------------------- dispatch contexts

#[test]
fn an_inner_dispatch_context_cannot_drop_the_outer_tier() {
    let write = action("write_file", "fs.write");
    let host = DispatchContext::new("host").tier(Tier::Shadow).trace("t-host");
    // A runtime opening a context per call just to set a trace id.
    let per_call = DispatchContext {
        trace_id: Some("t-call".into()),
        ..Default::default()
    };
    let r = resolve_in(sidefx::with_dispatch(
        host.clone(),
        sidefx::with_dispatch(per_call.clone(), async { sidefx::resolve(&write) }),
    ))
    .unwrap();
    assert_eq!(r.tier, Tier::Shadow, "the host's shadow sandbox holds");
    assert_eq!(
        r.agent, "host",
        "the nearest context that names an agent names the caller"
    );
    // A looser inner tier does not loosen either.
    let looser = DispatchContext::new("host").tier(Tier::ActAuto);
    let r = resolve_in(sidefx::with_dispatch(
        host.clone(),
        sidefx::with_dispatch(looser, async { sidefx::resolve(&write) }),
    ))
    .unwrap();
    assert_eq!(r.tier, Tier::Shadow);
    // The effective context keeps the innermost trace id and inherits what the inner one lacks.
    let ctx = resolve_in(sidefx::with_dispatch(
        host,
        sidefx::with_dispatch(per_call, async { sidefx::Scope::capture().dispatch().cloned() }),
    ))
    .unwrap();
    assert_eq!(ctx.trace_id.as_deref(), Some("t-call"));
    assert_eq!(ctx.agent_id.as_deref(), Some("host"));
    assert_eq!(ctx.tier, Some(Tier::Shadow));
}

#[tokio::test]
async fn a_write_under_a_host_shadow_sandbox_does_not_run_through_a_per_call_context() {
    let name = builtin("tighten_sandboxed_write", "fs.write");
    let ran = AtomicUsize::new(0);
    let host = DispatchContext::new("host").tier(Tier::Shadow);
    let per_call = DispatchContext {
        trace_id: Some("t-call".into()),
        ..Default::default()
    };
    let result = sidefx::with_dispatch(
        host,
        sidefx::with_dispatch(per_call, call(name, json!({"path": "a.txt"}), &ran)),
    )
    .await;
    assert_eq!(result.unwrap_err().code(), "SIDEFX-SKIPPED");
    assert_eq!(ran.load(Ordering::SeqCst), 0, "the write did not happen");
}

// ---------------------------------------------------------------- identities

#[test]
fn an_inner_agent_id_cannot_move_a_call_out_from_under_the_outer_agents_rules() {
    let write = action("write_file", "fs.write");
    let outer = policy(json!({"agent_tiers": {"intern": "shadow", "planner": "act_auto"}}));
    let inner = policy(json!({"agent_id": "planner", "autonomy_tier": "act_auto"}));
    // The outer identity named by a dispatch context...
    let r = resolve_in(sidefx::with_dispatch(
        DispatchContext::new("intern"),
        sidefx::with_policy(
            outer.clone(),
            sidefx::with_policy(inner.clone(), async { sidefx::resolve(&write) }),
        ),
    ))
    .unwrap();
    assert_eq!((r.agent.as_str(), r.tier), ("planner", Tier::Shadow));
    // ... or by the outer policy itself.
    let r = resolve_in(sidefx::with_policy(
        outer.clone().for_agent("intern"),
        sidefx::with_policy(inner.clone(), async { sidefx::resolve(&write) }),
    ))
    .unwrap();
    assert_eq!(r.tier, Tier::Shadow);
    // ... or by an inner dispatch context.
    let r = resolve_in(sidefx::with_dispatch(
        DispatchContext::new("intern"),
        sidefx::with_policy(
            outer.clone(),
            sidefx::with_dispatch(DispatchContext::new("planner"), async { sidefx::resolve(&write) }),
        ),
    ))
    .unwrap();
    assert_eq!(r.tier, Tier::Shadow);
    // A middle scope's identity binds too: renaming again further in does not escape it.
    let r = resolve_in(sidefx::with_policy(
        outer.clone(),
        sidefx::with_policy(
            AutonomyPolicy::default().for_agent("intern"),
            sidefx::with_policy(inner, async { sidefx::resolve(&write) }),
        ),
    ))
    .unwrap();
    assert_eq!(r.tier, Tier::Shadow);
    // requires_human follows the same rule.
    let human = policy(json!({"requires_human_agents": ["intern"]}));
    let r = resolve_in(sidefx::with_dispatch(
        DispatchContext::new("intern"),
        sidefx::with_policy(
            human,
            sidefx::with_policy(AutonomyPolicy::default().for_agent("planner"), async {
                sidefx::resolve(&write)
            }),
        ),
    ))
    .unwrap();
    assert!(r.requires_human);
}

/// The host pattern: one policy with a strict default and per-agent exceptions, and a dispatch
/// context per call naming the agent. An outer scope that names no agent speaks for whichever
/// agent the inner scopes name, so the exceptions apply.
#[test]
fn a_host_policy_without_an_agent_speaks_for_the_agent_dispatched_inside_it() {
    let write = action("write_file", "fs.write");
    let host = policy(json!({"autonomy_tier": "shadow", "agent_tiers": {"planner": "act_auto"}}));
    let r = resolve_in(sidefx::with_policy(
        host,
        sidefx::with_dispatch(DispatchContext::new("planner"), async { sidefx::resolve(&write) }),
    ))
    .unwrap();
    assert_eq!((r.agent.as_str(), r.tier), ("planner", Tier::ActAuto));
}

// ---------------------------------------------------------------- approval settings

/// Approves every request on `log` as each of `who`, in order, as soon as it is filed.
fn approve_all(log: Arc<MemoryEventLog>, who: &'static [&'static str]) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut sub = subscribe(log.as_ref(), Topic::HITL_APPROVALS, 0);
        loop {
            let e = sub.next().await.unwrap();
            if e.event.kind == "approval_requested" {
                let id = e.event.payload["request_id"].as_str().unwrap().to_owned();
                for r in who {
                    let _ = approval::respond(log.as_ref(), &id, r, true, None).await;
                }
            }
        }
    })
}

async fn nested_approval(
    outer: Value,
    inner: Value,
    name: &'static str,
    who: &'static [&'static str],
) -> (
    Arc<MemoryEventLog>,
    usize,
    Result<Option<(String, Vec<String>)>, Error>,
) {
    let log = Arc::new(MemoryEventLog::new());
    let reviewer = approve_all(log.clone(), who);
    let ran = AtomicUsize::new(0);
    let result = sidefx::with_event_log(
        log.clone(),
        sidefx::with_policy(
            policy(outer),
            sidefx::with_policy(policy(inner), call(name, json!({}), &ran)),
        ),
    )
    .await;
    reviewer.abort();
    (log, ran.load(Ordering::SeqCst), result)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inner_reviewer_list_cannot_let_someone_else_approve() {
    let name = builtin("tighten_push_mallory", "git.write");
    let outer =
        json!({"autonomy_tier": "act_with_approval", "reviewers": ["alice"], "approval_timeout_ms": 2000});
    let inner = json!({"reviewers": ["mallory"]});
    let (log, ran, result) = nested_approval(outer, inner, name, &["mallory"]).await;
    let err = result.unwrap_err();
    assert_eq!(ran, 0, "mallory's approval must not run the push");
    assert_eq!(err.code(), "SIDEFX-NO-REVIEWER", "{err}");
    let msg = err.to_string();
    assert!(msg.contains("alice") && msg.contains("mallory"), "{msg}");
    // Failed at once: no request anybody could wait on was filed.
    assert!(events(&log, &Topic::HITL_APPROVALS).await.is_empty());
    let recs = records(&log).await;
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].outcome, Outcome::Denied);
    assert_eq!(recs[0].metadata["deny_code"], "SIDEFX-NO-REVIEWER");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reviewer_allowlists_intersect_quorum_takes_the_max_and_timeout_the_min() {
    let name = builtin("tighten_push_both", "git.write");
    let outer = json!({"autonomy_tier": "act_with_approval", "reviewers": ["alice", "bob"], "approval_timeout_ms": 600000});
    let inner = json!({"reviewers": ["bob", "carol"], "approval_timeout_ms": 120000});
    let (log, ran, result) = nested_approval(outer, inner, name, &["alice", "carol", "bob"]).await;
    let (request_id, approvers) = result.unwrap().expect("approved");
    assert_eq!(ran, 1);
    assert_eq!(
        approvers,
        vec!["bob".to_owned()],
        "only the common reviewer counts"
    );
    let req = approval::status(log.as_ref(), &request_id).await.unwrap().request;
    assert_eq!(req.reviewers, vec!["bob".to_owned()]);
    assert_eq!(
        req.deadline_ms - req.requested_at_ms,
        120000,
        "the shorter timeout"
    );

    // A quorum the common reviewers cannot reach fails closed at once too.
    let name = builtin("tighten_push_quorum", "git.write");
    let outer =
        json!({"autonomy_tier": "act_with_approval", "reviewers": ["alice", "bob"], "approval_quorum": 2});
    let inner = json!({"reviewers": ["bob", "carol"]});
    let (log, ran, result) = nested_approval(outer, inner, name, &["bob"]).await;
    let err = result.unwrap_err();
    assert_eq!((ran, err.code()), (0, "SIDEFX-NO-REVIEWER"), "{err}");
    assert!(err.to_string().contains("quorum"), "{err}");
    assert!(events(&log, &Topic::HITL_APPROVALS).await.is_empty());
}

// ---------------------------------------------------------------- hostile policy files

#[test]
fn duplicate_keys_are_rejected_at_every_level_with_their_path() {
    let cases: &[(&str, &str)] = &[
        (
            r#"{"autonomy_tier": "shadow", "autonomy_tier": "act_auto"}"#,
            "`autonomy_tier`",
        ),
        (
            r#"{"agent_action_tiers": {"planner": {"fs.write": "shadow", "fs.write": "act_auto"}}}"#,
            "`agent_action_tiers.planner.fs.write`",
        ),
        (
            r#"{"agent_action_tiers": {"planner": {}, "planner": {"fs.write": "act_auto"}}}"#,
            "`agent_action_tiers.planner`",
        ),
        (
            r#"{"action_tiers": {"git.push": "shadow", "git.push": "act_auto"}}"#,
            "`action_tiers.git.push`",
        ),
    ];
    for (text, path) in cases {
        let err = AutonomyPolicy::from_json(text).unwrap_err();
        assert_eq!(err.code(), "SIDEFX-POLICY");
        let msg = err.to_string();
        assert!(
            msg.contains("duplicate key") && msg.contains(path),
            "{text}: {msg}"
        );
    }
    // Through serde too (a policy embedded in a larger configuration).
    let embedded: Result<AutonomyPolicy, _> =
        serde_json::from_str(r#"{"tier": "shadow", "tier": "act_auto"}"#);
    assert!(embedded.unwrap_err().to_string().contains("duplicate key"));
    // TOML rejects duplicates itself.
    let err = AutonomyPolicy::from_toml("tier = \"shadow\"\ntier = \"act_auto\"\n").unwrap_err();
    assert_eq!(err.code(), "SIDEFX-POLICY", "{err}");
}

#[test]
fn timeouts_past_the_maximum_and_impossible_quorums_are_rejected_at_load() {
    let max = approval::MAX_TIMEOUT.as_millis() as u64;
    let ok = policy(json!({"approval_timeout_ms": max}));
    assert_eq!(ok.approval_timeout(), Some(approval::MAX_TIMEOUT));
    for ms in [max + 1, u64::MAX] {
        let err = AutonomyPolicy::from_json(&format!(r#"{{"approval_timeout_ms": {ms}}}"#))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("approval_timeout_ms") && err.contains("at most"),
            "{err}"
        );
    }
    let err = AutonomyPolicy::from_json(r#"{"reviewers": ["alice", "bob"], "approval_quorum": 3}"#)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("approval_quorum") && err.contains("reviewers"),
        "{err}"
    );
    // Without an allowlist anyone may answer, so any quorum is possible.
    policy(json!({"approval_quorum": 3}));
}

#[tokio::test]
async fn a_huge_timeout_never_panics_the_approval_flow() {
    let log = MemoryEventLog::new();
    let draft = ApprovalDraft::new("a", "b", "c").timeout(Duration::MAX);
    let req = approval::request(&log, draft).await.unwrap();
    assert_eq!(
        req.deadline_ms - req.requested_at_ms,
        approval::MAX_TIMEOUT.as_millis() as u64,
        "cut to the maximum"
    );
    assert!(req.deadline.ends_with('Z'), "{}", req.deadline);
    // A policy at the largest timeout it may hold files its suggestion without overflow.
    let name = builtin("tighten_huge_timeout", "git.write");
    let max = approval::MAX_TIMEOUT.as_millis() as u64;
    let p = policy(json!({"autonomy_tier": "suggest", "approval_timeout_ms": max}));
    let log = Arc::new(MemoryEventLog::new());
    let ran = AtomicUsize::new(0);
    let err = sidefx::with_event_log(log.clone(), sidefx::with_policy(p, call(name, json!({}), &ran)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "SIDEFX-SKIPPED");
}

#[test]
fn error_messages_quote_only_a_bounded_excerpt_of_the_input() {
    let huge = "x".repeat(200_000);
    let cases = [
        format!(r#"{{"{huge}": "shadow"}}"#),
        format!(r#"{{"autonomy_tier": "{huge}"}}"#),
        format!(r#"{{"agent_id": ["{huge}"]}}"#),
        format!(r#"{{"action_tiers": {{"{huge}": "nope"}}}}"#),
        format!(r#"{{"{huge}": 1, "{huge}": 2}}"#),
    ];
    for text in &cases {
        let msg = AutonomyPolicy::from_json(text).unwrap_err().to_string();
        assert!(msg.len() < 1000, "{} bytes: {}…", msg.len(), &msg[..200]);
        assert!(msg.contains("bytes)"), "{msg}");
    }
    // Rules quote their own text and values: bounded the same way.
    let rule_cases = [
        format!(r#"{{"rules": [{{"path": "{huge}", "tier": "nope"}}]}}"#),
        format!(r#"{{"rules": [{{"{huge}": 1, "tier": "shadow"}}]}}"#),
        format!(r#"{{"rules": [{{"path": "src/**", "tier": "{huge}"}}]}}"#),
        format!(r#"{{"rules": [{{"path": "src/**", "tier": "shadow", "match": ["{huge}"]}}]}}"#),
        format!(r#"{{"rules": [{{"command": ["{huge}"], "tier": "shadow", "not_match": ["{huge}"]}}]}}"#),
        format!(r#"{{"rules": [{{"url": "{huge}", "tier": "shadow"}}]}}"#),
        format!(r#"{{"rules": [{{"path": "[{huge}", "tier": "shadow"}}]}}"#),
    ];
    for text in &rule_cases {
        let msg = AutonomyPolicy::from_json(text).unwrap_err().to_string();
        assert!(msg.len() < 1000, "{} bytes: {}…", msg.len(), &msg[..300]);
    }
    let toml = format!("tier = \"{huge}\n");
    let msg = AutonomyPolicy::from_toml(&toml).unwrap_err().to_string();
    assert!(
        msg.len() < 1000 && !msg.contains('\n'),
        "{} bytes: {}",
        msg.len(),
        &msg[..200.min(msg.len())]
    );
    // Validation against a registry quotes keys the same way.
    let p = policy(json!({"action_tiers": {huge.clone(): "shadow"}}));
    let msg = p.validate(&registry::snapshot()).unwrap_err().to_string();
    assert!(msg.len() < 1000, "{} bytes", msg.len());
}

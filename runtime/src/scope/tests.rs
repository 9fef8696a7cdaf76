//! The decision cache, and the tighten-only property of the whole stack (SPEC §7, §8).

use std::sync::Arc;

use super::*;
use crate::{SideEffectAction, Tier};

fn cached(scope: &Scope, action: &SideEffectAction) -> (String, Tier, bool) {
    let (agent, tier, human) = scope.decide_cached(action).expect("decides");
    (agent.to_owned(), tier, human)
}

#[test]
fn the_decision_cache_never_mixes_scopes_or_actions() {
    let write = SideEffectAction::new("write_file", "fs.write", "workspace.write_text");
    let push = SideEffectAction::new("git.push", "git.write", "git.write");
    let auto = Scope::default().with_policy(Arc::new(AutonomyPolicy::at_tier(Tier::ActAuto).for_agent("a")));
    let mut shadow_push = AutonomyPolicy::at_tier(Tier::ActAuto).for_agent("b");
    shadow_push.action_tiers.insert("git.push".into(), Tier::Shadow);
    let inner = auto.clone().with_policy(Arc::new(shadow_push));
    let human = Scope::default().with_policy(Arc::new(AutonomyPolicy {
        requires_human: true,
        ..AutonomyPolicy::at_tier(Tier::ActAuto)
    }));
    let dispatched = auto
        .clone()
        .with_dispatch(DispatchContext::new("d").tier(Tier::Suggest));
    for _ in 0..3 {
        assert_eq!(cached(&auto, &write), ("a".into(), Tier::ActAuto, false));
        assert_eq!(cached(&auto, &push), ("a".into(), Tier::ActAuto, false));
        assert_eq!(cached(&inner, &write), ("b".into(), Tier::ActAuto, false));
        assert_eq!(cached(&inner, &push), ("b".into(), Tier::Shadow, false));
        assert_eq!(cached(&human, &push), ("runtime".into(), Tier::ActAuto, true));
        assert_eq!(cached(&dispatched, &write), ("a".into(), Tier::Suggest, false));
        for (scope, action) in [
            (&auto, &write),
            (&inner, &push),
            (&human, &write),
            (&dispatched, &push),
        ] {
            assert_eq!(scope.decide_cached(action).ok(), scope.decide(action).ok());
        }
    }
    // Nothing answers in an empty scope, so strictness applies after the cache.
    let empty = Scope::default();
    assert_eq!(cached(&empty, &write).1, Tier::ActAuto);
    let strict = Scope {
        strict: true,
        ..Scope::default()
    };
    assert_eq!(
        strict.decide_cached(&write).unwrap_err().code(),
        "SIDEFX-STRICT-NO-CONTEXT"
    );
}

/// The enforcement fast path (`open_now`) lets a call run at once only when the full decision
/// would: act_auto, no human, nothing auditing or observing, no rules needing its resources.
#[test]
fn the_fast_path_opens_exactly_when_the_full_decision_runs_quietly() {
    struct Quiet;
    #[async_trait::async_trait]
    impl crate::observe::CallObserver for Quiet {
        async fn observe(&self, _: &crate::observe::ObservedCall<'_>, _: crate::observe::CallStage<'_>) {}
    }
    let write = SideEffectAction::new("write_file", "fs.write", "workspace.write_text");
    let push = SideEffectAction::new("git.push", "git.write", "git.write");
    let policy = |json: &str| Arc::new(AutonomyPolicy::from_json(json).expect("valid policy"));
    let auto = Scope::default().with_policy(policy(r#"{"autonomy_tier": "act_auto"}"#));
    let scopes = [
        ("empty", Scope::default(), true),
        (
            "strict",
            Scope {
                strict: true,
                ..Scope::default()
            },
            false,
        ),
        ("act_auto", auto.clone(), true),
        (
            "strict act_auto",
            Scope {
                strict: true,
                ..auto.clone()
            },
            true,
        ),
        (
            "shadow push",
            auto.clone()
                .with_policy(policy(r#"{"action_tiers": {"git.push": "shadow"}}"#)),
            true,
        ),
        (
            "human",
            auto.clone().with_policy(policy(r#"{"requires_human": true}"#)),
            true,
        ),
        (
            "suggest dispatch",
            auto.clone()
                .with_dispatch(DispatchContext::new("d").tier(Tier::Suggest)),
            true,
        ),
        (
            "agent dispatch",
            auto.clone().with_dispatch(DispatchContext::new("d")),
            true,
        ),
        (
            "audited",
            auto.clone().with_policy(policy(r#"{"audit_auto": true}"#)),
            true,
        ),
        (
            "observed",
            Scope {
                observer: Some(Arc::new(Quiet)),
                ..auto.clone()
            },
            true,
        ),
        (
            "rules",
            auto.clone().with_policy(policy(
                r#"{"rules": [{"class": "git.write", "tier": "act_auto"}]}"#,
            )),
            true,
        ),
    ];
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    for (name, scope, _) in scopes {
        for action in [&write, &push] {
            for declared in [false, true] {
                let (open, decided) = rt.block_on(scope.clone().run(async move {
                    // Twice: the first call may miss the cache (then it must not open), the
                    // second finds what the full path put there.
                    let _ = try_with_current(|s| s.decide_cached(action).is_ok());
                    let open = open_now(action, declared);
                    (
                        open,
                        try_with_current(|s| s.decide(action).map(|(_, t, h)| (t, h)).ok()).flatten(),
                    )
                }));
                let quiet =
                    scope.observer.is_none() && !scope.audit_auto() && !(declared && scope.has_rules());
                let expected = quiet && decided == Some((Tier::ActAuto, false));
                assert_eq!(open, expected, "{name}, {}, declared {declared}", action.builtin);
            }
        }
    }
    // Outside any scope the fast path answers from the process default alone.
    assert_eq!(open_now(&write, false), !is_process_strict());
}

/// The current scope is set while its future is polled and dropped, and restored after,
/// when nested and when the inner future panics.
#[test]
fn the_current_scope_follows_polls_and_drops() {
    struct CountOnDrop(Arc<std::sync::Mutex<Option<usize>>>);
    impl Drop for CountOnDrop {
        fn drop(&mut self) {
            *self.0.lock().expect("lock") = Some(Scope::capture().policy_count());
        }
    }
    let one = Scope::default().with_policy(Arc::new(AutonomyPolicy::at_tier(Tier::Shadow)));
    let two = one
        .clone()
        .with_policy(Arc::new(AutonomyPolicy::at_tier(Tier::Suggest)));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let counts = rt.block_on(one.clone().run(async move {
        let before = Scope::capture().policy_count();
        let inner = two.run(async { Scope::capture().policy_count() }).await;
        (before, inner, Scope::capture().policy_count())
    }));
    assert_eq!(counts, (1, 2, 1));
    assert_eq!(Scope::capture().policy_count(), 0);

    // A future dropped before it completes is dropped with its scope current.
    let seen = Arc::new(std::sync::Mutex::new(None));
    let guard = CountOnDrop(seen.clone());
    let pending = one.clone().run(async move {
        let _guard = guard;
        std::future::pending::<()>().await;
    });
    let mut pending = Box::pin(pending);
    let waker = std::task::Waker::noop();
    assert!(
        pending
            .as_mut()
            .poll(&mut std::task::Context::from_waker(waker))
            .is_pending()
    );
    drop(pending);
    assert_eq!(*seen.lock().expect("lock"), Some(1));

    // A panic inside restores the outer scope.
    let outer = rt.block_on(one.run(async {
        let panicked = std::panic::catch_unwind(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("runtime");
            rt.block_on(Scope::default().run(async { panic!("inside") }))
        });
        (panicked.is_err(), Scope::capture().policy_count())
    }));
    assert_eq!(outer, (true, 1));
    assert_eq!(Scope::capture().policy_count(), 0);
}

mod tighten_only {
    use std::time::Duration;

    use proptest::prelude::*;
    use rustc_hash::{FxHashMap, FxHashSet};

    use super::*;

    const AGENTS: [&str; 4] = ["a", "b", "c", DEFAULT_AGENT];
    const REVIEWERS: [&str; 3] = ["alice", "bob", "carol"];

    #[derive(Debug, Clone)]
    enum Step {
        Policy(AutonomyPolicy),
        Dispatch(DispatchContext),
    }

    impl Step {
        fn names(&self) -> Option<&str> {
            match self {
                Step::Policy(p) => p.agent_id.as_deref(),
                Step::Dispatch(d) => d.agent_id.as_deref(),
            }
        }
    }

    fn tier() -> impl Strategy<Value = Option<Tier>> {
        prop_oneof![Just(None), (0..4usize).prop_map(|i| Some(Tier::ALL[i]))]
    }

    fn agent() -> impl Strategy<Value = Option<String>> {
        prop_oneof![2 => Just(None), 3 => (0..3usize).prop_map(|i| Some(AGENTS[i].to_owned()))]
    }

    fn tiers_by_agent() -> impl Strategy<Value = FxHashMap<String, Tier>> {
        proptest::collection::vec((0..4usize, 0..4usize), 0..4).prop_map(|v| {
            v.into_iter()
                .map(|(a, t)| (AGENTS[a].to_owned(), Tier::ALL[t]))
                .collect()
        })
    }

    fn policy() -> impl Strategy<Value = AutonomyPolicy> {
        (
            (agent(), tier(), tiers_by_agent(), tiers_by_agent(), tier()),
            (
                proptest::collection::vec(0..4usize, 0..3),
                proptest::collection::vec(0..3usize, 0..4),
                proptest::option::of(1..4u32),
                proptest::option::of(1..6u64),
                proptest::option::of(1..6u64),
            ),
        )
            .prop_map(
                |(
                    (agent_id, autonomy_tier, agent_tiers, per_action, write_tier),
                    (human, reviewers, quorum, timeout, grant_ttl),
                )| {
                    let mut p = AutonomyPolicy {
                        agent_id,
                        autonomy_tier,
                        agent_tiers,
                        requires_human_agents: human
                            .iter()
                            .map(|&i| AGENTS[i].to_owned())
                            .collect::<FxHashSet<_>>(),
                        reviewers: reviewers.iter().map(|&i| REVIEWERS[i].to_owned()).collect(),
                        approval_quorum: quorum,
                        approval_timeout_ms: timeout.map(|s| s * 1000),
                        suggestion_grant_ttl_ms: grant_ttl.map(|s| s * 1000),
                        ..Default::default()
                    };
                    for (agent, t) in per_action {
                        p.agent_action_tiers
                            .entry(agent)
                            .or_default()
                            .insert("fs.write".into(), t);
                    }
                    if let Some(t) = write_tier {
                        p.action_tiers.insert("write_file".into(), t);
                    }
                    p
                },
            )
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            3 => policy().prop_map(Step::Policy),
            2 => (agent(), tier(), proptest::option::of("t[0-9]")).prop_map(|(agent_id, tier, trace_id)| {
                Step::Dispatch(DispatchContext { agent_id, tier, trace_id, ..Default::default() })
            }),
        ]
    }

    /// The scope of `steps`, outermost first.
    fn scope(steps: &[Step]) -> Scope {
        steps.iter().fold(Scope::default(), |s, step| match step {
            Step::Policy(p) => s.with_policy(Arc::new(p.clone())),
            Step::Dispatch(d) => s.with_dispatch(d.clone()),
        })
    }

    fn decide(scope: &Scope, action: &SideEffectAction) -> (String, Tier, bool) {
        let cached = scope.decide_cached(action).expect("not strict");
        let (agent, tier, human) = scope.decide(action).expect("not strict");
        assert_eq!(cached, (agent, tier, human), "the cache agrees");
        (agent.to_owned(), tier, human)
    }

    /// `inner` may tighten `outer`'s approval settings, never loosen them.
    fn no_looser(
        inner: &crate::Result<ApprovalSettings>,
        outer: &crate::Result<ApprovalSettings>,
    ) -> std::result::Result<(), TestCaseError> {
        match (inner, outer) {
            (Ok(_), Err(e)) => Err(TestCaseError::fail(format!(
                "an outer scope alone refuses ({e}), the stack does not"
            ))),
            (Err(_), _) => Ok(()),
            (Ok(i), Ok(o)) => {
                if !o.reviewers.is_empty() {
                    prop_assert!(
                        !i.reviewers.is_empty(),
                        "anyone may approve, the outer scope allowed {:?}",
                        o.reviewers
                    );
                    prop_assert!(
                        i.reviewers.iter().all(|r| o.reviewers.contains(r)),
                        "{:?} ⊄ {:?}",
                        i.reviewers,
                        o.reviewers
                    );
                }
                prop_assert!(i.quorum >= o.quorum);
                prop_assert!(i.timeout <= o.timeout);
                prop_assert!(i.grant_ttl <= o.grant_ttl);
                Ok(())
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(10_000))]

        /// For random stacks of policies and dispatch contexts: the resolved tier is never
        /// looser than any outer scopes' answer or any single layer's answer for the agent it
        /// binds, `requires_human` never drops, and the approval settings never loosen.
        #[test]
        fn no_nesting_loosens_anything(steps in proptest::collection::vec(step(), 1..7), builtin in 0..2usize) {
            let action = [
                SideEffectAction::new("write_file", "fs.write", "workspace.write_text"),
                SideEffectAction::new("exec", "process.exec", "process.exec"),
            ][builtin];
            let full = scope(&steps);
            let (agent, tier, human) = decide(&full, &action);
            let settings = full.approval_settings(&action);
            for k in 0..steps.len() {
                let outer = &steps[..k];
                // The outer scopes alone, when they name the agent they speak for.
                if outer.iter().any(|s| s.names().is_some()) {
                    let (_, t, h) = decide(&scope(outer), &action);
                    prop_assert!(tier <= t, "outer scopes {outer:?} alone give {t}, the stack {tier}");
                    prop_assert!(human || !h, "outer scopes require a human, the stack does not");
                }
                // The outer scopes, asked directly for the agent the stack attributes the call to.
                let mut direct = outer.to_vec();
                direct.push(Step::Dispatch(DispatchContext::new(agent.clone())));
                let (_, t, h) = decide(&scope(&direct), &action);
                prop_assert!(tier <= t, "outer scopes {outer:?} give {agent} {t}, the stack {tier}");
                prop_assert!(human || !h);
                no_looser(&settings, &scope(outer).approval_settings(&action))?;
            }
            for (i, step) in steps.iter().enumerate() {
                match step {
                    Step::Dispatch(d) => prop_assert!(d.tier.is_none_or(|t| tier <= t)),
                    Step::Policy(p) => {
                        // The agent a call right at this layer is attributed to.
                        let at_layer = scope(&steps[..=i]);
                        let bound = at_layer.nodes().next().and_then(super::super::resolve::attributed);
                        for who in [Some(agent.as_str()), bound].into_iter().flatten() {
                            prop_assert!(p.tier_for(who, &action).is_none_or(|t| tier <= t), "layer {i} gives {who} a looser tier");
                            prop_assert!(human || !p.requires_human_for(who, &action));
                        }
                        no_looser(&settings, &scope(std::slice::from_ref(step)).approval_settings(&action))?;
                        if let Ok(s) = &settings {
                            prop_assert!(s.timeout <= Duration::from_millis(p.approval_timeout_ms.unwrap_or(u64::MAX)));
                            prop_assert!(s.grant_ttl <= Duration::from_millis(p.suggestion_grant_ttl_ms.unwrap_or(u64::MAX)));
                        }
                    }
                }
            }
        }
    }
}

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

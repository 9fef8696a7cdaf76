//! Policy errors (SPEC §7): invalid files name the key and the fix.

use super::*;

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
        // The grant's time to live is validated like the approval timeout.
        (
            r#"{"suggestion_grant_ttl_ms": 0}"#,
            &[
                "`suggestion_grant_ttl_ms` must be a positive whole number of milliseconds",
                "30 days",
                "found 0",
            ],
        ),
        (
            r#"{"suggestion_grant_ttl_ms": "24h"}"#,
            &["suggestion_grant_ttl_ms", "found \"24h\""],
        ),
        (
            r#"{"suggestion_grant_ttl_ms": 2592000001}"#,
            &["suggestion_grant_ttl_ms", "at most 2592000000"],
        ),
        (
            r#"{"suggestion_grant_ttl_ms": -5}"#,
            &["suggestion_grant_ttl_ms", "found -5"],
        ),
        (
            r#"{"sugestion_grant_ttl_ms": 5}"#,
            &["did you mean `suggestion_grant_ttl_ms`"],
        ),
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
                    let p = t.map_or_else(AutonomyPolicy::default, AutonomyPolicy::at_tier);
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

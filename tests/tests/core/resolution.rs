//! Resolution order (SPEC §7): which row answers for (agent, action).

use super::*;

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
    });
    let rows: [(&[&str], Tier); 6] = [
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
        ), // autonomy_tier (alias tier)
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
    // `tier` is the same row under its alias, and explanations quote the key the file used.
    let p = policy(json!({"tier": "act_with_approval"}));
    assert_eq!(p.tier_for("ci", &push), Some(Tier::ActWithApproval));
    assert_eq!(p.tier_row("ci", &push).unwrap().1.to_string(), "tier");
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

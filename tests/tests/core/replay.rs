//! Replaying a candidate policy on recorded decisions (issue 14 §2): a synthetic log of
//! 100,000 decisions whose counts are checked against an independent computation, masked
//! arguments reported as unknown, dispatch tiers kept, filters.

use std::collections::HashMap;

use sidefx::replay::{ReplayFilter, ReplayReport, Verdict};

use super::*;

const ROOT: &str = "/nonexistent-sidefx-replay";

/// The candidate every synthetic replay uses.
fn candidate() -> AutonomyPolicy {
    AutonomyPolicy::from_json(&format!(
        r#"{{
            "autonomy_tier": "suggest",
            "agent_tiers": {{"a1": "shadow"}},
            "action_tiers": {{"exec": "act_with_approval"}},
            "requires_human_agents": ["a4"],
            "rules": [{{"class": "fs.write", "path": "{ROOT}/src/**", "tier": "act_auto"}}]
        }}"#
    ))
    .unwrap()
}

/// One synthetic recorded call.
#[derive(Debug, Clone)]
struct Synthetic {
    agent: String,
    builtin: &'static str,
    class: &'static str,
    /// `None`: the builtin declares no resource; `Some(None)`: the path was redacted.
    path: Option<Option<String>>,
    recorded: Verdict,
    by_dispatch: bool,
}

/// What the candidate above gives a call, written out by hand (not through the rules engine):
/// `None` when the answer needs a masked value.
fn expected(c: &Synthetic) -> Option<Verdict> {
    if c.builtin == "write_file" && c.path == Some(None) {
        return None;
    }
    if c.agent == "a4" {
        return Some(Verdict::RequiresHuman);
    }
    let rows = match (c.agent.as_str(), c.builtin) {
        ("a1", _) => Tier::Shadow,
        (_, "exec") => Tier::ActWithApproval,
        _ => Tier::Suggest,
    };
    let in_src = matches!(&c.path, Some(Some(p)) if p.starts_with(&format!("{ROOT}/src/")));
    let mut tier = if c.class == "fs.write" && in_src {
        Tier::ActAuto
    } else {
        rows
    };
    if let (true, Verdict::Tier(cap)) = (c.by_dispatch, c.recorded) {
        tier = tier.min(cap);
    }
    Some(Verdict::Tier(tier))
}

/// A small deterministic generator (no extra dependency, same log every run).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

fn synthetic(rng: &mut Lcg) -> Synthetic {
    const BUILTINS: [(&str, &str); 4] = [
        ("write_file", "fs.write"),
        ("exec", "process.exec"),
        ("git.push", "git.write"),
        ("delete_file", "fs.delete"),
    ];
    let (builtin, class) = BUILTINS[rng.next(4) as usize];
    let path = match class {
        "fs.write" | "fs.delete" => Some(match rng.next(50) {
            0 => None,
            n if n % 2 == 0 => Some(format!("{ROOT}/src/f{}.rs", rng.next(40))),
            _ => Some(format!("{ROOT}/docs/f{}.md", rng.next(40))),
        }),
        _ => None,
    };
    let recorded = match rng.next(10) {
        0 => Verdict::RequiresHuman,
        n => {
            Verdict::Tier([Tier::Shadow, Tier::Suggest, Tier::ActWithApproval, Tier::ActAuto][n as usize % 4])
        }
    };
    Synthetic {
        agent: format!("a{}", rng.next(5)),
        builtin,
        class,
        path,
        by_dispatch: recorded != Verdict::RequiresHuman && rng.next(20) == 0,
        recorded,
    }
}

/// The payload of a stored trust record for `c` (only what a replay reads, as enforcement
/// writes it).
fn payload(i: u64, c: &Synthetic) -> Value {
    let (tier, enforcement) = match c.recorded {
        Verdict::RequiresHuman => ("suggest", "needs_human_denied"),
        Verdict::Tier(t) => (t.as_str(), "whatever_happened"),
    };
    let (args, resources) = match &c.path {
        None => (json!({"branch": "main"}), json!([])),
        Some(p) => {
            let shown = p.clone().unwrap_or_else(|| "[redacted]".into());
            (
                json!({"path": shown}),
                json!([{"kind": "path", "arg": "path", "value": shown}]),
            )
        }
    };
    let decided_by = if c.by_dispatch {
        "dispatch.tier"
    } else {
        "autonomy_tier"
    };
    let ms = i % 1000;
    let secs = i / 1000;
    json!({
        "schema": "opentrustgraph/v0.1", "record_id": format!("r{i}"), "agent": c.agent,
        "action": c.class, "approver": null, "outcome": "denied", "trace_id": format!("t{i}"),
        "autonomy_tier": tier, "chain_index": i, "previous_hash": "-", "entry_hash": "-",
        "timestamp": format!("2026-01-01T00:{:02}:{:02}.{ms:03}Z", secs / 60, secs % 60),
        "metadata": {
            "autonomy": {"enforcement": enforcement, "tier": tier},
            "builtin": c.builtin, "action_class": c.class, "args": args,
            "resources": resources, "decided_by": decided_by,
        }
    })
}

type Key = (String, String, Verdict, Verdict);

#[derive(Default, Debug, PartialEq)]
struct Tally {
    total: usize,
    changed: usize,
    unknown: usize,
    newly_human: usize,
    groups: HashMap<Key, usize>,
}

fn tally_of(report: &ReplayReport) -> Tally {
    Tally {
        total: report.total,
        changed: report.changed,
        unknown: report.unknown,
        newly_human: report.newly_human,
        groups: report
            .changes
            .iter()
            .map(|c| ((c.agent.clone(), c.builtin.clone(), c.from, c.to), c.count))
            .collect(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_of_100000_decisions_counts_exactly_what_an_independent_computation_does() {
    const N: u64 = 100_000;
    let log = MemoryEventLog::new();
    let mut rng = Lcg(14);
    let mut calls = Vec::new();
    for i in 0..N {
        // Records that are not a call's decision (written by hand) are left out.
        if i % 997 == 0 {
            let e = LogEvent::new(
                trust::KIND,
                json!({"agent": "ops", "chain_index": i, "metadata": {}}),
            );
            log.append(&Topic::TRUST_GRAPH, e).await.unwrap();
            calls.push(None);
            continue;
        }
        let c = synthetic(&mut rng);
        let e = LogEvent::new(trust::KIND, payload(i, &c));
        log.append(&Topic::TRUST_GRAPH, e).await.unwrap();
        calls.push(Some(c));
    }

    let mut want = Tally::default();
    let mut group_of: HashMap<u64, Key> = HashMap::new();
    let mut want_a2_since = 0;
    for (i, c) in calls.iter().enumerate() {
        let Some(c) = c else { continue };
        want.total += 1;
        if c.agent == "a2" && i >= 50_000 {
            want_a2_since += 1;
        }
        match expected(c) {
            None => want.unknown += 1,
            Some(to) if to == c.recorded => {}
            Some(to) => {
                want.changed += 1;
                if to.files_request() && !c.recorded.files_request() {
                    want.newly_human += 1;
                }
                let key = (c.agent.clone(), c.builtin.to_owned(), c.recorded, to);
                *want.groups.entry(key.clone()).or_default() += 1;
                group_of.insert(i as u64, key);
            }
        }
    }
    // The generator exercises every case.
    assert!(
        want.unknown > 0 && want.newly_human > 0 && want.changed > 10_000,
        "{want:?}"
    );
    assert!(want.total - want.changed - want.unknown > 10_000, "{want:?}");

    let report = sidefx::replay(&log, &candidate(), &ReplayFilter::default())
        .await
        .unwrap();
    assert_eq!(tally_of(&report), want);
    assert_eq!(report.unchanged, want.total - want.changed - want.unknown);
    assert_eq!(report.not_decisions as u64, N.div_ceil(997));
    assert_eq!(report.unseen_act_auto, None);
    assert!(report.act_auto_replayed > 0);
    // Each group's example is one of its own calls, and the first of them.
    for c in &report.changes {
        let key = (c.agent.clone(), c.builtin.clone(), c.from, c.to);
        assert_eq!(group_of.get(&c.example.chain_index), Some(&key), "{c:?}");
        let first = group_of.iter().filter(|(_, k)| **k == key).map(|(i, _)| *i).min();
        assert_eq!(Some(c.example.chain_index), first);
    }
    // Masked paths that a candidate rule reads are unknown, never guessed; a masked path no
    // rule reads (a delete) is decided.
    assert!(
        report
            .unknowns
            .iter()
            .all(|u| u.builtin == "write_file" && u.needs == ["path"])
    );
    assert_eq!(
        report.unknowns.iter().map(|u| u.count).sum::<usize>(),
        want.unknown
    );

    let filter = ReplayFilter::default()
        .agent("a2")
        .since_ms(1_767_225_600_000 + 50_000); // 2026-01-01T00:00:50Z
    let some = sidefx::replay(&log, &candidate(), &filter).await.unwrap();
    assert_eq!(some.total, want_a2_since);
    assert!(some.changes.iter().all(|c| c.agent == "a2"));
}

#[tokio::test]
async fn replaying_the_policy_that_made_a_log_changes_nothing_and_a_dispatch_tier_still_caps() {
    let write = builtin("replay_write", "fs.write");
    let push = builtin("replay_push", "git.write");
    let log = Arc::new(MemoryEventLog::new());
    let made = AutonomyPolicy::from_json(
        r#"{"agent_id": "planner", "autonomy_tier": "act_with_approval", "approval_timeout_ms": 1,
            "action_tiers": {"git.write": "suggest"}, "requires_human_actions": ["replay_write"]}"#,
    )
    .unwrap();
    let ran = AtomicUsize::new(0);
    sidefx::with_event_log(log.clone(), async {
        sidefx::with_policy(made.clone(), async {
            let _ = call(push, json!({"branch": "main"}), &ran).await;
            let _ = call(write, json!({"path": "a.txt"}), &ran).await;
            let shadowed = DispatchContext::new("planner").tier(Tier::Shadow);
            let _ = sidefx::with_dispatch(shadowed, call(push, json!({"branch": "dev"}), &ran)).await;
        })
        .await;
    })
    .await;
    assert_eq!(ran.load(Ordering::SeqCst), 0);

    let same = sidefx::replay(log.as_ref(), &made, &ReplayFilter::default())
        .await
        .unwrap();
    assert_eq!((same.total, same.changed, same.unchanged), (3, 0, 3), "{same:#?}");

    // A looser candidate: the push under the shadow dispatch context stays shadow.
    let looser = AutonomyPolicy::at_tier(Tier::ActAuto);
    let r = sidefx::replay(log.as_ref(), &looser, &ReplayFilter::default())
        .await
        .unwrap();
    let moves: Vec<(&str, Verdict, Verdict)> = r
        .changes
        .iter()
        .map(|c| (c.builtin.as_str(), c.from, c.to))
        .collect();
    assert_eq!(
        moves,
        [
            (
                "replay_push",
                Verdict::Tier(Tier::Suggest),
                Verdict::Tier(Tier::ActAuto)
            ),
            (
                "replay_write",
                Verdict::RequiresHuman,
                Verdict::Tier(Tier::ActAuto)
            ),
        ]
    );
    assert_eq!((r.changed, r.unchanged, r.newly_human), (2, 1, 0));
}

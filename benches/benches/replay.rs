//! Row "policy replay": `sidefx::replay` of a candidate policy (rows, a `requires_human` list
//! and a path rule) over a log of 100,000 recorded decisions (four builtins, five agents, 80
//! distinct paths, every tier, some refusals for want of a human and some masked paths).
//! Target: ≤ 2 s in release. The counts are checked against an independent computation in
//! `tests/tests/core/replay.rs`; this bench only measures.

use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use sidefx::AutonomyPolicy;
use sidefx::log::{EventLog, LogEvent, MemoryEventLog, Topic};
use sidefx::replay::ReplayFilter;

const N: u64 = 100_000;

async fn log() -> MemoryEventLog {
    let log = MemoryEventLog::new();
    let builtins = [
        ("write_file", "fs.write", true),
        ("exec", "process.exec", false),
        ("git.push", "git.write", false),
        ("delete_file", "fs.delete", true),
    ];
    let tiers = ["shadow", "suggest", "act_with_approval", "act_auto"];
    let mut x: u64 = 14;
    let mut next = |n: u64| {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (x >> 33) % n
    };
    for i in 0..N {
        let (builtin, class, path) = builtins[next(4) as usize];
        let shown = match next(50) {
            0 => "[redacted]".to_owned(),
            n if n % 2 == 0 => format!("/srv/app/src/f{}.rs", next(40)),
            _ => format!("/srv/app/docs/f{}.md", next(40)),
        };
        let resources = if path {
            json!([{"kind": "path", "arg": "path", "value": shown}])
        } else {
            json!([])
        };
        let human = next(10) == 0;
        let tier = tiers[next(4) as usize];
        let payload = json!({
            "agent": format!("a{}", next(5)), "action": class, "autonomy_tier": tier,
            "chain_index": i, "trace_id": format!("t{i}"), "timestamp": "2026-01-01T00:00:00.000Z",
            "metadata": {
                "autonomy": {"enforcement": if human { "needs_human_denied" } else { "shadow_noop" }},
                "builtin": builtin, "action_class": class, "args": {"path": shown},
                "resources": resources, "decided_by": "autonomy_tier",
            }
        });
        let event = LogEvent::new(sidefx::trust::KIND, payload);
        log.append(&Topic::TRUST_GRAPH, event).await.expect("append");
    }
    log
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let log = rt.block_on(log());
    let candidate = AutonomyPolicy::from_json(
        r#"{"autonomy_tier": "suggest", "agent_tiers": {"a1": "shadow"},
            "action_tiers": {"exec": "act_with_approval"}, "requires_human_agents": ["a4"],
            "rules": [{"class": "fs.write", "path": "/srv/app/src/**", "tier": "act_auto"}]}"#,
    )
    .expect("candidate");
    let filter = ReplayFilter::default();
    let start = Instant::now();
    let report = rt
        .block_on(sidefx::replay(&log, &candidate, &filter))
        .expect("replay");
    println!(
        "replay of {N} decisions: {:?} once ({} changed, {} unknown)",
        start.elapsed(),
        report.changed,
        report.unknown
    );
    let mut group = c.benchmark_group("policy_replay");
    group.sample_size(10);
    group.bench_function("100k_decisions", |b| {
        b.iter(|| {
            rt.block_on(sidefx::replay(&log, &candidate, &filter))
                .expect("replay")
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! Row "rules on arguments": deciding one call under a policy of 1,000 rules (300 path globs,
//! 300 command prefixes, 100 URL patterns, 300 plain rules, plus rows), against matching each
//! rule on its own in a loop, in the same group.
//!
//! The measured decision is what a policy does per call once the call's resources are
//! normalised: the rows' answer (`tier_row`) and the strictest applying rule
//! (`Rules::strictest`) over precomputed `CallFacts`. Normalising (lexical and real paths: the
//! file-system calls) is measured separately (`gather_real_path`), and so is the whole
//! `AutonomyPolicy::answer` including it. Calls cycle through path writes, shell lines and
//! URLs, matching and not matching.
//!
//! After criterion's medians, `cargo bench` prints p50/p99 of single calls, each timed alone
//! with a pair of `Instant::now()` (an upper bound: it includes the timer's own cost).

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use sidefx::resource::{Resource, ResourceKind, ResourceValue};
use sidefx::rules::{CallFacts, RuleEnv, Rules};
use sidefx::{AutonomyPolicy, SideEffectAction};
use sidefx_benches::{Percentiles, bench_mode};

const AGENT: &str = "planner";
const WRITE: SideEffectAction = SideEffectAction::new("write_file", "fs.write", "workspace.write_text");
const EXEC: SideEffectAction = SideEffectAction::new("exec", "process.exec", "process.exec");
const POST: SideEffectAction = SideEffectAction::new("http_post", "network.http", "network.http");

const TIERS: [&str; 4] = ["shadow", "suggest", "act_with_approval", "act_auto"];

/// The 1,000 rules.
fn rules() -> Vec<Value> {
    let mut rules = Vec::new();
    for i in 0..300 {
        let path = match i % 3 {
            0 => format!("src/m{i}/**/*.rs"),
            1 => format!("/srv/data{i}/**"),
            _ => format!("~/.config/app{i}/**"),
        };
        rules.push(json!({"class": "fs.write", "path": path, "tier": TIERS[i % 4]}));
    }
    for i in 0..300 {
        let command = json!([format!("tool{i}"), ["build", "test", "check"]]);
        rules.push(json!({"command": command, "tier": TIERS[(i + 1) % 4]}));
    }
    for i in 0..100 {
        let url = format!("https://api{i}.example.com/v1/repos/**");
        rules.push(json!({"builtin": "http_post", "url": url, "tier": TIERS[(i + 2) % 4]}));
    }
    for i in 0..300 {
        rules.push(json!({"agent": format!("agent{i}"), "builtin": format!("b{i}"), "tier": TIERS[i % 4]}));
    }
    rules
}

fn policy(ws: &Path) -> AutonomyPolicy {
    AutonomyPolicy::from_value(&json!({
        "autonomy_tier": "act_with_approval",
        "workspace": ws,
        "action_tiers": {"fs.delete": "suggest", "git.write": "shadow"},
        "agent_tiers": {"intern": "shadow"},
        "rules": rules(),
    }))
    .expect("the bench policy loads")
}

/// The calls decided, cycling: (action, resources).
fn calls() -> Vec<(SideEffectAction, Vec<Resource>)> {
    let path = |p: &str| {
        vec![Resource::new(
            ResourceKind::Path,
            "path",
            ResourceValue::Path(p.into()),
        )]
    };
    let line = |l: &str| {
        vec![Resource::new(
            ResourceKind::Command,
            "line",
            ResourceValue::ShellLine(l.into()),
        )]
    };
    let url = |u: &str| {
        vec![Resource::new(
            ResourceKind::Url,
            "url",
            ResourceValue::Url(u.into()),
        )]
    };
    vec![
        (WRITE, path("src/m30/a/b/lib.rs")),
        (WRITE, path("src/m31/x.txt")),
        (WRITE, path("/srv/data100/db/file")),
        (WRITE, path("notes/../src/m60/main.rs")),
        (EXEC, line("tool7 test -p x")),
        (EXEC, line("tool8 build && tool9 check --all")),
        (EXEC, line("tool10 test > out.txt")),
        (POST, url("https://api5.example.com/v1/repos/acme/x")),
        (POST, url("https://API42.example.com./v1/other")),
        (POST, url("https://user@api7.example.com/v1/repos/a")),
    ]
}

/// A workspace with real directories, so normalising paths does real `lstat`s.
fn workspace() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(ws.join("src/m30/a/b")).expect("dirs");
    (dir, ws)
}

struct Setup {
    policy: AutonomyPolicy,
    env: RuleEnv,
    calls: Vec<(SideEffectAction, Vec<Resource>)>,
    facts: Vec<CallFacts>,
    singles: Vec<Rules>,
}

fn setup(ws: &Path) -> Setup {
    let policy = policy(ws);
    let env = RuleEnv::new().workspace(ws).home("/home/bench");
    let calls = calls();
    let anchors = env.anchors(None);
    let facts = calls
        .iter()
        .map(|(_, r)| CallFacts::gather(r, &anchors))
        .collect();
    // The baseline: each rule compiled on its own, matched one after another.
    let singles = rules()
        .into_iter()
        .map(|r| Rules::from_value(&json!([r])).expect("one rule"))
        .collect();
    Setup {
        policy,
        env,
        calls,
        facts,
        singles,
    }
}

/// One decision over precomputed facts: rows, then the strictest rule.
#[inline]
fn decide(s: &Setup, k: usize) -> Option<usize> {
    let (action, _) = &s.calls[k];
    let rows = s.policy.tier_row(AGENT, action).map(|(t, _)| t);
    s.policy.rules().strictest(AGENT, action, &s.facts[k], rows)
}

/// The same decision, matching every rule on its own in a loop.
#[inline]
fn decide_each(s: &Setup, k: usize) -> usize {
    let (action, _) = &s.calls[k];
    let rows = s.policy.tier_row(AGENT, action).map(|(t, _)| t);
    s.singles
        .iter()
        .filter(|r| !r.matching(AGENT, action, &s.facts[k], rows).is_empty())
        .count()
}

fn bench(c: &mut Criterion) {
    let (_dir, ws) = workspace();
    let s = setup(&ws);
    assert_eq!(s.policy.rules().len(), 1_000);
    let n = s.calls.len();
    let mut group = c.benchmark_group("rules_1000");
    let mut k = 0usize;
    let mut next = move || {
        k = if k + 1 == n { 0 } else { k + 1 };
        k
    };
    group.bench_function("decide_precomputed_facts", |b| {
        b.iter(|| black_box(decide(&s, black_box(next()))))
    });
    group.bench_function("each_rule_in_a_loop", |b| {
        b.iter(|| black_box(decide_each(&s, black_box(next()))))
    });
    let anchors = s.env.anchors(None);
    group.bench_function("gather_real_path", |b| {
        b.iter(|| black_box(CallFacts::gather(black_box(&s.calls[0].1), &anchors)))
    });
    group.bench_function("answer_with_syscalls", |b| {
        b.iter(|| {
            let (action, resources) = &s.calls[black_box(next())];
            black_box(s.policy.answer(AGENT, action, resources, &s.env))
        })
    });
    group.finish();
    if bench_mode() {
        percentiles(&s);
    }
}

fn single<T>(mut f: impl FnMut(usize) -> T, n: usize, count: usize) -> Percentiles {
    let mut samples: Vec<Duration> = (0..count)
        .map(|i| {
            let k = i % n;
            let t = Instant::now();
            black_box(f(black_box(k)));
            t.elapsed()
        })
        .collect();
    Percentiles::of(&mut samples)
}

fn percentiles(s: &Setup) {
    let n = s.calls.len();
    println!("\nrules_1000 percentiles (single calls, one timer pair each)");
    single(|_| (), 1, 200_000).print("timer (empty Instant pair)");
    single(|k| decide(s, k), n, 200_000).print("decide_precomputed_facts");
    for k in 0..n {
        single(|_| decide(s, k), 1, 20_000).print(&format!("  decide call {k} ({})", s.calls[k].0.class));
    }
    single(|k| decide_each(s, k), n, 20_000).print("each_rule_in_a_loop");
    let anchors = s.env.anchors(None);
    single(|_| CallFacts::gather(&s.calls[0].1, &anchors), 1, 50_000)
        .print("gather_real_path (one path, 5 components)");
    single(
        |k| s.policy.answer(AGENT, &s.calls[k].0, &s.calls[k].1, &s.env),
        n,
        50_000,
    )
    .print("answer_with_syscalls");
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
}

criterion_group! { name = benches; config = config(); targets = bench }
criterion_main!(benches);

//! Row "resolution": tier resolution for (agent, action) under a policy of 50, 1,000 and 10,000
//! rules, against cloning the policy per call and then resolving, in the same group.
//!
//! The measured call is `sidefx::resolve(&action)` inside a `with_policy` scope: the task-local
//! read, the identity and tier resolution (seven-row order, tighten-only across the stack) and
//! the owned `Resolved` it returns. Queries cycle through every builtin the policy names in a
//! shuffled order; the rules hit every level of the order (see `sidefx_benches::policy`).
//!
//! After criterion's medians, `cargo bench` also prints p50/p99 per size, measured two ways:
//! * `batched`: 20,000 batches of 32 calls, each batch timed with `Instant`; the percentiles are
//!   over the per-call mean of each batch (timer cost amortized over 32 calls);
//! * `single`: 200,000 calls each timed alone with a pair of `Instant::now()`; an upper bound,
//!   as it includes the timer's own cost (printed as `timer`).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sidefx::{AutonomyPolicy, SideEffectAction};
use sidefx_benches::{
    AGENT, Percentiles, SIZES, actions, bench_mode, builtin_names, entries, policy, rule_count, shuffled,
};

struct Case {
    rules: usize,
    policy: Arc<AutonomyPolicy>,
    queries: Vec<SideEffectAction>,
}

fn cases() -> Vec<Case> {
    SIZES
        .iter()
        .map(|&n| {
            let acts = actions(&entries(&builtin_names(n)));
            let policy = Arc::new(policy(n, &acts, false));
            let queries = shuffled(n).into_iter().map(|i| acts[i]).collect();
            Case {
                rules: rule_count(&policy),
                policy,
                queries,
            }
        })
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
}

/// Runs `f` inside a task-local scope holding `policy`.
fn in_scope<T>(rt: &tokio::runtime::Runtime, policy: &Arc<AutonomyPolicy>, f: impl FnOnce() -> T) -> T {
    rt.block_on(sidefx::with_policy(policy.clone(), async move { f() }))
}

fn bench(c: &mut Criterion) {
    let rt = runtime();
    let cases = cases();
    let mut group = c.benchmark_group("resolution");
    group.throughput(Throughput::Elements(1));
    for case in &cases {
        let n = case.queries.len();
        group.bench_with_input(BenchmarkId::new("sidefx_resolve", n), &n, |b, _| {
            b.iter_custom(|iters| {
                in_scope(&rt, &case.policy, || {
                    let mut k = 0usize;
                    let start = Instant::now();
                    for _ in 0..iters {
                        let action = &case.queries[k];
                        k = if k + 1 == n { 0 } else { k + 1 };
                        black_box(sidefx::resolve(black_box(action)).expect("resolves"));
                    }
                    start.elapsed()
                })
            });
        });
        group.bench_with_input(BenchmarkId::new("clone_then_resolve", n), &n, |b, _| {
            let mut k = 0usize;
            b.iter(|| {
                let action = &case.queries[k];
                k = if k + 1 == n { 0 } else { k + 1 };
                let cloned: AutonomyPolicy = black_box(&*case.policy).clone();
                black_box(cloned.tier_for(AGENT, black_box(action)))
            });
        });
    }
    group.finish();

    if bench_mode() {
        percentiles(&rt, &cases);
    }
}

const BATCH: usize = 32;
const BATCHES: usize = 20_000;
const SINGLES: usize = 200_000;

fn percentiles(rt: &tokio::runtime::Runtime, cases: &[Case]) {
    for case in cases {
        println!("policy for {} builtins: {} rules", case.queries.len(), case.rules);
    }
    println!(
        "\nresolution percentiles (batched: per-call mean of {BATCH}-call batches; single: one call per timer pair)"
    );
    let mut timer: Vec<Duration> = (0..SINGLES)
        .map(|_| {
            let t = Instant::now();
            black_box(());
            t.elapsed()
        })
        .collect();
    Percentiles::of(&mut timer).print("timer (empty Instant pair)");
    for case in cases {
        let n = case.queries.len();
        let (mut batched, mut single) = in_scope(rt, &case.policy, || {
            let mut k = 0usize;
            let mut next = || {
                let a = &case.queries[k];
                k = if k + 1 == n { 0 } else { k + 1 };
                a
            };
            let batched: Vec<Duration> = (0..BATCHES)
                .map(|_| {
                    let t = Instant::now();
                    for _ in 0..BATCH {
                        black_box(sidefx::resolve(black_box(next())).expect("resolves"));
                    }
                    t.elapsed() / BATCH as u32
                })
                .collect();
            let single: Vec<Duration> = (0..SINGLES)
                .map(|_| {
                    let a = next();
                    let t = Instant::now();
                    black_box(sidefx::resolve(black_box(a)).expect("resolves"));
                    t.elapsed()
                })
                .collect();
            (batched, single)
        });
        Percentiles::of(&mut batched).print(&format!("sidefx_resolve/{} batched", case.queries.len()));
        Percentiles::of(&mut single).print(&format!("sidefx_resolve/{} single", case.queries.len()));

        // The baseline clones thousands of strings per call: time each call alone, within a budget.
        let budget = Instant::now();
        let mut base = Vec::new();
        let mut k = 0usize;
        while base.len() < 20_000 && budget.elapsed() < Duration::from_millis(1500) {
            let a = &case.queries[k];
            k = if k + 1 == n { 0 } else { k + 1 };
            let t = Instant::now();
            let cloned: AutonomyPolicy = black_box(&*case.policy).clone();
            black_box(cloned.tier_for(AGENT, black_box(a)));
            base.push(t.elapsed());
        }
        Percentiles::of(&mut base).print(&format!("clone_then_resolve/{} single", case.queries.len()));
    }
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
}

criterion_group! { name = benches; config = config(); targets = bench }
criterion_main!(benches);

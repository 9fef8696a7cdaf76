//! Rows "no context" and "act_auto scope": what `#[side_effect]` adds to a call that runs.
//!
//! * no context: the annotated `async fn` called with no policy, dispatch context or event log
//!   active (outside any task-local scope), against the same `async fn` without the attribute;
//! * act_auto scope: the same two calls inside a `with_policy` scope whose policy holds 1,000
//!   action rules (every level of the resolution order) and resolves the call to `act_auto`.
//!
//! The futures never suspend, so each is driven by a single poll with a no-op waker
//! (`sidefx_benches::run_ready`): no executor cost hides the difference. Inside the scope the
//! whole timed loop runs in one task-local scope, exactly as calls made by an agent task do.
//! No `tracing` subscriber is installed (the decision event costs what a disabled callsite
//! costs).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sidefx::{AutonomyPolicy, Tier};
use sidefx_benches::{actions, builtin_names, entries, policy_json, rule_count, run_ready};

/// The error type of both builtins.
#[derive(Debug)]
pub struct ToolError(pub sidefx::Error);

impl From<sidefx::Error> for ToolError {
    fn from(e: sidefx::Error) -> Self {
        ToolError(e)
    }
}

#[sidefx::side_effect(class = "store.write")]
async fn annotated_store_set(key: u64, value: u64) -> Result<u64, ToolError> {
    Ok(black_box(key) ^ black_box(value))
}

async fn bare_store_set(key: u64, value: u64) -> Result<u64, ToolError> {
    Ok(black_box(key) ^ black_box(value))
}

fn act_auto_policy() -> Arc<AutonomyPolicy> {
    let acts = actions(&entries(&builtin_names(1_000)));
    let mut p = policy_json(1_000, &acts, true);
    p["action_tiers"]["annotated_store_set"] = "act_auto".into();
    Arc::new(AutonomyPolicy::from_value(&p).expect("valid policy"))
}

fn bench(c: &mut Criterion) {
    let policy = act_auto_policy();
    // The scope must really resolve the call to act_auto, through the rules.
    let action = sidefx::registry::lookup("annotated_store_set")
        .expect("registered")
        .action();
    let resolved = run_ready(sidefx::with_policy(policy.clone(), async {
        sidefx::resolve(&action)
    }));
    assert_eq!(resolved.expect("resolves").tier, Tier::ActAuto);

    let mut group = c.benchmark_group("hot_path");
    group.throughput(Throughput::Elements(1));

    group.bench_function("no_context/bare_fn", |b| {
        let mut i = 0u64;
        b.iter(|| {
            i += 1;
            black_box(run_ready(bare_store_set(black_box(i), 7)).is_ok())
        });
    });
    group.bench_function("no_context/side_effect", |b| {
        let mut i = 0u64;
        b.iter(|| {
            i += 1;
            black_box(run_ready(annotated_store_set(black_box(i), 7)).is_ok())
        });
    });

    let label = format!("act_auto_scope_{}_rules", rule_count(&policy));
    group.bench_function(format!("{label}/bare_fn"), |b| {
        b.iter_custom(|iters| {
            run_ready(sidefx::with_policy(policy.clone(), async move {
                let start = Instant::now();
                for i in 0..iters {
                    black_box(bare_store_set(black_box(i), 7).await.is_ok());
                }
                start.elapsed()
            }))
        });
    });
    group.bench_function(format!("{label}/side_effect"), |b| {
        b.iter_custom(|iters| {
            run_ready(sidefx::with_policy(policy.clone(), async move {
                let start = Instant::now();
                for i in 0..iters {
                    black_box(annotated_store_set(black_box(i), 7).await.is_ok());
                }
                start.elapsed()
            }))
        });
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
}

criterion_group! { name = benches; config = config(); targets = bench }
criterion_main!(benches);

//! Instructions per call of the hot-path rows, for a shared machine where wall-clock numbers are
//! noise: runs one variant a given number of times, so that two runs under callgrind give the
//! cost of one call exactly (`(Ir(2n) - Ir(n)) / n` cancels the set-up):
//!
//! ```sh
//! cargo build --profile bench -p sidefx-benches --example instructions
//! for n in 1000000 2000000; do
//!   valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.$n \
//!     target/release/examples/instructions side_effect $n 2>&1 | grep refs
//! done
//! ```
//!
//! Variants: `bare_fn`, `side_effect` (no context), `scope_bare_fn`, `scope_side_effect` (the
//! 1,009-rule act_auto policy of `benches/hot_path.rs`), `index_10000`, `global_10000`
//! (`Registry::lookup` and the process-wide `registry::lookup` over 10,000 names, as in
//! `benches/lookup.rs`).

use std::hint::black_box;
use std::sync::Arc;

use sidefx::AutonomyPolicy;
use sidefx::registry::Registry;
use sidefx_benches::{actions, builtin_names, entries, policy_json, run_ready, shuffled};

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

fn lookups(global: bool, n: u64) {
    let names = builtin_names(10_000);
    let entries = entries(&names);
    let queries: Vec<&'static str> = shuffled(names.len()).into_iter().map(|i| names[i]).collect();
    let registry = Registry::from_entries(entries.iter().copied());
    for e in &entries {
        sidefx::registry::register(*e).expect("valid entry");
    }
    // One warm round, so that the snapshot is made before counting starts.
    for q in &queries {
        black_box(sidefx::registry::lookup(q));
    }
    let mut k = 0usize;
    for _ in 0..n {
        let name = black_box(queries[k]);
        k = if k + 1 == queries.len() { 0 } else { k + 1 };
        let class = match global {
            true => sidefx::registry::lookup(name).map(|e| e.class),
            false => registry.lookup(name).map(|e| e.class),
        };
        black_box(class);
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let variant = args.next().unwrap_or_default();
    let n: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    match variant.as_str() {
        "bare_fn" => (0..n).for_each(|i| {
            black_box(run_ready(bare_store_set(black_box(i), 7)).is_ok());
        }),
        "side_effect" => (0..n).for_each(|i| {
            black_box(run_ready(annotated_store_set(black_box(i), 7)).is_ok());
        }),
        "scope_bare_fn" => run_ready(sidefx::with_policy(act_auto_policy(), async move {
            for i in 0..n {
                black_box(bare_store_set(black_box(i), 7).await.is_ok());
            }
        })),
        "scope_side_effect" => run_ready(sidefx::with_policy(act_auto_policy(), async move {
            for i in 0..n {
                black_box(annotated_store_set(black_box(i), 7).await.is_ok());
            }
        })),
        "index_10000" => lookups(false, n),
        "global_10000" => lookups(true, n),
        other => {
            eprintln!(
                "unknown variant `{other}`; use bare_fn, side_effect, scope_bare_fn, scope_side_effect, index_10000 or global_10000"
            );
            std::process::exit(2);
        }
    }
}

//! Shared helpers of the sidefx benchmarks (`cargo bench -p sidefx-benches`): realistic builtin
//! names, policies of a given size, a minimal poll loop for futures that never suspend, and
//! latency percentiles. See `BENCHMARKS.md` at the repository root for the results.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use sidefx::registry::BuiltinInfo;
use sidefx::{AutonomyPolicy, SideEffectAction, Tier};

/// The sizes the lookup and resolution rows are measured at.
pub const SIZES: [usize; 3] = [50, 1_000, 10_000];

const VERBS: [&str; 12] = [
    "write", "read", "append", "delete", "create", "remove", "fetch", "push", "send", "exec", "store", "set",
];
const NOUNS: [&str; 10] = [
    "file",
    "dir",
    "record",
    "worktree",
    "message",
    "blob",
    "state",
    "metadata",
    "checkpoint",
    "entry",
];
const CLASSES: [(&str, &str); 8] = [
    ("fs.write", "workspace.write_text"),
    ("fs.delete", "workspace.delete"),
    ("process.exec", "process.exec"),
    ("store.write", "store.write"),
    ("metadata.write", "metadata.write"),
    ("git.write", "git.write"),
    ("network.sse.write", "network.sse"),
    ("checkpoint.write", "checkpoint.write"),
];

/// `n` distinct builtin names shaped like real ones (`write_file`, `git.push_worktree_17`, ...),
/// of varied lengths, so neither a hash nor a string comparison gets an unrealistically easy
/// input. The catalogue's own builtin names come first.
pub fn builtin_names(n: usize) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = sidefx::catalogue::CLASSES
        .iter()
        .flat_map(|c| c.builtins.iter().copied())
        .take(n)
        .collect();
    let mut i = 0usize;
    while names.len() < n {
        let verb = VERBS[i % VERBS.len()];
        let noun = NOUNS[(i / VERBS.len()) % NOUNS.len()];
        let name = match i % 3 {
            0 => format!("{verb}_{noun}_{i}"),
            1 => format!("tool.{noun}.{verb}_{i}"),
            _ => format!("{noun}_{verb}{i}"),
        };
        names.push(Box::leak(name.into_boxed_str()));
        i += 1;
    }
    names
}

/// Registry entries for `names`, their classes taken round-robin from the catalogue.
pub fn entries(names: &[&'static str]) -> Vec<BuiltinInfo> {
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let (class, cap) = CLASSES[i % CLASSES.len()];
            BuiltinInfo::new(name, class, cap)
        })
        .collect()
}

/// The action of each entry.
pub fn actions(entries: &[BuiltinInfo]) -> Vec<SideEffectAction> {
    entries.iter().map(BuiltinInfo::action).collect()
}

/// A deterministic permutation of `0..n` (a linear congruential walk), so queries visit every
/// name once per round in an order the branch predictor cannot learn.
pub fn shuffled(n: usize) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).collect();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in (1..n).rev() {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let j = ((x >> 33) as usize) % (i + 1);
        v.swap(i, j);
    }
    v
}

/// The agent the resolution benchmarks resolve for.
pub const AGENT: &str = "planner";

/// A policy with `rules` rules over `actions`, spread across every level of the resolution
/// order: a tenth are `agent_action_tiers` rows for [`AGENT`] and for other agents, a tenth
/// `agent_tiers` rows for other agents, the rest `action_tiers` rows keyed by builtin name; the
/// classes get `action_tiers` rows too, and `autonomy_tier` is the fallback. The tiers are
/// `act_auto` when `all_auto`, else mixed.
pub fn policy(rules: usize, actions: &[SideEffectAction], all_auto: bool) -> AutonomyPolicy {
    AutonomyPolicy::from_value(&policy_json(rules, actions, all_auto)).expect("the bench policy is valid")
}

/// The JSON text form of [`policy`], for benchmarks that add rows of their own before parsing.
pub fn policy_json(rules: usize, actions: &[SideEffectAction], all_auto: bool) -> serde_json::Value {
    use serde_json::{Map, Value, json};
    let tier = |i: usize| {
        let t = if all_auto {
            Tier::ActAuto
        } else {
            [Tier::ActAuto, Tier::Suggest, Tier::Shadow, Tier::ActWithApproval][i % 4]
        };
        Value::String(t.to_string())
    };
    let (mut per_agent, mut agents, mut acts) = (Map::new(), Map::new(), Map::new());
    for i in 0..rules {
        let action = actions[i % actions.len()];
        match i % 10 {
            0 => {
                let agent = if i.is_multiple_of(20) {
                    AGENT.to_owned()
                } else {
                    format!("agent-{i}")
                };
                let row = per_agent.entry(agent).or_insert_with(|| json!({}));
                row[action.builtin] = tier(i);
            }
            1 => {
                agents.insert(format!("agent-{i}"), tier(i));
            }
            _ => {
                acts.insert(action.builtin.to_owned(), tier(i));
            }
        }
    }
    for (class, _) in CLASSES {
        acts.insert(class.to_owned(), tier(0));
    }
    json!({
        "agent_id": AGENT,
        "autonomy_tier": tier(1),
        "agent_action_tiers": per_agent,
        "agent_tiers": agents,
        "action_tiers": acts,
    })
}

/// Number of rules a policy holds (every row of every map).
pub fn rule_count(p: &AutonomyPolicy) -> usize {
    let v = serde_json::to_value(p).expect("a policy serialises");
    let len = |k: &str| v[k].as_object().map_or(0, serde_json::Map::len);
    let nested = v["agent_action_tiers"].as_object().map_or(0, |m| {
        m.values()
            .filter_map(|r| r.as_object())
            .map(serde_json::Map::len)
            .sum()
    });
    len("action_tiers") + len("agent_tiers") + nested
}

/// Drives a future that never suspends (no I/O, no timers) to completion with a no-op waker:
/// the cheapest honest way to call an `async fn` in a nanosecond benchmark.
///
/// # Panics
/// If the future returns `Pending` (it was expected never to suspend).
#[inline]
pub fn run_ready<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("a benchmarked future suspended; use a runtime for it"),
    }
}

/// Whether the benchmark binary runs for real (`cargo bench`) rather than as a smoke test
/// (`cargo test --benches`): criterion passes `--bench` only in the first case.
pub fn bench_mode() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// Percentiles of a set of latency samples.
#[derive(Debug, Clone, Copy)]
pub struct Percentiles {
    /// Samples measured.
    pub n: usize,
    /// Fastest sample.
    pub min: Duration,
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Slowest sample.
    pub max: Duration,
}

impl Percentiles {
    /// Nearest-rank percentiles of `samples` (sorted in place).
    ///
    /// # Panics
    /// If `samples` is empty.
    pub fn of(samples: &mut [Duration]) -> Percentiles {
        assert!(!samples.is_empty(), "no samples");
        samples.sort_unstable();
        let at = |q: f64| samples[(((samples.len() as f64) * q).ceil() as usize).clamp(1, samples.len()) - 1];
        Percentiles {
            n: samples.len(),
            min: samples[0],
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            max: samples[samples.len() - 1],
        }
    }

    /// Prints one line: `label: n=.. min=.. p50=.. p90=.. p99=.. max=..`.
    pub fn print(&self, label: &str) {
        println!(
            "{label}: n={} min={:?} p50={:?} p90={:?} p99={:?} max={:?}",
            self.n, self.min, self.p50, self.p90, self.p99, self.max
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_distinct() {
        let names = builtin_names(10_000);
        let set: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(set.len(), names.len());
    }

    #[test]
    fn policy_has_the_asked_rule_count() {
        let names = builtin_names(1_000);
        let acts = actions(&entries(&names));
        let p = policy(1_000, &acts, false);
        assert!(rule_count(&p) >= 1_000, "{}", rule_count(&p));
        let v = serde_json::to_value(&p).expect("serialises");
        assert!(v["agent_action_tiers"].get(AGENT).is_some());
    }

    #[test]
    fn percentiles_nearest_rank() {
        let mut s: Vec<Duration> = (1..=100).map(Duration::from_nanos).collect();
        let p = Percentiles::of(&mut s);
        assert_eq!(
            (p.p50, p.p99, p.max),
            (
                Duration::from_nanos(50),
                Duration::from_nanos(99),
                Duration::from_nanos(100)
            )
        );
    }
}

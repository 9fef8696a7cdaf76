//! Row "lookup": classifier lookup by builtin name with 50, 1,000 and 10,000 registered
//! builtins, against a linear chain of string comparisons over the same names (what a runtime
//! that classifies with `if name == "write_file" || ...` does), in the same group.
//!
//! Each iteration looks up the next name of a fixed shuffled order that visits every registered
//! name once per round, so the average covers hits at every position of the chain.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sidefx::registry::{BuiltinInfo, Registry};
use sidefx_benches::{SIZES, builtin_names, entries, shuffled};

fn linear_chain(entries: &[BuiltinInfo], name: &str) -> Option<&'static str> {
    entries.iter().find(|e| e.name == name).map(|e| e.class)
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("lookup");
    let mut registered_globally = 0usize;
    for n in SIZES {
        let names = builtin_names(n);
        let entries = entries(&names);
        let queries: Vec<&'static str> = shuffled(n).into_iter().map(|i| names[i]).collect();
        let registry = Registry::from_entries(entries.iter().copied());
        // The process-wide registry only grows, so the sizes are visited in increasing order.
        for e in &entries[registered_globally..] {
            sidefx::registry::register(*e).expect("valid entry");
        }
        registered_globally = n;
        group.throughput(Throughput::Elements(1));

        group.bench_with_input(BenchmarkId::new("sidefx_index", n), &n, |b, _| {
            let mut k = 0usize;
            b.iter(|| {
                let name = queries[k];
                k = if k + 1 == queries.len() { 0 } else { k + 1 };
                black_box(registry.lookup(black_box(name)).map(|e| e.class))
            });
        });
        group.bench_with_input(BenchmarkId::new("sidefx_global", n), &n, |b, _| {
            let mut k = 0usize;
            b.iter(|| {
                let name = queries[k];
                k = if k + 1 == queries.len() { 0 } else { k + 1 };
                black_box(sidefx::registry::lookup(black_box(name)).map(|e| e.class))
            });
        });
        group.bench_with_input(BenchmarkId::new("linear_chain", n), &n, |b, _| {
            let mut k = 0usize;
            b.iter(|| {
                let name = queries[k];
                k = if k + 1 == queries.len() { 0 } else { k + 1 };
                black_box(linear_chain(black_box(&entries), black_box(name)))
            });
        });
    }
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

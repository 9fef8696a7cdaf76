//! Rows "shadow, memory log" and "shadow, SQLite log": a shadow decision end to end — the
//! annotated call is refused (`SIDEFX-SKIPPED`), a `dispatch_proposed` event is appended to
//! `trigger.outbox` and a hash-chained trust record (`denied` / `shadow_noop`) to `trust_graph`.
//!
//! * memory: one task on a current-thread runtime (one core), `MemoryEventLog::bounded(10_000)`
//!   (a long-running host keeps a window; the chain head is all a decision reads). Measured
//!   through `#[side_effect]` and through the by-name entry point `sidefx::enforce`.
//! * SQLite: `SqliteEventLog` in a temporary directory with its only durability mode, WAL +
//!   `synchronous = FULL` (every append is fsynced before it returns, appends from concurrent
//!   callers share one commit). Measured with 1 caller and with 64 concurrent callers (tasks on
//!   a 2-worker runtime, scope propagated with `sidefx::spawn`), each making calls back to back.
//!
//! * PostgreSQL: `PostgresEventLog` on the server of `SIDEFX_TEST_POSTGRES` (run the benches under
//!   `scripts/with-postgres`: a local throwaway cluster, default `synchronous_commit = on`), the
//!   same 1 and 64 callers; skipped with a notice when the variable is unset.
//!
//! Throughput is criterion's `elements/s` (one element = one decision). The memory group also
//! measures SHA-256 of 1 KiB (the `sha2` crate, which uses the CPU's SHA extensions when it has
//! them), the baseline a decision is compared against in the same run.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sidefx::log::{EventLog, MemoryEventLog, PostgresEventLog, SqliteEventLog};
use sidefx::{AutonomyPolicy, Tier};

/// The error type of the builtin.
#[derive(Debug)]
pub struct ToolError(pub sidefx::Error);

impl From<sidefx::Error> for ToolError {
    fn from(e: sidefx::Error) -> Self {
        ToolError(e)
    }
}

#[sidefx::side_effect(class = "fs.write", path(path), redact(text))]
async fn write_file(path: &str, text: &str) -> Result<(), ToolError> {
    std::fs::write(path, text).map_err(|e| ToolError(sidefx::Error::Config(e.to_string())))
}

fn shadow_policy() -> Arc<AutonomyPolicy> {
    Arc::new(AutonomyPolicy::at_tier(Tier::Shadow).for_agent("planner"))
}

/// One shadow decision through the attribute; panics if the body ran.
async fn decide_once(i: u64) {
    let path = if i.is_multiple_of(2) {
        "notes/a.txt"
    } else {
        "notes/b.txt"
    };
    match write_file(black_box(path), "draft").await {
        Err(ToolError(e)) if e.is_skipped() => {}
        other => panic!("expected a shadow refusal, got {other:?}"),
    }
}

/// `iters` decisions back to back in one task, inside the scope.
async fn sequential(log: Arc<dyn EventLog>, iters: u64) -> Duration {
    sidefx::with_event_log(
        log,
        sidefx::with_policy(shadow_policy(), async move {
            let start = Instant::now();
            for i in 0..iters {
                decide_once(i).await;
            }
            start.elapsed()
        }),
    )
    .await
}

/// `iters` decisions spread over `callers` concurrent tasks sharing the scope.
async fn concurrent(log: Arc<dyn EventLog>, iters: u64, callers: u64) -> Duration {
    sidefx::with_event_log(
        log,
        sidefx::with_policy(shadow_policy(), async move {
            let start = Instant::now();
            let tasks: Vec<_> = (0..callers)
                .map(|c| {
                    let n = iters / callers + u64::from(c < iters % callers);
                    sidefx::spawn(async move {
                        for i in 0..n {
                            decide_once(i).await;
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.expect("caller task");
            }
            start.elapsed()
        }),
    )
    .await
}

fn bench(c: &mut Criterion) {
    let one_core = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("shadow_memory");
    group.throughput(Throughput::Elements(1));
    let kib = vec![0x5a_u8; 1024];
    group.bench_function("sha256_1kib", |b| {
        b.iter(|| black_box(<sha2::Sha256 as sha2::Digest>::digest(black_box(&kib))));
    });
    let memory: Arc<dyn EventLog> = Arc::new(MemoryEventLog::bounded(10_000));
    group.bench_function("side_effect", |b| {
        b.iter_custom(|iters| one_core.block_on(sequential(memory.clone(), iters)));
    });
    let args = serde_json::json!({"path": "notes/a.txt", "text": "[redacted]"});
    group.bench_function("enforce_by_name", |b| {
        b.iter_custom(|iters| {
            one_core.block_on(sidefx::with_event_log(
                memory.clone(),
                sidefx::with_policy(shadow_policy(), async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let d = sidefx::enforce("write_file", black_box(&args)).await;
                        assert!(matches!(d, Ok(sidefx::Decision::Skip { .. })));
                    }
                    start.elapsed()
                }),
            ))
        });
    });
    group.finish();
    one_core.block_on(async {
        let v = sidefx::trust::verify_chain(memory.as_ref())
            .await
            .expect("verify");
        assert!(v.is_valid(), "memory trust chain broken: {v:?}");
    });

    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite: Arc<dyn EventLog> =
        Arc::new(SqliteEventLog::open(dir.path().join("events.db")).expect("open"));
    let multi = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("shadow_sqlite");
    group.throughput(Throughput::Elements(1));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("side_effect/1_caller", |b| {
        b.iter_custom(|iters| multi.block_on(sequential(sqlite.clone(), iters)));
    });
    group.bench_function("side_effect/64_callers", |b| {
        b.iter_custom(|iters| multi.block_on(concurrent(sqlite.clone(), iters, 64)));
    });
    group.finish();
    multi.block_on(async {
        let v = sidefx::trust::verify_chain(sqlite.as_ref())
            .await
            .expect("verify");
        assert!(v.is_valid(), "SQLite trust chain broken: {v:?}");
    });

    let Some(url) = std::env::var("SIDEFX_TEST_POSTGRES")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        println!("shadow_postgres: skipped (SIDEFX_TEST_POSTGRES is unset; run under scripts/with-postgres)");
        return;
    };
    let postgres: Arc<dyn EventLog> = Arc::new(PostgresEventLog::open(&url).expect("open"));
    let mut group = c.benchmark_group("shadow_postgres");
    group.throughput(Throughput::Elements(1));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("side_effect/1_caller", |b| {
        b.iter_custom(|iters| multi.block_on(sequential(postgres.clone(), iters)));
    });
    group.bench_function("side_effect/64_callers", |b| {
        b.iter_custom(|iters| multi.block_on(concurrent(postgres.clone(), iters, 64)));
    });
    group.finish();
    multi.block_on(async {
        let v = sidefx::trust::verify_chain(postgres.as_ref())
            .await
            .expect("verify");
        assert!(v.is_valid(), "PostgreSQL trust chain broken: {v:?}");
    });
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
}

criterion_group! { name = benches; config = config(); targets = bench }
criterion_main!(benches);

//! Row "approval wake": from `respond` to the waiting `act_with_approval` call running its body.
//!
//! * in process: a task calls an annotated builtin under `act_with_approval` with a
//!   `MemoryEventLog` (fresh per sample) and blocks in `approval::wait`; once the request is
//!   filed and the caller has parked (200 µs later), the bench task calls
//!   `approval::respond(.., approved)`. Latency = the body's first `Instant::now()` minus the
//!   instant just before `respond` (so it includes `respond` itself: recording the response,
//!   settling the decision, waking the waiter, the trust record, and the task switch). Runtime:
//!   tokio multi-thread, 2 workers. Criterion reports the mean-based estimate of the sum;
//!   percentiles are printed from every sample.
//! * across processes: the same call with a `SqliteEventLog` file; after the request is filed
//!   the bench waits 120 ms (so the waiter's cross-process poll backoff, 1 ms doubling to 50 ms,
//!   has reached its ceiling, as it has for any human reviewer), then spawns a respond process:
//!   - `helper`: `sidefx-bench-respond PATH ID` (this package), which prints the wall clock
//!     just before its `respond`; latency = the body's wall clock minus that reading;
//!   - `cli`: the real reviewer CLI, `sidefx approvals approve ID --reviewer R --log PATH`;
//!     latency = from spawning the process to the body running (includes process start-up and
//!     opening the log).
//! * across processes on PostgreSQL (when `SIDEFX_TEST_POSTGRES` is set, as under
//!   `scripts/with-postgres`): the same, the waiter woken by LISTEN/NOTIFY.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use criterion::{Criterion, criterion_group, criterion_main};
use sidefx::log::{EventLog, MemoryEventLog, SqliteEventLog, Topic};
use sidefx::{AutonomyPolicy, Tier};
use sidefx_benches::{Percentiles, bench_mode};

/// The error type of the builtin.
#[derive(Debug)]
pub struct ToolError(pub sidefx::Error);

impl From<sidefx::Error> for ToolError {
    fn from(e: sidefx::Error) -> Self {
        ToolError(e)
    }
}

/// When the body ran: a monotonic instant and the wall clock.
type Ran = (Instant, SystemTime);

#[sidefx::side_effect(class = "git.write", name = "git.push")]
async fn git_push(remote: &str, branch: &str) -> Result<Ran, ToolError> {
    let ran = (Instant::now(), SystemTime::now());
    black_box((remote, branch));
    Ok(ran)
}

fn approval_policy() -> Arc<AutonomyPolicy> {
    Arc::new(AutonomyPolicy::at_tier(Tier::ActWithApproval).for_agent("deployer"))
}

/// Starts the waiting call and returns its handle once its request is filed.
async fn start_waiter(log: Arc<dyn EventLog>) -> (tokio::task::JoinHandle<Ran>, String) {
    let mut sub_from = 0;
    if let Some(last) = log.latest(&Topic::HITL_APPROVALS).await.expect("latest") {
        sub_from = last.id;
    }
    let waiter = tokio::spawn(sidefx::with_event_log(
        log.clone(),
        sidefx::with_policy(approval_policy(), async {
            git_push("origin", "main").await.expect("approved call runs")
        }),
    ));
    let mut sub = sidefx::log::subscribe(log.as_ref(), Topic::HITL_APPROVALS, sub_from);
    loop {
        let e = sub.next().await.expect("subscription");
        if e.event.kind == "approval_requested" {
            let id = e.event.payload["request_id"]
                .as_str()
                .expect("request id")
                .to_owned();
            return (waiter, id);
        }
    }
}

fn in_process(rt: &tokio::runtime::Runtime) -> Duration {
    rt.block_on(async {
        let log: Arc<dyn EventLog> = Arc::new(MemoryEventLog::new());
        let (waiter, id) = start_waiter(log.clone()).await;
        std::thread::sleep(Duration::from_micros(200));
        let before = Instant::now();
        sidefx::approval::respond(log.as_ref(), &id, "alice", true, None)
            .await
            .expect("respond");
        let (ran, _) = waiter.await.expect("waiter");
        ran.saturating_duration_since(before)
    })
}

fn unix_ns(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

/// One cross-process sample, responding with the helper (`cli: None`) or the real CLI.
fn cross_process(
    rt: &tokio::runtime::Runtime,
    log: &Arc<dyn EventLog>,
    path: &std::ffi::OsStr,
    cli: Option<&Path>,
) -> Result<Duration, String> {
    rt.block_on(async {
        let (waiter, id) = start_waiter(log.clone()).await;
        tokio::time::sleep(Duration::from_millis(120)).await;
        let spawned = SystemTime::now();
        let mut cmd = match cli {
            Some(cli) => {
                let mut c = std::process::Command::new(cli);
                c.args([
                    "approvals",
                    "approve",
                    &id,
                    "--reviewer",
                    "bench-reviewer",
                    "--log",
                ])
                .arg(path);
                c
            }
            None => {
                let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_sidefx-bench-respond"));
                c.arg(path).arg(&id);
                c
            }
        };
        let out = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .expect("spawn task")
            .expect("spawn respond process");
        if !out.status.success() {
            waiter.abort();
            return Err(format!(
                "respond process failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let (_, ran) = waiter.await.expect("waiter");
        let from = match cli {
            Some(_) => unix_ns(spawned),
            None => String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse::<u128>()
                .expect("helper clock"),
        };
        Ok(Duration::from_nanos(
            u64::try_from(unix_ns(ran).saturating_sub(from)).unwrap_or(u64::MAX),
        ))
    })
}

/// The `sidefx` CLI next to this bench's target directory, built on demand.
fn cli_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let profile_dir = exe.parent()?.parent()?.to_path_buf(); // target/<profile>/deps/.. -> target/<profile>
    let bin = profile_dir.join(format!("sidefx{}", std::env::consts::EXE_SUFFIX));
    if !bin.exists() {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let profile = profile_dir.file_name()?.to_str()?.to_owned();
        let mut c = std::process::Command::new(cargo);
        c.args(["build", "-q", "-p", "sidefx-cli"]);
        if profile == "release" {
            c.arg("--release");
        }
        let ok = c.status().map(|s| s.success()).unwrap_or(false);
        if !ok || !bin.exists() {
            eprintln!("approval/cross_process/cli: could not build the sidefx CLI; skipped");
            return None;
        }
    }
    Some(bin)
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let samples: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let mut group = c.benchmark_group("approval_wake");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(200));
    group.measurement_time(Duration::from_secs(1));
    group.bench_function("in_process/memory", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let d = in_process(&rt);
                samples.lock().expect("samples").push(d);
                total += d;
            }
            total
        });
    });
    group.finish();
    if !bench_mode() {
        return;
    }
    let mut s = std::mem::take(&mut *samples.lock().expect("samples"));
    println!();
    Percentiles::of(&mut s).print("approval_wake/in_process/memory");

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("events.db");
    let log: Arc<dyn EventLog> = Arc::new(SqliteEventLog::open(&path).expect("open"));
    let helper: Result<Vec<Duration>, String> = (0..30)
        .map(|_| cross_process(&rt, &log, path.as_os_str(), None))
        .collect();
    report(
        "approval_wake/cross_process/helper (respond start -> body)",
        helper,
    );
    match cli_binary() {
        Some(cli) => {
            let via_cli: Result<Vec<Duration>, String> = (0..20)
                .map(|_| cross_process(&rt, &log, path.as_os_str(), Some(&cli)))
                .collect();
            report(
                "approval_wake/cross_process/cli (spawn `sidefx approvals approve` -> body)",
                via_cli,
            );
        }
        None => println!("approval_wake/cross_process/cli: skipped (no sidefx CLI binary)"),
    }

    let Some(url) = std::env::var("SIDEFX_TEST_POSTGRES")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        println!(
            "approval_wake/postgres: skipped (SIDEFX_TEST_POSTGRES is unset; run under scripts/with-postgres)"
        );
        return;
    };
    let pg: Arc<dyn EventLog> = Arc::new(sidefx::log::PostgresEventLog::open(&url).expect("open"));
    let target = std::ffi::OsString::from(&url);
    let helper: Result<Vec<Duration>, String> =
        (0..30).map(|_| cross_process(&rt, &pg, &target, None)).collect();
    report(
        "approval_wake/postgres/helper (respond start -> body, LISTEN/NOTIFY)",
        helper,
    );
    if let Some(cli) = cli_binary() {
        let via_cli: Result<Vec<Duration>, String> = (0..20)
            .map(|_| cross_process(&rt, &pg, &target, Some(&cli)))
            .collect();
        report(
            "approval_wake/postgres/cli (spawn `sidefx approvals approve --log postgres://..` -> body)",
            via_cli,
        );
    }
}

fn report(label: &str, samples: Result<Vec<Duration>, String>) {
    match samples {
        Ok(mut s) => Percentiles::of(&mut s).print(label),
        Err(e) => println!("{label}: not measured: {e}"),
    }
}

fn config() -> Criterion {
    Criterion::default()
}

criterion_group! { name = benches; config = config(); targets = bench }
criterion_main!(benches);

//! The SQLite event log (issue 4) against real files: per-topic ids, subscriptions across the
//! history/live switch, several processes appending to one trust chain, approvals that outlive
//! the process that filed them or are answered by another process, files that are not logs,
//! the default location, and SIGKILL at random moments.
//!
//! Other processes are real: the helper binary `sidefx-log-stress` (tests/src/bin).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a test failure

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use sidefx::approval::{self, ApprovalDecision, ApprovalDraft, ApprovalState};
use sidefx::log::{EventLog, LogEvent, SqliteEventLog, Topic, subscribe};
use sidefx::trust::{self, Outcome, TrustDraft, TrustRecord};
use sidefx::{Error, Tier};

const HELPER: &str = env!("CARGO_BIN_EXE_sidefx-log-stress");

#[path = "sqlite/tamper.rs"]
mod tamper;

fn helper() -> Command {
    let mut c = Command::new(HELPER);
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Runs the helper to completion and returns its stdout lines; panics with its stderr on failure.
fn run_helper(args: &[&str]) -> Vec<String> {
    let out = helper().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "helper {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A helper appending trust records; returns once it has opened the log.
fn spawn_trust_writer(
    log: &Path,
    agent: &str,
    count: usize,
    tasks: usize,
) -> (Child, BufReader<ChildStdout>) {
    let mut child = helper()
        .args([
            "trust",
            log.to_str().unwrap(),
            agent,
            &count.to_string(),
            &tasks.to_string(),
        ])
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready", "helper did not start: {line:?}");
    (child, out)
}

/// `committed INDEX RECORD_ID` lines -> (chain_index, record_id); a torn last line is ignored.
fn committed(lines: impl IntoIterator<Item = String>) -> Vec<(u64, String)> {
    lines
        .into_iter()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            match (parts.next(), parts.next(), parts.next()) {
                (Some("committed"), Some(i), Some(id)) if id.len() == 36 => {
                    Some((i.parse().ok()?, id.to_owned()))
                }
                _ => None,
            }
        })
        .collect()
}

async fn records(log: &dyn EventLog) -> Vec<TrustRecord> {
    let events = log.read_range(&Topic::TRUST_GRAPH, 0, usize::MAX).await.unwrap();
    events
        .iter()
        .map(|e| TrustRecord::from_event(&e.event).unwrap())
        .collect()
}

/// Fails the test instead of hanging forever if something never wakes (a guard, not a speed check).
async fn no_hang<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(120), f)
        .await
        .unwrap_or_else(|_| panic!("{what} never happened"))
}

fn ev(kind: &str, n: u64) -> LogEvent {
    LogEvent::new(kind, json!({ "n": n })).with_header("n", n.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_are_per_topic_monotonic_and_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let (a, b) = (Topic::new("a.topic").unwrap(), Topic::new("b-topic").unwrap());
    {
        let log = SqliteEventLog::open(&path).unwrap();
        assert!(log.topics().await.unwrap().is_empty());
        assert_eq!(log.latest(&a).await.unwrap(), None);
        for n in 1..=5 {
            assert_eq!(log.append(&a, ev("x", n)).await.unwrap(), n);
            if n % 2 == 0 {
                assert_eq!(log.append(&b, ev("y", n)).await.unwrap(), n / 2);
            }
        }
        // Compare-and-append: only against the current head.
        assert_eq!(
            log.append_if_latest(&a, Some(4), ev("stale", 0)).await.unwrap(),
            None
        );
        assert_eq!(
            log.append_if_latest(&a, None, ev("stale", 0)).await.unwrap(),
            None
        );
        assert_eq!(
            log.append_if_latest(&a, Some(5), ev("cas", 6)).await.unwrap(),
            Some(6)
        );
        let fresh = Topic::new("fresh").unwrap();
        assert_eq!(
            log.append_if_latest(&fresh, Some(0), ev("z", 1)).await.unwrap(),
            Some(1)
        );
        log.flush().await.unwrap();
    }
    let log = SqliteEventLog::open(&path).unwrap();
    let names: Vec<String> = log
        .topics()
        .await
        .unwrap()
        .iter()
        .map(|t| t.to_string())
        .collect();
    assert_eq!(names, ["a.topic", "b-topic", "fresh"]);
    let all = log.read_range(&a, 0, 100).await.unwrap();
    assert_eq!(all.iter().map(|e| e.id).collect::<Vec<_>>(), [1, 2, 3, 4, 5, 6]);
    assert_eq!(all[5].event.kind, "cas");
    assert_eq!(all[2].event.payload, json!({"n": 3}));
    assert_eq!(all[2].event.headers["n"], "3");
    assert_eq!(
        log.read_range(&a, 2, 2)
            .await
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect::<Vec<_>>(),
        [3, 4]
    );
    assert_eq!(log.read_range(&b, 0, 100).await.unwrap().len(), 2);
    assert_eq!(log.latest(&b).await.unwrap().unwrap().id, 2);
    // Ids continue after the restart.
    assert_eq!(log.append(&b, ev("y", 9)).await.unwrap(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_in_one_process_get_distinct_contiguous_ids() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(SqliteEventLog::open(dir.path().join("events.db")).unwrap());
    let t = Topic::new("busy").unwrap();
    let mut handles = Vec::new();
    for task in 0..8u64 {
        let (log, t) = (log.clone(), t.clone());
        handles.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for n in 0..25 {
                ids.push(log.append(&t, ev("c", task * 100 + n)).await.unwrap());
            }
            ids
        }));
    }
    let mut ids = Vec::new();
    for h in handles {
        let mine = h.await.unwrap();
        assert!(
            mine.windows(2).all(|w| w[0] < w[1]),
            "one task's ids must increase"
        );
        ids.extend(mine);
    }
    ids.sort_unstable();
    assert_eq!(ids, (1..=200).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_reads_history_then_live_without_loss_or_repeat() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(SqliteEventLog::open(dir.path().join("events.db")).unwrap());
    let t = Topic::new("feed").unwrap();
    for n in 1..=300 {
        log.append(&t, ev("old", n)).await.unwrap();
    }
    // A writer keeps appending while the subscriber is still reading history (more than one
    // read batch), so the switch to live happens with appends in flight.
    let writer = {
        let (log, t) = (log.clone(), t.clone());
        tokio::spawn(async move {
            for n in 301..=600 {
                log.append(&t, ev("new", n)).await.unwrap();
                if n % 50 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        })
    };
    let mut sub = subscribe(log.as_ref(), t.clone(), 0);
    let mut seen = Vec::new();
    while seen.len() < 600 {
        let e = sub.next().await.unwrap();
        assert_eq!(
            e.event.payload["n"], e.id,
            "the event with id {} is not the {}th append",
            e.id, e.id
        );
        seen.push(e.id);
    }
    writer.await.unwrap();
    assert_eq!(seen, (1..=600).collect::<Vec<_>>());
    assert_eq!(sub.cursor(), 600);
    // Starting after an id skips exactly the history up to it.
    let mut later = subscribe(log.as_ref(), t.clone(), 598);
    assert_eq!(later.next().await.unwrap().id, 599);
    assert_eq!(later.next().await.unwrap().id, 600);
    // A live append from the same process wakes the waiting subscriber.
    let waiting = tokio::spawn({
        let log = log.clone();
        let t = t.clone();
        async move { subscribe(log.as_ref(), t, 600).next().await.unwrap().id }
    });
    tokio::task::yield_now().await;
    log.append(&t, ev("live", 601)).await.unwrap();
    assert_eq!(waiting.await.unwrap(), 601);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_appending_trust_records_keep_one_valid_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let log = SqliteEventLog::open(&path).unwrap();
    trust::append(
        &log,
        TrustDraft::new("parent", "fs.write", Outcome::Success, Tier::ActAuto),
    )
    .await
    .unwrap();

    const EACH: usize = 120;
    let (mut a, mut a_out) = spawn_trust_writer(&path, "proc-a", EACH, 3);
    let (mut b, mut b_out) = spawn_trust_writer(&path, "proc-b", EACH, 3);
    // A live subscriber in this process sees the other processes' appends (by polling).
    let watcher = {
        let path = path.clone();
        tokio::spawn(async move {
            let reader = SqliteEventLog::open_existing(&path).unwrap();
            let mut sub = subscribe(&reader, Topic::TRUST_GRAPH, 1);
            let mut ids = Vec::new();
            while ids.len() < 2 * EACH {
                ids.push(sub.next().await.unwrap().id);
            }
            ids
        })
    };
    for child in [&mut a, &mut b] {
        child.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    }
    let mut reported = Vec::new();
    for (child, out) in [(&mut a, &mut a_out), (&mut b, &mut b_out)] {
        let lines: Vec<String> = out.lines().map(Result::unwrap).collect();
        let status = child.wait().unwrap();
        assert!(status.success(), "writer failed: {status}");
        let mine = committed(lines);
        assert_eq!(mine.len(), EACH);
        reported.extend(mine);
    }
    assert_eq!(
        no_hang("the live subscriber catching up", watcher).await.unwrap(),
        (2..=(2 * EACH as u64 + 1)).collect::<Vec<_>>()
    );

    let verification = trust::verify_chain(&log).await.unwrap();
    assert!(verification.is_valid(), "{:?}", verification.first_broken);
    assert_eq!(verification.records, 2 * EACH as u64 + 1);
    let chain = records(&log).await;
    for (index, record_id) in &reported {
        assert_eq!(&chain[*index as usize].record_id, record_id, "record at {index}");
    }
    // The two processes really interleaved (otherwise this test proves nothing).
    let switches = chain.windows(2).filter(|w| w[0].agent != w[1].agent).count();
    assert!(
        switches > 2,
        "the writers did not overlap (only {switches} switches)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_request_outlives_the_process_that_filed_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    drop(SqliteEventLog::open(&path).unwrap());
    let filed = run_helper(&["request", path.to_str().unwrap(), "night-agent"]);
    let request_id = filed[0].clone();

    // A new process (this one, with a fresh connection) lists and approves it.
    let log = SqliteEventLog::open_existing(&path).unwrap();
    let pending = approval::pending(&log).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].request_id, request_id);
    assert_eq!(pending[0].agent, "night-agent");
    assert_eq!(pending[0].args, json!({"branch": "main"}));
    let status = approval::respond(&log, &request_id, "alice", true, None)
        .await
        .unwrap();
    assert_eq!(status.state(), ApprovalState::Approved);
    drop(log);

    let reopened = SqliteEventLog::open_existing(&path).unwrap();
    assert!(approval::pending(&reopened).await.unwrap().is_empty());
    let status = approval::status(&reopened, &request_id).await.unwrap();
    assert_eq!(
        status.decision,
        Some(ApprovalDecision::Approved {
            approvers: vec!["alice".into()]
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_from_another_process_wakes_the_waiting_call() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let log = Arc::new(SqliteEventLog::open(&path).unwrap());
    let req = approval::request(
        log.as_ref(),
        ApprovalDraft::new("planner", "git.push", "git.write"),
    )
    .await
    .unwrap();
    let waiter = {
        let (log, req) = (log.clone(), req.clone());
        tokio::spawn(async move { approval::wait(log.as_ref(), &req).await })
    };
    // The waiter is blocked: nothing has decided the request.
    tokio::task::yield_now().await;
    assert!(!waiter.is_finished());

    let path_str = path.to_str().unwrap().to_owned();
    let id = req.request_id.clone();
    let state = tokio::task::spawn_blocking(move || run_helper(&["approve", &path_str, &id, "bob"]))
        .await
        .unwrap();
    assert_eq!(state, ["approved"]);
    let decision = no_hang("the waiter waking", waiter).await.unwrap().unwrap();
    assert_eq!(
        decision,
        ApprovalDecision::Approved {
            approvers: vec!["bob".into()]
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_that_are_not_sidefx_logs_are_refused_and_never_created() {
    let dir = tempfile::tempdir().unwrap();
    let expect_log_error = |r: sidefx::Result<SqliteEventLog>, needle: &str| {
        let err = r.unwrap_err();
        assert_eq!(err.code(), "SIDEFX-LOG");
        assert!(err.to_string().contains(needle), "{err}");
        assert!(!err.to_string().contains('\n'), "one line: {err}");
    };

    let missing = dir.path().join("missing.db");
    expect_log_error(SqliteEventLog::open_existing(&missing), "does not exist");
    assert!(!missing.exists(), "reading a missing log must not create it");

    let text = dir.path().join("notes.txt");
    std::fs::write(
        &text,
        "this is not a database, just some text that is long enough ".repeat(20),
    )
    .unwrap();
    expect_log_error(SqliteEventLog::open(&text), "not a sidefx event log");
    expect_log_error(SqliteEventLog::open_existing(&text), "not a sidefx event log");

    let other = dir.path().join("other.db");
    {
        let c = rusqlite::Connection::open(&other).unwrap();
        c.execute_batch("CREATE TABLE users (name TEXT); INSERT INTO users VALUES ('x');")
            .unwrap();
    }
    expect_log_error(SqliteEventLog::open(&other), "other tables");
    let foreign = dir.path().join("foreign.db");
    {
        let c = rusqlite::Connection::open(&foreign).unwrap();
        c.pragma_update(None, "application_id", 42).unwrap();
    }
    expect_log_error(SqliteEventLog::open(&foreign), "another application");
    // Refusing a foreign database leaves it untouched (still in its own journal mode).
    let mode: String = rusqlite::Connection::open(&other)
        .unwrap()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "delete");

    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    expect_log_error(SqliteEventLog::open_existing(&empty), "empty");
    // Opening for writing initializes an empty file.
    let log = SqliteEventLog::open(&empty).unwrap();
    log.append(&Topic::new("t").unwrap(), ev("k", 1)).await.unwrap();

    let newer = dir.path().join("newer.db");
    drop(SqliteEventLog::open(&newer).unwrap());
    rusqlite::Connection::open(&newer)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    expect_log_error(SqliteEventLog::open_existing(&newer), "newer sidefx");

    // A corrupt row fails closed with a message naming it.
    let corrupt = dir.path().join("corrupt.db");
    let log = SqliteEventLog::open(&corrupt).unwrap();
    let t = Topic::new("t").unwrap();
    log.append(&t, ev("k", 1)).await.unwrap();
    rusqlite::Connection::open(&corrupt)
        .unwrap()
        .execute("UPDATE events SET payload = '{\"n\": ' WHERE id = 1", [])
        .unwrap();
    let err = log.read_range(&t, 0, 10).await.unwrap_err();
    assert!(
        err.to_string().contains("t/1") && err.to_string().contains("corrupt"),
        "{err}"
    );
    assert!(matches!(err, Error::Log(_)));
}

#[test]
fn open_default_uses_sidefx_log_else_dot_sidefx_under_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    // Without SIDEFX_LOG: .sidefx/events.db under the working directory, directory created.
    let out = helper()
        .args(["default", "agent-one"])
        .current_dir(dir.path())
        .env_remove("SIDEFX_LOG")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(dir.path().join(".sidefx").join("events.db").is_file());

    // With SIDEFX_LOG: that file (its directory must exist or is created).
    let named = dir.path().join("elsewhere").join("audit.db");
    let out = helper()
        .args(["default", "agent-two"])
        .current_dir(dir.path())
        .env("SIDEFX_LOG", &named)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let default = SqliteEventLog::open_existing(dir.path().join(".sidefx/events.db")).unwrap();
        let named = SqliteEventLog::open_existing(&named).unwrap();
        let agents = |r: Vec<TrustRecord>| r.into_iter().map(|r| r.agent).collect::<Vec<_>>();
        assert_eq!(agents(records(&default).await), ["agent-one"]);
        assert_eq!(agents(records(&named).await), ["agent-two"]);
    });
}

/// A small deterministic-per-run generator for kill delays (no extra dependency).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// After a kill: the file is a sidefx log SQLite finds intact, every record parses and chains,
/// ids have no gaps, and every record reported committed (chain index -> record id) is there.
/// Returns the agents that wrote records.
async fn check_after_kill(path: &Path, reported: &BTreeMap<u64, String>, round: usize) -> BTreeSet<String> {
    let integrity: String = rusqlite::Connection::open(path)
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok", "round {round}");
    let log = SqliteEventLog::open_existing(path)
        .unwrap_or_else(|e| panic!("round {round}: the log does not open after the kill: {e}"));
    let verification = trust::verify_chain(&log).await.unwrap();
    assert!(
        verification.is_valid(),
        "round {round}: {:?}",
        verification.first_broken
    );
    let chain = records(&log).await;
    for (index, id) in reported {
        let found = chain.get(*index as usize).map(|r| r.record_id.as_str());
        assert_eq!(
            found,
            Some(id.as_str()),
            "round {round}: committed record {index} lost"
        );
    }
    let ids: Vec<u64> = log
        .read_range(&Topic::TRUST_GRAPH, 0, usize::MAX)
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(
        ids,
        (1..=chain.len() as u64).collect::<Vec<_>>(),
        "round {round}: ids have gaps"
    );
    chain.into_iter().map(|r| r.agent).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_never_loses_a_committed_record_or_tears_one() {
    const KILLS: usize = 24;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("crash test seed {seed}");
    let mut rng = Rng(seed);
    let mut reported: BTreeMap<u64, String> = BTreeMap::new();
    let mut appending_rounds = BTreeSet::new();
    let mut writers = BTreeSet::new();

    for round in 0..KILLS {
        // Every fourth kill lands while the child creates a fresh log (then that file must be
        // absent or a valid log); the rest while it appends to the shared log from 3 tasks.
        let while_creating = round % 4 == 0;
        let target = if while_creating {
            dir.path().join(format!("fresh-{round}.db"))
        } else {
            path.clone()
        };
        let mut child = helper()
            .args([
                "trust",
                target.to_str().unwrap(),
                &format!("crash-{round}"),
                "0",
                "3",
            ])
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        child.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut lines = Vec::new();
        if while_creating {
            std::thread::sleep(Duration::from_micros(rng.next() % 30_000));
        } else {
            // Wait until it is appending, then kill at a random moment.
            while let Ok(line) = rx.recv() {
                let appending = line.starts_with("committed");
                lines.push(line);
                if appending {
                    appending_rounds.insert(format!("crash-{round}"));
                    break;
                }
            }
            std::thread::sleep(Duration::from_micros(rng.next() % 100_000));
        }
        child.kill().unwrap(); // SIGKILL on Unix
        let status = child.wait().unwrap();
        reader.join().unwrap();
        lines.extend(rx.try_iter());
        let err = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
        assert!(
            err.is_empty(),
            "round {round}: the writer failed before the kill: {err}"
        );
        assert!(!status.success(), "round {round}: the writer was not killed");

        if while_creating {
            let mine: BTreeMap<u64, String> = committed(lines).into_iter().collect();
            if target.exists() {
                check_after_kill(&target, &mine, round).await;
            } else {
                assert!(mine.is_empty(), "round {round}: commits reported but no file");
            }
        } else {
            for (index, id) in committed(lines) {
                assert!(
                    reported.insert(index, id).is_none(),
                    "chain index {index} reported twice"
                );
            }
            writers = check_after_kill(&path, &reported, round).await;
        }
    }
    eprintln!(
        "crash test: {KILLS} kills, {} committed records reported, {} of {} append rounds wrote",
        reported.len(),
        writers.len(),
        appending_rounds.len()
    );
    // Every kill meant to land mid-append did (the child had reported a commit first).
    assert_eq!(appending_rounds.len(), KILLS - KILLS / 4);
    assert!(appending_rounds.is_subset(&writers));
}

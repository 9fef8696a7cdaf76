//! 16 identical calls racing for one grant, half of them in another process on the same SQLite
//! log: the body runs exactly once.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use sidefx::log::SqliteEventLog;

use super::*;

#[test]
fn sixteen_racing_identical_calls_half_in_another_process_run_the_body_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let log: Arc<dyn EventLog> = Arc::new(SqliteEventLog::open(&path).unwrap());
    let p = suggest("racer");
    let token = "race-token-41";
    let race = |log: Arc<dyn EventLog>, p: Arc<AutonomyPolicy>| {
        sidefx::with_event_log(log, sidefx::with_policy(p, grant_race_store("k", token)))
    };
    let id = request_id(&rt.block_on(race(log.clone(), p.clone())).unwrap_err().0);
    rt.block_on(approval::respond(log.as_ref(), &id, "alice", true, None))
        .unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_sidefx-log-stress"))
        .args(["grant-race", path.to_str().unwrap(), "racer", token, "8"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    // Both processes start their 8 calls on the same signal.
    writeln!(child.stdin.take().unwrap(), "go").unwrap();
    let refused = rt.block_on(async {
        let calls: Vec<_> = (0..8)
            .map(|_| tokio::spawn(race(log.clone(), p.clone())))
            .collect();
        let mut refused = 0;
        for c in calls {
            if let Err(e) = c.await.unwrap() {
                assert_eq!(
                    e.0.code(),
                    "SIDEFX-SKIPPED",
                    "a loser gets the suggest answer: {e:?}"
                );
                refused += 1;
            }
        }
        refused
    });
    let theirs = lines.next().unwrap().unwrap();
    assert!(child.wait().unwrap().success(), "the helper process failed");
    let theirs: usize = theirs.strip_prefix("ran ").unwrap().parse().unwrap();
    let ours = RACE_RAN.load(Ordering::SeqCst);
    assert_eq!(ours + theirs, 1, "ours {ours}, the other process's {theirs}");
    assert_eq!(refused, 8 - ours);

    let status = rt.block_on(grant::status(log.as_ref(), &id)).unwrap().unwrap();
    let used = status.consumed.expect("the grant was used");
    let records = rt
        .block_on(trust::query(log.as_ref(), &trust::TrustQuery::default()))
        .unwrap();
    let granted: Vec<_> = records
        .iter()
        .filter(|r| r.enforcement() == Some("suggestion_grant"))
        .collect();
    assert_eq!(granted.len(), 1);
    assert_eq!(granted[0].trace_id, used.trace_id);
    assert!(rt.block_on(trust::verify_chain(log.as_ref())).unwrap().is_valid());
}

//! The real `sidefx` binary against real SQLite logs made by the tour: every subcommand, JSON
//! output that parses, and a one-line error with a non-zero exit for each bad input.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a test failure

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use sidefx::approval::{self, ApprovalDecision, ApprovalDraft};
use sidefx::log::{EventLog, SqliteEventLog};
use tempfile::TempDir;

// Submodules live under tests/cli/ so that cargo does not build each as its own test binary.
#[path = "cli/explain.rs"]
mod explain;
#[path = "cli/grants.rs"]
mod grants;
#[path = "cli/hostile.rs"]
mod hostile;
#[path = "cli/replay.rs"]
mod replay;

const BIN: &str = env!("CARGO_BIN_EXE_sidefx");

#[path = "cli/tamper.rs"]
mod tamper;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A fresh SQLite log holding one run of the tour (its agent process has since dropped it).
fn tour_log() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    runtime().block_on(async {
        let log: Arc<dyn EventLog> = Arc::new(SqliteEventLog::open(&path).unwrap());
        let mut out = Vec::new();
        let report = sidefx_examples::tour::run(log, &mut out).await.unwrap();
        assert!(report.chain.is_valid());
        assert!(
            report.pending >= 2,
            "the tour leaves suggest and needs-human requests pending"
        );
    });
    (dir, path)
}

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn cmd(args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args).env_remove("SIDEFX_LOG");
    c
}

fn exec(mut c: Command) -> Run {
    let out = c.output().unwrap();
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// `sidefx --log LOG args...`
fn sidefx(log: &Path, args: &[&str]) -> Run {
    let mut c = cmd(args);
    c.arg("--log").arg(log);
    exec(c)
}

fn ok(run: Run) -> String {
    assert!(run.ok, "expected success, got: {}", run.stderr);
    assert!(run.stderr.is_empty(), "unexpected stderr: {}", run.stderr);
    run.stdout
}

fn json(run: Run) -> Value {
    let text = ok(run);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// A non-zero exit with exactly one line on stderr that mentions `needle`.
fn fails(run: Run, needle: &str) {
    assert!(!run.ok, "expected failure, got success: {}", run.stdout);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one-line error expected, got: {:?}", run.stderr);
    assert!(lines[0].starts_with("sidefx: error: "), "{}", lines[0]);
    assert!(
        lines[0].contains(needle),
        "{:?} does not mention {needle:?}",
        lines[0]
    );
}

fn pending_ids(log: &Path) -> Vec<(String, String)> {
    let list = json(sidefx(log, &["approvals", "list", "--pending", "--json"]));
    list.as_array()
        .unwrap()
        .iter()
        .map(|s| {
            assert_eq!(s["state"], "pending");
            (
                s["request"]["request_id"].as_str().unwrap().to_owned(),
                s["request"]["builtin"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn approvals_list_and_show_requests_filed_by_a_process_that_has_exited() {
    let (_dir, log) = tour_log();
    let table = ok(sidefx(&log, &["approvals", "list"]));
    assert!(table.lines().all(|l| !l.ends_with(' ')), "{table}");
    let header = table.lines().next().unwrap();
    for col in [
        "ID",
        "STATE",
        "AGENT",
        "BUILTIN",
        "ACTION",
        "REQUESTED",
        "REVIEWERS",
        "ANSWERS",
    ] {
        assert!(header.contains(col), "{header}");
    }
    // The tour approved one push (alice) and denied another (bob); others are still pending.
    assert!(
        table.contains("approved") && table.contains("denied") && table.contains("pending"),
        "{table}"
    );
    assert!(table.contains("alice:yes") && table.contains("bob:no"), "{table}");

    let all = json(sidefx(&log, &["approvals", "list", "--json"]));
    let all = all.as_array().unwrap();
    let pending = pending_ids(&log);
    assert!(!pending.is_empty());
    assert!(pending.len() < all.len());
    assert!(
        pending.iter().any(|(_, b)| b == "charge_card"),
        "the needs-human request: {pending:?}"
    );

    let (id, builtin) = &pending[0];
    let shown = ok(sidefx(&log, &["approvals", "show", id]));
    assert!(shown.contains(id) && shown.contains(builtin), "{shown}");
    assert!(shown.contains("state         pending"), "{shown}");
    assert!(shown.contains("decision      none yet"), "{shown}");
    let shown = json(sidefx(&log, &["approvals", "show", id, "--json"]));
    assert_eq!(shown["request"]["request_id"], id.as_str());
    assert_eq!(shown["state"], "pending");
    assert!(
        shown["request"]["args_digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );

    let decided = all.iter().find(|s| s["state"] == "denied").unwrap();
    let id = decided["request"]["request_id"].as_str().unwrap();
    let shown = ok(sidefx(&log, &["approvals", "show", id]));
    assert!(shown.contains("denied by bob"), "{shown}");
    assert!(shown.contains("REVIEWER") && shown.contains("deny"), "{shown}");
}

#[test]
fn approve_and_deny_record_decisions_and_refuse_what_would_not_count() {
    let (_dir, log) = tour_log();
    let pending = pending_ids(&log);
    assert!(pending.len() >= 2, "{pending:?}");
    let (first, second) = (&pending[0].0, &pending[1].0);
    let requested = json(sidefx(&log, &["approvals", "show", first, "--json"]));
    let reviewers: Vec<&str> = requested["request"]["reviewers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(
        reviewers.contains(&"alice"),
        "the tour policy names alice and bob: {reviewers:?}"
    );

    // Someone off the reviewer list: refused, nothing written.
    fails(
        sidefx(&log, &["approvals", "approve", first, "--reviewer", "mallory"]),
        "not a reviewer",
    );
    fails(
        sidefx(&log, &["approvals", "approve", first, "--reviewer", " "]),
        "--reviewer",
    );
    assert_eq!(pending_ids(&log).len(), pending.len());

    let said = ok(sidefx(
        &log,
        &[
            "approvals",
            "approve",
            first,
            "--reviewer",
            "alice",
            "--reason",
            "ok",
        ],
    ));
    assert!(
        said.contains("alice approved request") && said.contains("approved (approved by alice)"),
        "{said}"
    );
    let status = json(sidefx(&log, &["approvals", "show", first, "--json"]));
    assert_eq!(status["state"], "approved");
    assert_eq!(status["responses"][0]["reason"], "ok");

    let denied = json(sidefx(
        &log,
        &[
            "approvals",
            "deny",
            second,
            "--reviewer",
            "bob",
            "--reason",
            "too risky",
            "--json",
        ],
    ));
    assert_eq!(denied["state"], "denied");
    assert_eq!(denied["decision"]["reason"], "too risky");

    // A decided request takes no more answers.
    fails(
        sidefx(
            &log,
            &[
                "approvals",
                "deny",
                first,
                "--reviewer",
                "bob",
                "--reason",
                "late",
            ],
        ),
        "already decided",
    );
    // deny needs a reason (a usage error from the argument parser).
    let run = sidefx(&log, &["approvals", "deny", second, "--reviewer", "bob"]);
    assert!(!run.ok && run.stderr.contains("--reason"), "{}", run.stderr);

    let left = pending_ids(&log);
    assert_eq!(left.len(), pending.len() - 2);
    assert!(!left.iter().any(|(id, _)| id == first || id == second));
}

#[test]
fn an_approval_from_the_cli_wakes_a_call_waiting_in_another_process() {
    let (_dir, log_path) = tour_log();
    let rt = runtime();
    rt.block_on(async {
        let log = Arc::new(SqliteEventLog::open(&log_path).unwrap());
        let draft = ApprovalDraft::new("planner", "git.push", "git.write").reviewers(["carol"]);
        let req = approval::request(log.as_ref(), draft).await.unwrap();
        let waiter = {
            let (log, req) = (log.clone(), req.clone());
            tokio::spawn(async move { approval::wait(log.as_ref(), &req).await })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "nothing has answered yet");

        let (path, id) = (log_path.clone(), req.request_id.clone());
        let said = tokio::task::spawn_blocking(move || {
            ok(sidefx(
                &path,
                &["approvals", "approve", &id, "--reviewer", "carol"],
            ))
        })
        .await
        .unwrap();
        assert!(said.contains("carol approved"), "{said}");
        let decision = tokio::time::timeout(Duration::from_secs(120), waiter)
            .await
            .expect("the waiting call never woke")
            .unwrap()
            .unwrap();
        assert_eq!(
            decision,
            ApprovalDecision::Approved {
                approvers: vec!["carol".into()]
            }
        );
    });
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect()
}

#[test]
fn log_tail_prints_recent_events_and_follows_appends_from_other_processes() {
    let (_dir, log) = tour_log();
    let all = json_lines(&ok(sidefx(&log, &["log", "tail", "--limit", "1000", "--json"])));
    let text = ok(sidefx(&log, &["log", "tail", "--limit", "5"]));
    assert_eq!(text.lines().count(), 5, "{text}");
    let text = ok(sidefx(&log, &["log", "tail"]));
    assert_eq!(
        text.lines().count(),
        all.len().min(20),
        "default limit 20:\n{text}"
    );
    // Across topics, the newest events, oldest first.
    let times: Vec<u64> = all
        .iter()
        .map(|e| e["occurred_at_ms"].as_u64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
    for topic in ["trigger.outbox", "trust_graph", "hitl.approvals"] {
        assert!(all.iter().any(|e| e["topic"] == topic), "no {topic} events");
    }

    let trust = json_lines(&ok(sidefx(
        &log,
        &["log", "tail", "--topic", "trust_graph", "-n", "3", "--json"],
    )));
    assert_eq!(trust.len(), 3);
    assert!(trust.iter().all(|e| e["kind"] == "trust_recorded"));
    let ids: Vec<u64> = trust.iter().map(|e| e["id"].as_u64().unwrap()).collect();
    assert!(
        ids.windows(2).all(|w| w[1] == w[0] + 1),
        "the newest three, in order: {ids:?}"
    );
    let one = ok(sidefx(
        &log,
        &["log", "tail", "--topic", "trust_graph", "-n", "1"],
    ));
    assert!(
        one.contains(&format!("trust_graph#{}", ids[2])) && one.contains("trust_recorded"),
        "{one}"
    );

    fails(
        sidefx(&log, &["log", "tail", "--topic", "bad topic!"]),
        "invalid topic",
    );
    assert_eq!(ok(sidefx(&log, &["log", "tail", "--topic", "nothing.here"])), "");

    // --follow: the history, then an event appended by another process (this one).
    let mut child = cmd(&[
        "log",
        "tail",
        "--topic",
        "hitl.approvals",
        "-n",
        "2",
        "--follow",
        "--json",
    ])
    .arg("--log")
    .arg(&log)
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let next = || {
        rx.recv_timeout(Duration::from_secs(120))
            .expect("tail --follow printed nothing")
    };
    let history: Vec<Value> = (0..2).map(|_| serde_json::from_str(&next()).unwrap()).collect();
    let last_id = history[1]["id"].as_u64().unwrap();
    let request_id = runtime().block_on(async {
        let writer = SqliteEventLog::open_existing(&log).unwrap();
        let req = approval::request(&writer, ApprovalDraft::new("late-agent", "exec", "process.exec"))
            .await
            .unwrap();
        req.request_id
    });
    let live: Value = serde_json::from_str(&next()).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        live["id"].as_u64().unwrap(),
        last_id + 1,
        "nothing lost or repeated at the switch"
    );
    assert_eq!(live["kind"], "approval_requested");
    assert_eq!(live["headers"]["request_id"], request_id.as_str());
}

#[test]
fn trust_list_filters_and_trust_verify_and_export_cover_the_chain() {
    let (_dir, log) = tour_log();
    let table = ok(sidefx(&log, &["trust", "list"]));
    assert!(table.lines().next().unwrap().contains("ENFORCEMENT"), "{table}");
    let all = json(sidefx(&log, &["trust", "list", "--json"]));
    let all = all.as_array().unwrap();
    assert!(all.len() >= 6);
    assert_eq!(table.lines().count(), all.len() + 1);

    let intern = json(sidefx(&log, &["trust", "list", "--agent", "intern", "--json"]));
    let intern = intern.as_array().unwrap();
    assert!(!intern.is_empty() && intern.len() < all.len());
    assert!(intern.iter().all(|r| r["agent"] == "intern"));
    let denied = json(sidefx(&log, &["trust", "list", "--outcome", "denied", "--json"]));
    assert!(
        denied
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["outcome"] == "denied")
    );
    assert!(!denied.as_array().unwrap().is_empty());
    let newest = json(sidefx(&log, &["trust", "list", "--limit", "2", "--json"]));
    assert_eq!(newest.as_array().unwrap()[..], all[all.len() - 2..]);
    let recent = json(sidefx(&log, &["trust", "list", "--since", "1h", "--json"]));
    assert_eq!(recent.as_array().unwrap().len(), all.len());
    let future = json(sidefx(
        &log,
        &["trust", "list", "--since", "2999-01-01T00:00:00Z", "--json"],
    ));
    assert!(future.as_array().unwrap().is_empty());
    assert!(ok(sidefx(&log, &["trust", "list", "--agent", "nobody"])).contains("no trust records match"));
    fails(
        sidefx(&log, &["trust", "list", "--outcome", "sucess"]),
        "unknown outcome",
    );
    fails(
        sidefx(&log, &["trust", "list", "--since", "yesterday-ish"]),
        "--since",
    );
    fails(sidefx(&log, &["trust", "list", "--tier", "autopilot"]), "--tier");

    let verified = ok(sidefx(&log, &["trust", "verify"]));
    assert_eq!(verified, format!("trust chain valid: {} records\n", all.len()));
    let v = json(sidefx(&log, &["trust", "verify", "--json"]));
    assert_eq!(v["valid"], true);
    assert_eq!(v["records"], all.len());

    let exported = json_lines(&ok(sidefx(&log, &["trust", "export"])));
    assert_eq!(exported.len(), all.len());
    for (i, r) in exported.iter().enumerate() {
        assert_eq!(r["chain_index"], i);
        assert_eq!(r["schema"], "opentrustgraph/v0.1");
        assert_eq!(r["entry_hash"], all[i]["entry_hash"]);
    }

    // Tamper with one stored record: verify names it and exits non-zero.
    let conn = rusqlite::Connection::open(&log).unwrap();
    let changed = conn
        .execute(
            "UPDATE events SET payload = json_set(payload, '$.agent', 'someone-else') WHERE topic = 'trust_graph' AND id = 2",
            [],
        )
        .unwrap();
    assert_eq!(changed, 1);
    drop(conn);
    fails(
        sidefx(&log, &["trust", "verify"]),
        "trust chain broken at record 1 (event 2)",
    );
    let run = sidefx(&log, &["trust", "verify", "--json"]);
    assert!(!run.ok);
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["first_broken"]["event_id"], 2);
}

#[test]
fn policy_check_validates_tiers_keys_and_classes_with_suggestions() {
    let dir = tempfile::tempdir().unwrap();
    let tour_policy = sidefx_examples::tour::policy_path();
    let tour_policy = tour_policy.to_str().unwrap();
    // Catalogue builtins (write_file, git.push) are known; the tour's custom class is not linked
    // into the CLI, so it is named with --builtin.
    let with_builtins = ["--builtin", "charge_card=payments.charge"];
    let mut args = vec!["policy", "check", tour_policy];
    args.extend(with_builtins);
    assert!(ok(exec(cmd(&args))).contains("is valid"));
    args.push("--json");
    let v: Value = serde_json::from_str(&ok(exec(cmd(&args)))).unwrap();
    assert_eq!(v["valid"], true);
    fails(
        exec(cmd(&["policy", "check", tour_policy])),
        "`payments.charge` is neither a registered builtin nor a known class",
    );
    // ... or read from the Cargo.toml that declares it.
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/Cargo.toml");
    let manifest = manifest.to_str().unwrap();
    assert!(
        ok(exec(cmd(&[
            "policy",
            "check",
            tour_policy,
            "--manifest",
            manifest
        ])))
        .contains("is valid")
    );
    let own = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    fails(
        exec(cmd(&[
            "policy",
            "check",
            tour_policy,
            "--manifest",
            own.to_str().unwrap(),
        ])),
        "declares no custom classes",
    );

    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_owned()
    };
    let typo_class = write("typo.json", r#"{"action_tiers": {"fs.wirte": "shadow"}}"#);
    fails(
        exec(cmd(&["policy", "check", &typo_class])),
        "did you mean `fs.write`",
    );
    let bad_tier = write("tier.json", r#"{"autonomy_tier": "act_autoo"}"#);
    fails(exec(cmd(&["policy", "check", &bad_tier])), "act_autoo");
    let empty_agent = write("agent.json", r#"{"agent_tiers": {"": "shadow"}}"#);
    fails(exec(cmd(&["policy", "check", &empty_agent])), "empty agent id");
    let not_json = write("broken.json", "{ nope");
    fails(exec(cmd(&["policy", "check", &not_json])), "broken.json");
    let toml = write(
        "p.toml",
        "autonomy_tier = \"suggest\"\n[action_tiers]\n\"fs.write\" = \"shadow\"\n",
    );
    assert!(ok(exec(cmd(&["policy", "check", &toml]))).contains("is valid"));
    fails(
        exec(cmd(&["policy", "check", "/nonexistent/policy.json"])),
        "cannot read policy file",
    );
    fails(
        exec(cmd(&["policy", "check", &toml, "--builtin", "nameonly"])),
        "expected NAME=CLASS",
    );
}

/// Hostile policy files (issue 9): a repeated key must not let the looser value win, and a huge
/// line must not come back as a huge error.
#[test]
fn policy_check_rejects_duplicate_keys_huge_values_timeouts_and_impossible_quorums() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_owned()
    };
    let dup = write(
        "dup.json",
        r#"{"autonomy_tier": "shadow", "autonomy_tier": "act_auto"}"#,
    );
    fails(
        exec(cmd(&["policy", "check", &dup])),
        "duplicate key `autonomy_tier`",
    );
    let nested = write(
        "nested.json",
        r#"{"agent_action_tiers": {"planner": {"fs.write": "shadow", "fs.write": "act_auto"}}}"#,
    );
    fails(
        exec(cmd(&["policy", "check", &nested])),
        "duplicate key `agent_action_tiers.planner.fs.write`",
    );
    let dup_toml = write("dup.toml", "tier = \"shadow\"\ntier = \"act_auto\"\n");
    fails(
        exec(cmd(&["policy", "check", &dup_toml])),
        "not valid TOML at line 2",
    );

    let huge = "x".repeat(200_000);
    for (name, text) in [
        ("long-tier.json", format!(r#"{{"autonomy_tier": "{huge}"}}"#)),
        (
            "long-key.json",
            format!(r#"{{"action_tiers": {{"{huge}": "shadow"}}}}"#),
        ),
        ("long.toml", format!("tier = \"{huge}\"\n")),
    ] {
        let run = exec(cmd(&["policy", "check", &write(name, &text)]));
        assert!(
            run.stderr.len() < 1000,
            "{name}: a {} byte error",
            run.stderr.len()
        );
        fails(run, "bytes)");
    }

    let timeout = write("timeout.json", r#"{"approval_timeout_ms": 18446744073709551615}"#);
    fails(exec(cmd(&["policy", "check", &timeout])), "at most 2592000000");
    let quorum = write(
        "quorum.json",
        r#"{"reviewers": ["alice", "bob"], "approval_quorum": 3}"#,
    );
    fails(
        exec(cmd(&["policy", "check", &quorum])),
        "`approval_quorum` is 3 but `reviewers` allows only 2",
    );
}

#[test]
fn bad_logs_and_unknown_ids_fail_with_one_line_and_create_nothing() {
    let (dir, log) = tour_log();
    fails(
        sidefx(&log, &["approvals", "show", "no-such-id"]),
        "no approval request with id `no-such-id`",
    );
    fails(
        sidefx(
            &log,
            &["approvals", "approve", "no-such-id", "--reviewer", "alice"],
        ),
        "no-such-id",
    );

    let missing = dir.path().join("missing.db");
    for args in [
        &["approvals", "list"][..],
        &["log", "tail"],
        &["trust", "list"],
        &["trust", "verify"],
        &["trust", "export"],
    ] {
        fails(sidefx(&missing, args), "does not exist");
    }
    assert!(!missing.exists(), "a read must never create a log");

    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "just text, and not a database at all; ".repeat(40)).unwrap();
    fails(sidefx(&text, &["approvals", "list"]), "not a sidefx event log");
    let other = dir.path().join("other.db");
    rusqlite::Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE t (x INTEGER);")
        .unwrap();
    fails(sidefx(&other, &["trust", "verify"]), "not a sidefx event log");
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    fails(sidefx(&empty, &["log", "tail"]), "not a sidefx event log");

    // SIDEFX_LOG names the log when --log is absent.
    let mut c = cmd(&["trust", "verify"]);
    c.env("SIDEFX_LOG", &log);
    assert!(ok(exec(c)).starts_with("trust chain valid"));
    let mut c = cmd(&["trust", "verify"]);
    c.env("SIDEFX_LOG", &missing);
    fails(exec(c), "missing.db");
    // Neither: .sidefx/events.db under the working directory, which is not there.
    let mut c = cmd(&["approvals", "list"]);
    c.current_dir(dir.path());
    fails(exec(c), ".sidefx/events.db");
    assert!(!dir.path().join(".sidefx").exists());
    std::fs::create_dir(dir.path().join(".sidefx")).unwrap();
    for suffix in ["", "-wal"] {
        let from = PathBuf::from(format!("{}{suffix}", log.display()));
        if from.exists() {
            std::fs::copy(&from, dir.path().join(format!(".sidefx/events.db{suffix}"))).unwrap();
        }
    }
    let mut c = cmd(&["trust", "verify"]);
    c.current_dir(dir.path());
    assert!(ok(exec(c)).starts_with("trust chain valid"));
}

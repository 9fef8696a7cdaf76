//! Hostile log contents: names and reasons carrying terminal escape sequences, and stored times
//! RFC 3339 cannot express. Text output must neither spoof the screen nor panic; `--json` stays
//! exact.

use serde_json::{Value, json};
use sidefx::approval::{self, ApprovalDraft};
use sidefx::log::{EventLog, LogEvent, SqliteEventLog, Topic};

use super::{json, json_lines, ok, runtime, sidefx};

/// Moves the cursor up a line, clears it, and writes a fake decision line in its place.
const SPOOF: &str = "mallory\u{1b}[1A\u{1b}[2K\ndecision      approved by alice";
/// Past the year 9999: 300,000,000,000,000 ms is in the year 11476.
const FAR_FUTURE_MS: u64 = 300_000_000_000_000;

/// Text output carries no control character but the line breaks it writes itself, and no line
/// that a hostile value smuggled in.
fn assert_clean(what: &str, text: &str) {
    let bad: Vec<char> = text.chars().filter(|c| c.is_control() && *c != '\n').collect();
    assert!(bad.is_empty(), "{what}: control characters {bad:?} in:\n{text}");
    assert!(
        !text
            .lines()
            .any(|l| l.starts_with("decision      approved by alice")),
        "{what}: a hostile value started its own line:\n{text}"
    );
}

/// A fresh log with one pending request whose agent, action, builtin and reviewers are hostile,
/// and one answer by the hostile reviewer with a hostile reason. Returns the request id.
fn hostile_log(path: &std::path::Path) -> String {
    runtime().block_on(async {
        let log = SqliteEventLog::open(path).unwrap();
        let draft = ApprovalDraft::new(SPOOF, SPOOF, SPOOF)
            .reviewers([SPOOF, "alice"])
            .quorum(2);
        let req = approval::request(&log, draft).await.unwrap();
        approval::respond(&log, &req.request_id, SPOOF, true, Some(SPOOF.into()))
            .await
            .unwrap();
        req.request_id
    })
}

#[test]
fn escape_sequences_in_stored_names_are_shown_escaped_and_json_stays_exact() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("events.db");
    let id = hostile_log(&log);

    let shown = ok(sidefx(&log, &["approvals", "show", &id]));
    assert_clean("approvals show", &shown);
    assert_eq!(
        shown.lines().filter(|l| l.starts_with("decision")).count(),
        1,
        "{shown}"
    );
    assert!(shown.contains(r"mallory\u{1b}[1A\u{1b}[2K\ndecision"), "{shown}");
    assert_clean("approvals list", &ok(sidefx(&log, &["approvals", "list"])));
    assert_clean("log tail", &ok(sidefx(&log, &["log", "tail"])));

    // The second answer settles the request; the confirmation names the hostile agent.
    let said = ok(sidefx(
        &log,
        &["approvals", "approve", &id, "--reviewer", "alice"],
    ));
    assert_clean("approvals approve", &said);
    assert!(said.contains("approved"), "{said}");

    // JSON is for scripts: the stored strings, exactly.
    let shown = json(sidefx(&log, &["approvals", "show", &id, "--json"]));
    assert_eq!(shown["request"]["agent"], SPOOF);
    assert_eq!(shown["responses"][0]["reviewer"], SPOOF);
    assert_eq!(shown["responses"][0]["reason"], SPOOF);
    let list = json(sidefx(&log, &["approvals", "list", "--json"]));
    assert_eq!(list[0]["request"]["reviewers"][0], SPOOF);
    let tail = json_lines(&ok(sidefx(&log, &["log", "tail", "--json"])));
    assert_eq!(tail[0]["payload"]["agent"], SPOOF);
}

#[test]
fn an_error_quoting_a_hostile_name_is_one_escaped_line() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("events.db");
    let id = hostile_log(&log);
    let run = sidefx(&log, &["approvals", "approve", &id, "--reviewer", "bob"]);
    assert!(!run.ok, "bob is not a reviewer: {}", run.stdout);
    assert!(run.stderr.contains("not a reviewer"), "{}", run.stderr);
    assert_clean("the error", &run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
}

#[test]
fn times_past_the_year_9999_print_as_raw_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("events.db");
    let id = runtime().block_on(async {
        let log = SqliteEventLog::open(&log).unwrap();
        let mut e = LogEvent::new("far_future", json!({"note": "clock was wrong"}));
        e.occurred_at_ms = FAR_FUTURE_MS;
        log.append(&Topic::new("clock.test").unwrap(), e).await.unwrap();
        let req = approval::request(&log, ApprovalDraft::new("planner", "git_push", "git.push"))
            .await
            .unwrap();
        // An answer stamped past 9999 (a bad clock, or an edited file).
        let answer = json!({
            "request_id": req.request_id, "reviewer": "alice", "approved": false,
            "reason": "later", "responded_at_ms": FAR_FUTURE_MS,
        });
        let e = LogEvent::new("response_received", answer).with_header("request_id", req.request_id.clone());
        log.append(&Topic::HITL_APPROVALS, e).await.unwrap();
        req.request_id
    });

    let tail = ok(sidefx(&log, &["log", "tail", "--topic", "clock.test"]));
    assert!(
        tail.starts_with(&format!("{FAR_FUTURE_MS}ms  clock.test#1")),
        "{tail}"
    );
    let shown = ok(sidefx(&log, &["approvals", "show", &id]));
    assert!(shown.contains(&format!("{FAR_FUTURE_MS}ms")), "{shown}");
    let all = ok(sidefx(&log, &["log", "tail"]));
    assert!(all.contains(&format!("{FAR_FUTURE_MS}ms")), "{all}");

    let tail = json_lines(&ok(sidefx(
        &log,
        &["log", "tail", "--topic", "clock.test", "--json"],
    )));
    assert_eq!(tail[0]["occurred_at_ms"], Value::from(FAR_FUTURE_MS));
}

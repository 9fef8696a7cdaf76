//! The tamper suite (issue 9): a real SQLite log of trust records, altered with plain SQL the
//! way a hostile operator would, then `sidefx trust verify` run as a real process. Every
//! alteration must exit 1 (not 101: no panic) with one line naming the first bad record or the
//! missing range; `trust list` and `trust export` must show only what the hash covers.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use sidefx::Tier;
use sidefx::log::{EventLog, SqliteEventLog};
use sidefx::trust::{self, Outcome, TrustDraft};
use tempfile::TempDir;

use super::{BIN, json, json_lines, ok, runtime, sidefx};

/// Records in each fresh log: events 1..=8, chain indices 0..=7.
const RECORDS: u64 = 8;

/// A fresh log holding a valid chain of [`RECORDS`] trust records, every handle on it closed
/// and its WAL checkpointed into the main file (so the file alone is the whole log).
fn chain_log() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    runtime().block_on(async {
        let log = SqliteEventLog::open(&path).unwrap();
        for i in 0..RECORDS {
            let d = TrustDraft::new(format!("agent-{i}"), "fs.write", Outcome::Success, Tier::ActAuto)
                .enforcement("act_auto")
                .meta("i", i);
            trust::append(&log, d).await.unwrap();
        }
        log.flush().await.unwrap();
    });
    let conn = rusqlite::Connection::open(&path).unwrap();
    let busy: i64 = conn
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
        .unwrap();
    assert_eq!(busy, 0, "the checkpoint must not be blocked");
    ok(sidefx(&path, &["trust", "verify"]));
    (dir, path)
}

/// Runs SQL against the log the way an operator with file access could.
fn tamper(log: &Path, sql: &str) {
    let conn = rusqlite::Connection::open(log).unwrap();
    conn.execute_batch(sql)
        .unwrap_or_else(|e| panic!("cannot tamper with {sql}: {e}"));
}

/// `sidefx trust verify` exits exactly 1 with one line mentioning every needle, and its
/// `--json` form says `valid: false` and names `event_id` (when given).
fn verify_rejects(log: &Path, needles: &[&str], event_id: Option<u64>) {
    let out = Command::new(BIN)
        .args(["trust", "verify", "--log"])
        .arg(log)
        .env_remove("SIDEFX_LOG")
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "exit 1 expected: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one-line error expected, got: {stderr:?}");
    for needle in needles {
        assert!(
            lines[0].contains(needle),
            "{:?} does not mention {needle:?}",
            lines[0]
        );
    }
    if let Some(id) = event_id {
        let run = sidefx(log, &["trust", "verify", "--json"]);
        assert!(!run.ok, "--json must fail too");
        let v: Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(v["valid"], false, "{v}");
        assert_eq!(v["first_broken"]["event_id"], id, "{v}");
    }
}

#[test]
fn deleting_records_at_the_start_middle_or_end_is_reported_as_a_missing_range() {
    let (_d, log) = chain_log();
    tamper(&log, "DELETE FROM events WHERE topic = 'trust_graph' AND id = 1");
    verify_rejects(&log, &["record 0 (event 1)", "event 1 is missing"], Some(1));

    let (_d, log) = chain_log();
    tamper(&log, "DELETE FROM events WHERE topic = 'trust_graph' AND id <= 3");
    verify_rejects(
        &log,
        &["record 0 (event 1)", "events 1 to 3 are missing"],
        Some(1),
    );

    let (_d, log) = chain_log();
    tamper(
        &log,
        "DELETE FROM events WHERE topic = 'trust_graph' AND id IN (4, 5)",
    );
    verify_rejects(
        &log,
        &["record 3 (event 4)", "events 4 to 5 are missing"],
        Some(4),
    );

    let (_d, log) = chain_log();
    tamper(&log, "DELETE FROM events WHERE topic = 'trust_graph' AND id = 8");
    verify_rejects(
        &log,
        &[
            "record 7 (event 8)",
            "event 8 is missing",
            "recorded head is event 8",
        ],
        Some(8),
    );
}

#[test]
fn changing_the_stored_last_id_is_reported() {
    let (_d, log) = chain_log();
    tamper(&log, "UPDATE topics SET last_id = 12 WHERE topic = 'trust_graph'");
    verify_rejects(
        &log,
        &["record 8 (event 9)", "events 9 to 12 are missing"],
        Some(9),
    );

    let (_d, log) = chain_log();
    tamper(&log, "UPDATE topics SET last_id = 6 WHERE topic = 'trust_graph'");
    verify_rejects(
        &log,
        &["record 6 (event 7)", "beyond the recorded head", "event 6"],
        Some(7),
    );

    let (_d, log) = chain_log();
    tamper(&log, "DELETE FROM topics WHERE topic = 'trust_graph'");
    verify_rejects(&log, &["record 0 (event 1)", "beyond the recorded head"], Some(1));
}

#[test]
fn editing_a_hashed_field_or_swapping_records_breaks_the_chain_at_that_record() {
    let (_d, log) = chain_log();
    tamper(
        &log,
        "UPDATE events SET payload = json_set(payload, '$.outcome', 'denied') WHERE topic = 'trust_graph' AND id = 5",
    );
    verify_rejects(&log, &["record 4 (event 5)", "entry_hash"], Some(5));

    let (_d, log) = chain_log();
    tamper(
        &log,
        "UPDATE events SET id = 100 WHERE topic = 'trust_graph' AND id = 3;
         UPDATE events SET id = 3 WHERE topic = 'trust_graph' AND id = 4;
         UPDATE events SET id = 4 WHERE topic = 'trust_graph' AND id = 100;",
    );
    verify_rejects(
        &log,
        &["record 2 (event 3)", "chain_index is 3, expected 2"],
        Some(3),
    );
}

#[test]
fn fields_outside_the_hash_are_rejected_and_never_shown() {
    // A field added to the stored record: verify rejects it, export does not print it.
    let (_d, log) = chain_log();
    tamper(
        &log,
        "UPDATE events SET payload = json_set(payload, '$.approved_by_ceo', 'yes') WHERE topic = 'trust_graph' AND id = 2",
    );
    verify_rejects(&log, &["record 1 (event 2)", "approved_by_ceo"], Some(2));
    let exported = ok(sidefx(&log, &["trust", "export"]));
    assert!(!exported.contains("approved_by_ceo"), "{exported}");
    assert_eq!(json_lines(&exported).len() as u64, RECORDS);
    let listed = ok(sidefx(&log, &["trust", "list", "--json"]));
    assert!(!listed.contains("approved_by_ceo"), "{listed}");

    // A field added inside the metadata is inside the hash.
    let (_d, log) = chain_log();
    tamper(
        &log,
        "UPDATE events SET payload = json_set(payload, '$.metadata.note', 'x') WHERE topic = 'trust_graph' AND id = 6",
    );
    verify_rejects(&log, &["record 5 (event 6)", "entry_hash"], Some(6));

    // The event's headers are derived from hashed fields: an edit is caught.
    let (_d, log) = chain_log();
    tamper(
        &log,
        "UPDATE events SET headers = json_set(headers, '$.agent', 'alice') WHERE topic = 'trust_graph' AND id = 3",
    );
    verify_rejects(&log, &["record 2 (event 3)", "headers"], Some(3));

    // The event kind too.
    let (_d, log) = chain_log();
    tamper(
        &log,
        "UPDATE events SET kind = 'note' WHERE topic = 'trust_graph' AND id = 7",
    );
    verify_rejects(&log, &["record 6 (event 7)", "kind"], Some(7));

    // `occurred_at_ms` is outside the hash, so no reader relies on it: time filters use the
    // record's hashed `timestamp`, and moving the stored time hides nothing.
    let (_d, log) = chain_log();
    tamper(
        &log,
        "UPDATE events SET occurred_at_ms = 0 WHERE topic = 'trust_graph' AND id = 4",
    );
    let recent = json(sidefx(&log, &["trust", "list", "--since", "1h", "--json"]));
    assert_eq!(recent.as_array().unwrap().len() as u64, RECORDS, "{recent}");
    let old = json(sidefx(
        &log,
        &["trust", "list", "--since", "2000-01-01T00:00:00Z", "--json"],
    ));
    assert_eq!(old.as_array().unwrap().len() as u64, RECORDS);
}

#[test]
fn a_truncated_file_fails_verification_with_one_line_and_no_panic() {
    let (_d, full) = chain_log();
    let size = std::fs::metadata(&full).unwrap().len();
    assert!(size >= 4 * 4096, "the log spans several pages ({size} bytes)");
    // Cut inside the first page (the header), at a page boundary, and inside a later page.
    for keep in [100, 2 * 4096, size - 1000] {
        let (_d, log) = chain_log();
        let f = std::fs::OpenOptions::new().write(true).open(&log).unwrap();
        f.set_len(keep).unwrap();
        drop(f);
        verify_rejects(&log, &[], None);
    }
}

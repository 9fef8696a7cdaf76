//! `sidefx policy replay` (issue 14 §2) through the real binary, on a log made by the tour:
//! the policy that made it changes nothing; a stricter and a looser candidate, text and JSON.

use serde_json::Value;

use super::{fails, ok, sidefx, tour_log};

fn candidate(name: &str) -> String {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    dir.join(name).to_str().unwrap().to_owned()
}

fn replay_json(log: &std::path::Path, file: &str, extra: &[&str]) -> Value {
    let mut args = vec!["policy", "replay", file, "--json"];
    args.extend(extra);
    let text = ok(sidefx(log, &args));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
fn replay_reports_what_a_candidate_changes_on_the_tours_log() {
    let (_dir, log) = tour_log();

    // The policy that made the log changes nothing.
    let same = replay_json(&log, &candidate("tour-policy.json"), &[]);
    assert_eq!(
        (same["total"].as_u64(), same["changed"].as_u64()),
        (Some(8), Some(0)),
        "{same:#}"
    );
    assert_eq!(same["changes"], Value::Array(Vec::new()));
    assert!(
        same["unseen_act_auto"].is_null(),
        "act_auto calls are not in the log: {same:#}"
    );
    assert!(same["record_act_auto"].as_str().unwrap().contains("audit_auto"));

    // Stricter: pushes need a human, the planner's delete newly goes to one, the intern's
    // suggestions become shadow.
    let stricter = replay_json(&log, &candidate("tour-policy-stricter.json"), &[]);
    assert_eq!(
        (stricter["changed"].as_u64(), stricter["newly_human"].as_u64()),
        (Some(5), Some(1))
    );
    let groups: Vec<(String, String, String, String, u64, bool)> = stricter["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap().to_owned();
            (
                s("agent"),
                s("builtin"),
                s("from"),
                s("to"),
                c["count"].as_u64().unwrap(),
                c["newly_human"] == true,
            )
        })
        .collect();
    let g = |a: &str, b: &str, f: &str, t: &str, n: u64, h: bool| {
        (a.to_owned(), b.to_owned(), f.to_owned(), t.to_owned(), n, h)
    };
    assert_eq!(
        groups,
        [
            g(
                "planner",
                "git.push",
                "act_with_approval",
                "requires_human",
                2,
                false
            ),
            g("intern", "delete_file", "suggest", "shadow", 1, false),
            g("intern", "exec", "suggest", "shadow", 1, false),
            g("planner", "delete_file", "shadow", "requires_human", 1, true),
        ]
    );
    let push = &stricter["changes"][0]["example"];
    assert_eq!(push["args"]["branch"], "main");
    assert_eq!(push["decided_by"], "requires_human_actions[git.write]");

    // Looser, only the intern's decisions.
    let looser = replay_json(
        &log,
        &candidate("tour-policy-looser.json"),
        &["--agent", "intern"],
    );
    assert_eq!(
        (looser["total"].as_u64(), looser["changed"].as_u64()),
        (Some(2), Some(2))
    );
    assert!(
        looser["changes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["to"] == "act_auto")
    );
    // Nothing recorded in the future.
    let none = replay_json(
        &log,
        &candidate("tour-policy-looser.json"),
        &["--since", "2999-01-01T00:00:00Z"],
    );
    assert_eq!(none["total"], 0);

    // Text: the counts, the table and how to record act_auto calls.
    let text = ok(sidefx(
        &log,
        &["policy", "replay", &candidate("tour-policy-stricter.json")],
    ));
    assert!(text.contains("replayed 8 recorded decisions"), "{text}");
    assert!(text.contains("5 changed, 3 unchanged, 0 unknown"), "{text}");
    assert!(text.contains("newly sent to a human: 1"), "{text}");
    assert!(text.contains("\"audit_auto\": true"), "{text}");
    let row = text
        .lines()
        .find(|l| l.starts_with("planner  delete_file"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        row.contains("shadow") && row.contains("requires_human") && row.contains("new"),
        "{row}"
    );

    // Bad input: one line naming what was wrong.
    fails(
        sidefx(&log, &["policy", "replay", "/nonexistent/candidate.json"]),
        "cannot read policy file",
    );
    fails(
        sidefx(
            &log,
            &[
                "policy",
                "replay",
                &candidate("tour-policy.json"),
                "--since",
                "soon",
            ],
        ),
        "--since \"soon\"",
    );
}

//! `sidefx approvals approve` on a suggestion says what approving it does (the next identical
//! call runs once before a time), and `approvals show` says whether that grant was used, when
//! and by which trace (issue 14 §1), through the real binary.

use std::sync::Arc;

use serde_json::json;
use sidefx::log::{EventLog, LogEvent, SqliteEventLog, Topic};
use sidefx::{AutonomyPolicy, Decision, Tier, registry};

use super::{fails, json, ok, runtime, sidefx};

#[test]
fn approving_a_suggestion_grants_its_identical_call_one_run_and_show_tells_its_use() {
    let (dir, log) = sqlite_log_with_writer("cli_grant_write");
    let path = dir.path().join("events.db");
    let rt = runtime();
    let p = Arc::new(AutonomyPolicy::at_tier(Tier::Suggest).for_agent("planner"));
    let call = || {
        rt.block_on(sidefx::with_event_log(
            log.clone(),
            sidefx::with_policy(
                p.clone(),
                sidefx::enforce("cli_grant_write", &json!({"path": "a.txt", "text": "hi"})),
            ),
        ))
        .unwrap()
    };
    let Decision::Skip { reason } = call() else {
        panic!("suggest does not run")
    };
    let id = reason.approval_request_id().unwrap().to_owned();

    let shown = ok(sidefx(&path, &["approvals", "show", &id]));
    assert!(shown.contains("grant         none yet"), "{shown}");
    let said = ok(sidefx(
        &path,
        &["approvals", "approve", &id, "--reviewer", "alice"],
    ));
    assert!(
        said.contains("the next identical call by planner to cli_grant_write runs once before 20"),
        "{said}"
    );
    let shown = ok(sidefx(&path, &["approvals", "show", &id]));
    assert!(
        shown.contains("grant         unused: the next identical call"),
        "{shown}"
    );

    let Decision::Approved { request_id, .. } = call() else {
        panic!("the approved suggestion runs")
    };
    assert_eq!(request_id, id);
    let shown = ok(sidefx(&path, &["approvals", "show", &id]));
    let shown_json = json(sidefx(&path, &["approvals", "show", &id, "--json"]));
    let trace = shown_json["grant"]["consumed"]["trace_id"].as_str().unwrap();
    assert_eq!(shown_json["grant"]["used"], true);
    assert!(
        shown.contains("grant         used at 20") && shown.contains(&format!("by trace {trace}")),
        "{shown}"
    );
    assert!(
        matches!(call(), Decision::Skip { .. }),
        "used once: the next call suggests again"
    );
}

/// One call of `name` with `{"path": "b.txt"}` under `p` on `log`.
/// A SQLite log in a fresh directory (`events.db`), and `name` registered as an `fs.write`
/// builtin for the calls the test makes on it.
fn sqlite_log_with_writer(name: &'static str) -> (tempfile::TempDir, Arc<dyn EventLog>) {
    let dir = tempfile::tempdir().unwrap();
    registry::register(registry::BuiltinInfo::new(
        name,
        "fs.write",
        "workspace.write_text",
    ))
    .unwrap();
    let log: Arc<dyn EventLog> = Arc::new(SqliteEventLog::open(dir.path().join("events.db")).unwrap());
    (dir, log)
}

fn suggest_call(
    rt: &tokio::runtime::Runtime,
    log: &Arc<dyn EventLog>,
    p: &Arc<AutonomyPolicy>,
    name: &str,
) -> Decision {
    rt.block_on(sidefx::with_event_log(
        log.clone(),
        sidefx::with_policy(p.clone(), sidefx::enforce(name, &json!({"path": "b.txt"}))),
    ))
    .unwrap()
}

#[test]
fn an_approval_whose_grant_was_not_recorded_says_so_and_approving_again_records_it() {
    let name = "cli_grant_stuck";
    let (dir, log) = sqlite_log_with_writer(name);
    let path = dir.path().join("events.db");
    let rt = runtime();
    let p = Arc::new(AutonomyPolicy::at_tier(Tier::Suggest).for_agent("planner"));
    let Decision::Skip { reason } = suggest_call(&rt, &log, &p, name) else {
        panic!("suggest does not run")
    };
    let id = reason.approval_request_id().unwrap().to_owned();
    // The approval as `respond` writes it, then the process dies before the grant.
    let now = sidefx::log::now_ms();
    let t = Topic::HITL_APPROVALS;
    let answer = json!({"request_id": id, "reviewer": "alice", "approved": true, "reason": null, "responded_at_ms": now});
    let decision = json!({"request_id": id, "approvers": ["alice"], "decided_at_ms": now});
    for (kind, payload) in [("response_received", answer), ("approval_approved", decision)] {
        let ev = LogEvent::new(kind, payload).with_header("request_id", id.clone());
        rt.block_on(log.append(&t, ev)).unwrap();
    }

    let shown = ok(sidefx(&path, &["approvals", "show", &id]));
    assert!(shown.contains("state         approved"), "{shown}");
    assert!(
        shown.contains("grant         approved, grant not recorded yet")
            && shown.contains("approvals approve"),
        "{shown}"
    );
    assert!(
        matches!(suggest_call(&rt, &log, &p, name), Decision::Skip { .. }),
        "fails closed meanwhile"
    );

    let said = ok(sidefx(&path, &["approvals", "approve", &id, "--reviewer", "bob"]));
    assert!(
        said.contains("its grant was not recorded; it is now")
            && said.contains("the next identical call by planner to cli_grant_stuck runs once before 20"),
        "{said}"
    );
    let shown = ok(sidefx(&path, &["approvals", "show", &id]));
    assert!(
        shown.contains("grant         unused: the next identical call"),
        "{shown}"
    );
    let Decision::Approved { request_id, .. } = suggest_call(&rt, &log, &p, name) else {
        panic!("the approved suggestion runs")
    };
    assert_eq!(request_id, id);
    // Nothing is missing any more: a further answer is refused as before.
    fails(
        sidefx(&path, &["approvals", "approve", &id, "--reviewer", "carol"]),
        "already decided",
    );
}

#[test]
fn approving_a_needs_human_request_says_a_person_must_act_not_re_dispatch() {
    let name = "cli_needs_human_write";
    let (dir, log) = sqlite_log_with_writer(name);
    let path = dir.path().join("events.db");
    let rt = runtime();
    let p = Arc::new(
        AutonomyPolicy::from_value(
            &json!({"agent_id": "planner", "autonomy_tier": "suggest", "requires_human": true}),
        )
        .unwrap(),
    );
    let Decision::Skip { reason } = suggest_call(&rt, &log, &p, name) else {
        panic!("a needs-human call does not run")
    };
    assert_eq!(reason.code(), "SIDEFX-NEEDS-HUMAN");
    let id = reason.approval_request_id().unwrap().to_owned();
    let said = ok(sidefx(
        &path,
        &["approvals", "approve", &id, "--reviewer", "alice"],
    ));
    assert!(said.contains("a person must perform the action"), "{said}");
    assert!(!said.contains("re-dispatch"), "{said}");
}

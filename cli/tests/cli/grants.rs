//! `sidefx approvals approve` on a suggestion says what approving it does (the next identical
//! call runs once before a time), and `approvals show` says whether that grant was used, when
//! and by which trace (issue 14 §1), through the real binary.

use std::sync::Arc;

use serde_json::json;
use sidefx::log::{EventLog, SqliteEventLog};
use sidefx::{AutonomyPolicy, Decision, Tier, registry};

use super::{json, ok, runtime, sidefx};

#[test]
fn approving_a_suggestion_grants_its_identical_call_one_run_and_show_tells_its_use() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let rt = runtime();
    registry::register(registry::BuiltinInfo::new(
        "cli_grant_write",
        "fs.write",
        "workspace.write_text",
    ))
    .unwrap();
    let log: Arc<dyn EventLog> = Arc::new(SqliteEventLog::open(&path).unwrap());
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

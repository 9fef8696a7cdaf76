//! Rules on arguments through the attribute: `path(..)` makes a builtin's path argument what a
//! policy's path rules match, end to end (macro -> registry -> rules -> enforcement -> records),
//! and `sidefx::enforce` by name reads the same resources from JSON arguments, strictly.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;
use sidefx::log::{EventLog, MemoryEventLog, Topic};
use sidefx::registry::{self, BuiltinInfo};
use sidefx::resource::{ResourceKind, ResourceSpec};
use sidefx::{AutonomyPolicy, Decision, DispatchContext, side_effect};

#[side_effect(class = "fs.write", path(path), skip(ran))]
async fn rules_write(ran: &AtomicUsize, path: &str, text: &str) -> Result<(), sidefx::Error> {
    let _ = text;
    ran.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

/// The issue's policy: writes under `src/**` run, anything else is only suggested (so the
/// refusal is immediate and observable), and `secrets/**` needs a human.
fn policy() -> AutonomyPolicy {
    AutonomyPolicy::from_json(
        r#"{"autonomy_tier": "suggest", "rules": [
            {"class": "fs.write", "path": "src/**", "tier": "act_auto"},
            {"path": "secrets/**", "requires_human": true}
        ]}"#,
    )
    .unwrap()
}

async fn call(ws: &std::path::Path, ran: &AtomicUsize, path: &str) -> Result<(), sidefx::Error> {
    let ctx = DispatchContext::new("planner").workspace(ws);
    sidefx::with_dispatch(ctx, sidefx::with_policy(policy(), rules_write(ran, path, "x"))).await
}

#[tokio::test]
async fn a_path_rule_runs_writes_under_src_and_refuses_the_rest() {
    let ws = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(ws.path().join("src")).unwrap();
    let log: Arc<dyn EventLog> = Arc::new(MemoryEventLog::new());
    let ran = AtomicUsize::new(0);
    sidefx::with_event_log(log.clone(), async {
        call(ws.path(), &ran, "src/lib.rs").await.unwrap();
        assert_eq!(ran.load(Ordering::SeqCst), 1, "the write under src/ runs");

        // Outside src/, by a plain path, by `..` and by an absolute path: the rows' suggest.
        let outside = ws.path().join("README.md");
        for path in ["README.md", "src/../README.md", outside.to_str().unwrap()] {
            let err = call(ws.path(), &ran, path).await.unwrap_err();
            assert!(err.is_skipped(), "{path}: {err}");
        }
        let err = call(ws.path(), &ran, "secrets/key").await.unwrap_err();
        assert_eq!(err.code(), "SIDEFX-NEEDS-HUMAN");
    })
    .await;
    assert_eq!(ran.load(Ordering::SeqCst), 1, "no refused body ran");

    // The records carry the normalised resource and what decided.
    let proposals = log.read_range(&Topic::TRIGGER_OUTBOX, 0, 10).await.unwrap();
    let first = &proposals[0].event.payload;
    let readme = ws.path().join("README.md");
    assert_eq!(
        first["resources"],
        json!([{"kind": "path", "arg": "path", "value": readme.to_str().unwrap()}])
    );
    assert_eq!(first["decided_by"], "autonomy_tier");
    // So do the approval requests the suggested calls filed, for the reviewer to see.
    let requests = sidefx::approval::pending(log.as_ref()).await.unwrap();
    let request = requests
        .iter()
        .find(|r| r.builtin == "rules_write")
        .expect("a suggested write files a request");
    assert_eq!(request.resources, first["resources"]);
    assert_eq!(
        request.decided_by.as_ref().map(ToString::to_string).as_deref(),
        Some("autonomy_tier")
    );
    let trust = log.read_range(&Topic::TRUST_GRAPH, 0, 10).await.unwrap();
    let last = &trust.last().unwrap().event.payload;
    assert!(
        last["metadata"]["decided_by"]
            .as_str()
            .unwrap()
            .starts_with("rules[1]"),
        "{last}"
    );
    assert!(
        sidefx::trust::verify_chain(log.as_ref())
            .await
            .unwrap()
            .is_valid()
    );
}

#[cfg(unix)]
#[tokio::test]
async fn a_symlink_out_of_src_gets_no_looser_rule() {
    let ws = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(ws.path().join("src")).unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), ws.path().join("src/out")).unwrap();
    let ran = AtomicUsize::new(0);
    let log: Arc<dyn EventLog> = Arc::new(MemoryEventLog::new());
    let err = sidefx::with_event_log(log, call(ws.path(), &ran, "src/out/x.rs"))
        .await
        .unwrap_err();
    assert!(err.is_skipped(), "{err}");
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

const WRITE: &[ResourceSpec] = &[ResourceSpec::new(ResourceKind::Path, "path")];

#[tokio::test]
async fn enforce_by_name_reads_resources_from_json_strictly() {
    registry::register(
        BuiltinInfo::new("vm_rules_write", "fs.write", "workspace.write_text").with_resources(WRITE),
    )
    .unwrap();
    let ws = tempfile::tempdir().unwrap();
    let log: Arc<dyn EventLog> = Arc::new(MemoryEventLog::new());
    let decide = |args: serde_json::Value| {
        let ctx = DispatchContext::new("planner").workspace(ws.path());
        let log = log.clone();
        async move {
            sidefx::with_event_log(
                log,
                sidefx::with_dispatch(
                    ctx,
                    sidefx::with_policy(
                        policy(),
                        async move { sidefx::enforce("vm_rules_write", &args).await },
                    ),
                ),
            )
            .await
            .unwrap()
        }
    };
    assert!(matches!(
        decide(json!({"path": "src/a.rs"})).await,
        Decision::Proceed(_)
    ));
    // Missing, null, or not a string: unreadable, so the looser rule does not apply.
    for args in [
        json!({}),
        json!({"path": null}),
        json!({"path": ["src/a.rs"]}),
        json!({"file": "src/a.rs"}),
    ] {
        assert!(
            matches!(decide(args.clone()).await, Decision::Skip { .. }),
            "{args}"
        );
    }
}

/// Requests filed before approval requests carried resources still parse, and a request without
/// them stores neither field.
#[test]
fn approval_requests_without_resources_parse_and_store_none() {
    let old = json!({
        "request_id": "r-1", "agent": "a", "trace_id": "t", "action": "fs.write",
        "builtin": "write_file", "args": {}, "args_digest": "sha256:00", "reviewers": [],
        "quorum": 1, "requested_at": "2026-01-01T00:00:00.000Z", "requested_at_ms": 0,
        "deadline": "2026-01-02T00:00:00.000Z", "deadline_ms": 1,
        "capabilities_requested": [], "blocking": true
    });
    let request: sidefx::approval::ApprovalRequest = serde_json::from_value(old.clone()).unwrap();
    assert!(request.resources.is_null() && request.decided_by.is_none());
    assert_eq!(serde_json::to_value(&request).unwrap(), old);
}

//! Errors keep what they know: a failure its cause, a refusal the call it refused.

use std::error::Error as _;
use std::sync::Arc;

use super::*;
use crate::log::MemoryEventLog;
use crate::rules::DecidedBy;
use crate::{AutonomyPolicy, Decision, Tier, registry};

/// Walks the `source()` chain looking for an error of type `T`.
fn cause<'a, T: std::error::Error + 'static>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a T> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        next = e.source();
    }
    None
}

/// A log that cannot be opened keeps SQLite's own error as its cause, not only its text.
#[cfg(feature = "sqlite")]
#[test]
fn a_log_failure_keeps_its_sqlite_cause() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain");
    std::fs::write(&file, "not a directory").unwrap();
    let err = crate::log::SqliteEventLog::open(file.join("events.db")).unwrap_err();
    assert_eq!(err.code(), "SIDEFX-LOG");
    let sqlite = cause::<rusqlite::Error>(&err).unwrap_or_else(|| panic!("no SQLite cause in {err:?}"));
    assert!(err.to_string().contains(&sqlite.to_string()), "{err}");
    // Clones share the cause.
    let copy = err.clone();
    assert!(cause::<rusqlite::Error>(&copy).is_some());
}

#[test]
fn a_failure_without_a_cause_has_no_source() {
    let err = Error::Log("the SQLite writer thread stopped".into());
    assert_eq!(
        err.to_string(),
        "event log error: the SQLite writer thread stopped"
    );
    assert!(err.source().is_some_and(|f| f.source().is_none()));
}

/// Under suggest, the refusal names the request it filed, the tier and the policy row that
/// decided: the same facts as the call's trust record.
#[tokio::test]
async fn a_refusal_carries_the_request_the_tier_and_what_decided() {
    registry::register(registry::BuiltinInfo::new(
        "err_refusal_suggest",
        "git.write",
        "git.write",
    ))
    .unwrap();
    let log = Arc::new(MemoryEventLog::new());
    let policy =
        AutonomyPolicy::from_json(r#"{"agent_id": "planner", "action_tiers": {"git.write": "suggest"}}"#)
            .unwrap();
    let decision = crate::with_event_log(
        log.clone(),
        crate::with_policy(
            policy,
            crate::enforce("err_refusal_suggest", &serde_json::json!({})),
        ),
    )
    .await
    .unwrap();
    let Decision::Skip { reason } = decision else {
        panic!("suggest runs nothing")
    };
    let refusal = reason.refusal().expect("a refusal");
    assert_eq!(refusal.kind, RefusalKind::Skipped);
    assert_eq!(
        (refusal.builtin.as_str(), refusal.agent.as_str()),
        ("err_refusal_suggest", "planner")
    );
    assert_eq!(refusal.tier, Tier::Suggest);
    assert_eq!(
        refusal.decided_by,
        DecidedBy::Row("action_tiers[git.write]".into())
    );
    let request_id = refusal.request_id.as_deref().expect("suggest files a request");
    let filed = crate::approval::status(log.as_ref(), request_id).await.unwrap();
    assert_eq!(filed.request.builtin, "err_refusal_suggest");
    let record = &crate::trust::query(log.as_ref(), &Default::default())
        .await
        .unwrap()[0];
    assert_eq!(record.metadata["approval_request_id"], request_id);
    assert_eq!(record.metadata["deny_code"], reason.code());
}

/// Refusals built outside a call (strict mode, impossible reviewer settings) are stamped with
/// the call's facts once enforcement has them.
#[tokio::test]
async fn a_no_reviewer_refusal_names_the_call() {
    registry::register(registry::BuiltinInfo::new(
        "err_refusal_noreviewer",
        "git.write",
        "git.write",
    ))
    .unwrap();
    let outer = AutonomyPolicy::from_json(r#"{"reviewers": ["alice"]}"#).unwrap();
    let inner = AutonomyPolicy::from_json(
        r#"{"agent_id": "ci", "reviewers": ["mallory"], "autonomy_tier": "act_with_approval"}"#,
    )
    .unwrap();
    let log = Arc::new(MemoryEventLog::new());
    let args = serde_json::json!({});
    let call = crate::enforce("err_refusal_noreviewer", &args);
    let decision = crate::with_event_log(log, crate::with_policy(outer, crate::with_policy(inner, call)))
        .await
        .unwrap();
    let Decision::Skip { reason } = decision else {
        panic!("nobody could approve")
    };
    let refusal = reason.refusal().expect("a refusal");
    assert!(
        matches!(&refusal.kind, RefusalKind::NoReviewer { reason } if reason.contains("nobody in common"))
    );
    assert_eq!(
        (refusal.agent.as_str(), refusal.tier),
        ("ci", Tier::ActWithApproval)
    );
    assert_eq!(refusal.decided_by, DecidedBy::Row("autonomy_tier".into()));
    assert_eq!(reason.code(), "SIDEFX-NO-REVIEWER");
}

#[test]
fn refusals_serialise_as_data() {
    let r = Refusal::new(
        RefusalKind::ApprovalDenied {
            reviewer: "bob".into(),
            reason: Some("not today".into()),
        },
        "git.push",
        "ci",
        Tier::ActWithApproval,
    )
    .request("0192");
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["refusal"], "approval_denied");
    assert_eq!(
        (&v["reviewer"], &v["request_id"], &v["tier"]),
        (
            &serde_json::json!("bob"),
            &serde_json::json!("0192"),
            &serde_json::json!("act_with_approval")
        )
    );
    assert_eq!(
        Error::from(r).to_string(),
        "`git.push` was not run: approval request 0192 was denied by `bob`: not today"
    );
}

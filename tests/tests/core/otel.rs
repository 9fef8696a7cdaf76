//! OpenTelemetry spans of decisions (issue 14 §3), through the SDK's in-memory span exporter:
//! a shadow, an approved and a denied call, with their GenAI and sidefx attributes; arguments
//! only on opt-in and never a redacted one.

use std::collections::HashMap;

use opentelemetry::Value as OtelValue;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};
use sidefx::approval::{ApprovalDecision, ApprovalRequest, Approver, Verdict};

use super::*;

/// Approves (as alice) or denies (as bob) every request at once.
struct Answers(bool);

#[sidefx::async_trait]
impl Approver for Answers {
    async fn decide(&self, _: &ApprovalRequest, _: &dyn EventLog) -> sidefx::Result<Verdict> {
        Ok(match self.0 {
            true => ApprovalDecision::Approved {
                approvers: vec!["alice".into()],
            },
            false => ApprovalDecision::Denied {
                reviewer: "bob".into(),
                reason: Some("freeze".into()),
            },
        }
        .into())
    }
}

/// Runs `calls` on this thread with the exporting subscriber installed for this thread only.
/// A thread-local subscriber alone meets tracing-core's single-dispatcher interest cache (see
/// `never_just_one_dispatcher`): another test's first decision could cache the span's callsite
/// as never-interesting and this test would see no spans (it failed once in a full run).
fn spans_of<F: std::future::Future<Output = ()>>(calls: F) -> Vec<SpanData> {
    super::tracing_events::never_just_one_dispatcher();
    let exporter = InMemorySpanExporter::default();
    let (subscriber, provider) = sidefx::telemetry::otel::subscriber(exporter.clone());
    {
        let _guard = tracing::subscriber::set_default(subscriber);
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(calls);
    }
    provider.force_flush().unwrap();
    exporter.get_finished_spans().unwrap()
}

fn attributes(span: &SpanData) -> HashMap<String, String> {
    span.attributes
        .iter()
        .map(|kv| {
            let v = match &kv.value {
                OtelValue::String(s) => s.to_string(),
                other => other.to_string(),
            };
            (kv.key.to_string(), v)
        })
        .collect()
}

#[test]
fn shadow_approved_and_denied_calls_are_execute_tool_spans_with_their_attributes() {
    let shadow = builtin("otel_shadow_delete", "fs.delete");
    let push = builtin("otel_push", "git.write");
    let log = Arc::new(MemoryEventLog::new());
    let ran = AtomicUsize::new(0);
    let spans = spans_of(async {
        sidefx::with_event_log(log.clone(), async {
            let shadowed =
                AutonomyPolicy::from_json(r#"{"agent_id": "planner", "autonomy_tier": "shadow"}"#).unwrap();
            let ctx = DispatchContext::new("planner").trace("trace-shadow");
            let r = sidefx::with_policy(
                shadowed,
                sidefx::with_dispatch(ctx, call(shadow, json!({"path": "a"}), &ran)),
            );
            assert!(r.await.unwrap_err().is_skipped());
            let gated =
                AutonomyPolicy::from_json(r#"{"agent_id": "planner", "autonomy_tier": "act_with_approval"}"#)
                    .unwrap();
            for (approve, trace) in [(true, "trace-approved"), (false, "trace-denied")] {
                let ctx = DispatchContext::new("planner").trace(trace);
                let fut = call(push, json!({"branch": "main"}), &ran);
                let r = sidefx::with_approver(
                    Arc::new(Answers(approve)),
                    sidefx::with_policy(gated.clone(), sidefx::with_dispatch(ctx, fut)),
                )
                .await;
                assert_eq!(r.is_ok(), approve);
            }
        })
        .await;
    });
    assert_eq!(ran.load(Ordering::SeqCst), 1, "only the approved call ran");
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_ref()).collect();
    assert_eq!(
        names,
        [
            "execute_tool otel_shadow_delete",
            "execute_tool otel_push",
            "execute_tool otel_push"
        ]
    );
    let [shadow, approved, denied] = [0, 1, 2].map(|i| attributes(&spans[i]));
    for (a, trace) in [
        (&shadow, "trace-shadow"),
        (&approved, "trace-approved"),
        (&denied, "trace-denied"),
    ] {
        assert_eq!(a["gen_ai.operation.name"], "execute_tool");
        assert_eq!(a["gen_ai.tool.call.id"], trace);
        assert_eq!(a["sidefx.agent"], "planner");
        assert!(
            !a.contains_key("gen_ai.tool.call.arguments"),
            "arguments are opt-in: {a:?}"
        );
    }
    assert_eq!(shadow["gen_ai.tool.name"], "otel_shadow_delete");
    assert_eq!(
        (
            shadow["sidefx.tier"].as_str(),
            shadow["sidefx.outcome"].as_str(),
            shadow["error.type"].as_str()
        ),
        ("shadow", "skipped", "SIDEFX-SKIPPED")
    );
    assert_eq!(shadow["sidefx.decided_by"], "autonomy_tier");
    assert_eq!(shadow["sidefx.trust.chain_index"], "0");
    assert_eq!(approved["gen_ai.tool.name"], "otel_push");
    assert_eq!(
        (
            approved["sidefx.tier"].as_str(),
            approved["sidefx.outcome"].as_str()
        ),
        ("act_with_approval", "approved")
    );
    assert!(!approved.contains_key("error.type"), "{approved:?}");
    assert_eq!(approved["sidefx.trust.chain_index"], "1");
    assert_eq!(
        (denied["sidefx.outcome"].as_str(), denied["error.type"].as_str()),
        ("denied", "SIDEFX-APPROVAL-DENIED")
    );
    assert_eq!(denied["sidefx.trust.chain_index"], "2");
    // Run here, not as its own test: the opt-in is process-wide, and the calls above check
    // that arguments are absent without it.
    arguments_are_recorded_only_on_opt_in_and_redacted_ones_never();
}

fn arguments_are_recorded_only_on_opt_in_and_redacted_ones_never() {
    let name = builtin("otel_args_charge", "store.write");
    let log = Arc::new(MemoryEventLog::new());
    let ran = AtomicUsize::new(0);
    // Spans of other tests are not collected here (a thread-local subscriber).
    sidefx::telemetry::record_arguments(true);
    let spans = spans_of(async {
        let p = AutonomyPolicy::at_tier(Tier::Shadow);
        let args = json!({"amount": 42, "token": "[redacted]"});
        let r = sidefx::with_event_log(log.clone(), sidefx::with_policy(p, call(name, args, &ran))).await;
        assert!(r.unwrap_err().is_skipped());
    });
    sidefx::telemetry::record_arguments(false);
    let a = attributes(&spans[0]);
    assert_eq!(a["gen_ai.tool.call.arguments"], r#"{"amount":42}"#);
    assert!(!a.values().any(|v| v.contains("redacted")), "{a:?}");
}

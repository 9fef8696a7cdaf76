//! OpenTelemetry spans of decisions, following the GenAI semantic conventions: every decision
//! is a `tracing` span (target `sidefx::decision`, level `INFO`) that an OpenTelemetry layer
//! exports as `execute_tool {builtin}` with
//!
//! | attribute | value |
//! |---|---|
//! | `gen_ai.operation.name` | `execute_tool` |
//! | `gen_ai.tool.name` | the builtin (`git.push`) |
//! | `gen_ai.tool.call.id` | the call's trace id (absent when an un-dispatched act_auto call has none) |
//! | `error.type` | the refusal's stable code (`SIDEFX-SKIPPED`, `SIDEFX-APPROVAL-DENIED`, ...) |
//! | `sidefx.agent`, `sidefx.tier`, `sidefx.outcome`, `sidefx.decided_by` | as in the trust record |
//! | `sidefx.trust.chain_index` | the decision's trust record, when one was written before the body ran |
//! | `gen_ai.tool.call.arguments` | the recorded arguments, only after [`record_arguments`]`(true)`; redacted ones are left out, never masked values |
//!
//! Spans cost nothing on the act_auto fast path unless a subscriber enables `INFO` for
//! `sidefx::decision`: they are built behind the same level check as the `tool_decision` event.
//! With the `otel` feature, `sidefx::telemetry::otel` sets the exporter up in one call.
//!
//! ```
//! sidefx::telemetry::record_arguments(false);
//! assert!(!sidefx::telemetry::records_arguments());
//! ```

use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;

use crate::SideEffectAction;
use crate::Tier;
use crate::rules::DecidedBy;

static ARGUMENTS: AtomicBool = AtomicBool::new(false);

/// Opts in (or out) to recording the call's arguments on spans as
/// `gen_ai.tool.call.arguments`. Off by default: arguments may carry data an operator's
/// tracing backend should not hold. Redacted arguments are never recorded, not even masked.
///
/// ```
/// sidefx::telemetry::record_arguments(true);
/// assert!(sidefx::telemetry::records_arguments());
/// sidefx::telemetry::record_arguments(false);
/// ```
pub fn record_arguments(on: bool) {
    ARGUMENTS.store(on, Ordering::Relaxed);
}

/// Whether spans record arguments (see [`record_arguments`]).
///
/// ```
/// let _ = sidefx::telemetry::records_arguments();
/// ```
pub fn records_arguments() -> bool {
    ARGUMENTS.load(Ordering::Relaxed)
}

/// What a decision's span says beyond the `tool_decision` event.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Detail<'a> {
    /// The refusal's stable code.
    pub error_type: Option<&'a str>,
    /// The trust record written for the decision.
    pub chain_index: Option<u64>,
    /// The recorded arguments.
    pub args: Option<&'a Value>,
}

/// Records one decision as a span (opened and closed at once: the decision is its content).
#[allow(clippy::too_many_arguments)]
pub(crate) fn span(
    action: &SideEffectAction,
    agent: &str,
    tier: Tier,
    trace_id: &str,
    decided_by: &DecidedBy,
    outcome: &str,
    detail: &Detail<'_>,
) {
    let name = format!("execute_tool {}", action.builtin);
    let span = tracing::info_span!(
        target: "sidefx::decision",
        "execute_tool",
        otel.name = name.as_str(),
        otel.kind = "internal",
        gen_ai.operation.name = "execute_tool",
        gen_ai.tool.name = action.builtin,
        gen_ai.tool.call.id = tracing::field::Empty,
        gen_ai.tool.call.arguments = tracing::field::Empty,
        error.type = tracing::field::Empty,
        sidefx.agent = agent,
        sidefx.tier = tier.as_str(),
        sidefx.outcome = outcome,
        sidefx.decided_by = %decided_by,
        sidefx.trust.chain_index = tracing::field::Empty,
    );
    if span.is_disabled() {
        return;
    }
    if !trace_id.is_empty() {
        span.record("gen_ai.tool.call.id", trace_id);
    }
    if let Some(code) = detail.error_type {
        span.record("error.type", code);
    }
    if let Some(i) = detail.chain_index {
        span.record("sidefx.trust.chain_index", i);
    }
    if records_arguments()
        && let Some(args) = detail.args
    {
        span.record(
            "gen_ai.tool.call.arguments",
            unredacted(args).to_string().as_str(),
        );
    }
}

/// The arguments without the redacted ones (their mask says a secret was there).
fn unredacted(args: &Value) -> Value {
    match args {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| v.as_str() != Some(crate::__private::REDACTED))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// One-call set-up of an OpenTelemetry exporter for decision spans (feature `otel`), over
/// `tracing-opentelemetry` 0.34 and `opentelemetry_sdk` 0.33.
///
/// ```no_run
/// fn start(exporter: impl opentelemetry_sdk::trace::SpanExporter + 'static) -> sidefx::Result<()> {
///     let provider = sidefx::telemetry::otel::init(exporter)?;
///     // ... run the agents; every decision is exported as `execute_tool {builtin}` ...
///     let _ = provider.shutdown();
///     Ok(())
/// }
/// ```
#[cfg(feature = "otel")]
pub mod otel {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::{SdkTracerProvider, SpanExporter};
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::registry::LookupSpan;

    /// A layer exporting the `sidefx::decision` spans to `provider`, for hosts that build
    /// their own subscriber.
    pub fn layer<S>(provider: &SdkTracerProvider) -> impl Layer<S> + use<S>
    where
        S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    {
        let only_decisions =
            tracing_subscriber::filter::Targets::new().with_target("sidefx::decision", tracing::Level::INFO);
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("sidefx"))
            .with_filter(only_decisions)
    }

    /// A subscriber that exports every `sidefx::decision` span through `exporter` (a simple,
    /// synchronous span processor: each span is exported when it closes), and the provider
    /// (call `shutdown` or `force_flush` on it before exiting). Install it with
    /// `tracing::subscriber::set_global_default`, scoped with `set_default`, or use [`init`].
    pub fn subscriber(
        exporter: impl SpanExporter + 'static,
    ) -> (impl tracing::Subscriber + Send + Sync, SdkTracerProvider) {
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter)
            .build();
        let subscriber = tracing_subscriber::registry().with(layer(&provider));
        (subscriber, provider)
    }

    /// Installs [`subscriber`] as the process's global default: one call at start-up. Fails
    /// when a global subscriber is already set.
    pub fn init(exporter: impl SpanExporter + 'static) -> crate::Result<SdkTracerProvider> {
        let (subscriber, provider) = subscriber(exporter);
        tracing::subscriber::set_global_default(subscriber).map_err(|e| {
            crate::Error::Config(format!(
                "cannot install the OpenTelemetry subscriber: {e}; add `sidefx::telemetry::otel::layer` to your own subscriber instead"
            ))
        })?;
        Ok(provider)
    }
}

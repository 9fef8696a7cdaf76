//! Runtime core behaviour (issue 2): resolution order, tighten-only scopes, enforcement per
//! tier, approvals, fail-closed cases, task isolation, the trust chain and policy errors.
//!
//! Builtins here are registered at run time and reached through the dynamic entry point
//! `sidefx::enforce`, with a counter standing in for the side effect so every test observes
//! whether the body ran.

#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

// One test binary for the whole core area; one module per concept.
mod enforcement;
mod event_log;
mod grants;
mod isolation;
mod layering;
mod otel;
mod policy;
mod replay;
mod resolution;
mod tighten;
mod tracing_events;
mod trust_chain;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use sidefx::approval::{self, ApprovalDraft};
use sidefx::log::{EventLog, LogEvent, MemoryEventLog, StoredEvent, Topic, subscribe};
use sidefx::registry::{self, BuiltinInfo};
use sidefx::trust::{self, Outcome, TrustDraft, TrustRecord};
use sidefx::{AutonomyPolicy, Decision, DispatchContext, Error, SideEffectAction, Tier};

fn action(builtin: &'static str, class: &'static str) -> SideEffectAction {
    let capability = sidefx::catalogue::capability_of(class).unwrap_or("custom.cap");
    SideEffectAction::new(builtin, class, capability)
}

/// Registers `name` once per process (tests run in parallel threads of one process).
fn builtin(name: &'static str, class: &'static str) -> &'static str {
    if registry::lookup(name).is_none() {
        let cap = sidefx::catalogue::capability_of(class).expect("catalogue class");
        registry::register(BuiltinInfo::new(name, class, cap)).expect("valid registration");
    }
    name
}

/// Calls a builtin through `enforce`; the "side effect" is bumping `ran`.
async fn call(name: &str, args: Value, ran: &AtomicUsize) -> Result<Option<(String, Vec<String>)>, Error> {
    match sidefx::enforce(name, &args).await? {
        Decision::Proceed(permit) => {
            ran.fetch_add(1, Ordering::SeqCst);
            permit.finish(true).await;
            Ok(None)
        }
        Decision::Approved {
            permit,
            request_id,
            approvers,
        } => {
            ran.fetch_add(1, Ordering::SeqCst);
            permit.finish(true).await;
            Ok(Some((request_id, approvers)))
        }
        Decision::Skip { reason } => Err(reason),
    }
}

async fn events(log: &MemoryEventLog, topic: &Topic) -> Vec<StoredEvent> {
    log.read_range(topic, 0, usize::MAX).await.expect("read")
}

async fn records(log: &MemoryEventLog) -> Vec<TrustRecord> {
    events(log, &Topic::TRUST_GRAPH)
        .await
        .iter()
        .map(|e| TrustRecord::from_event(&e.event).expect("record parses"))
        .collect()
}

fn policy(json: Value) -> AutonomyPolicy {
    AutonomyPolicy::from_value(&json).expect("valid policy")
}

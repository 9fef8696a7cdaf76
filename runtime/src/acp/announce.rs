//! Announcing a turn's tool calls to the editor at every tier: the [`CallObserver`] that
//! [`serve`](super::serve) installs for each prompt turn, next to the turn's
//! [`AcpApprover`](super::AcpApprover).
//!
//! A call made inside [`Turn::tool_call`] is announced (`session/update` `tool_call`, status
//! `pending`) as soon as its arguments are recorded, before anything decides it, with the
//! class's kind, the recorded arguments as `rawInput` (redacted ones stay masked) and the
//! absolute `locations` of its paths; `in_progress` follows just before its body runs, and
//! [`Turn::tool_call`] reports `completed` or `failed` when it returns. So act_auto, shadow,
//! suggest and approved calls all look the same in the editor until their outcomes differ.
//! Calls outside a `Turn::tool_call` have no tool-call id to share and are left to the approver.

use std::sync::Arc;

use agent_client_protocol_schema::v1 as schema;
use serde_json::Value;

use super::codec::{self, ToolCall};
use super::session::{Session, Turn};
use super::tool_call::{current_tool_call, with_current_text};
use crate::observe::{CallObserver, CallStage, ObservedCall};

/// Announces the calls of one prompt turn to the editor (see the [module docs](self)).
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let (conn, _rx) = sidefx::acp::rpc::connect(tokio::io::empty(), tokio::io::sink());
/// let session = sidefx::acp::Session::new("s-1", "/work", conn);
/// let turn = session.begin_turn().unwrap();
/// let observer = sidefx::acp::AcpObserver::for_turn(&turn);
/// sidefx::with_observer(observer, async { /* calls here are announced */ }).await;
/// # });
/// ```
#[derive(Debug)]
pub struct AcpObserver {
    session: Arc<Session>,
}

impl AcpObserver {
    /// The observer for calls made during `turn`.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let (conn, _rx) = sidefx::acp::rpc::connect(tokio::io::empty(), tokio::io::sink());
    /// let session = sidefx::acp::Session::new("s-1", "/work", conn);
    /// let _observer = sidefx::acp::AcpObserver::for_turn(&session.begin_turn().unwrap());
    /// # });
    /// ```
    pub fn for_turn(turn: &Turn) -> Arc<dyn CallObserver> {
        Arc::new(AcpObserver {
            session: turn.session().clone(),
        })
    }
}

#[async_trait::async_trait]
impl CallObserver for AcpObserver {
    async fn observe(&self, call: &ObservedCall<'_>, stage: CallStage<'_>) {
        let Some(slot) = current_tool_call() else {
            return;
        };
        let session = self.session.id();
        match stage {
            CallStage::Announced if slot.announce_once() => {
                let action = call.action;
                let described = ToolCall::for_action(
                    slot.id.clone(),
                    action.builtin,
                    action.class,
                    action.capability,
                    call.args,
                    Some(self.session.cwd()),
                )
                .with_title(slot.title.clone())
                .with_sidefx_meta("tier", Value::from(call.tier.as_str()))
                .with_sidefx_meta("agent", Value::from(call.agent))
                .with_sidefx_meta("traceId", Value::from(call.trace_id));
                let described = with_current_text(described).await;
                self.session.update(&described.announcement(session)).await;
            }
            CallStage::Running if slot.start_once() => {
                let update =
                    codec::tool_call_update(session, &slot.id, schema::ToolCallStatus::InProgress, None);
                self.session.update(&update).await;
            }
            // The outcome is reported by `Turn::tool_call`, with the error's text.
            _ => {}
        }
    }
}

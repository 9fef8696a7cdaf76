//! The ACP (Agent Client Protocol v1) permission bridge (SPEC §13).
//!
//! Editors such as Zed approve an agent's tool calls through `session/request_permission`.
//! This module speaks that protocol for a sidefx runtime:
//!
//! - [`codec`]: builds the request params from a call and parses the client's answer fail-closed;
//! - [`rpc`]: newline-delimited JSON-RPC 2.0 over stdio, with a read loop that keeps serving while
//!   a permission request is outstanding;
//! - [`AcpApprover`]: the [`Approver`](crate::approval::Approver) that asks the editor, remembering
//!   `allow_always` / `reject_always` as session [`Grants`];
//! - [`AcpObserver`]: the [`CallObserver`](crate::observe::CallObserver) that announces every
//!   tool call of a turn at every tier, before it is decided;
//! - [`serve`]: the agent side of the lifecycle (`initialize`, `session/new`, `session/prompt`,
//!   `session/cancel`), running each turn of a [`PromptHandler`] under the turn's approver and
//!   observer.
//!
//! ```no_run
//! use std::sync::Arc;
//! use sidefx::acp::{self, PromptHandler, StopReason, Turn, rpc::RpcError};
//!
//! #[sidefx::side_effect(class = "fs.delete", path(path))]
//! async fn delete_file(path: &str) -> Result<(), sidefx::Error> {
//!     // ... the side effect ...
//!     Ok(())
//! }
//!
//! struct Agent;
//! #[sidefx::async_trait]
//! impl PromptHandler for Agent {
//!     async fn prompt(&self, turn: &Turn, prompt: &[serde_json::Value]) -> Result<StopReason, RpcError> {
//!         for path in acp::prompt_text(prompt).lines() {
//!             // Announced to the editor, asked through session/request_permission, reported.
//!             let _ = turn.tool_call(format!("delete {path}"), delete_file(path)).await;
//!         }
//!         Ok(StopReason::EndTurn)
//!     }
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! let log = sidefx::log::open_default().expect("event log");
//! let policy = sidefx::AutonomyPolicy::at_tier(sidefx::Tier::ActWithApproval);
//! let serving = acp::serve(tokio::io::stdin(), tokio::io::stdout(), acp::AgentInfo::new("demo", "0.1.0"), Arc::new(Agent));
//! sidefx::with_event_log(log, sidefx::with_policy(policy, serving)).await
//! # }
//! ```

mod announce;
mod approver;
pub mod codec;
mod grants;
pub mod rpc;
mod server;
mod session;
mod tool_call;

/// The official ACP v1 schema types (`agent-client-protocol-schema`), which the codec builds.
pub use agent_client_protocol_schema::v1 as schema;
pub use announce::AcpObserver;
pub use approver::{AcpApprover, Decider};
pub use grants::{Grant, Grants};
pub use server::{AgentInfo, PROTOCOL_VERSION, PromptHandler, StopReason, prompt_text, serve, serve_stdio};
pub use session::{CancelFlag, Session, Turn};

//! # sidefx — autonomy tiers around the side effects of AI-agent runtimes
//!
//! For each agent and each action, sidefx decides whether a side effect **runs**
//! (`act_auto`), **waits for a human** (`act_with_approval`), is only **proposed**
//! (`suggest`), or is only **recorded** (`shadow`), and leaves a hash-chained audit trail of
//! every decision in an event log.
//!
//! ```
//! use std::sync::Arc;
//! use sidefx::{registry, AutonomyPolicy, Decision, Tier};
//! use sidefx::log::MemoryEventLog;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! registry::register(registry::BuiltinInfo::new("crate_doc_write", "fs.write", "workspace.write_text")).unwrap();
//! let log = Arc::new(MemoryEventLog::new());
//! let policy = AutonomyPolicy::from_json(r#"{"agent_id": "planner", "autonomy_tier": "shadow"}"#).unwrap();
//! let decision = sidefx::with_event_log(log.clone(), sidefx::with_policy(policy, async {
//!     sidefx::enforce("crate_doc_write", &serde_json::json!({"path": "a.txt"})).await
//! })).await.unwrap();
//! assert!(matches!(decision, Decision::Skip { .. }));
//! assert!(sidefx::trust::verify_chain(log.as_ref()).await.unwrap().is_valid());
//! # });
//! ```

pub mod acp;
mod action;
pub mod approval;
pub mod canonical;
mod enforce;
mod error;
pub mod log;
mod policy;
pub mod registry;
pub mod resource;
pub mod rules;
mod scope;
mod suggest;
mod tier;
pub mod trust;

pub use action::SideEffectAction;
/// Re-exported so hosts can implement [`log::EventLog`] and [`approval::Approver`].
pub use async_trait::async_trait;
pub use enforce::{Decision, Finish, Permit, enforce};
pub use error::{Error, Result};
pub use policy::AutonomyPolicy;
pub use scope::{
    ApprovalSettings, DEFAULT_AGENT, DispatchContext, Resolved, Scope, is_process_strict, resolve,
    set_process_strict, spawn, with_approver, with_dispatch, with_event_log, with_policy, with_strict,
};
pub use sidefx_macros::side_effect;
pub use tier::{ParseTierError, Tier};

/// The built-in class catalogue (SPEC §4), shared with the macro crate.
pub mod catalogue {
    pub use sidefx_catalogue::*;
}

/// The README's examples are compiled and run as doc tests so they cannot drift.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// Paths generated code uses. Not a public API: it may change in any release.
#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

//! # sidefx — autonomy tiers around the side effects of AI-agent runtimes
//!
//! For each agent and each action, sidefx decides whether a side effect **runs**
//! (`act_auto`), **waits for a human** (`act_with_approval`), is only **proposed**
//! (`suggest`), or is only **recorded** (`shadow`), and leaves a hash-chained audit trail of
//! every decision in an event log.
//!
//! ## A guide in five steps
//!
//! 1. **Annotate** each builtin with [`#[side_effect(class = "..")]`](side_effect): the macro
//!    registers it in the link-time [`registry`] and wraps its body with enforcement. Runtimes that
//!    dispatch by name call [`enforce`] instead.
//! 2. **Write a policy** ([`AutonomyPolicy`], JSON or TOML) and check it with
//!    `sidefx policy check`: tiers per agent and per action, who must approve, who needs a human.
//! 3. **Open scopes** around the work: [`with_event_log`] (a [`log::SqliteEventLog`] from
//!    [`log::open_default`], or [`log::MemoryEventLog`] in tests), [`with_policy`] and a
//!    [`DispatchContext`] per agent turn with [`with_dispatch`]. Scopes only ever tighten.
//! 4. **Answer approvals**: in another terminal with `sidefx approvals approve ID`, in process
//!    with [`approval::requests`] / [`approval::request_for_trace`] and [`approval::respond`], or
//!    from an editor through the [`acp`] bridge.
//! 5. **Audit**: [`trust::verify_chain`] (or `sidefx trust verify`) proves the hash chain of
//!    every decision; [`trust::query`] filters it.
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
//!
//! The rest of this page is the README's model section, included from the README itself: what
//! each tier does, how a policy answers, and how tiers, identities and approval settings
//! (reviewers, quorum, timeout) combine across nested scopes.
//!
#![doc = include_str!(concat!(env!("OUT_DIR"), "/model.md"))]

#[cfg(feature = "acp")]
pub mod acp;
mod action;
pub mod approval;
pub mod canonical;
mod enforce;
mod error;
pub mod log;
mod names;
pub mod observe;
mod policy;
mod quote;
pub mod registry;
pub mod replay;
pub mod resource;
pub mod rules;
mod scope;
pub mod signature;
pub mod telemetry;
mod tier;
pub mod trust;

pub use action::SideEffectAction;
pub use approval::grant;
/// Re-exported so hosts can implement [`log::EventLog`] and [`approval::Approver`].
pub use async_trait::async_trait;
pub use enforce::{Decision, Finish, Permit, enforce};
pub use error::{Error, Failure, Refusal, RefusalKind, Result};
pub use names::ParseNameError;
pub use policy::{AutonomyPolicy, Explanation};
pub use replay::replay;
pub use scope::{
    ApprovalSettings, DEFAULT_AGENT, DispatchContext, Resolved, Scope, is_process_strict, resolve,
    set_process_strict, spawn, with_approver, with_dispatch, with_event_log, with_observer, with_policy,
    with_strict,
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

#[cfg(test)]
mod guide_tests {
    /// The crate-root guide carries the README's model section, including how approval settings
    /// combine across scopes; an empty or misplaced extraction would silently shrink the docs.
    #[test]
    fn the_crate_docs_include_the_readme_model_section() {
        let section = include_str!(concat!(env!("OUT_DIR"), "/model.md"));
        let readme = include_str!("../../README.md");
        assert!(
            section.starts_with("## The model\n"),
            "section starts at its heading: {section:.80}"
        );
        assert!(
            readme.contains(section),
            "the section is the README's own text, verbatim"
        );
        for needle in ["most restrictive", "intersect", "quorum", "SIDEFX-NO-REVIEWER"] {
            assert!(section.contains(needle), "the model section explains `{needle}`");
        }
        assert!(
            !section[1..].contains("\n## "),
            "the section stops before the next heading"
        );
    }
}

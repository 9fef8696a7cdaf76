//! Watching calls while enforcement decides them: a [`CallObserver`] installed with
//! [`with_observer`](crate::with_observer) hears of every call made in its scope, at every tier,
//! in order: [`CallStage::Announced`] once the call's arguments are recorded and before anything
//! is decided (no approval asked, no body run), then either [`CallStage::Running`] just before the
//! body runs and [`CallStage::Finished`] after it, or [`CallStage::Refused`].
//!
//! A user interface that shows calls as they happen (the [`acp`](crate::acp) bridge announces
//! them to the editor) installs one. Observers see the recorded arguments only (skipped ones left
//! out, redacted ones masked), never decide anything, and cannot fail a call.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use sidefx::observe::{CallObserver, CallStage, ObservedCall};
//!
//! #[derive(Default)]
//! struct Seen(Mutex<Vec<String>>);
//! #[sidefx::async_trait]
//! impl CallObserver for Seen {
//!     async fn observe(&self, call: &ObservedCall<'_>, stage: CallStage<'_>) {
//!         self.0.lock().unwrap().push(format!("{} {}", call.action.builtin, stage.name()));
//!     }
//! }
//!
//! #[sidefx::side_effect(class = "fs.write", path(path))]
//! async fn observe_doc_write(path: &str) -> Result<(), sidefx::Error> {
//!     let _ = path;
//!     Ok(())
//! }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let seen = Arc::new(Seen::default());
//! sidefx::with_observer(seen.clone(), observe_doc_write("a.txt")).await.unwrap();
//! assert_eq!(*seen.0.lock().unwrap(), [
//!     "observe_doc_write announced", "observe_doc_write running", "observe_doc_write finished",
//! ]);
//! # });
//! ```

use serde_json::Value;

use crate::{Error, SideEffectAction, Tier};

/// One call, as an observer sees it: borrowed from enforcement's record of the call.
///
/// ```
/// let action = sidefx::SideEffectAction::new("exec", "process.exec", "process.exec");
/// let args = serde_json::json!({"cmd": "ls"});
/// let call = sidefx::observe::ObservedCall { action: &action, agent: "a", tier: sidefx::Tier::Shadow, args: &args, trace_id: "t" };
/// assert_eq!(call.args["cmd"], "ls");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ObservedCall<'a> {
    /// The builtin, its class and capability.
    pub action: &'a SideEffectAction,
    /// The agent the scopes resolved.
    pub agent: &'a str,
    /// The call's tier.
    pub tier: Tier,
    /// The recorded arguments (skipped ones left out, redacted ones masked).
    pub args: &'a Value,
    /// The call's trace id.
    pub trace_id: &'a str,
}

/// Where a call stands.
///
/// ```
/// assert_eq!(sidefx::observe::CallStage::Finished { ok: true }.name(), "finished");
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum CallStage<'a> {
    /// The arguments are recorded; nothing is decided yet.
    Announced,
    /// The body is about to run (act_auto, or approved).
    Running,
    /// The body ran; `ok` is whether it returned `Ok`.
    Finished {
        /// Whether the body succeeded.
        ok: bool,
    },
    /// The call was not run (shadow, suggest, denied, timed out, needs a human, ...).
    Refused(&'a Error),
}

impl CallStage<'_> {
    /// A short name: `announced`, `running`, `finished`, `refused`.
    ///
    /// ```
    /// assert_eq!(sidefx::observe::CallStage::Announced.name(), "announced");
    /// ```
    pub fn name(&self) -> &'static str {
        match self {
            CallStage::Announced => "announced",
            CallStage::Running => "running",
            CallStage::Finished { .. } => "finished",
            CallStage::Refused(_) => "refused",
        }
    }
}

/// Hears of every call in its scope (see the [module docs](self)). The call waits for each
/// stage to be observed, so what an observer sends is ordered with the call.
///
/// ```
/// struct Quiet;
/// #[sidefx::async_trait]
/// impl sidefx::observe::CallObserver for Quiet {
///     async fn observe(&self, _: &sidefx::observe::ObservedCall<'_>, _: sidefx::observe::CallStage<'_>) {}
/// }
/// ```
#[async_trait::async_trait]
pub trait CallObserver: Send + Sync {
    /// Called at each stage of `call`.
    async fn observe(&self, call: &ObservedCall<'_>, stage: CallStage<'_>);
}

impl std::fmt::Debug for dyn CallObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("dyn CallObserver")
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::approval::{ApprovalDecision, ApprovalRequest, Approver, Verdict};
    use crate::log::{EventLog, MemoryEventLog};
    use crate::{AutonomyPolicy, Decision, registry};

    /// Records `builtin stage` lines, with the tier and arguments of the announcement.
    #[derive(Default)]
    struct Seen(Mutex<Vec<String>>);

    #[async_trait::async_trait]
    impl CallObserver for Seen {
        async fn observe(&self, call: &ObservedCall<'_>, stage: CallStage<'_>) {
            let line = match stage {
                CallStage::Announced => format!("announced {} {}", call.tier, call.args),
                CallStage::Finished { ok } => format!("finished {ok}"),
                CallStage::Refused(e) => format!("refused {}", e.code()),
                other => other.name().to_owned(),
            };
            self.0.lock().unwrap_or_else(|p| p.into_inner()).push(line);
        }
    }

    struct Answer(bool);

    #[async_trait::async_trait]
    impl Approver for Answer {
        async fn decide(&self, _: &ApprovalRequest, _: &dyn EventLog) -> crate::Result<Verdict> {
            Ok(match self.0 {
                true => ApprovalDecision::Approved {
                    approvers: vec!["r".into()],
                },
                false => ApprovalDecision::Denied {
                    reviewer: "r".into(),
                    reason: None,
                },
            }
            .into())
        }
    }

    /// Calls `builtin` by name at `tier` under an observer (and `approve`'s approver), runs the
    /// body when allowed, and returns what the observer saw and how many trust records exist.
    async fn observe(builtin: &'static str, tier: Tier, approve: bool) -> (Vec<String>, usize) {
        let _ = registry::register(registry::BuiltinInfo::new(
            builtin,
            "fs.write",
            "workspace.write_text",
        ));
        let seen = Arc::new(Seen::default());
        let log = Arc::new(MemoryEventLog::new());
        let args = serde_json::json!({"path": "a.txt"});
        let call = async {
            match crate::enforce(builtin, &args)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
            {
                Decision::Proceed(permit) | Decision::Approved { permit, .. } => permit.finish(true).await,
                Decision::Skip { .. } => {}
            }
        };
        let scoped = crate::with_approver(
            Arc::new(Answer(approve)),
            crate::with_observer(seen.clone(), call),
        );
        crate::with_event_log(
            log.clone(),
            crate::with_policy(AutonomyPolicy::at_tier(tier), scoped),
        )
        .await;
        let records = crate::trust::query(log.as_ref(), &Default::default())
            .await
            .unwrap_or_default();
        let lines = seen.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        (lines, records.len())
    }

    #[tokio::test]
    async fn every_tier_announces_first_then_runs_and_finishes_or_is_refused() {
        let announced = |tier: &str| format!("announced {tier} {}", serde_json::json!({"path": "a.txt"}));
        let (seen, records) = observe("observe_t_auto", Tier::ActAuto, true).await;
        assert_eq!(
            seen,
            [announced("act_auto"), "running".into(), "finished true".into()]
        );
        assert_eq!(records, 0, "observing an act_auto call does not audit it");
        let (seen, _) = observe("observe_t_shadow", Tier::Shadow, true).await;
        assert_eq!(seen, [announced("shadow"), "refused SIDEFX-SKIPPED".into()]);
        let (seen, _) = observe("observe_t_suggest", Tier::Suggest, true).await;
        assert_eq!(seen, [announced("suggest"), "refused SIDEFX-SKIPPED".into()]);
        let (seen, _) = observe("observe_t_approved", Tier::ActWithApproval, true).await;
        assert_eq!(
            seen,
            [
                announced("act_with_approval"),
                "running".into(),
                "finished true".into()
            ]
        );
        let (seen, _) = observe("observe_t_denied", Tier::ActWithApproval, false).await;
        assert_eq!(
            seen,
            [
                announced("act_with_approval"),
                "refused SIDEFX-APPROVAL-DENIED".into()
            ]
        );
    }
}

//! Refusals as data: the side effect did not run, and this says why, for which call, at which
//! tier, under which approval request and what in the policy decided.

use std::fmt;

use crate::Tier;
use crate::rules::DecidedBy;

/// Why a side effect did not run, with the call it refused.
///
/// Built by enforcement from the call's record, so the agent, the tier and what decided it are
/// the ones its trust record shows.
///
/// ```
/// use sidefx::{Refusal, RefusalKind, Tier};
/// let r = Refusal::new(RefusalKind::NeedsHuman, "git.push", "ci", Tier::ActAuto).request("0192");
/// assert_eq!(r.code(), "SIDEFX-NEEDS-HUMAN");
/// assert_eq!(r.request_id.as_deref(), Some("0192"));
/// let err = sidefx::Error::from(r);
/// assert!(err.is_refusal());
/// assert_eq!(err.refusal().map(|r| r.tier), Some(Tier::ActAuto));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Refusal {
    /// What refused the call.
    #[serde(flatten)]
    pub kind: RefusalKind,
    /// The builtin that was called.
    pub builtin: String,
    /// The agent that called it.
    pub agent: String,
    /// The tier the call resolved to (shadow when nothing named one under strict mode).
    pub tier: Tier,
    /// The approval request filed for the call, if any.
    pub request_id: Option<String>,
    /// What in the policy decided the tier.
    pub decided_by: DecidedBy,
}

/// What refused a call. Each kind has a stable [`code`](RefusalKind::code).
///
/// ```
/// use sidefx::RefusalKind;
/// assert_eq!(RefusalKind::ApprovalTimedOut.code(), "SIDEFX-APPROVAL-TIMEOUT");
/// assert_eq!(RefusalKind::Skipped.outcome(), "skipped");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "refusal", rename_all = "snake_case")]
#[non_exhaustive]
pub enum RefusalKind {
    /// The tier (shadow or suggest) records the call instead of running it.
    Skipped,
    /// A counted reviewer denied the approval request.
    ApprovalDenied {
        /// The reviewer whose denial vetoed the call.
        reviewer: String,
        /// The reviewer's reason, if given.
        reason: Option<String>,
    },
    /// The approval deadline passed without a decision.
    ApprovalTimedOut,
    /// The policy requires a human for this call; an approval request was filed.
    NeedsHuman,
    /// The tier needs an event log (for proposals or approvals) and none is active.
    NoEventLog,
    /// Strict mode is on and no policy or dispatch context names a tier for this call.
    StrictNoContext,
    /// Nobody could ever approve the call: the reviewer allowlists of nested scopes have nobody
    /// in common, or fewer common reviewers than the quorum.
    NoReviewer {
        /// Which settings conflict, and the fix.
        reason: String,
    },
}

impl RefusalKind {
    /// The stable code (SPEC §14).
    ///
    /// ```
    /// assert_eq!(sidefx::RefusalKind::Skipped.code(), "SIDEFX-SKIPPED");
    /// ```
    pub fn code(&self) -> &'static str {
        match self {
            RefusalKind::Skipped => "SIDEFX-SKIPPED",
            RefusalKind::ApprovalDenied { .. } => "SIDEFX-APPROVAL-DENIED",
            RefusalKind::ApprovalTimedOut => "SIDEFX-APPROVAL-TIMEOUT",
            RefusalKind::NeedsHuman => "SIDEFX-NEEDS-HUMAN",
            RefusalKind::NoEventLog => "SIDEFX-NO-EVENT-LOG",
            RefusalKind::StrictNoContext => "SIDEFX-STRICT-NO-CONTEXT",
            RefusalKind::NoReviewer { .. } => "SIDEFX-NO-REVIEWER",
        }
    }

    /// The `outcome` field of the `sidefx::decision` tracing event for this refusal.
    ///
    /// ```
    /// assert_eq!(sidefx::RefusalKind::NeedsHuman.outcome(), "needs_human");
    /// ```
    pub fn outcome(&self) -> &'static str {
        match self {
            RefusalKind::Skipped => "skipped",
            RefusalKind::ApprovalDenied { .. } => "denied",
            RefusalKind::ApprovalTimedOut => "timeout",
            RefusalKind::NeedsHuman => "needs_human",
            RefusalKind::NoEventLog => "no_event_log",
            RefusalKind::StrictNoContext => "strict_no_context",
            RefusalKind::NoReviewer { .. } => "no_reviewer",
        }
    }
}

impl Refusal {
    /// A refusal of `builtin` called by `agent` at `tier`, with no request and
    /// [`DecidedBy::Default`] until set.
    ///
    /// ```
    /// let r = sidefx::Refusal::new(sidefx::RefusalKind::Skipped, "exec", "a", sidefx::Tier::Shadow);
    /// assert!(r.request_id.is_none());
    /// ```
    pub fn new(kind: RefusalKind, builtin: impl Into<String>, agent: impl Into<String>, tier: Tier) -> Self {
        Refusal {
            kind,
            builtin: builtin.into(),
            agent: agent.into(),
            tier,
            request_id: None,
            decided_by: DecidedBy::Default,
        }
    }

    /// Sets the approval request filed for the call.
    ///
    /// ```
    /// let r = sidefx::Refusal::new(sidefx::RefusalKind::Skipped, "exec", "a", sidefx::Tier::Suggest).request("42");
    /// assert_eq!(r.request_id.as_deref(), Some("42"));
    /// ```
    #[must_use]
    pub fn request(mut self, request_id: impl Into<String>) -> Self {
        self.request_id = Some(request_id.into());
        self
    }

    /// Sets what in the policy decided the tier.
    ///
    /// ```
    /// use sidefx::rules::DecidedBy;
    /// let r = sidefx::Refusal::new(sidefx::RefusalKind::Skipped, "exec", "a", sidefx::Tier::Shadow)
    ///     .decided_by(DecidedBy::Row("autonomy_tier".into()));
    /// assert_eq!(r.decided_by.to_string(), "autonomy_tier");
    /// ```
    #[must_use]
    pub fn decided_by(mut self, decided_by: DecidedBy) -> Self {
        self.decided_by = decided_by;
        self
    }

    /// The stable code of the refusal's kind.
    ///
    /// ```
    /// let r = sidefx::Refusal::new(sidefx::RefusalKind::NoEventLog, "exec", "a", sidefx::Tier::Suggest);
    /// assert_eq!(r.code(), "SIDEFX-NO-EVENT-LOG");
    /// ```
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Refusal {
            builtin,
            agent,
            tier,
            request_id,
            ..
        } = self;
        let id = request_id.as_deref().unwrap_or("(none)");
        write!(f, "`{builtin}` was not run: ")?;
        match &self.kind {
            RefusalKind::Skipped => {
                write!(
                    f,
                    "agent `{agent}` is at tier {tier}, which only records the call"
                )?;
                match request_id {
                    Some(id) => write!(f, " (approval request {id} filed for a reviewer)"),
                    None => Ok(()),
                }
            }
            RefusalKind::ApprovalDenied { reviewer, reason } => {
                write!(f, "approval request {id} was denied by `{reviewer}`")?;
                match reason {
                    Some(r) => write!(f, ": {r}"),
                    None => Ok(()),
                }
            }
            RefusalKind::ApprovalTimedOut => write!(
                f,
                "approval request {id} reached its deadline without a decision; ask a reviewer to answer sooner or raise `approval_timeout_ms`"
            ),
            RefusalKind::NeedsHuman => write!(
                f,
                "the policy requires a human for agent `{agent}` (approval request {id} filed); a person must perform or re-dispatch it"
            ),
            RefusalKind::NoEventLog => write!(
                f,
                "tier {tier} needs an event log and none is active; wrap the call in `sidefx::with_event_log(log, ..)`"
            ),
            RefusalKind::StrictNoContext => write!(
                f,
                "strict mode is on and no policy or dispatch context names a tier for agent `{agent}`; add a policy with `autonomy_tier` or an entry for this builtin"
            ),
            RefusalKind::NoReviewer { reason } => f.write_str(reason),
        }
    }
}

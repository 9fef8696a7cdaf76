//! The one error type of sidefx, with stable codes (SPEC §14).

use crate::Tier;

/// Everything that can go wrong in sidefx, each variant with a stable [`code`](Error::code).
///
/// Messages say what happened and what to do. Refusals (`Skipped`, `ApprovalDenied`,
/// `ApprovalTimedOut`, `NeedsHuman`, `NoEventLog`, `StrictNoContext`, `NoReviewer`) mean the side effect did
/// **not** run.
///
/// ```
/// let err = sidefx::Error::NeedsHuman {
///     builtin: "git.push".into(),
///     agent: "ci".into(),
///     request_id: "0192".into(),
/// };
/// assert_eq!(err.code(), "SIDEFX-NEEDS-HUMAN");
/// assert!(err.is_refusal());
/// assert!(!err.is_skipped());
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The tier (shadow or suggest) records the call instead of running it.
    #[error(
        "`{builtin}` was not run: agent `{agent}` is at tier {tier}, which only records the call{}",
        match request_id { Some(id) => format!(" (approval request {id} filed for a reviewer)"), None => String::new() }
    )]
    Skipped {
        /// The builtin that was called.
        builtin: String,
        /// The agent that called it.
        agent: String,
        /// The tier that decided (shadow or suggest).
        tier: Tier,
        /// The non-blocking approval request filed under suggest.
        request_id: Option<String>,
    },
    /// A counted reviewer denied the approval request.
    #[error("`{builtin}` was not run: approval request {request_id} was denied by `{reviewer}`{}", reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default())]
    ApprovalDenied {
        /// The builtin that was called.
        builtin: String,
        /// The approval request.
        request_id: String,
        /// The reviewer whose denial vetoed the call.
        reviewer: String,
        /// The reviewer's reason, if given.
        reason: Option<String>,
    },
    /// The approval deadline passed without a decision.
    #[error(
        "`{builtin}` was not run: approval request {request_id} reached its deadline without a decision; ask a reviewer to answer sooner or raise `approval_timeout_ms`"
    )]
    ApprovalTimedOut {
        /// The builtin that was called.
        builtin: String,
        /// The approval request.
        request_id: String,
    },
    /// The policy requires a human for this call; an approval request was filed.
    #[error(
        "`{builtin}` was not run: the policy requires a human for agent `{agent}` (approval request {request_id} filed); a person must perform or re-dispatch it"
    )]
    NeedsHuman {
        /// The builtin that was called.
        builtin: String,
        /// The agent that called it.
        agent: String,
        /// The approval request filed for the human.
        request_id: String,
    },
    /// The tier needs an event log (for proposals or approvals) and none is active.
    #[error(
        "`{builtin}` was not run: tier {tier} needs an event log and none is active; wrap the call in `sidefx::with_event_log(log, ..)`"
    )]
    NoEventLog {
        /// The builtin that was called.
        builtin: String,
        /// The tier that needed the log.
        tier: Tier,
    },
    /// Strict mode is on and no policy or dispatch context names a tier for this call.
    #[error(
        "`{builtin}` was not run: strict mode is on and no policy or dispatch context names a tier for agent `{agent}`; add a policy with `autonomy_tier` or an entry for this builtin"
    )]
    StrictNoContext {
        /// The builtin that was called.
        builtin: String,
        /// The agent that called it.
        agent: String,
    },
    /// Nobody could ever approve the call: the reviewer allowlists of nested scopes have nobody
    /// in common, or fewer common reviewers than the quorum. Fails at once instead of waiting
    /// for a deadline.
    #[error("`{builtin}` was not run: {reason}")]
    NoReviewer {
        /// The builtin that was called.
        builtin: String,
        /// Which settings conflict, and the fix.
        reason: String,
    },
    /// A policy is invalid. The message names the key and the fix.
    #[error("invalid policy: {0}")]
    Policy(String),
    /// No builtin is registered under this name.
    #[error("no builtin named `{name}` is registered{}; annotate it with #[side_effect] in a crate the binary links, or register it with `sidefx::registry::register`", suggestion.as_deref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default())]
    UnknownBuiltin {
        /// The name that was looked up.
        name: String,
        /// The closest registered name, if any is close.
        suggestion: Option<String>,
    },
    /// A topic name is not valid.
    #[error("invalid topic {topic:?}: {reason}")]
    InvalidTopic {
        /// The rejected name.
        topic: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The event log failed (I/O, corruption, a missing event).
    #[error("event log error: {0}")]
    Log(String),
    /// No approval request has this id.
    #[error("no approval request with id `{0}`; list them with `sidefx approvals list`")]
    UnknownApproval(String),
    /// The approval request was already decided; later responses are ignored.
    #[error("approval request {request_id} is already decided ({state}); later responses are ignored")]
    ApprovalClosed {
        /// The approval request.
        request_id: String,
        /// How it was decided.
        state: String,
    },
    /// A registration or configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl Error {
    /// The stable code of this error, for logs, telemetry and scripts.
    ///
    /// ```
    /// assert_eq!(sidefx::Error::Log("disk full".into()).code(), "SIDEFX-LOG");
    /// ```
    pub fn code(&self) -> &'static str {
        match self {
            Error::Skipped { .. } => "SIDEFX-SKIPPED",
            Error::ApprovalDenied { .. } => "SIDEFX-APPROVAL-DENIED",
            Error::ApprovalTimedOut { .. } => "SIDEFX-APPROVAL-TIMEOUT",
            Error::NeedsHuman { .. } => "SIDEFX-NEEDS-HUMAN",
            Error::NoEventLog { .. } => "SIDEFX-NO-EVENT-LOG",
            Error::StrictNoContext { .. } => "SIDEFX-STRICT-NO-CONTEXT",
            Error::NoReviewer { .. } => "SIDEFX-NO-REVIEWER",
            Error::Policy(_) => "SIDEFX-POLICY",
            Error::UnknownBuiltin { .. } => "SIDEFX-UNKNOWN-BUILTIN",
            Error::InvalidTopic { .. } => "SIDEFX-INVALID-TOPIC",
            Error::Log(_) => "SIDEFX-LOG",
            Error::UnknownApproval(_) => "SIDEFX-UNKNOWN-APPROVAL",
            Error::ApprovalClosed { .. } => "SIDEFX-APPROVAL-CLOSED",
            Error::Config(_) => "SIDEFX-CONFIG",
        }
    }

    /// True when the tier recorded the call instead of running it (shadow or suggest).
    ///
    /// ```
    /// let err = sidefx::Error::Skipped {
    ///     builtin: "exec".into(),
    ///     agent: "a".into(),
    ///     tier: sidefx::Tier::Shadow,
    ///     request_id: None,
    /// };
    /// assert!(err.is_skipped());
    /// ```
    pub fn is_skipped(&self) -> bool {
        matches!(self, Error::Skipped { .. })
    }

    /// True when sidefx refused to run the side effect (any tier refusal or fail-closed case).
    ///
    /// ```
    /// assert!(!sidefx::Error::Config("x".into()).is_refusal());
    /// ```
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            Error::Skipped { .. }
                | Error::ApprovalDenied { .. }
                | Error::ApprovalTimedOut { .. }
                | Error::NeedsHuman { .. }
                | Error::NoEventLog { .. }
                | Error::StrictNoContext { .. }
                | Error::NoReviewer { .. }
        )
    }

    /// The approval request this error refers to, if any.
    ///
    /// ```
    /// let err = sidefx::Error::UnknownApproval("42".into());
    /// assert_eq!(err.approval_request_id(), None);
    /// ```
    pub fn approval_request_id(&self) -> Option<&str> {
        match self {
            Error::Skipped { request_id, .. } => request_id.as_deref(),
            Error::ApprovalDenied { request_id, .. }
            | Error::ApprovalTimedOut { request_id, .. }
            | Error::NeedsHuman { request_id, .. } => Some(request_id),
            _ => None,
        }
    }
}

/// `Result` with [`Error`] as the default error.
///
/// ```
/// fn f() -> sidefx::Result<u8> { Ok(1) }
/// assert_eq!(f().unwrap(), 1);
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

//! The one error type of sidefx, with stable codes (SPEC §14).
//!
//! Two families, as in tower's `buffer/error.rs` and cedar's `api/err.rs`:
//! - **refusals** ([`Refusal`]): the side effect did not run, and the error is data about the
//!   call (request id, tier, what decided);
//! - **failures** ([`Failure`] and the message variants): something broke, and the underlying
//!   error stays reachable through [`source()`](std::error::Error::source).

mod failure;
mod refusal;

pub use failure::Failure;
pub use refusal::{Refusal, RefusalKind};

use crate::approval::ApprovalState;
use crate::names::ParseNameError;

/// Everything that can go wrong in sidefx, each variant with a stable [`code`](Error::code).
///
/// Messages say what happened and what to do. A refusal ([`Error::Refused`]) means the side
/// effect did **not** run.
///
/// ```
/// use sidefx::{Error, Refusal, RefusalKind, Tier};
/// let err = Error::from(Refusal::new(RefusalKind::NeedsHuman, "git.push", "ci", Tier::ActAuto).request("0192"));
/// assert_eq!(err.code(), "SIDEFX-NEEDS-HUMAN");
/// assert!(err.is_refusal());
/// assert!(!err.is_skipped());
/// assert_eq!(err.approval_request_id(), Some("0192"));
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The side effect was not run: a tier refusal or a fail-closed case, with the call it
    /// refused.
    #[error("{0}")]
    Refused(Box<Refusal>),
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
    /// The event log failed (I/O, corruption, a missing event); the cause, if any, is the
    /// [`Failure`]'s source.
    #[error("event log error: {0}")]
    Log(#[source] Failure),
    /// No approval request has this id.
    #[error("no approval request with id `{0}`; list them with `sidefx approvals list`")]
    UnknownApproval(String),
    /// The approval request was already decided; later responses are ignored.
    #[error("approval request {request_id} is already decided ({state}); later responses are ignored")]
    ApprovalClosed {
        /// The approval request.
        request_id: String,
        /// How it was decided.
        state: ApprovalState,
    },
    /// A registration or configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl Error {
    /// An event log failure while doing `context`, caused by `source` (kept as the error's
    /// [`source()`](std::error::Error::source) chain).
    ///
    /// ```
    /// use std::error::Error as _;
    /// let io = std::io::Error::other("disk full");
    /// let err = sidefx::Error::log("cannot append to events.db", io);
    /// assert_eq!(err.to_string(), "event log error: cannot append to events.db: disk full");
    /// assert_eq!(err.code(), "SIDEFX-LOG");
    /// assert!(err.source().and_then(|f| f.source()).unwrap().is::<std::io::Error>());
    /// ```
    pub fn log(context: impl Into<String>, source: impl std::error::Error + Send + Sync + 'static) -> Error {
        Error::Log(Failure::new(context, source))
    }

    /// The stable code of this error, for logs, telemetry and scripts.
    ///
    /// ```
    /// assert_eq!(sidefx::Error::Log("disk full".into()).code(), "SIDEFX-LOG");
    /// ```
    pub fn code(&self) -> &'static str {
        match self {
            Error::Refused(r) => r.code(),
            Error::Policy(_) => "SIDEFX-POLICY",
            Error::UnknownBuiltin { .. } => "SIDEFX-UNKNOWN-BUILTIN",
            Error::InvalidTopic { .. } => "SIDEFX-INVALID-TOPIC",
            Error::Log(_) => "SIDEFX-LOG",
            Error::UnknownApproval(_) => "SIDEFX-UNKNOWN-APPROVAL",
            Error::ApprovalClosed { .. } => "SIDEFX-APPROVAL-CLOSED",
            Error::Config(_) => "SIDEFX-CONFIG",
        }
    }

    /// The refusal, when sidefx refused to run the side effect.
    ///
    /// ```
    /// use sidefx::{Error, Refusal, RefusalKind, Tier};
    /// let err = Error::from(Refusal::new(RefusalKind::Skipped, "exec", "a", Tier::Shadow));
    /// assert_eq!(err.refusal().map(|r| r.tier), Some(Tier::Shadow));
    /// assert!(Error::Config("x".into()).refusal().is_none());
    /// ```
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            Error::Refused(r) => Some(r),
            _ => None,
        }
    }

    /// True when the tier recorded the call instead of running it (shadow or suggest).
    ///
    /// ```
    /// use sidefx::{Error, Refusal, RefusalKind, Tier};
    /// assert!(Error::from(Refusal::new(RefusalKind::Skipped, "exec", "a", Tier::Shadow)).is_skipped());
    /// ```
    pub fn is_skipped(&self) -> bool {
        self.refusal().is_some_and(|r| r.kind == RefusalKind::Skipped)
    }

    /// True when sidefx refused to run the side effect (any tier refusal or fail-closed case).
    ///
    /// ```
    /// assert!(!sidefx::Error::Config("x".into()).is_refusal());
    /// ```
    pub fn is_refusal(&self) -> bool {
        self.refusal().is_some()
    }

    /// The approval request this error refers to, if any.
    ///
    /// ```
    /// let err = sidefx::Error::UnknownApproval("42".into());
    /// assert_eq!(err.approval_request_id(), None);
    /// ```
    pub fn approval_request_id(&self) -> Option<&str> {
        self.refusal().and_then(|r| r.request_id.as_deref())
    }
}

impl From<Refusal> for Error {
    fn from(refusal: Refusal) -> Self {
        Error::Refused(Box::new(refusal))
    }
}

/// A name that is none of an enum's (an outcome, an approval state) is a configuration error.
impl From<ParseNameError> for Error {
    fn from(e: ParseNameError) -> Self {
        Error::Config(e.to_string())
    }
}

/// `Result` with [`Error`] as the default error.
///
/// ```
/// fn f() -> sidefx::Result<u8> { Ok(1) }
/// assert_eq!(f().unwrap(), 1);
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests;

//! Human approval requests (SPEC §12), stored on the `hitl.approvals` topic.
//!
//! A request is filed with [`request`]; reviewers answer with [`respond`]; [`wait`] blocks until
//! the decision event for the request appears (woken by the log, never by sleeping in a loop).
//! Decisions are derived from responses in log order and written exactly once: every writer
//! appends the decision with compare-and-append and re-reads when it loses the race.
//!
//! ```
//! use sidefx::approval::{self, ApprovalDecision, ApprovalDraft};
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let log = sidefx::log::MemoryEventLog::new();
//! let req = approval::request(&log, ApprovalDraft::new("planner", "git.push", "git.write")).await.unwrap();
//! approval::respond(&log, &req.request_id, "alice", true, None).await.unwrap();
//! let decision = approval::wait(&log, &req).await.unwrap();
//! assert_eq!(decision, ApprovalDecision::Approved { approvers: vec!["alice".into()] });
//! # });
//! ```

use std::time::Duration;

use serde_json::{Value, json};

mod flow;
pub mod grant;
mod state;
mod watch;

pub use flow::{list, pending, request, respond, status, wait};
pub use state::ApprovalState;
pub use watch::{Requests, request_for_trace, requests};

use crate::Result;
use crate::log::{EventId, EventLog, LogEvent, now_ms};
use crate::rules::DecidedBy;

/// Default time a request waits for a decision: 24 hours.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

/// The longest a request may wait for a decision: 30 days. A policy's `approval_timeout_ms`
/// above it is rejected when the policy loads; a longer [`ApprovalDraft::timeout`] is cut to it
/// (a shorter wait only fails closed sooner).
///
/// ```
/// assert_eq!(sidefx::approval::MAX_TIMEOUT.as_secs(), 30 * 24 * 60 * 60);
/// ```
pub const MAX_TIMEOUT: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// A filed approval request.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let log = sidefx::log::MemoryEventLog::new();
/// let req = sidefx::approval::request(&log, sidefx::approval::ApprovalDraft::new("a", "exec", "process.exec")).await.unwrap();
/// assert_eq!(req.quorum, 1);
/// assert!(req.args_digest.starts_with("sha256:"));
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ApprovalRequest {
    /// A UUIDv7.
    pub request_id: String,
    /// The agent asking.
    pub agent: String,
    /// The trace of the call.
    pub trace_id: String,
    /// The class of the action.
    pub action: String,
    /// The builtin.
    pub builtin: String,
    /// The recorded arguments (skipped ones left out, redacted ones masked).
    pub args: Value,
    /// `sha256:<hex>` of the canonical JSON of `args`.
    pub args_digest: String,
    /// Who may answer; empty means anyone.
    pub reviewers: Vec<String>,
    /// Distinct approvals needed.
    pub quorum: u32,
    /// RFC 3339 time of filing.
    pub requested_at: String,
    /// Filing time, ms since the epoch.
    pub requested_at_ms: u64,
    /// RFC 3339 deadline.
    pub deadline: String,
    /// Deadline, ms since the epoch.
    pub deadline_ms: u64,
    /// Capabilities the call needs.
    pub capabilities_requested: Vec<String>,
    /// Whether a caller is blocked waiting (act_with_approval) or not (suggest, needs-human).
    pub blocking: bool,
    /// The call's declared resources, normalised as the rules saw them
    /// (`[{"kind", "arg", "value"}]`); empty when it declares none or the log predates them.
    #[serde(default, skip_serializing_if = "no_resources")]
    pub resources: Value,
    /// What in the policy decided the call's tier; `None` when filed by hand or by an older
    /// version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<DecidedBy>,
    /// For a suggest-tier call: what approving it grants (the next identical call runs once;
    /// see [`grant`]). `None` for other requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<grant::GrantTerms>,
    /// Where the request sits on `hitl.approvals` (not part of the stored payload).
    #[serde(skip)]
    pub event_id: EventId,
}

/// What a caller knows before filing a request.
///
/// ```
/// let d = sidefx::approval::ApprovalDraft::new("a", "exec", "process.exec").quorum(2);
/// assert_eq!(d.quorum, 2);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalDraft {
    /// The agent asking.
    pub agent: String,
    /// The builtin.
    pub builtin: String,
    /// The class.
    pub action: String,
    /// The trace (a new UUIDv7 when empty).
    pub trace_id: String,
    /// The recorded arguments.
    pub args: Value,
    /// Who may answer; empty means anyone.
    pub reviewers: Vec<String>,
    /// Distinct approvals needed (at least 1).
    pub quorum: u32,
    /// How long to wait for a decision.
    pub timeout: Duration,
    /// Capabilities the call needs.
    pub capabilities: Vec<String>,
    /// Whether a caller will block on it.
    pub blocking: bool,
    /// The call's normalised resources (see [`ApprovalRequest::resources`]).
    pub resources: Value,
    /// What decided the call's tier.
    pub decided_by: Option<DecidedBy>,
    /// What approving it grants (suggest-tier calls; see [`grant`]).
    pub grant: Option<grant::GrantTerms>,
}

/// Whether a request's resources are absent (null or an empty list), so they are not stored.
fn no_resources(v: &Value) -> bool {
    v.is_null() || v.as_array().is_some_and(Vec::is_empty)
}

impl ApprovalDraft {
    /// A draft for `builtin` of class `action`, quorum 1, anyone may answer, 24 h deadline.
    ///
    /// ```
    /// let d = sidefx::approval::ApprovalDraft::new("a", "write_file", "fs.write");
    /// assert!(d.reviewers.is_empty());
    /// ```
    pub fn new(agent: impl Into<String>, builtin: impl Into<String>, action: impl Into<String>) -> Self {
        ApprovalDraft {
            agent: agent.into(),
            builtin: builtin.into(),
            action: action.into(),
            trace_id: String::new(),
            args: json!({}),
            reviewers: Vec::new(),
            quorum: 1,
            timeout: DEFAULT_TIMEOUT,
            capabilities: Vec::new(),
            blocking: true,
            resources: Value::Null,
            decided_by: None,
            grant: None,
        }
    }

    /// Sets the quorum (at least 1).
    ///
    /// ```
    /// assert_eq!(sidefx::approval::ApprovalDraft::new("a", "b", "c").quorum(0).quorum, 1);
    /// ```
    pub fn quorum(mut self, quorum: u32) -> Self {
        self.quorum = quorum.max(1);
        self
    }

    /// Sets the reviewer allowlist.
    ///
    /// ```
    /// let d = sidefx::approval::ApprovalDraft::new("a", "b", "c").reviewers(["alice", "bob"]);
    /// assert_eq!(d.reviewers.len(), 2);
    /// ```
    pub fn reviewers<S: Into<String>>(mut self, reviewers: impl IntoIterator<Item = S>) -> Self {
        self.reviewers = reviewers.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the time to wait for a decision (at most [`MAX_TIMEOUT`]; longer is cut to it).
    ///
    /// ```
    /// let d = sidefx::approval::ApprovalDraft::new("a", "b", "c").timeout(std::time::Duration::from_secs(5));
    /// assert_eq!(d.timeout.as_secs(), 5);
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the recorded arguments.
    ///
    /// ```
    /// let d = sidefx::approval::ApprovalDraft::new("a", "b", "c").args(serde_json::json!({"path": "x"}));
    /// assert_eq!(d.args["path"], "x");
    /// ```
    pub fn args(mut self, args: Value) -> Self {
        self.args = args;
        self
    }

    /// Sets the trace id, so [`request_for_trace`] can find the request.
    ///
    /// ```
    /// assert_eq!(sidefx::approval::ApprovalDraft::new("a", "b", "c").trace("t-1").trace_id, "t-1");
    /// ```
    pub fn trace(mut self, trace_id: impl Into<String>) -> Self {
        self.trace_id = trace_id.into();
        self
    }
}

/// A reviewer's answer.
///
/// ```
/// let r = sidefx::approval::ApprovalResponse {
///     request_id: "r".into(), reviewer: Some("alice".into()), approved: true, reason: None, responded_at_ms: 0,
/// };
/// assert!(r.approved);
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ApprovalResponse {
    /// The request answered.
    pub request_id: String,
    /// Who answered; an answer without a reviewer does not count.
    pub reviewer: Option<String>,
    /// Approve or deny.
    pub approved: bool,
    /// Why.
    pub reason: Option<String>,
    /// When, ms since the epoch.
    pub responded_at_ms: u64,
}

/// How a request was decided.
///
/// ```
/// let d = sidefx::approval::ApprovalDecision::TimedOut;
/// assert_eq!(d.kind(), "approval_timed_out");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum ApprovalDecision {
    /// Quorum distinct counted reviewers approved.
    Approved {
        /// The approvers, in log order.
        approvers: Vec<String>,
    },
    /// A counted reviewer denied first.
    Denied {
        /// Who denied.
        reviewer: String,
        /// Why.
        reason: Option<String>,
    },
    /// The deadline passed first.
    TimedOut,
}

impl ApprovalDecision {
    /// The event kind that records this decision.
    pub fn kind(&self) -> &'static str {
        match self {
            ApprovalDecision::Approved { .. } => "approval_approved",
            ApprovalDecision::Denied { .. } => "approval_denied",
            ApprovalDecision::TimedOut => "approval_timed_out",
        }
    }

    fn from_event(event: &LogEvent) -> Option<ApprovalDecision> {
        let p = &event.payload;
        match event.kind.as_str() {
            "approval_approved" => Some(ApprovalDecision::Approved {
                approvers: serde_json::from_value(p["approvers"].clone()).unwrap_or_default(),
            }),
            "approval_denied" => Some(ApprovalDecision::Denied {
                reviewer: p["reviewer"].as_str().unwrap_or_default().to_owned(),
                reason: p["reason"].as_str().map(str::to_owned),
            }),
            "approval_timed_out" => Some(ApprovalDecision::TimedOut),
            _ => None,
        }
    }
}

/// Applies the resolution rule to responses in log order: ignore reviewers off a non-empty
/// allowlist, repeated reviewers, answers without a reviewer and answers after the deadline;
/// the first counted denial vetoes; `quorum` distinct approvals approve. `None`: undecided.
///
/// ```
/// use sidefx::approval::{resolve, ApprovalDecision, ApprovalDraft, ApprovalResponse};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let log = sidefx::log::MemoryEventLog::new();
/// let req = sidefx::approval::request(&log, ApprovalDraft::new("a", "b", "c").quorum(2)).await.unwrap();
/// let yes = |who: &str| ApprovalResponse {
///     request_id: req.request_id.clone(), reviewer: Some(who.into()), approved: true, reason: None,
///     responded_at_ms: req.requested_at_ms,
/// };
/// assert_eq!(resolve(&req, &[yes("alice"), yes("alice")]), None);
/// assert!(matches!(resolve(&req, &[yes("alice"), yes("bob")]), Some(ApprovalDecision::Approved { .. })));
/// # });
/// ```
pub fn resolve(request: &ApprovalRequest, responses: &[ApprovalResponse]) -> Option<ApprovalDecision> {
    let mut seen: Vec<&str> = Vec::new();
    let mut approvers = Vec::new();
    for r in responses.iter().filter(|r| r.request_id == request.request_id) {
        let Some(reviewer) = r.reviewer.as_deref().filter(|s| !s.trim().is_empty()) else {
            continue;
        };
        let allowed = request.reviewers.is_empty() || request.reviewers.iter().any(|a| a == reviewer);
        if !allowed || seen.contains(&reviewer) || r.responded_at_ms > request.deadline_ms {
            continue;
        }
        seen.push(reviewer);
        if !r.approved {
            return Some(ApprovalDecision::Denied {
                reviewer: reviewer.to_owned(),
                reason: r.reason.clone(),
            });
        }
        approvers.push(reviewer.to_owned());
        if approvers.len() >= request.quorum as usize {
            return Some(ApprovalDecision::Approved { approvers });
        }
    }
    None
}

/// Everything the log says about one request.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let log = sidefx::log::MemoryEventLog::new();
/// let req = sidefx::approval::request(&log, sidefx::approval::ApprovalDraft::new("a", "b", "c")).await.unwrap();
/// let status = sidefx::approval::status(&log, &req.request_id).await.unwrap();
/// assert!(status.decision.is_none());
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ApprovalStatus {
    /// The request.
    pub request: ApprovalRequest,
    /// Its responses, in log order.
    pub responses: Vec<ApprovalResponse>,
    /// The decision, once one is recorded.
    pub decision: Option<ApprovalDecision>,
}

impl ApprovalStatus {
    /// Where the request stands: pending, expired (deadline passed, nobody recorded the
    /// timeout yet), approved, denied or timed out.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use sidefx::approval::{self, ApprovalDraft, ApprovalState};
    /// let log = sidefx::log::MemoryEventLog::new();
    /// let req = approval::request(&log, ApprovalDraft::new("a", "b", "c")).await.unwrap();
    /// assert_eq!(approval::status(&log, &req.request_id).await.unwrap().state(), ApprovalState::Pending);
    /// # });
    /// ```
    pub fn state(&self) -> ApprovalState {
        match &self.decision {
            Some(ApprovalDecision::Approved { .. }) => ApprovalState::Approved,
            Some(ApprovalDecision::Denied { .. }) => ApprovalState::Denied,
            Some(ApprovalDecision::TimedOut) => ApprovalState::TimedOut,
            None if now_ms() > self.request.deadline_ms => ApprovalState::Expired,
            None => ApprovalState::Pending,
        }
    }
}

/// A verdict from an [`Approver`]: the decision, plus metadata merged into the call's trust
/// record (for example which editor option or standing grant decided it).
///
/// ```
/// let v = sidefx::approval::Verdict::from(sidefx::approval::ApprovalDecision::TimedOut);
/// assert!(v.metadata.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The decision.
    pub decision: ApprovalDecision,
    /// Extra trust-record metadata.
    pub metadata: serde_json::Map<String, Value>,
}

impl From<ApprovalDecision> for Verdict {
    fn from(decision: ApprovalDecision) -> Self {
        Verdict {
            decision,
            metadata: serde_json::Map::new(),
        }
    }
}

/// Who decides blocking approval requests in a scope. Without one, the reviewers of the event
/// log decide ([`wait`]); a host with its own channel to a person (an editor over ACP) installs
/// one with [`crate::with_approver`]. An approver must fail closed: anything but a clear
/// approval is a denial.
///
/// ```
/// use sidefx::approval::{ApprovalDecision, ApprovalRequest, Approver, Verdict};
/// struct AlwaysNo;
/// #[async_trait::async_trait]
/// impl Approver for AlwaysNo {
///     async fn decide(&self, _req: &ApprovalRequest, _log: &dyn sidefx::log::EventLog) -> sidefx::Result<Verdict> {
///         Ok(ApprovalDecision::Denied { reviewer: "policy-bot".into(), reason: None }.into())
///     }
/// }
/// ```
#[async_trait::async_trait]
pub trait Approver: Send + Sync {
    /// Decides a filed request. Record responses on the log with [`respond`] so the
    /// `hitl.approvals` topic stays the complete story.
    async fn decide(&self, request: &ApprovalRequest, log: &dyn EventLog) -> Result<Verdict>;
}

impl std::fmt::Debug for dyn Approver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("dyn Approver")
    }
}

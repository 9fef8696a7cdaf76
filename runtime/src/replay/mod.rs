//! Replaying a candidate policy on recorded decisions: which real calls would change tier
//! under the new text, before it is deployed.
//!
//! [`replay`] reads the trust records of a log (agent, builtin, class, recorded arguments and
//! resources, the tier that was applied and what decided it) and resolves each call again under
//! the candidate with [`AutonomyPolicy::answer`], the same rules engine that decides live calls.
//! The [`ReplayReport`] counts the decisions that would change, groups them by (agent, builtin,
//! from, to) with one example each, and flags the calls the candidate would newly send to a
//! human.
//!
//! What a replay cannot see, it says:
//! - **act_auto calls** leave a trust record only when the policy sets `"audit_auto": true`;
//!   the others are not in the log, so their number is unknown
//!   ([`ReplayReport::unseen_act_auto`] is `None`) and the report says how to record them.
//! - **A redacted argument** that a candidate rule needs is reported as unknown
//!   ([`ReplayReport::unknowns`]), never guessed.
//!
//! The candidate stands in for every policy scope that was active. A tier set by the dispatch
//! context (recorded as `decided_by: dispatch.tier`) still caps the candidate's answer, since it
//! does not come from a policy. Relative path patterns resolve against the workspace recorded
//! with the call, else the filter's, else the candidate's `"workspace"`, else the current
//! directory; real paths are those of today's file system.
//!
//! ```
//! use std::sync::Arc;
//! use sidefx::{registry, AutonomyPolicy, Tier};
//! use sidefx::log::MemoryEventLog;
//! use sidefx::replay::{replay, ReplayFilter, Verdict};
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! registry::register(registry::BuiltinInfo::new("replay_doc_push", "git.write", "git.write")).unwrap();
//! let log = Arc::new(MemoryEventLog::new());
//! let made = AutonomyPolicy::from_json(r#"{"agent_id": "planner", "autonomy_tier": "shadow"}"#).unwrap();
//! sidefx::with_event_log(log.clone(), sidefx::with_policy(made.clone(), async {
//!     sidefx::enforce("replay_doc_push", &serde_json::json!({"branch": "main"})).await
//! })).await.unwrap();
//!
//! // The policy that made the log changes nothing.
//! let same = replay(log.as_ref(), &made, &ReplayFilter::default()).await.unwrap();
//! assert_eq!((same.total, same.changed), (1, 0));
//!
//! // A looser candidate would let the push wait for a reviewer instead.
//! let looser = AutonomyPolicy::from_json(r#"{"action_tiers": {"git.write": "act_with_approval"}}"#).unwrap();
//! let report = replay(log.as_ref(), &looser, &ReplayFilter::default()).await.unwrap();
//! assert_eq!(report.changed, 1);
//! let change = &report.changes[0];
//! assert_eq!((change.from, change.to), (Verdict::Tier(Tier::Shadow), Verdict::Tier(Tier::ActWithApproval)));
//! assert!(change.newly_human);
//! # });
//! ```

mod decide;
mod record;

use std::fmt;
use std::path::PathBuf;

use serde_json::Value;

use crate::log::{EventLog, Topic};
use crate::{AutonomyPolicy, Result, Tier};

/// How to make act_auto calls visible to a replay: what the report tells the operator.
pub const RECORD_ACT_AUTO: &str = "act_auto calls leave a trust record only when the policy that runs them sets \"audit_auto\": true; set it to replay them too";

/// Which recorded decisions to replay.
///
/// ```
/// let f = sidefx::replay::ReplayFilter::default().agent("planner").since_ms(1_700_000_000_000);
/// assert_eq!(f.agent.as_deref(), Some("planner"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayFilter {
    /// Only decisions recorded at or after this time (milliseconds since the Unix epoch, from
    /// the record's hashed `timestamp`).
    pub since_ms: Option<u64>,
    /// Only this agent's decisions.
    pub agent: Option<String>,
    /// The workspace relative path patterns resolve against for calls recorded without one.
    pub workspace: Option<PathBuf>,
    /// Only records stored after this event id of the `trust_graph` topic (0: from the start).
    pub after_event: u64,
}

impl ReplayFilter {
    /// Only decisions recorded at or after `ms`.
    ///
    /// ```
    /// assert_eq!(sidefx::replay::ReplayFilter::default().since_ms(5).since_ms, Some(5));
    /// ```
    pub fn since_ms(mut self, ms: u64) -> Self {
        self.since_ms = Some(ms);
        self
    }

    /// Only `agent`'s decisions.
    ///
    /// ```
    /// assert!(sidefx::replay::ReplayFilter::default().agent("ci").agent.is_some());
    /// ```
    pub fn agent(mut self, agent: impl Into<String>) -> Self {
        self.agent = Some(agent.into());
        self
    }

    /// Only records stored after event `id` of `trust_graph` (what was
    /// [`latest`](crate::log::EventLog::latest) before a run).
    ///
    /// ```
    /// assert_eq!(sidefx::replay::ReplayFilter::default().after_event(7).after_event, 7);
    /// ```
    pub fn after_event(mut self, id: u64) -> Self {
        self.after_event = id;
        self
    }

    /// Resolve relative path patterns against `dir` for calls recorded without a workspace.
    ///
    /// ```
    /// let f = sidefx::replay::ReplayFilter::default().workspace("/work/project");
    /// assert!(f.workspace.is_some());
    /// ```
    pub fn workspace(mut self, dir: impl Into<PathBuf>) -> Self {
        self.workspace = Some(dir.into());
        self
    }
}

/// What a call got: a tier, or a refusal until a human decides (`requires_human`, which
/// overrides every tier).
///
/// ```
/// use sidefx::replay::Verdict;
/// assert_eq!(Verdict::RequiresHuman.to_string(), "requires_human");
/// assert!(Verdict::Tier(sidefx::Tier::Suggest).files_request());
/// assert!(!Verdict::Tier(sidefx::Tier::Shadow).files_request());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Verdict {
    /// The call was decided by this tier.
    Tier(Tier),
    /// The call needed a human.
    RequiresHuman,
}

impl Verdict {
    /// The tier's snake_case name, or `requires_human`.
    ///
    /// ```
    /// assert_eq!(sidefx::replay::Verdict::Tier(sidefx::Tier::ActAuto).as_str(), "act_auto");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Tier(t) => t.as_str(),
            Verdict::RequiresHuman => "requires_human",
        }
    }

    /// Whether the call is sent to a human: it files an approval request (suggest,
    /// act_with_approval, requires_human).
    ///
    /// ```
    /// assert!(sidefx::replay::Verdict::RequiresHuman.files_request());
    /// ```
    pub fn files_request(self) -> bool {
        !matches!(self, Verdict::Tier(Tier::Shadow | Tier::ActAuto))
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Verdict {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One recorded call, shown as an example of a group.
///
/// ```
/// let e = sidefx::replay::Example::default();
/// assert_eq!(e.chain_index, 0);
/// ```
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Example {
    /// The record's position in the trust chain.
    pub chain_index: u64,
    /// The call's trace id.
    pub trace_id: String,
    /// When it was recorded (RFC 3339).
    pub timestamp: String,
    /// The recorded arguments (redacted ones masked).
    pub args: Value,
    /// The recorded resources (`[{"kind", "arg", "value"}]`), `null` for older records.
    pub resources: Value,
    /// What decided the recorded tier.
    pub recorded_decided_by: String,
    /// What in the candidate decides it now (`None` when unknown).
    pub decided_by: Option<String>,
}

/// Decisions that would change, grouped by (agent, builtin, from, to).
///
/// ```
/// let c = sidefx::replay::Change {
///     agent: "planner".into(), builtin: "git.push".into(),
///     from: sidefx::replay::Verdict::Tier(sidefx::Tier::ActAuto),
///     to: sidefx::replay::Verdict::RequiresHuman,
///     count: 3, newly_human: true, example: Default::default(),
/// };
/// assert_eq!(c.to.as_str(), "requires_human");
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Change {
    /// The agent that called.
    pub agent: String,
    /// The builtin it called.
    pub builtin: String,
    /// What the call got when it was recorded.
    pub from: Verdict,
    /// What the candidate gives it.
    pub to: Verdict,
    /// How many recorded decisions.
    pub count: usize,
    /// Whether the candidate sends these calls to a human and the recorded decision did not.
    pub newly_human: bool,
    /// The first such call in the log.
    pub example: Example,
}

/// Decisions the candidate's answer depends on a value the records do not show, grouped by
/// (agent, builtin, from).
///
/// ```
/// let u = sidefx::replay::Unknown {
///     agent: "ci".into(), builtin: "http_post".into(),
///     from: sidefx::replay::Verdict::Tier(sidefx::Tier::Suggest),
///     needs: vec!["url"], count: 1, example: Default::default(),
/// };
/// assert_eq!(u.needs, ["url"]);
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Unknown {
    /// The agent that called.
    pub agent: String,
    /// The builtin it called.
    pub builtin: String,
    /// What the call got when it was recorded.
    pub from: Verdict,
    /// The resource kinds a candidate rule reads that the records mask or lack (`path`,
    /// `command`, `url`).
    pub needs: Vec<&'static str>,
    /// How many recorded decisions.
    pub count: usize,
    /// The first such call in the log.
    pub example: Example,
}

/// What a candidate policy would change on the recorded decisions of a log.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let log = sidefx::log::MemoryEventLog::new();
/// let candidate = sidefx::AutonomyPolicy::at_tier(sidefx::Tier::Shadow);
/// let r = sidefx::replay::replay(&log, &candidate, &Default::default()).await.unwrap();
/// assert_eq!((r.total, r.changed, r.unseen_act_auto), (0, 0, None));
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ReplayReport {
    /// Decisions replayed (after the filter).
    pub total: usize,
    /// Decisions whose tier or human requirement would differ.
    pub changed: usize,
    /// Decisions the candidate answers as they were answered.
    pub unchanged: usize,
    /// Decisions the candidate's answer depends on a value the records mask or lack.
    pub unknown: usize,
    /// Changed decisions the candidate would newly send to a human (a request it files where
    /// none was filed).
    pub newly_human: usize,
    /// act_auto decisions made without `audit_auto`: not in the log, so their number is
    /// unknown (`None`); see [`RECORD_ACT_AUTO`].
    pub unseen_act_auto: Option<u64>,
    /// Audited act_auto decisions that were replayed.
    pub act_auto_replayed: usize,
    /// How to record act_auto decisions so a replay sees them.
    pub record_act_auto: &'static str,
    /// Trust records that are not decisions of a call (no builtin), left out.
    pub not_decisions: usize,
    /// Changed decisions by (agent, builtin, from, to), most frequent first.
    pub changes: Vec<Change>,
    /// Unknown decisions by (agent, builtin, from), most frequent first.
    pub unknowns: Vec<Unknown>,
}

/// Replays `candidate` on the decisions recorded in `log` that pass `filter`.
///
/// Reads the `trust_graph` topic in batches; each distinct call shape (agent, builtin,
/// resources, workspace) is resolved once. Errors only when the log cannot be read.
///
/// # Errors
/// `SIDEFX-LOG` when the log cannot be read or a recorded event cannot be decoded.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let log = sidefx::log::MemoryEventLog::new();
/// let filter = sidefx::replay::ReplayFilter::default().agent("planner");
/// let r = sidefx::replay(&log, &sidefx::AutonomyPolicy::default(), &filter).await.unwrap();
/// assert!(r.changes.is_empty());
/// # });
/// ```
pub async fn replay(
    log: &dyn EventLog,
    candidate: &AutonomyPolicy,
    filter: &ReplayFilter,
) -> Result<ReplayReport> {
    let mut replayer = decide::Replayer::new(candidate, filter);
    let mut after = filter.after_event;
    loop {
        let batch = log.read_range(&Topic::TRUST_GRAPH, after, 4096).await?;
        let Some(last) = batch.last() else { break };
        after = last.id;
        for stored in &batch {
            replayer.add(&stored.event.payload);
        }
    }
    Ok(replayer.finish())
}

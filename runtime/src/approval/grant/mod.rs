//! Approved suggestions become one-shot grants (issue 14 §1).
//!
//! A suggest-tier call does not run: it files a non-blocking approval request. The request
//! carries the call's [`GrantTerms`]: a keyed digest of the agent, the builtin, the call's
//! resources as resolved (so a relative path in another workspace is another call) and its
//! real argument values (redacted ones included), and the grant's time to live
//! (`suggestion_grant_ttl_ms`, default 24 h, the shortest of every scope's). When reviewers
//! approve it (on the command line, in process or through ACP: every path records the decision
//! through [`approval::respond`](crate::approval::respond)), the decision's writer issues a
//! grant: event `grant_issued` on topic `grants.<digest>`, expiring `ttl` after the approval.
//!
//! The next call by that agent to that builtin with identical values, before the expiry, runs
//! once without asking: it appends `grant_consumed` with compare-and-append on the grant's
//! topic, so of identical calls racing (in one process or many) exactly one wins; the others
//! get the suggest answer again. Its trust record (`success`, enforcement `suggestion_grant`)
//! names the request (`approval_request_id`) and the approvers.
//!
//! A grant only turns a suggest answer into one run: a call the scopes send to shadow, to a
//! human or to a blocking approval never consults it, act_auto calls never consume it, and the
//! approvers must satisfy the reviewer allowlist and quorum of the scopes around the call.
//!
//! ```
//! use std::sync::Arc;
//! use sidefx::{approval, registry, AutonomyPolicy, Decision, Tier};
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! registry::register(registry::BuiltinInfo::new("grant_doc_write", "fs.write", "workspace.write_text")).unwrap();
//! let log = Arc::new(sidefx::log::MemoryEventLog::new());
//! let policy = Arc::new(AutonomyPolicy::at_tier(Tier::Suggest).for_agent("planner"));
//! let args = serde_json::json!({"path": "notes.txt", "text": "hi"});
//! let call = || sidefx::with_event_log(log.clone(), sidefx::with_policy(policy.clone(),
//!     sidefx::enforce("grant_doc_write", &args)));
//! let Decision::Skip { reason } = call().await.unwrap() else { panic!() };
//! let id = reason.refusal().unwrap().request_id.clone().unwrap();
//! approval::respond(log.as_ref(), &id, "alice", true, None).await.unwrap();
//! assert!(matches!(call().await.unwrap(), Decision::Approved { .. }), "runs once");
//! assert!(matches!(call().await.unwrap(), Decision::Skip { .. }), "then suggests again");
//! let used = sidefx::grant::status(log.as_ref(), &id).await.unwrap().unwrap();
//! assert!(used.consumed.is_some());
//! # });
//! ```

mod digest;
mod key;

use std::time::Duration;

use serde_json::json;

pub(crate) use digest::CallPrint;
pub use digest::{GrantArgs, GrantBySerialize, GrantOpaque, GrantProbe};
pub use key::{GrantKey, KEY_FILE_ENV, KeyHome, use_key};

use super::ApprovalRequest;
use crate::log::{Conflicts, EventId, EventLog, LogEvent, StoredEvent, Topic, now_ms, read_all};
use crate::{Error, Result};

/// How long a grant lives after its approval when no policy says: 24 hours.
///
/// ```
/// assert_eq!(sidefx::grant::DEFAULT_TTL.as_secs(), 24 * 60 * 60);
/// ```
pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// The longest `suggestion_grant_ttl_ms` a policy may set: 30 days, like approval timeouts.
///
/// ```
/// assert_eq!(sidefx::grant::MAX_TTL, sidefx::approval::MAX_TIMEOUT);
/// ```
pub const MAX_TTL: Duration = super::MAX_TIMEOUT;

/// What a suggest-tier request carries so that approving it issues a grant.
///
/// ```
/// let t = sidefx::grant::GrantTerms { digest: None, ttl_ms: 1000, ungrantable: Some("why".into()) };
/// assert!(!t.grantable());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GrantTerms {
    /// `hmac-sha256:<hex>` of the agent, the builtin, the resolved resources and the real
    /// argument values under the log's grant key; `None` when the call cannot become a grant.
    pub digest: Option<String>,
    /// How long the grant lives after the approval, in milliseconds.
    pub ttl_ms: u64,
    /// Why approving the request issues no grant, when it does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ungrantable: Option<String>,
}

impl GrantTerms {
    /// Whether approving the request issues a grant.
    pub fn grantable(&self) -> bool {
        self.digest.is_some()
    }

    /// The topic of the grant, for a grantable request.
    fn topic(&self) -> Option<Topic> {
        let hex = self.digest.as_deref()?.strip_prefix(DIGEST_PREFIX)?;
        Topic::new(format!("grants.{hex}")).ok()
    }
}

const DIGEST_PREFIX: &str = "hmac-sha256:";

/// An issued grant (event `grant_issued`).
///
/// ```
/// let g = sidefx::grant::Grant {
///     request_id: "r".into(), agent: "planner".into(), builtin: "write_file".into(),
///     approvers: vec!["alice".into()], issued_at_ms: 1, expires_at_ms: 2,
/// };
/// assert_eq!(g.approvers, ["alice"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Grant {
    /// The approved suggest-tier request.
    pub request_id: String,
    /// The agent it lets call.
    pub agent: String,
    /// The builtin it lets run.
    pub builtin: String,
    /// Who approved.
    pub approvers: Vec<String>,
    /// When it was issued (the approval), ms since the epoch.
    pub issued_at_ms: u64,
    /// Until when it can be used, ms since the epoch.
    pub expires_at_ms: u64,
}

/// The use of a grant (event `grant_consumed`).
///
/// ```
/// let u = sidefx::grant::GrantUse { request_id: "r".into(), trace_id: "t".into(), consumed_at_ms: 5 };
/// assert_eq!(u.trace_id, "t");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GrantUse {
    /// The request whose grant was used.
    pub request_id: String,
    /// The trace of the call that used it.
    pub trace_id: String,
    /// When, ms since the epoch.
    pub consumed_at_ms: u64,
}

/// What the log says about the grant of one request: [`status`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GrantStatus {
    /// The request's terms.
    pub terms: GrantTerms,
    /// The grant, once issued.
    pub grant: Option<Grant>,
    /// Its use, once used.
    pub consumed: Option<GrantUse>,
}

impl GrantStatus {
    /// A one-line account: not grantable, not issued, unused until, used, expired.
    ///
    /// ```
    /// let s = sidefx::grant::GrantStatus {
    ///     terms: sidefx::grant::GrantTerms { digest: Some("hmac-sha256:00".into()), ttl_ms: 1, ungrantable: None },
    ///     grant: None, consumed: None,
    /// };
    /// assert!(s.describe().starts_with("none yet"));
    /// ```
    pub fn describe(&self) -> String {
        let at = crate::log::rfc3339_ms;
        match (&self.terms.ungrantable, &self.grant, &self.consumed) {
            (Some(why), _, _) => format!("none: {why}"),
            (None, _, Some(u)) => format!("used at {} by trace {}", at(u.consumed_at_ms), u.trace_id),
            (None, Some(g), None) if now_ms() > g.expires_at_ms => {
                format!("expired unused at {}", at(g.expires_at_ms))
            }
            (None, Some(g), None) => format!(
                "unused: the next identical call by {} to {} runs once before {}",
                g.agent,
                g.builtin,
                at(g.expires_at_ms)
            ),
            (None, None, None) => {
                "none yet (issued when the request is approved: the next identical call then runs once)"
                    .into()
            }
        }
    }
}

/// The digest of a call under the log's key, as stored in [`GrantTerms::digest`], or why the
/// call cannot become a grant.
pub(crate) fn call_digest(
    log: &dyn EventLog,
    agent: &str,
    builtin: &str,
    resources: &serde_json::Value,
    print: &CallPrint,
) -> Result<String, String> {
    let print = match print {
        CallPrint::Print(p) => p,
        CallPrint::Ungrantable(why) => return Err(why.clone()),
    };
    let key = GrantKey::find(log.grant_key_home())?;
    Ok(format!(
        "{DIGEST_PREFIX}{}",
        digest::grant_digest(&key, agent, builtin, resources, print)
    ))
}

fn grant_event(kind: &str, request_id: &str, payload: serde_json::Value) -> LogEvent {
    LogEvent::new(kind, payload).with_header("request_id", request_id)
}

/// Issues the grant of an approved suggest-tier `request` (once: a second call finds it).
/// Called by whoever recorded the approval.
pub(crate) async fn issue(
    log: &dyn EventLog,
    request: &ApprovalRequest,
    approvers: &[String],
    approved_at_ms: u64,
) -> Result<()> {
    let Some(topic) = request
        .grant
        .as_ref()
        .filter(|_| !request.blocking)
        .and_then(GrantTerms::topic)
    else {
        return Ok(());
    };
    let ttl = request.grant.as_ref().map_or(0, |t| t.ttl_ms);
    let grant = Grant {
        request_id: request.request_id.clone(),
        agent: request.agent.clone(),
        builtin: request.builtin.clone(),
        approvers: approvers.to_vec(),
        issued_at_ms: approved_at_ms,
        expires_at_ms: approved_at_ms.saturating_add(ttl),
    };
    let payload = serde_json::to_value(&grant).map_err(|e| Error::log("cannot encode the grant", e))?;
    let mut conflicts = Conflicts::new(&topic, "a suggestion grant");
    loop {
        let events = read_all(log, &topic).await?;
        if events.iter().any(|e| {
            e.event.kind == "grant_issued" && e.event.payload["request_id"] == json!(grant.request_id)
        }) {
            return Ok(());
        }
        let head = events.last().map(|e| e.id);
        let ev = grant_event("grant_issued", &grant.request_id, payload.clone());
        if log.append_if_latest(&topic, head, ev).await?.is_some() {
            return Ok(());
        }
        conflicts.conflicted(head)?;
    }
}

/// The grants and uses on one grant topic, in log order.
fn fold(events: &[StoredEvent]) -> (Vec<Grant>, Vec<GrantUse>) {
    let (mut grants, mut uses) = (Vec::new(), Vec::new());
    for e in events {
        match e.event.kind.as_str() {
            "grant_issued" => grants.extend(serde_json::from_value::<Grant>(e.event.payload.clone())),
            "grant_consumed" => uses.extend(serde_json::from_value::<GrantUse>(e.event.payload.clone())),
            _ => {}
        }
    }
    (grants, uses)
}

/// What the scopes around a call ask of a grant it may use: the reviewers its approvers must be
/// among (empty: anyone), how many of them, and the longest time to live since the approval.
pub(crate) struct Bounds<'a> {
    pub reviewers: &'a [String],
    pub quorum: u32,
    pub ttl: Duration,
}

/// Whether `grant`'s approvers would satisfy `bounds` (the scopes around the call): counted
/// approvers on a non-empty allowlist, at least the quorum of them. A grant approved under
/// looser settings than the call's scopes does not apply (tighten-only).
fn satisfies(grant: &Grant, bounds: &Bounds<'_>) -> bool {
    let counted = grant
        .approvers
        .iter()
        .filter(|a| bounds.reviewers.is_empty() || bounds.reviewers.contains(a))
        .count();
    counted >= bounds.quorum as usize
}

/// Consumes a live grant for the call with `digest` by `agent` to `builtin`, if there is one:
/// `Some((grant, consumed event id))` when this call won it.
pub(crate) async fn consume(
    log: &dyn EventLog,
    digest: &str,
    agent: &str,
    builtin: &str,
    bounds: &Bounds<'_>,
    trace_id: &str,
) -> Result<Option<(Grant, EventId)>> {
    let terms = GrantTerms {
        digest: Some(digest.to_owned()),
        ttl_ms: 0,
        ungrantable: None,
    };
    let Some(topic) = terms.topic() else {
        return Ok(None);
    };
    let ttl = u64::try_from(bounds.ttl.as_millis()).unwrap_or(u64::MAX);
    let mut conflicts = Conflicts::new(&topic, "a grant's use");
    loop {
        let events = read_all(log, &topic).await?;
        let Some(head) = events.last().map(|e| e.id) else {
            return Ok(None);
        };
        let now = now_ms();
        let (grants, uses) = fold(&events);
        // The oldest live grant: unused, unexpired (also under the call's own, maybe shorter,
        // time to live), for this agent and builtin, approved as the call's scopes require.
        let live = grants.into_iter().find(|g| {
            g.agent == agent
                && g.builtin == builtin
                && !uses.iter().any(|u| u.request_id == g.request_id)
                && now <= g.expires_at_ms.min(g.issued_at_ms.saturating_add(ttl))
                && satisfies(g, bounds)
        });
        let Some(grant) = live else { return Ok(None) };
        let used = GrantUse {
            request_id: grant.request_id.clone(),
            trace_id: trace_id.to_owned(),
            consumed_at_ms: now,
        };
        let payload =
            serde_json::to_value(&used).map_err(|e| Error::log("cannot encode a grant's use", e))?;
        let ev = grant_event("grant_consumed", &grant.request_id, payload).with_header("trace_id", trace_id);
        if let Some(id) = log.append_if_latest(&topic, Some(head), ev).await? {
            return Ok(Some((grant, id)));
        }
        // Another call appended first (maybe it used this grant): look again.
        conflicts.conflicted(Some(head))?;
    }
}

/// The grant of request `request_id`: `None` for a request that carries no grant terms (not a
/// suggest-tier call, or filed by an older version).
///
/// # Errors
/// `SIDEFX-UNKNOWN-APPROVAL` for an unknown id, `SIDEFX-LOG` when the log cannot be read.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let log = sidefx::log::MemoryEventLog::new();
/// let req = sidefx::approval::request(&log, sidefx::approval::ApprovalDraft::new("a", "b", "c")).await.unwrap();
/// assert!(sidefx::grant::status(&log, &req.request_id).await.unwrap().is_none());
/// # });
/// ```
pub async fn status(log: &dyn EventLog, request_id: &str) -> Result<Option<GrantStatus>> {
    let request = super::status(log, request_id).await?.request;
    status_of(log, &request).await
}

/// [`status`] of a request already read.
///
/// # Errors
/// `SIDEFX-LOG` when the log cannot be read.
pub async fn status_of(log: &dyn EventLog, request: &ApprovalRequest) -> Result<Option<GrantStatus>> {
    let Some(terms) = request.grant.clone() else {
        return Ok(None);
    };
    let (mut grant, mut consumed) = (None, None);
    if let Some(topic) = terms.topic() {
        let (grants, uses) = fold(&read_all(log, &topic).await?);
        grant = grants.into_iter().find(|g| g.request_id == request.request_id);
        consumed = uses.into_iter().find(|u| u.request_id == request.request_id);
    }
    Ok(Some(GrantStatus {
        terms,
        grant,
        consumed,
    }))
}

//! Queries over trust records (SPEC §11): filters on hashed fields only, so a stored field
//! outside the hash (such as the event's `occurred_at_ms`) can never hide or reveal a record.

use super::{Outcome, TrustRecord};
use crate::log::{EventLog, StoredEvent, Topic, read_all};
use crate::{Error, Result, Tier};

/// A filter over trust records; `limit` keeps the newest matches.
///
/// ```
/// let q = sidefx::trust::TrustQuery { agent: Some("planner".into()), limit: Some(10), ..Default::default() };
/// assert_eq!(q.limit, Some(10));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrustQuery {
    /// Only this agent.
    pub agent: Option<String>,
    /// Only this action (class).
    pub action: Option<String>,
    /// Only this outcome.
    pub outcome: Option<Outcome>,
    /// Only this tier.
    pub tier: Option<Tier>,
    /// Only records at or after this time (ms since epoch), by the record's hashed `timestamp`.
    pub since_ms: Option<u64>,
    /// Only records before this time (ms since epoch), by the record's hashed `timestamp`.
    pub until_ms: Option<u64>,
    /// Only this trace.
    pub trace_id: Option<String>,
    /// Keep at most this many, the newest.
    pub limit: Option<usize>,
}

impl TrustQuery {
    fn matches(&self, stored: &StoredEvent, r: &TrustRecord) -> Result<bool> {
        let timed = self.since_ms.is_some() || self.until_ms.is_some();
        let t = match r.timestamp_ms() {
            Some(t) => t,
            None if !timed => 0,
            None => {
                return Err(Error::Log(
                    format!(
                        "trust record {} (event {}) has a timestamp {:?} that is not RFC 3339",
                        r.chain_index, stored.id, r.timestamp
                    )
                    .into(),
                ));
            }
        };
        Ok(self.agent.as_ref().is_none_or(|a| *a == r.agent)
            && self.action.as_ref().is_none_or(|a| *a == r.action)
            && self.outcome.is_none_or(|o| o == r.outcome)
            && self.tier.is_none_or(|x| x == r.autonomy_tier)
            && self.since_ms.is_none_or(|s| t >= s)
            && self.until_ms.is_none_or(|u| t < u)
            && self.trace_id.as_ref().is_none_or(|x| *x == r.trace_id))
    }
}

/// The records matching `query`, oldest first.
///
/// # Errors
/// `SIDEFX-LOG` when the log cannot be read or a record is malformed.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use sidefx::trust::{self, Outcome, TrustDraft, TrustQuery};
/// let log = sidefx::log::MemoryEventLog::new();
/// trust::append(&log, TrustDraft::new("a", "x", Outcome::Denied, sidefx::Tier::Shadow)).await.unwrap();
/// trust::append(&log, TrustDraft::new("b", "x", Outcome::Success, sidefx::Tier::ActAuto)).await.unwrap();
/// let q = TrustQuery { outcome: Some(Outcome::Denied), ..Default::default() };
/// assert_eq!(trust::query(&log, &q).await.unwrap()[0].agent, "a");
/// # });
/// ```
pub async fn query(log: &dyn EventLog, query: &TrustQuery) -> Result<Vec<TrustRecord>> {
    let mut out = Vec::new();
    for stored in read_all(log, &Topic::TRUST_GRAPH).await? {
        let record = TrustRecord::from_event(&stored.event)?;
        if query.matches(&stored, &record)? {
            out.push(record);
        }
    }
    if let Some(limit) = query.limit {
        let excess = out.len().saturating_sub(limit);
        out.drain(..excess);
    }
    Ok(out)
}

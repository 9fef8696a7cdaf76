//! Hash-chained trust records (SPEC §11): an append-only, tamper-evident audit trail of every
//! decision, stored on the `trust_graph` topic.
//!
//! ```
//! use sidefx::log::MemoryEventLog;
//! use sidefx::trust::{self, Outcome, TrustDraft};
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let log = MemoryEventLog::new();
//! let draft = TrustDraft::new("planner", "fs.write", Outcome::Denied, sidefx::Tier::Shadow);
//! let rec = trust::append(&log, draft).await.unwrap();
//! assert_eq!(rec.chain_index, 0);
//! assert!(trust::verify_chain(&log).await.unwrap().is_valid());
//! # });
//! ```

mod borrowed;
mod query;
mod seal;
#[cfg(test)]
mod tests;
mod verify;

use std::collections::BTreeMap;

use serde_json::{Value, json};

#[cfg(test)]
pub(crate) use self::borrowed::assert_same_record;
pub(crate) use self::borrowed::{Meta, RecordParts, append_parts};
pub use self::query::{TrustQuery, query};
pub use self::verify::{BrokenLink, ChainBounds, ChainVerification, verify_chain, verify_events};
use crate::log::{Chained, EncodedEvent, EventLog, LogEvent, Topic, now_ms, rfc3339_ms};
use crate::{Error, Result, Tier};

/// The schema tag of every record.
pub const SCHEMA: &str = "opentrustgraph/v0.1";
/// The `previous_hash` of the first record of a chain.
pub const GENESIS_HASH: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
/// The event kind of a trust record on `trust_graph`.
pub const KIND: &str = "trust_recorded";

/// What became of a call.
///
/// ```
/// assert_eq!("timeout".parse::<sidefx::trust::Outcome>().unwrap(), sidefx::trust::Outcome::Timeout);
/// ```
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Outcome {
    /// The side effect ran (or was approved to run) and succeeded.
    Success,
    /// The side effect ran and failed.
    Failure,
    /// The side effect was refused.
    Denied,
    /// An approval deadline passed.
    Timeout,
}

// `as_str` (`Outcome::Denied.as_str() == "denied"`), `Display` and `FromStr`.
crate::names::named!(Outcome, "outcome");

/// A stored trust record.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let log = sidefx::log::MemoryEventLog::new();
/// let d = sidefx::trust::TrustDraft::new("a", "fs.write", sidefx::trust::Outcome::Success, sidefx::Tier::ActAuto);
/// let r = sidefx::trust::append(&log, d).await.unwrap();
/// assert_eq!(r.previous_hash, sidefx::trust::GENESIS_HASH);
/// assert!(r.entry_hash.starts_with("sha256:"));
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrustRecord {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// A UUIDv7.
    pub record_id: String,
    /// The agent that called.
    pub agent: String,
    /// The class of the action.
    pub action: String,
    /// Who approved or denied, if anyone.
    pub approver: Option<String>,
    /// What became of the call.
    pub outcome: Outcome,
    /// The trace the call belongs to.
    pub trace_id: String,
    /// The tier that decided.
    pub autonomy_tier: Tier,
    /// RFC 3339 time of recording.
    pub timestamp: String,
    /// Position in the chain, from 0.
    pub chain_index: u64,
    /// `entry_hash` of the previous record, or [`GENESIS_HASH`].
    pub previous_hash: String,
    /// `sha256:<hex>` over the canonical JSON of this record without `entry_hash`.
    pub entry_hash: String,
    /// `autonomy.enforcement`, `builtin`, `action_class`, `args`, `approval_request_id`, ...
    pub metadata: Value,
}

impl TrustRecord {
    /// The hash this record should carry, recomputed from its other fields.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let log = sidefx::log::MemoryEventLog::new();
    /// let d = sidefx::trust::TrustDraft::new("a", "fs.write", sidefx::trust::Outcome::Success, sidefx::Tier::ActAuto);
    /// let r = sidefx::trust::append(&log, d).await.unwrap();
    /// assert_eq!(r.compute_hash(), r.entry_hash);
    /// # });
    /// ```
    pub fn compute_hash(&self) -> String {
        // The same writer that seals records: the bytes verified are the bytes hashed.
        let mut previous = Vec::with_capacity(self.previous_hash.len() + 2);
        crate::canonical::write_str(&self.previous_hash, &mut previous);
        seal::RecordSeal::new(self).hash(self.chain_index.to_string().as_bytes(), &previous)
    }

    /// `metadata.autonomy.enforcement`, such as `shadow_noop`.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let log = sidefx::log::MemoryEventLog::new();
    /// let d = sidefx::trust::TrustDraft::new("a", "fs.write", sidefx::trust::Outcome::Denied, sidefx::Tier::Shadow)
    ///     .enforcement("shadow_noop");
    /// let r = sidefx::trust::append(&log, d).await.unwrap();
    /// assert_eq!(r.enforcement(), Some("shadow_noop"));
    /// # });
    /// ```
    pub fn enforcement(&self) -> Option<&str> {
        self.metadata
            .pointer("/autonomy/enforcement")
            .and_then(Value::as_str)
    }

    /// `timestamp` in milliseconds since the Unix epoch, or `None` if it is not RFC 3339. Time
    /// filters use this hashed field, never the event's unhashed `occurred_at_ms`.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let log = sidefx::log::MemoryEventLog::new();
    /// let d = sidefx::trust::TrustDraft::new("a", "x", sidefx::trust::Outcome::Success, sidefx::Tier::ActAuto);
    /// let r = sidefx::trust::append(&log, d).await.unwrap();
    /// assert!(r.timestamp_ms().unwrap() > 1_700_000_000_000);
    /// # });
    /// ```
    pub fn timestamp_ms(&self) -> Option<u64> {
        let t = humantime::parse_rfc3339_weak(&self.timestamp).ok()?;
        let d = t.duration_since(std::time::UNIX_EPOCH).ok()?;
        u64::try_from(d.as_millis()).ok()
    }

    /// Parses a stored `trust_recorded` event.
    ///
    /// # Errors
    /// `SIDEFX-LOG` when the event is not a well-formed trust record.
    ///
    /// ```
    /// let e = sidefx::log::LogEvent::new("trust_recorded", serde_json::json!({}));
    /// assert!(sidefx::trust::TrustRecord::from_event(&e).is_err());
    /// ```
    pub fn from_event(event: &LogEvent) -> Result<TrustRecord> {
        serde_json::from_value(event.payload.clone())
            .map_err(|e| Error::log("stored trust record is malformed", e))
    }
}

/// What a caller knows about a record before it is chained.
///
/// ```
/// use sidefx::trust::{Outcome, TrustDraft};
/// let d = TrustDraft::new("a", "git.write", Outcome::Denied, sidefx::Tier::Suggest)
///     .enforcement("suggest_approval_request")
///     .meta("builtin", "git.push");
/// assert_eq!(d.metadata["builtin"], "git.push");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct TrustDraft {
    /// The agent.
    pub agent: String,
    /// The class of the action.
    pub action: String,
    /// Who approved, if anyone.
    pub approver: Option<String>,
    /// The outcome.
    pub outcome: Outcome,
    /// The trace id (a new UUIDv7 when empty).
    pub trace_id: String,
    /// The tier.
    pub autonomy_tier: Tier,
    /// Metadata object.
    pub metadata: serde_json::Map<String, Value>,
}

impl TrustDraft {
    /// A draft with empty metadata and no trace id.
    ///
    /// ```
    /// let d = sidefx::trust::TrustDraft::new("a", "fs.write", sidefx::trust::Outcome::Success, sidefx::Tier::ActAuto);
    /// assert!(d.approver.is_none());
    /// ```
    pub fn new(agent: impl Into<String>, action: impl Into<String>, outcome: Outcome, tier: Tier) -> Self {
        TrustDraft {
            agent: agent.into(),
            action: action.into(),
            approver: None,
            outcome,
            trace_id: String::new(),
            autonomy_tier: tier,
            metadata: serde_json::Map::new(),
        }
    }

    /// Sets `metadata.autonomy.enforcement` (and `metadata.autonomy.tier`).
    ///
    /// ```
    /// let d = sidefx::trust::TrustDraft::new("a", "x", sidefx::trust::Outcome::Denied, sidefx::Tier::Shadow)
    ///     .enforcement("shadow_noop");
    /// assert_eq!(d.metadata["autonomy"]["enforcement"], "shadow_noop");
    /// ```
    pub fn enforcement(mut self, how: &str) -> Self {
        self.metadata.insert(
            "autonomy".into(),
            json!({"enforcement": how, "tier": self.autonomy_tier.as_str()}),
        );
        self
    }

    /// Sets one metadata key.
    ///
    /// ```
    /// let d = sidefx::trust::TrustDraft::new("a", "x", sidefx::trust::Outcome::Denied, sidefx::Tier::Shadow)
    ///     .meta("deny_code", "SIDEFX-SKIPPED");
    /// assert_eq!(d.metadata["deny_code"], "SIDEFX-SKIPPED");
    /// ```
    pub fn meta(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Sets the approver.
    ///
    /// ```
    /// let d = sidefx::trust::TrustDraft::new("a", "x", sidefx::trust::Outcome::Success, sidefx::Tier::ActWithApproval)
    ///     .approver("alice");
    /// assert_eq!(d.approver.as_deref(), Some("alice"));
    /// ```
    pub fn approver(mut self, who: impl Into<String>) -> Self {
        self.approver = Some(who.into());
        self
    }

    /// Sets the trace id.
    ///
    /// ```
    /// let d = sidefx::trust::TrustDraft::new("a", "x", sidefx::trust::Outcome::Success, sidefx::Tier::ActAuto)
    ///     .trace("t-1");
    /// assert_eq!(d.trace_id, "t-1");
    /// ```
    pub fn trace(mut self, trace_id: impl Into<String>) -> Self {
        self.trace_id = trace_id.into();
        self
    }

    /// The record this draft becomes, without its place in the chain (`chain_index`,
    /// `previous_hash` and `entry_hash` are filled in once it is appended).
    fn unchained(self) -> TrustRecord {
        TrustRecord {
            schema: SCHEMA.into(),
            record_id: uuid::Uuid::now_v7().to_string(),
            agent: self.agent,
            action: self.action,
            approver: self.approver,
            outcome: self.outcome,
            trace_id: if self.trace_id.is_empty() {
                uuid::Uuid::now_v7().to_string()
            } else {
                self.trace_id
            },
            autonomy_tier: self.autonomy_tier,
            timestamp: rfc3339_ms(now_ms()),
            chain_index: 0,
            previous_hash: String::new(),
            entry_hash: String::new(),
            metadata: Value::Object(self.metadata),
        }
    }
}

/// Chains and appends a record atomically: the log links it to the chain's head inside its
/// own write transaction ([`EventLog::append_chained`]), so concurrent appenders never fork
/// the chain. The record is written once, in canonical form; what is stored is what is hashed.
///
/// # Errors
/// `SIDEFX-LOG` when the record cannot be written.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let log = sidefx::log::MemoryEventLog::new();
/// let d = sidefx::trust::TrustDraft::new("a", "x", sidefx::trust::Outcome::Success, sidefx::Tier::ActAuto);
/// let first = sidefx::trust::append(&log, d.clone()).await.unwrap();
/// let second = sidefx::trust::append(&log, d).await.unwrap();
/// assert_eq!(second.previous_hash, first.entry_hash);
/// # });
/// ```
pub async fn append(log: &dyn EventLog, draft: TrustDraft) -> Result<TrustRecord> {
    append_after(log, Vec::new(), draft).await
}

/// [`append`], with `before` (a decision's proposal) appended first in the same transaction,
/// so a decision costs one commit.
pub(crate) async fn append_after(
    log: &dyn EventLog,
    before: Vec<(Topic, EncodedEvent)>,
    draft: TrustDraft,
) -> Result<TrustRecord> {
    let mut record = draft.unchained();
    let seal = Box::new(seal::RecordSeal::new(&record));
    let done = log
        .append_chained(&Topic::TRUST_GRAPH, Chained { before, seal })
        .await?;
    record.chain_index = done.link.index;
    record.previous_hash = done.previous.map_or_else(|| GENESIS_HASH.to_owned(), |p| p.hash);
    record.entry_hash = done.link.hash;
    Ok(record)
}

/// The headers of a record's event: copies of hashed fields (agent, outcome, trace id) for
/// routing and filtering, so verification can check them.
fn headers_of(agent: &str, outcome: Outcome, trace_id: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("agent".to_owned(), agent.to_owned()),
        ("outcome".to_owned(), outcome.as_str().to_owned()),
        ("trace_id".to_owned(), trace_id.to_owned()),
    ])
}

/// `chain_index` and `entry_hash` of a stored record, or why it cannot be chained onto.
fn chain_link(event: &LogEvent) -> Result<(u64, &str)> {
    let p = &event.payload;
    match (p["chain_index"].as_u64(), p["entry_hash"].as_str()) {
        (Some(index), Some(hash)) => Ok((index, hash)),
        _ => Err(Error::Log(
            "stored trust record is malformed: the chain head has no `chain_index` or `entry_hash`".into(),
        )),
    }
}

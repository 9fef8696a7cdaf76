//! A trust record written once, in canonical form: the bytes that are hashed are the bytes that
//! are stored, with no `serde_json::Value` of the record in between.
//!
//! The canonical form (SPEC §11) is the record's JSON with keys sorted by their bytes and no
//! whitespace. Its top-level keys are fixed, so they are written in their sorted order:
//!
//! ```text
//! action, agent, approver, autonomy_tier, chain_index, [entry_hash,] metadata, outcome,
//! previous_hash, record_id, schema, timestamp, trace_id
//! ```
//!
//! Everything but `chain_index` and `previous_hash` is known before the record's place in the
//! chain is, so it is written ahead, outside the log's write transaction, in three pieces
//! around those two; sealing inside the transaction only hashes the pieces and joins them.

use sha2::{Digest, Sha256};

use super::{GENESIS_HASH, KIND, TrustRecord, chain_link, headers_of};
use crate::canonical::{digest_hex, write_str};
use crate::log::{ChainLink, EncodedEvent, LogEvent, Seal};
use crate::{Error, Result};

/// A record rendered up to its place in the chain.
#[derive(Debug, Clone)]
pub(super) struct RecordSeal {
    /// `{"action":..,"agent":..,"approver":..,"autonomy_tier":..,"chain_index":`
    pub(super) head: Vec<u8>,
    /// `,"metadata":{..},"outcome":..,"previous_hash":`
    pub(super) middle: Vec<u8>,
    /// `,"record_id":..,"schema":..,"timestamp":..,"trace_id":..}`
    pub(super) tail: Vec<u8>,
    pub(super) headers: std::collections::BTreeMap<String, String>,
}

/// A record's fields other than its metadata and its place in the chain, borrowed from
/// wherever they are kept (a [`TrustRecord`], or a decision's facts).
pub(crate) struct Parts<'a> {
    pub action: &'a str,
    pub agent: &'a str,
    pub approver: Option<&'a str>,
    pub autonomy_tier: crate::Tier,
    pub outcome: super::Outcome,
    pub record_id: &'a str,
    pub schema: &'a str,
    pub timestamp: &'a str,
    pub trace_id: &'a str,
}

impl RecordSeal {
    /// Renders `record`'s fields other than `chain_index`, `previous_hash` and `entry_hash`.
    pub(super) fn new(record: &TrustRecord) -> Self {
        let parts = Parts {
            action: &record.action,
            agent: &record.agent,
            approver: record.approver.as_deref(),
            autonomy_tier: record.autonomy_tier,
            outcome: record.outcome,
            record_id: &record.record_id,
            schema: &record.schema,
            timestamp: &record.timestamp,
            trace_id: &record.trace_id,
        };
        Self::from_parts(&parts, |out| crate::canonical::write(&record.metadata, out))
    }

    /// Renders a record from its `parts`; `metadata` writes its canonical metadata object.
    pub(super) fn from_parts(p: &Parts<'_>, metadata: impl FnOnce(&mut Vec<u8>)) -> Self {
        let mut head = Vec::with_capacity(160);
        head.extend_from_slice(b"{\"action\":");
        write_str(p.action, &mut head);
        head.extend_from_slice(b",\"agent\":");
        write_str(p.agent, &mut head);
        head.extend_from_slice(b",\"approver\":");
        match p.approver {
            Some(a) => write_str(a, &mut head),
            None => head.extend_from_slice(b"null"),
        }
        head.extend_from_slice(b",\"autonomy_tier\":");
        write_str(p.autonomy_tier.as_str(), &mut head);
        head.extend_from_slice(b",\"chain_index\":");

        let mut middle = Vec::with_capacity(1024);
        middle.extend_from_slice(b",\"metadata\":");
        metadata(&mut middle);
        middle.extend_from_slice(b",\"outcome\":");
        write_str(p.outcome.as_str(), &mut middle);
        middle.extend_from_slice(b",\"previous_hash\":");

        let mut tail = Vec::with_capacity(160);
        tail.extend_from_slice(b",\"record_id\":");
        write_str(p.record_id, &mut tail);
        tail.extend_from_slice(b",\"schema\":");
        write_str(p.schema, &mut tail);
        tail.extend_from_slice(b",\"timestamp\":");
        write_str(p.timestamp, &mut tail);
        tail.extend_from_slice(b",\"trace_id\":");
        write_str(p.trace_id, &mut tail);
        tail.push(b'}');

        RecordSeal {
            head,
            middle,
            tail,
            headers: headers_of(p.agent, p.outcome, p.trace_id),
        }
    }

    /// `entry_hash` of the record at `index` after `previous_hash` (its JSON literal): SHA-256
    /// of the canonical form without `entry_hash`.
    pub(super) fn hash(&self, index: &[u8], previous_hash: &[u8]) -> String {
        let mut hasher = Sha256::new();
        hasher.update(&self.head);
        hasher.update(index);
        hasher.update(&self.middle);
        hasher.update(previous_hash);
        hasher.update(&self.tail);
        digest_hex(hasher.finalize().into())
    }
}

impl Seal for RecordSeal {
    fn link_of(&self, head: &LogEvent) -> Result<ChainLink> {
        let (index, hash) = chain_link(head)?;
        Ok(ChainLink {
            index,
            hash: hash.to_owned(),
        })
    }

    fn seal(&mut self, previous: Option<&ChainLink>) -> Result<(EncodedEvent, ChainLink)> {
        let (index, previous_hash) = match previous {
            None => (0, GENESIS_HASH),
            Some(p) => (
                p.index.checked_add(1).ok_or_else(|| {
                    Error::Log(
                        "the trust chain is full: its head's chain_index is the largest there is".into(),
                    )
                })?,
                p.hash.as_str(),
            ),
        };
        let index_text = index.to_string();
        let mut previous_json = Vec::with_capacity(previous_hash.len() + 2);
        write_str(previous_hash, &mut previous_json);
        let hash = self.hash(index_text.as_bytes(), &previous_json);

        let mut payload = Vec::with_capacity(
            self.head.len() + self.middle.len() + self.tail.len() + previous_json.len() + 120,
        );
        payload.extend_from_slice(&self.head);
        payload.extend_from_slice(index_text.as_bytes());
        payload.extend_from_slice(b",\"entry_hash\":");
        write_str(&hash, &mut payload);
        payload.extend_from_slice(&self.middle);
        payload.extend_from_slice(&previous_json);
        payload.extend_from_slice(&self.tail);
        // Only serde_json's string output, digits and ASCII punctuation were written.
        let payload =
            String::from_utf8(payload).map_err(|e| Error::log("a rendered trust record is not UTF-8", e))?;
        let event = EncodedEvent::trusted(KIND.to_owned(), payload).with_headers(self.headers.clone());
        Ok((event, ChainLink { index, hash }))
    }
}

//! A trust record written straight from borrowed parts: enforcement's decisions seal their
//! records from the call's facts without building a [`TrustDraft`](super::TrustDraft), so the
//! arguments and resources are written once, into the canonical bytes, and never cloned.
//!
//! The bytes are those of the draft path: the same keys, sorted the same way, each value written
//! as `canonical::write` writes it (tested against [`RecordSeal::new`](super::seal::RecordSeal)).

use serde_json::Value;

use super::seal::{Parts, RecordSeal};
use super::{Outcome, SCHEMA};
use crate::canonical::{self, write_str};
use crate::log::{ChainAppended, Chained, EncodedEvent, EventLog, Topic, now_ms, rfc3339_ms};
use crate::rules::DecidedBy;
use crate::{Result, Tier};

/// One metadata value of a [`RecordParts`], written canonically.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Meta<'a> {
    /// A string.
    Str(&'a str),
    /// A string or `null`.
    OptStr(Option<&'a str>),
    /// Any JSON value (object keys are sorted when written).
    Json(&'a Value),
    /// `{"enforcement": .., "tier": ..}`.
    Autonomy { enforcement: &'a str, tier: Tier },
    /// What decided the tier, as its text.
    DecidedBy(&'a DecidedBy),
}

impl Meta<'_> {
    fn write(self, out: &mut Vec<u8>) {
        match self {
            Meta::Str(s) | Meta::OptStr(Some(s)) => write_str(s, out),
            Meta::OptStr(None) => out.extend_from_slice(b"null"),
            Meta::Json(v) => canonical::write(v, out),
            Meta::Autonomy { enforcement, tier } => {
                out.extend_from_slice(b"{\"enforcement\":");
                write_str(enforcement, out);
                out.extend_from_slice(b",\"tier\":");
                write_str(tier.as_str(), out);
                out.push(b'}');
            }
            // Serialised as its text: the string `json!` of it holds.
            Meta::DecidedBy(by) => {
                let _ = serde_json::to_writer(out, by);
            }
        }
    }
}

/// A trust record's fields, borrowed, before its place in the chain is known.
#[derive(Debug)]
pub(crate) struct RecordParts<'a> {
    pub agent: &'a str,
    pub action: &'a str,
    pub outcome: Outcome,
    pub tier: Tier,
    /// Empty: a new UUIDv7, as for a draft.
    pub trace_id: &'a str,
    /// Metadata entries in any order; a later entry replaces an earlier one with the same key.
    pub metadata: Vec<(&'a str, Meta<'a>)>,
}

impl<'a> RecordParts<'a> {
    /// Adds (or replaces) one metadata entry (builder style).
    pub fn meta(mut self, key: &'a str, value: Meta<'a>) -> Self {
        self.metadata.push((key, value));
        self
    }

    /// The record rendered up to its place in the chain, with a new record id and the time now.
    fn seal(mut self) -> RecordSeal {
        let record_id = uuid::Uuid::now_v7().to_string();
        let timestamp = rfc3339_ms(now_ms());
        let generated;
        let trace_id = if self.trace_id.is_empty() {
            generated = uuid::Uuid::now_v7().to_string();
            generated.as_str()
        } else {
            self.trace_id
        };
        let parts = Parts {
            action: self.action,
            agent: self.agent,
            approver: None,
            autonomy_tier: self.tier,
            outcome: self.outcome,
            record_id: &record_id,
            schema: SCHEMA,
            timestamp: &timestamp,
            trace_id,
        };
        RecordSeal::from_parts(&parts, |out| write_metadata(&mut self.metadata, out))
    }
}

/// The metadata object in canonical form: keys sorted by their bytes, the last entry of a key
/// standing (as inserting into a map would leave it).
fn write_metadata(entries: &mut [(&str, Meta<'_>)], out: &mut Vec<u8>) {
    // Stable: equal keys keep their order, so the last one written below is the last inserted.
    entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    out.push(b'{');
    let mut first = true;
    for (i, (key, value)) in entries.iter().enumerate() {
        if entries.get(i + 1).is_some_and(|next| next.0 == *key) {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        write_str(key, out);
        out.push(b':');
        value.write(out);
    }
    out.push(b'}');
}

/// Appends the record of `parts` after `before` (a decision's proposal) in one chained append,
/// as [`append_after`](super::append_after) does for a draft: the record is written once, in
/// canonical form, and the hashed bytes are the stored ones.
pub(crate) async fn append_parts(
    log: &dyn EventLog,
    before: Vec<(Topic, EncodedEvent)>,
    parts: RecordParts<'_>,
) -> Result<ChainAppended> {
    let seal = Box::new(parts.seal());
    log.append_chained(&Topic::TRUST_GRAPH, Chained { before, seal })
        .await
}

/// Asserts that `parts` seal to the bytes `draft` seals to (the generated record id and time
/// copied over).
#[cfg(test)]
pub(crate) fn assert_same_record(draft: super::TrustDraft, parts: RecordParts<'_>) {
    use crate::log::Seal;
    let sealed = parts.seal();
    let (event, _) = sealed.clone().seal(None).unwrap();
    let ours: Value = serde_json::from_str(event.payload_json()).unwrap();
    let mut record = draft.unchained();
    record.record_id = ours["record_id"].as_str().unwrap().to_owned();
    record.timestamp = ours["timestamp"].as_str().unwrap().to_owned();
    let theirs = RecordSeal::new(&record);
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
    assert_eq!(text(&sealed.middle), text(&theirs.middle));
    assert_eq!(text(&sealed.head), text(&theirs.head));
    assert_eq!(text(&sealed.tail), text(&theirs.tail));
    assert_eq!(sealed.headers, theirs.headers);
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::trust::TrustDraft;

    /// A record sealed from borrowed parts has the bytes of the same record sealed from a
    /// draft: same key order, same escaping, replaced keys, nested objects sorted.
    #[test]
    fn parts_seal_to_the_bytes_of_the_draft_path() {
        let args = json!({"z": 1, "path": "a\"b\\c é", "nested": {"b": [1, 2.5, null], "a": true}});
        let resources = json!([{"kind": "path", "arg": "path", "value": "/w/a"}]);
        let by = DecidedBy::Rule {
            index: 2,
            text: r#"{"tier":"shadow"}"#.into(),
        };
        let draft = TrustDraft::new("planner", "fs.write", Outcome::Denied, Tier::Shadow)
            .trace("t-1")
            .enforcement("shadow_noop")
            .meta("builtin", "write_file")
            .meta("args", args.clone())
            .meta("resources", resources.clone())
            .meta("decided_by", json!(by))
            .meta("trigger_event_id", Value::Null)
            .meta("deny_code", "SIDEFX-OLD")
            .meta("deny_code", "SIDEFX-SKIPPED")
            .meta("workspace", "/w");
        let parts = RecordParts {
            agent: "planner",
            action: "fs.write",
            outcome: Outcome::Denied,
            tier: Tier::Shadow,
            trace_id: "t-1",
            metadata: vec![
                ("workspace", Meta::Str("/w")),
                ("deny_code", Meta::Str("SIDEFX-OLD")),
                ("args", Meta::Json(&args)),
                ("decided_by", Meta::DecidedBy(&by)),
                ("trigger_event_id", Meta::OptStr(None)),
                ("builtin", Meta::Str("write_file")),
                ("resources", Meta::Json(&resources)),
                (
                    "autonomy",
                    Meta::Autonomy {
                        enforcement: "shadow_noop",
                        tier: Tier::Shadow,
                    },
                ),
            ],
        }
        .meta("deny_code", Meta::Str("SIDEFX-SKIPPED"));
        assert_same_record(draft, parts);
    }
}

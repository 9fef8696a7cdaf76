//! The one record of a call that enforcement keeps: [`CallFacts`], built once the call's
//! arguments are recorded. Every event about the call (approval draft, proposal, trust draft,
//! audit record, the `sidefx::decision` tracing event) is derived from it, so they cannot
//! disagree.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::approval::ApprovalDraft;
use crate::canonical::write_str;
use crate::log::EncodedEvent;
use crate::observe::ObservedCall;
use crate::rules::DecidedBy;
use crate::scope::{ApprovalSettings, DispatchContext};
use crate::telemetry::Detail;
use crate::trust::{Meta, Outcome, RecordParts, TrustDraft};
use crate::{SideEffectAction, Tier};

/// Who called what, with which arguments, and what decided its tier. Immutable once built:
/// shared (`Arc`) between the decision and the [`Permit`](super::Permit) of an audited call.
#[derive(Debug)]
pub(crate) struct CallFacts {
    /// The builtin, its class and capability.
    pub action: SideEffectAction,
    /// The agent the scopes resolved.
    pub agent: String,
    /// The tier that stood.
    pub tier: Tier,
    /// Whether the policy requires a human for the call.
    pub requires_human: bool,
    /// The rule or row whose answer stood.
    pub decided_by: DecidedBy,
    /// The recorded arguments (skipped ones left out, redacted ones masked).
    pub args: Value,
    /// The call's trace (the dispatch's, or a new UUIDv7).
    pub trace_id: String,
    /// The call's declared resources, normalised as the rules saw them (`[{"kind", "arg",
    /// "value"}]`).
    pub resources: Value,
    /// The dispatch the call ran under, for the ids it carries.
    pub dispatch: Option<Arc<DispatchContext>>,
}

impl CallFacts {
    /// What the `sidefx::decision` tracing event says about this call.
    pub fn traced(&self) -> Traced<'_> {
        Traced {
            action: &self.action,
            agent: &self.agent,
            tier: self.tier,
            trace_id: &self.trace_id,
            decided_by: &self.decided_by,
        }
    }

    /// What a [`CallObserver`](crate::observe::CallObserver) is shown of this call.
    pub fn observed(&self) -> ObservedCall<'_> {
        ObservedCall {
            action: &self.action,
            agent: &self.agent,
            tier: self.tier,
            args: &self.args,
            trace_id: &self.trace_id,
        }
    }

    /// Emits the `sidefx::decision` event and span for this call with `outcome`.
    pub fn trace(&self, outcome: &str) {
        self.trace_with(outcome, None, None);
    }

    /// [`trace`](Self::trace) with the refusal's code and the decision's trust record.
    pub fn trace_with(&self, outcome: &str, error_type: Option<&str>, chain_index: Option<u64>) {
        if traced() {
            let detail = Detail {
                error_type,
                chain_index,
                args: Some(&self.args),
            };
            self.traced()
                .emit_now(outcome, &self.resources.to_string(), &detail);
        }
    }

    fn trigger_event_id(&self) -> Option<&str> {
        self.dispatch
            .as_deref()
            .and_then(|d| d.trigger_event_id.as_deref())
    }

    fn replay_of_event_id(&self) -> Option<&str> {
        self.dispatch
            .as_deref()
            .and_then(|d| d.replay_of_event_id.as_deref())
    }

    /// The trust record of the call's outcome, before its chain fields are filled in.
    pub fn trust(&self, outcome: Outcome, enforcement: &str) -> TrustDraft {
        let draft = TrustDraft::new(self.agent.clone(), self.action.class, outcome, self.tier)
            .trace(self.trace_id.clone())
            .enforcement(enforcement)
            .meta("builtin", self.action.builtin)
            .meta("action_class", self.action.class)
            .meta("capability", self.action.capability)
            .meta("args", self.args.clone())
            // New keys only: existing fields are hashed as before, so old chains verify.
            .meta("resources", self.resources.clone())
            .meta("decided_by", json!(self.decided_by))
            .meta("trigger_event_id", json!(self.trigger_event_id()))
            .meta("replay_of_event_id", json!(self.replay_of_event_id()));
        // What relative path rules resolved against, so `sidefx policy replay` resolves alike.
        match self.workspace() {
            Some(ws) => draft.meta("workspace", ws),
            None => draft,
        }
    }

    /// The dispatch context's workspace, when it names one in UTF-8.
    fn workspace(&self) -> Option<&str> {
        self.dispatch
            .as_deref()
            .and_then(|d| d.workspace.as_deref())
            .and_then(std::path::Path::to_str)
    }

    /// The approval request to file under `settings`; `blocking` when a caller waits for it.
    pub fn approval_draft(&self, settings: &ApprovalSettings, blocking: bool) -> ApprovalDraft {
        let mut d = ApprovalDraft::new(self.agent.clone(), self.action.builtin, self.action.class)
            .args(self.args.clone())
            .reviewers(settings.reviewers.iter().cloned())
            .quorum(settings.quorum)
            .timeout(settings.timeout);
        d.trace_id = self.trace_id.clone();
        d.capabilities = vec![self.action.capability.to_owned()];
        d.blocking = blocking;
        d.resources = self.resources.clone();
        d.decided_by = Some(self.decided_by.clone());
        d
    }

    /// The `dispatch_proposed` event for `trigger.outbox`: the call as a proposal, with the
    /// approval request filed for it, if any. Written as JSON text at once (the arguments are
    /// written, not cloned), with its keys in the order a `json!` object of them has.
    pub fn proposal(&self, request_id: Option<&str>) -> EncodedEvent {
        let action = self.dispatch.as_deref().and_then(|d| d.action.as_deref());
        let mut out = Vec::with_capacity(512);
        let o = &mut out;
        key(o, "agent");
        write_str(&self.agent, o);
        key(o, "action");
        write_str(action.unwrap_or(self.action.builtin), o);
        key(o, "builtin");
        write_str(self.action.builtin, o);
        key(o, "action_class");
        write_str(self.action.class, o);
        key(o, "capability");
        write_str(self.action.capability, o);
        // `Value`'s own serialisation: the text `json!` of the value gave.
        key(o, "args");
        write_json(&self.args, o);
        key(o, "resources");
        write_json(&self.resources, o);
        key(o, "decided_by");
        write_json(&self.decided_by, o);
        key(o, "trace_id");
        write_str(&self.trace_id, o);
        key(o, "trigger_event_id");
        write_json(&self.trigger_event_id(), o);
        key(o, "replay_of_event_id");
        write_json(&self.replay_of_event_id(), o);
        key(o, "autonomy_tier");
        write_str(self.tier.as_str(), o);
        key(o, "requires_human");
        write_json(&self.requires_human, o);
        key(o, "approval_request_id");
        write_json(&request_id, o);
        key(o, "proposal");
        o.extend_from_slice(b"true");
        out.push(b'}');
        // Only serde_json's output and ASCII punctuation were written.
        let payload = String::from_utf8(out).unwrap_or_default();
        let headers = BTreeMap::from([
            ("agent".to_owned(), self.agent.clone()),
            ("autonomy_tier".to_owned(), self.tier.as_str().to_owned()),
            ("trace_id".to_owned(), self.trace_id.clone()),
        ]);
        EncodedEvent::trusted("dispatch_proposed".to_owned(), payload).with_headers(headers)
    }

    /// The decision's trust record as borrowed parts, written without cloning the arguments:
    /// the same record [`trust`](Self::trust) drafts.
    pub fn record<'a>(&'a self, outcome: Outcome, enforcement: &'a str) -> RecordParts<'a> {
        let mut metadata = vec![
            (
                "autonomy",
                Meta::Autonomy {
                    enforcement,
                    tier: self.tier,
                },
            ),
            ("builtin", Meta::Str(self.action.builtin)),
            ("action_class", Meta::Str(self.action.class)),
            ("capability", Meta::Str(self.action.capability)),
            ("args", Meta::Json(&self.args)),
            ("resources", Meta::Json(&self.resources)),
            ("decided_by", Meta::DecidedBy(&self.decided_by)),
            ("trigger_event_id", Meta::OptStr(self.trigger_event_id())),
            ("replay_of_event_id", Meta::OptStr(self.replay_of_event_id())),
        ];
        if let Some(ws) = self.workspace() {
            metadata.push(("workspace", Meta::Str(ws)));
        }
        RecordParts {
            agent: &self.agent,
            action: self.action.class,
            outcome,
            tier: self.tier,
            trace_id: &self.trace_id,
            metadata,
        }
    }
}

/// Opens the object or separates the field from the previous one, then writes `"name":`.
fn key(out: &mut Vec<u8>, name: &str) {
    out.push(if out.is_empty() { b'{' } else { b',' });
    write_str(name, out);
    out.push(b':');
}

/// Writes `value` as serde_json writes it compactly (writing into a `Vec` cannot fail).
fn write_json<T: serde::Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) {
    let _ = serde_json::to_writer(out, value);
}

/// The fields of one `sidefx::decision` tracing event, borrowed from wherever the decision was
/// made (the fast path has no [`CallFacts`]).
pub(crate) struct Traced<'a> {
    pub action: &'a SideEffectAction,
    pub agent: &'a str,
    pub tier: Tier,
    pub trace_id: &'a str,
    pub decided_by: &'a DecidedBy,
}

/// Whether an `info` event could be recorded at all: two comparisons against `tracing`'s static
/// and current maximum level, cheap enough for the fast path.
#[inline]
pub(crate) fn traced() -> bool {
    tracing::Level::INFO <= tracing::level_filters::STATIC_MAX_LEVEL
        && tracing::Level::INFO <= tracing::level_filters::LevelFilter::current()
}

impl Traced<'_> {
    /// Emits the event when it could be recorded. The resources are shown only then:
    /// normalising them reads the file system.
    #[inline]
    pub fn emit(&self, outcome: &str, resources: impl FnOnce() -> String) {
        if traced() {
            self.emit_now(outcome, &resources(), &Detail::default());
        }
    }

    /// Emits the event and the span (see [`crate::telemetry`]); callers check [`traced`]
    /// first.
    #[cold]
    #[inline(never)]
    pub fn emit_now(&self, outcome: &str, resources: &str, detail: &Detail<'_>) {
        tracing::info!(
            target: "sidefx::decision",
            agent = self.agent,
            builtin = self.action.builtin,
            class = self.action.class,
            tier = self.tier.as_str(),
            outcome,
            trace_id = self.trace_id,
            decided_by = %self.decided_by,
            resources,
            "tool_decision"
        );
        crate::telemetry::span(
            self.action,
            self.agent,
            self.tier,
            self.trace_id,
            self.decided_by,
            outcome,
            detail,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> CallFacts {
        CallFacts {
            action: SideEffectAction::new("write_file", "fs.write", "workspace.write_text"),
            agent: "planner".into(),
            tier: Tier::Suggest,
            requires_human: false,
            decided_by: DecidedBy::Default,
            args: json!({"path": "a.txt"}),
            trace_id: "t-1".into(),
            resources: json!([{"kind": "path", "arg": "path", "value": "a.txt"}]),
            dispatch: Some(Arc::new(DispatchContext {
                trigger_event_id: Some("ev-7".into()),
                ..DispatchContext::new("planner")
            })),
        }
    }

    /// Every event derived from one record carries the same agent, trace, arguments and
    /// resources: none is copied by hand.
    #[test]
    fn every_event_is_derived_from_the_same_facts() {
        let f = facts();
        let settings = ApprovalSettings {
            reviewers: vec!["alice".into()],
            quorum: 1,
            timeout: std::time::Duration::from_secs(60),
            grant_ttl: std::time::Duration::from_secs(60),
        };
        let draft = f.approval_draft(&settings, false);
        let proposal = f.proposal(Some("req-1")).decode().unwrap();
        let trust = f.trust(Outcome::Denied, "suggest_approval_request");
        assert_eq!(
            (draft.agent.as_str(), draft.trace_id.as_str()),
            ("planner", "t-1")
        );
        assert_eq!(
            (draft.args.clone(), draft.resources.clone()),
            (f.args.clone(), f.resources.clone())
        );
        assert_eq!(draft.capabilities, ["workspace.write_text"]);
        let p = &proposal.payload;
        assert_eq!(
            (&p["args"], &p["resources"], &p["trace_id"]),
            (&f.args, &f.resources, &json!("t-1"))
        );
        assert_eq!(
            (&p["approval_request_id"], &p["trigger_event_id"]),
            (&json!("req-1"), &json!("ev-7"))
        );
        assert_eq!(
            p["action"], "write_file",
            "no dispatch action: the builtin's name"
        );
        assert_eq!(
            (trust.agent.as_str(), trust.trace_id.as_str()),
            ("planner", "t-1")
        );
        assert_eq!(
            (&trust.metadata["args"], &trust.metadata["resources"]),
            (&f.args, &f.resources)
        );
        assert_eq!(trust.metadata["trigger_event_id"], "ev-7");
        assert_eq!(trust.metadata["replay_of_event_id"], Value::Null);
    }

    /// The proposal written as text is what serialising the `json!` object of its fields gave
    /// (the previous implementation), byte for byte, headers included.
    #[test]
    fn the_proposal_text_is_the_json_value_it_replaced() {
        let mut f = facts();
        f.args = json!({"path": "a\"b\\ é", "n": [1, 2.5, null], "z": {"y": true, "x": false}});
        f.decided_by = DecidedBy::Rule {
            index: 3,
            text: r#"{"tier":"shadow"}"#.into(),
        };
        for request_id in [None, Some("req-1")] {
            let action = f.dispatch.as_deref().and_then(|d| d.action.as_deref());
            let old = json!({
                "agent": f.agent,
                "action": action.unwrap_or(f.action.builtin),
                "builtin": f.action.builtin,
                "action_class": f.action.class,
                "capability": f.action.capability,
                "args": f.args,
                "resources": f.resources,
                "decided_by": f.decided_by,
                "trace_id": f.trace_id,
                "trigger_event_id": f.trigger_event_id(),
                "replay_of_event_id": f.replay_of_event_id(),
                "autonomy_tier": f.tier,
                "requires_human": f.requires_human,
                "approval_request_id": request_id,
                "proposal": true,
            });
            let new = f.proposal(request_id);
            assert_eq!(new.payload_json(), old.to_string());
            assert_eq!(new.kind(), "dispatch_proposed");
            let headers: Vec<_> = new
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            assert_eq!(
                headers,
                [
                    ("agent", "planner"),
                    ("autonomy_tier", "suggest"),
                    ("trace_id", "t-1")
                ]
            );
        }
    }

    /// The record written from borrowed facts is the draft's record, byte for byte.
    #[test]
    fn the_record_from_parts_is_the_drafted_record() {
        let mut f = facts();
        f.decided_by = DecidedBy::Rule {
            index: 3,
            text: r#"{"tier":"shadow"}"#.into(),
        };
        let draft = f
            .trust(Outcome::Denied, "suggest_approval_request")
            .meta("approval_request_id", "req-1")
            .meta("deny_code", "SIDEFX-SKIPPED");
        let parts = f
            .record(Outcome::Denied, "suggest_approval_request")
            .meta("approval_request_id", Meta::Str("req-1"))
            .meta("deny_code", Meta::Str("SIDEFX-SKIPPED"));
        crate::trust::assert_same_record(draft, parts);
    }
}

//! The one record of a call that enforcement keeps: [`CallFacts`], built once the call's
//! arguments are recorded. Every event about the call (approval draft, proposal, trust draft,
//! audit record, the `sidefx::decision` tracing event) is derived from it, so they cannot
//! disagree.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::approval::ApprovalDraft;
use crate::log::LogEvent;
use crate::observe::ObservedCall;
use crate::rules::DecidedBy;
use crate::scope::{ApprovalSettings, DispatchContext};
use crate::telemetry::Detail;
use crate::trust::{Outcome, TrustDraft};
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
    /// approval request filed for it, if any.
    pub fn proposal(&self, request_id: Option<&str>) -> LogEvent {
        let action = self.dispatch.as_deref().and_then(|d| d.action.as_deref());
        let payload = json!({
            "agent": self.agent,
            "action": action.unwrap_or(self.action.builtin),
            "builtin": self.action.builtin,
            "action_class": self.action.class,
            "capability": self.action.capability,
            "args": self.args,
            "resources": self.resources,
            "decided_by": self.decided_by,
            "trace_id": self.trace_id,
            "trigger_event_id": self.trigger_event_id(),
            "replay_of_event_id": self.replay_of_event_id(),
            "autonomy_tier": self.tier,
            "requires_human": self.requires_human,
            "approval_request_id": request_id,
            "proposal": true,
        });
        LogEvent::new("dispatch_proposed", payload)
            .with_header("trace_id", self.trace_id.clone())
            .with_header("agent", self.agent.clone())
            .with_header("autonomy_tier", self.tier.as_str())
    }
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
        let proposal = f.proposal(Some("req-1"));
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
}

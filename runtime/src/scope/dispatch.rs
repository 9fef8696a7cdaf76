//! The dispatch context: facts about the dispatch that led to a call.

use crate::Tier;

/// Facts about the dispatch that led to a call: who, which action, under which tier, and the
/// trace it belongs to.
///
/// Dispatch contexts nest like policies and, like them, can only tighten: the call's tier is
/// at most every enclosing context's `tier`. Every other field is taken from the innermost
/// context that sets it, so a context opened per call just to set a trace id keeps the
/// host's agent and sandbox tier.
///
/// ```
/// let ctx = sidefx::DispatchContext::new("planner").tier(sidefx::Tier::Shadow).trace("t-1");
/// assert_eq!(ctx.agent_id.as_deref(), Some("planner"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DispatchContext {
    /// The agent dispatching.
    pub agent_id: Option<String>,
    /// The dispatched action's name, if the host has one (recorded in proposals).
    pub action: Option<String>,
    /// The dispatch tier; composes with policies and enclosing contexts by taking the most
    /// restrictive.
    pub tier: Option<Tier>,
    /// The trace id (a new UUIDv7 per call when absent).
    pub trace_id: Option<String>,
    /// The event that triggered the dispatch.
    pub trigger_event_id: Option<String>,
    /// The event this dispatch replays.
    pub replay_of_event_id: Option<String>,
    /// The directory relative path rules are anchored at (wins over a policy's `"workspace"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<std::path::PathBuf>,
}

impl DispatchContext {
    /// A context for `agent`.
    ///
    /// ```
    /// assert!(sidefx::DispatchContext::new("a").tier.is_none());
    /// ```
    pub fn new(agent: impl Into<String>) -> Self {
        DispatchContext {
            agent_id: Some(agent.into()),
            ..Default::default()
        }
    }

    /// Sets the dispatch tier.
    ///
    /// ```
    /// assert_eq!(sidefx::DispatchContext::new("a").tier(sidefx::Tier::Suggest).tier, Some(sidefx::Tier::Suggest));
    /// ```
    pub fn tier(mut self, tier: Tier) -> Self {
        self.tier = Some(tier);
        self
    }

    /// Sets the trace id.
    ///
    /// ```
    /// assert_eq!(sidefx::DispatchContext::new("a").trace("t").trace_id.as_deref(), Some("t"));
    /// ```
    pub fn trace(mut self, trace_id: impl Into<String>) -> Self {
        self.trace_id = Some(trace_id.into());
        self
    }

    /// Sets the workspace relative path rules are anchored at (SPEC §7a).
    ///
    /// ```
    /// let ctx = sidefx::DispatchContext::new("a").workspace("/work/session");
    /// assert_eq!(ctx.workspace.as_deref(), Some(std::path::Path::new("/work/session")));
    /// ```
    pub fn workspace(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.workspace = Some(dir.into());
        self
    }

    /// The context in force when `self` is entered inside `outer`: the most restrictive tier
    /// of the two, and for every other field the inner value, else the outer one.
    pub(super) fn within(self, outer: &DispatchContext) -> DispatchContext {
        let inherit = |inner: Option<String>, outer: &Option<String>| inner.or_else(|| outer.clone());
        DispatchContext {
            agent_id: inherit(self.agent_id, &outer.agent_id),
            action: inherit(self.action, &outer.action),
            tier: match (self.tier, outer.tier) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            trace_id: inherit(self.trace_id, &outer.trace_id),
            trigger_event_id: inherit(self.trigger_event_id, &outer.trigger_event_id),
            replay_of_event_id: inherit(self.replay_of_event_id, &outer.replay_of_event_id),
            workspace: self.workspace.or_else(|| outer.workspace.clone()),
        }
    }
}

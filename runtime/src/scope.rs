//! Task-scoped policy stack, dispatch context and event log (SPEC §8).
//!
//! State lives in a `tokio::task_local!`, so it follows a task across `.await` points and
//! worker threads and never leaks into another task. Scopes are entered by wrapping a future
//! (`with_policy(p, fut)`); there is no guard whose drop could pop someone else's entry. A
//! spawned task starts empty unless the caller propagates the scope with [`spawn`] or
//! [`Scope::capture`].
//!
//! ```
//! use sidefx::{AutonomyPolicy, Tier};
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let outer = AutonomyPolicy::at_tier(Tier::Suggest);
//! let inner = AutonomyPolicy::at_tier(Tier::ActAuto).for_agent("planner");
//! let action = sidefx::SideEffectAction::new("exec", "process.exec", "process.exec");
//! let resolved = sidefx::with_policy(outer, sidefx::with_policy(inner, async {
//!     sidefx::resolve(&action)
//! })).await.unwrap();
//! assert_eq!(resolved.agent, "planner");
//! assert_eq!(resolved.tier, Tier::Suggest); // an inner scope can tighten, never loosen
//! # });
//! ```

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::approval::Approver;
use crate::log::EventLog;
use crate::{AutonomyPolicy, Error, Result, SideEffectAction, Tier};

/// The agent a call is attributed to when nothing names one.
pub const DEFAULT_AGENT: &str = "runtime";

/// Facts about the dispatch that led to a call: who, which action, under which tier, and the
/// trace it belongs to.
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
    /// The dispatch tier; composes with policies by taking the most restrictive.
    pub tier: Option<Tier>,
    /// The trace id (a new UUIDv7 per call when absent).
    pub trace_id: Option<String>,
    /// The event that triggered the dispatch.
    pub trigger_event_id: Option<String>,
    /// The event this dispatch replays.
    pub replay_of_event_id: Option<String>,
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
}

/// An immutable linked stack: pushing shares the parent, so capturing a scope is a few
/// reference-count increments, never a deep copy.
#[derive(Debug)]
struct PolicyNode {
    policy: Arc<AutonomyPolicy>,
    parent: Option<Arc<PolicyNode>>,
}

/// Everything task-scoped: the policy stack, the dispatch context, the event log and strictness.
/// Capture it to carry it into another task.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let policy = sidefx::AutonomyPolicy::at_tier(sidefx::Tier::Shadow);
/// let handle = sidefx::with_policy(policy, async {
///     let scope = sidefx::Scope::capture();
///     tokio::spawn(scope.run(async { sidefx::Scope::capture().policy_count() }))
/// }).await;
/// assert_eq!(handle.await.unwrap(), 1);
/// # });
/// ```
#[derive(Clone, Default)]
pub struct Scope {
    policies: Option<Arc<PolicyNode>>,
    dispatch: Option<Arc<DispatchContext>>,
    log: Option<Arc<dyn EventLog>>,
    approver: Option<Arc<dyn Approver>>,
    strict: bool,
    /// Identifies this policy stack and dispatch context for the decision cache: a fresh id
    /// from [`NEXT_DECIDER`] whenever either changes, `0` while neither is set. Both are
    /// immutable behind their `Arc`s, so one id always means the same answers.
    decider: u64,
}

/// Source of [`Scope::decider`] ids; never reused (a `u64` does not wrap in practice).
static NEXT_DECIDER: AtomicU64 = AtomicU64::new(1);

impl std::fmt::Debug for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scope")
            .field("policies", &self.policy_count())
            .field("dispatch", &self.dispatch)
            .field("event_log", &self.log.is_some())
            .field("approver", &self.approver.is_some())
            .field("strict", &self.strict)
            .finish()
    }
}

tokio::task_local! {
    static SCOPE: Scope;
}

static PROCESS_STRICT: AtomicBool = AtomicBool::new(false);

/// Makes the whole process strict: a call that no policy or dispatch context gives a tier
/// fails closed with `SIDEFX-STRICT-NO-CONTEXT` instead of running at act_auto.
///
/// ```
/// assert!(!sidefx::is_process_strict());
/// ```
pub fn set_process_strict(strict: bool) {
    PROCESS_STRICT.store(strict, Ordering::Relaxed);
}

/// Whether the process default is strict.
///
/// ```
/// let _ = sidefx::is_process_strict();
/// ```
pub fn is_process_strict() -> bool {
    PROCESS_STRICT.load(Ordering::Relaxed)
}

impl Scope {
    /// The current task's scope (empty outside any scope).
    ///
    /// ```
    /// assert_eq!(sidefx::Scope::capture().policy_count(), 0);
    /// ```
    pub fn capture() -> Scope {
        SCOPE.try_with(Scope::clone).unwrap_or_default()
    }

    /// Runs `fut` inside this scope.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let n = sidefx::Scope::default().run(async { 1 }).await;
    /// assert_eq!(n, 1);
    /// # });
    /// ```
    pub fn run<F: Future>(self, fut: F) -> impl Future<Output = F::Output> {
        SCOPE.scope(self, fut)
    }

    /// How many policies are stacked.
    pub fn policy_count(&self) -> usize {
        self.policies().count()
    }

    /// The event log, if one is active.
    pub fn event_log(&self) -> Option<&Arc<dyn EventLog>> {
        self.log.as_ref()
    }

    /// The approver deciding blocking requests, if one is installed.
    pub fn approver(&self) -> Option<&Arc<dyn Approver>> {
        self.approver.as_ref()
    }

    /// The dispatch context, if one is active.
    pub fn dispatch(&self) -> Option<&DispatchContext> {
        self.dispatch.as_deref()
    }

    /// Policies from innermost to outermost.
    pub fn policies(&self) -> impl Iterator<Item = &AutonomyPolicy> {
        std::iter::successors(self.policies.as_deref(), |n| n.parent.as_deref()).map(|n| &*n.policy)
    }

    fn with_policy(mut self, policy: Arc<AutonomyPolicy>) -> Scope {
        self.policies = Some(Arc::new(PolicyNode {
            policy,
            parent: self.policies.take(),
        }));
        self.new_decider()
    }

    fn with_dispatch(mut self, ctx: DispatchContext) -> Scope {
        self.dispatch = Some(Arc::new(ctx));
        self.new_decider()
    }

    fn new_decider(mut self) -> Scope {
        self.decider = NEXT_DECIDER.fetch_add(1, Ordering::Relaxed);
        self
    }

    /// Resolves identity and tier for `action` in this scope (see [`resolve`]).
    pub fn resolve(&self, action: &SideEffectAction) -> Result<Resolved> {
        let (agent, tier, requires_human) = self.decide(action)?;
        Ok(Resolved {
            agent: agent.to_owned(),
            tier,
            requires_human,
        })
    }

    /// The agent calls are attributed to: the innermost policy's `agent_id`, else the dispatch
    /// agent, else [`DEFAULT_AGENT`].
    #[inline]
    fn agent(&self) -> &str {
        self.policies()
            .find_map(|p| p.agent_id.as_deref())
            .or_else(|| self.dispatch.as_ref().and_then(|d| d.agent_id.as_deref()))
            .unwrap_or(DEFAULT_AGENT)
    }

    /// What the policy stack and dispatch context answer for `action`: the most restrictive
    /// tier (if any answers) and whether a human is required.
    fn answer(&self, agent: &str, action: &SideEffectAction) -> (Option<Tier>, bool) {
        let mut tier: Option<Tier> = self.dispatch.as_ref().and_then(|d| d.tier);
        let mut requires_human = false;
        for p in self.policies() {
            if let Some(t) = p.tier_for(agent, action) {
                tier = Some(tier.map_or(t, |cur| cur.min(t)));
            }
            requires_human |= p.requires_human_for(agent, action);
        }
        (tier, requires_human)
    }

    /// The allocation-free core of [`resolve`](Self::resolve): the agent is borrowed.
    #[inline]
    pub(crate) fn decide(&self, action: &SideEffectAction) -> Result<(&str, Tier, bool)> {
        let agent = self.agent();
        let answer = self.answer(agent, action);
        self.settle(agent, action, answer)
    }

    /// [`decide`](Self::decide) through a per-thread cache of answers keyed by this scope's
    /// policy stack and dispatch context and by the action's strings: the fast path of
    /// `#[side_effect]`, where the same builtins run again and again under one scope.
    #[inline]
    pub(crate) fn decide_cached(&self, action: &SideEffectAction) -> Result<(&str, Tier, bool)> {
        let agent = self.agent();
        let answer = if self.decider == 0 {
            self.answer(agent, action)
        } else if let Some(hit) = decision_cache::get(self.decider, action) {
            hit
        } else {
            let answer = self.answer(agent, action);
            decision_cache::put(self.decider, action, answer);
            answer
        };
        self.settle(agent, action, answer)
    }

    /// Applies the default (act_auto, or a refusal when strict) when nothing answered.
    #[inline]
    fn settle<'a>(
        &self,
        agent: &'a str,
        action: &SideEffectAction,
        (tier, requires_human): (Option<Tier>, bool),
    ) -> Result<(&'a str, Tier, bool)> {
        match tier {
            Some(t) => Ok((agent, t, requires_human)),
            None if self.strict || is_process_strict() => Err(Error::StrictNoContext {
                builtin: action.builtin.to_owned(),
                agent: agent.to_owned(),
            }),
            None => Ok((agent, Tier::ActAuto, requires_human)),
        }
    }

    /// Approval settings across the stack: the innermost non-empty reviewer list, the largest
    /// quorum, the shortest timeout (tighten-only, like tiers).
    pub(crate) fn approval_settings(&self) -> (Vec<String>, u32, Option<u64>) {
        let reviewers = self
            .policies()
            .find(|p| !p.reviewers.is_empty())
            .map(|p| p.reviewers.clone());
        let quorum = self
            .policies()
            .filter_map(|p| p.approval_quorum)
            .max()
            .unwrap_or(1);
        let timeout = self.policies().filter_map(|p| p.approval_timeout_ms).min();
        (reviewers.unwrap_or_default(), quorum, timeout)
    }

    /// Whether any active policy asks for trust records of act_auto calls.
    pub(crate) fn audit_auto(&self) -> bool {
        self.policies().any(|p| p.audit_auto)
    }

    pub(crate) fn dispatch_arc(&self) -> Option<Arc<DispatchContext>> {
        self.dispatch.clone()
    }
}

/// Who a call is attributed to and what the scopes decided for it.
///
/// ```
/// let action = sidefx::SideEffectAction::new("exec", "process.exec", "process.exec");
/// let r = sidefx::Scope::default().resolve(&action).unwrap();
/// assert_eq!((r.agent.as_str(), r.tier, r.requires_human), ("runtime", sidefx::Tier::ActAuto, false));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The innermost policy's `agent_id`, else the dispatch agent, else `"runtime"`.
    pub agent: String,
    /// The most restrictive answer of every policy scope and the dispatch tier; act_auto when
    /// nothing answers (unless strict).
    pub tier: Tier,
    /// Whether any active policy requires a human for the call.
    pub requires_human: bool,
}

/// Resolves agent and tier for `action` in the current task's scope.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let action = sidefx::SideEffectAction::new("exec", "process.exec", "process.exec");
/// let ctx = sidefx::DispatchContext::new("worker").tier(sidefx::Tier::Shadow);
/// let policy = sidefx::AutonomyPolicy::at_tier(sidefx::Tier::ActAuto);
/// let r = sidefx::with_dispatch(ctx, sidefx::with_policy(policy, async { sidefx::resolve(&action) }))
///     .await
///     .unwrap();
/// assert_eq!((r.agent.as_str(), r.tier), ("worker", sidefx::Tier::Shadow));
/// # });
/// ```
pub fn resolve(action: &SideEffectAction) -> Result<Resolved> {
    match SCOPE.try_with(|s| s.resolve(action)) {
        Ok(r) => r,
        Err(_) => Scope::default().resolve(action),
    }
}

/// Runs `fut` with `f` applied to a copy of the scope current **when first polled**, so
/// wrappers nest by how they are awaited, not by the order their futures were built.
async fn scoped<F: Future>(f: impl FnOnce(Scope) -> Scope, fut: F) -> F::Output {
    f(Scope::capture()).run(fut).await
}

/// Runs `fut` with `policy` pushed on the policy stack. Nested scopes can only tighten.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let p = sidefx::AutonomyPolicy::at_tier(sidefx::Tier::Shadow);
/// let n = sidefx::with_policy(p, async { sidefx::Scope::capture().policy_count() }).await;
/// assert_eq!(n, 1);
/// # });
/// ```
pub fn with_policy<F: Future>(
    policy: impl Into<Arc<AutonomyPolicy>>,
    fut: F,
) -> impl Future<Output = F::Output> {
    let policy = policy.into();
    scoped(move |s| s.with_policy(policy), fut)
}

/// Runs `fut` with `ctx` as the dispatch context (replacing an outer one).
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let agent = sidefx::with_dispatch(sidefx::DispatchContext::new("w"), async {
///     sidefx::Scope::capture().dispatch().and_then(|d| d.agent_id.clone())
/// }).await;
/// assert_eq!(agent.as_deref(), Some("w"));
/// # });
/// ```
pub fn with_dispatch<F: Future>(ctx: DispatchContext, fut: F) -> impl Future<Output = F::Output> {
    scoped(move |s| s.with_dispatch(ctx), fut)
}

/// Runs `fut` with `log` as the active event log.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let log = std::sync::Arc::new(sidefx::log::MemoryEventLog::new());
/// let active = sidefx::with_event_log(log, async { sidefx::Scope::capture().event_log().is_some() }).await;
/// assert!(active);
/// # });
/// ```
pub fn with_event_log<F: Future>(log: Arc<dyn EventLog>, fut: F) -> impl Future<Output = F::Output> {
    scoped(
        move |mut s| {
            s.log = Some(log);
            s
        },
        fut,
    )
}

/// Runs `fut` with `approver` deciding act_with_approval requests instead of log reviewers.
///
/// ```
/// # use sidefx::approval::{ApprovalDecision, ApprovalRequest, Approver, Verdict};
/// # struct Yes;
/// # #[async_trait::async_trait]
/// # impl Approver for Yes {
/// #     async fn decide(&self, _: &ApprovalRequest, _: &dyn sidefx::log::EventLog) -> sidefx::Result<Verdict> {
/// #         Ok(ApprovalDecision::Approved { approvers: vec!["yes".into()] }.into())
/// #     }
/// # }
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let installed = sidefx::with_approver(std::sync::Arc::new(Yes), async {
///     sidefx::Scope::capture().approver().is_some()
/// }).await;
/// assert!(installed);
/// # });
/// ```
pub fn with_approver<F: Future>(approver: Arc<dyn Approver>, fut: F) -> impl Future<Output = F::Output> {
    scoped(
        move |mut s| {
            s.approver = Some(approver);
            s
        },
        fut,
    )
}

/// Runs `fut` in strict mode: calls no policy or dispatch context gives a tier fail closed.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let action = sidefx::SideEffectAction::new("exec", "process.exec", "process.exec");
/// let err = sidefx::with_strict(async { sidefx::resolve(&action) }).await.unwrap_err();
/// assert_eq!(err.code(), "SIDEFX-STRICT-NO-CONTEXT");
/// # });
/// ```
pub fn with_strict<F: Future>(fut: F) -> impl Future<Output = F::Output> {
    scoped(
        |mut s| {
            s.strict = true;
            s
        },
        fut,
    )
}

/// Spawns `fut` on the tokio runtime carrying the current scope into it.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let p = sidefx::AutonomyPolicy::at_tier(sidefx::Tier::Shadow);
/// let n = sidefx::with_policy(p, async {
///     sidefx::spawn(async { sidefx::Scope::capture().policy_count() }).await.unwrap()
/// }).await;
/// assert_eq!(n, 1);
/// # });
/// ```
pub fn spawn<F>(fut: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(Scope::capture().run(fut))
}

/// Runs `f` against the current scope without cloning it; `None` outside any scope.
#[inline]
pub(crate) fn try_with_current<T>(f: impl FnOnce(&Scope) -> T) -> Option<T> {
    SCOPE.try_with(f).ok()
}

/// A small per-thread, direct-mapped cache of what a scope answers for an action.
///
/// Keyed by the scope's `decider` id (fresh whenever the policy stack or dispatch context
/// changes, never reused) and by the address and length of the action's `&'static` builtin and
/// class strings: equal keys mean the same immutable policies, dispatch context and strings, so
/// a hit is always the answer [`Scope::answer`] would compute. Different string literals with
/// equal text only cost a second slot. Strictness is applied after the cache, so flipping
/// [`set_process_strict`] takes effect at once.
mod decision_cache {
    use std::cell::Cell;

    use crate::{SideEffectAction, Tier};

    const SLOTS: usize = 128;

    #[derive(Clone, Copy)]
    struct Entry {
        decider: u64,
        builtin: (usize, usize),
        class: (usize, usize),
        answer: (Option<Tier>, bool),
    }

    const EMPTY: Entry = Entry {
        decider: 0,
        builtin: (0, 0),
        class: (0, 0),
        answer: (None, false),
    };

    thread_local! {
        static CACHE: [Cell<Entry>; SLOTS] = const { [const { Cell::new(EMPTY) }; SLOTS] };
    }

    #[inline]
    fn key(s: &'static str) -> (usize, usize) {
        (s.as_ptr() as usize, s.len())
    }

    #[inline]
    fn slot(decider: u64, action: &SideEffectAction) -> usize {
        let mixed = decider ^ (action.builtin.as_ptr() as u64).rotate_left(20) ^ action.class.as_ptr() as u64;
        (mixed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 57) as usize % SLOTS
    }

    #[inline]
    pub(super) fn get(decider: u64, action: &SideEffectAction) -> Option<(Option<Tier>, bool)> {
        CACHE
            .try_with(|c| {
                let e = c[slot(decider, action)].get();
                (e.decider == decider && e.builtin == key(action.builtin) && e.class == key(action.class))
                    .then_some(e.answer)
            })
            .ok()
            .flatten()
    }

    #[inline]
    pub(super) fn put(decider: u64, action: &SideEffectAction, answer: (Option<Tier>, bool)) {
        let _ = CACHE.try_with(|c| {
            c[slot(decider, action)].set(Entry {
                decider,
                builtin: key(action.builtin),
                class: key(action.class),
                answer,
            })
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cached(scope: &Scope, action: &SideEffectAction) -> (String, Tier, bool) {
        let (agent, tier, human) = scope.decide_cached(action).expect("decides");
        (agent.to_owned(), tier, human)
    }

    #[test]
    fn the_decision_cache_never_mixes_scopes_or_actions() {
        let write = SideEffectAction::new("write_file", "fs.write", "workspace.write_text");
        let push = SideEffectAction::new("git.push", "git.write", "git.write");
        let auto =
            Scope::default().with_policy(Arc::new(AutonomyPolicy::at_tier(Tier::ActAuto).for_agent("a")));
        let mut shadow_push = AutonomyPolicy::at_tier(Tier::ActAuto).for_agent("b");
        shadow_push.action_tiers.insert("git.push".into(), Tier::Shadow);
        let inner = auto.clone().with_policy(Arc::new(shadow_push));
        let human = Scope::default().with_policy(Arc::new(AutonomyPolicy {
            requires_human: true,
            ..AutonomyPolicy::at_tier(Tier::ActAuto)
        }));
        let dispatched = auto
            .clone()
            .with_dispatch(DispatchContext::new("d").tier(Tier::Suggest));
        for _ in 0..3 {
            assert_eq!(cached(&auto, &write), ("a".into(), Tier::ActAuto, false));
            assert_eq!(cached(&auto, &push), ("a".into(), Tier::ActAuto, false));
            assert_eq!(cached(&inner, &write), ("b".into(), Tier::ActAuto, false));
            assert_eq!(cached(&inner, &push), ("b".into(), Tier::Shadow, false));
            assert_eq!(cached(&human, &push), ("runtime".into(), Tier::ActAuto, true));
            assert_eq!(cached(&dispatched, &write), ("a".into(), Tier::Suggest, false));
            for (scope, action) in [
                (&auto, &write),
                (&inner, &push),
                (&human, &write),
                (&dispatched, &push),
            ] {
                assert_eq!(scope.decide_cached(action).ok(), scope.decide(action).ok());
            }
        }
        // Nothing answers in an empty scope, so strictness applies after the cache.
        let empty = Scope::default();
        assert_eq!(cached(&empty, &write).1, Tier::ActAuto);
        let strict = Scope {
            strict: true,
            ..Scope::default()
        };
        assert_eq!(
            strict.decide_cached(&write).unwrap_err().code(),
            "SIDEFX-STRICT-NO-CONTEXT"
        );
    }
}

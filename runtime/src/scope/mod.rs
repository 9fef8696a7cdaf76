//! Task-scoped policy stack, dispatch contexts and event log (SPEC §8).
//!
//! State lives with the task: the future a scope wraps owns it and makes it current while that
//! future is polled (a task-local, see `current.rs`), so it follows a task across `.await`
//! points and worker threads and never leaks into another task. Scopes are entered by wrapping a future
//! (`with_policy(p, fut)`); there is no guard whose drop could pop someone else's entry. A
//! spawned task starts empty unless the caller propagates the scope with [`spawn`] or
//! [`Scope::capture`].
//!
//! # Tighten-only
//!
//! An inner scope can tighten, never loosen (SPEC §7, §8). Policies and dispatch contexts form
//! one stack, and a call is decided as follows:
//!
//! - **Tier**: the most restrictive of every policy's answer and every dispatch context's
//!   `tier`; act_auto when nothing answers (a refusal when strict).
//! - **Identity**: the call is attributed to the innermost policy's `agent_id`, else the
//!   innermost dispatch context naming an agent, else [`DEFAULT_AGENT`]. Each policy answers
//!   for that agent, **and** for the agent in force where the policy was entered (the same
//!   rule applied to the stack up to and including the policy), **and** for every agent a
//!   scope inside it names; the most restrictive answer counts, and `requires_human` holds if
//!   it holds for any of them. So an inner `agent_id` cannot move a call out from under the
//!   rules an outer policy wrote for its agent. A policy entered where no agent is named speaks for whichever
//!   agent the inner scopes name: that is how one host policy with per-agent rows serves a
//!   dispatch context per call.
//! - **Approvals**: reviewer allowlists intersect (an empty list means "anyone" for its
//!   scope), the quorum is the largest and the timeout the shortest of any scope. When the
//!   allowlists have nobody in common, or fewer common reviewers than the quorum, nobody can
//!   approve and the call fails closed at once (`SIDEFX-NO-REVIEWER`).
//!
//! ```
//! use sidefx::{AutonomyPolicy, DispatchContext, Tier};
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let outer = AutonomyPolicy::at_tier(Tier::Suggest);
//! let inner = AutonomyPolicy::at_tier(Tier::ActAuto).for_agent("planner");
//! let action = sidefx::SideEffectAction::new("exec", "process.exec", "process.exec");
//! let resolved = sidefx::with_policy(outer, sidefx::with_policy(inner, async {
//!     sidefx::resolve(&action)
//! })).await.unwrap();
//! assert_eq!(resolved.agent, "planner");
//! assert_eq!(resolved.tier, Tier::Suggest); // an inner scope can tighten, never loosen
//!
//! // The outer policy's row for the intern still binds after an inner scope renames the call.
//! let host = AutonomyPolicy::from_json(r#"{"agent_tiers": {"intern": "shadow"}}"#).unwrap();
//! let renamed = AutonomyPolicy::at_tier(Tier::ActAuto).for_agent("planner");
//! let resolved = sidefx::with_dispatch(DispatchContext::new("intern"), sidefx::with_policy(host,
//!     sidefx::with_policy(renamed, async { sidefx::resolve(&action) }))).await.unwrap();
//! assert_eq!(resolved.tier, Tier::Shadow);
//! # });
//! ```

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::AutonomyPolicy;
use crate::approval::Approver;
use crate::log::EventLog;
use crate::observe::CallObserver;

mod cache;
mod current;
mod dispatch;
mod fast;
mod resolve;
#[cfg(test)]
mod tests;

pub use dispatch::DispatchContext;
pub(crate) use fast::open_now;
pub use resolve::{ApprovalSettings, Resolved, resolve};

/// The agent a call is attributed to when nothing names one.
pub const DEFAULT_AGENT: &str = "runtime";

/// One entry of the scope stack: a policy, or the agent a dispatch context names (its tier
/// and other fields live in the merged [`Scope::dispatch`]).
#[derive(Debug)]
enum Layer {
    Policy(Arc<AutonomyPolicy>),
    Agent(Box<str>),
}

impl Layer {
    /// The agent this layer names, if any.
    #[inline]
    fn names(&self) -> Option<&str> {
        match self {
            Layer::Policy(p) => p.agent_id.as_deref(),
            Layer::Agent(a) => Some(a),
        }
    }
}

/// An immutable linked stack: pushing shares the parent, so capturing a scope is a few
/// reference-count increments, never a deep copy.
#[derive(Debug)]
struct Node {
    layer: Layer,
    parent: Option<Arc<Node>>,
}

/// Everything task-scoped: the policy stack, the dispatch contexts, the event log and strictness.
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
    /// Policies and dispatch-context agents, innermost first.
    layers: Option<Arc<Node>>,
    /// Every dispatch context entered, merged (see [`DispatchContext`]).
    dispatch: Option<Arc<DispatchContext>>,
    log: Option<Arc<dyn EventLog>>,
    approver: Option<Arc<dyn Approver>>,
    observer: Option<Arc<dyn CallObserver>>,
    strict: bool,
    /// Whether any policy on the stack asks for trust records of act_auto calls, and whether
    /// any has rules on arguments: kept as the stack is built (policies are immutable), so the
    /// fast path reads two flags instead of walking the stack.
    audit_auto: bool,
    rules: bool,
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
            .field("observer", &self.observer.is_some())
            .field("strict", &self.strict)
            .field("decider", &self.decider)
            .finish_non_exhaustive()
    }
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
#[inline]
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
        current::try_with(Scope::clone).unwrap_or_default()
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
        current::Scoped::new(self, fut)
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

    /// The observer told of every call, if one is installed (see [`with_observer`]).
    pub fn observer(&self) -> Option<&Arc<dyn CallObserver>> {
        self.observer.as_ref()
    }

    /// The dispatch context in force: every context entered, merged — the most restrictive
    /// tier, and each other field from the innermost context that sets it.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use sidefx::{DispatchContext, Tier};
    /// let per_call = DispatchContext { trace_id: Some("t-2".into()), ..Default::default() };
    /// let ctx = sidefx::with_dispatch(DispatchContext::new("host").tier(Tier::Shadow),
    ///     sidefx::with_dispatch(per_call, async { sidefx::Scope::capture().dispatch().cloned() }))
    ///     .await
    ///     .unwrap();
    /// assert_eq!((ctx.agent_id.as_deref(), ctx.tier, ctx.trace_id.as_deref()), (Some("host"), Some(Tier::Shadow), Some("t-2")));
    /// # });
    /// ```
    pub fn dispatch(&self) -> Option<&DispatchContext> {
        self.dispatch.as_deref()
    }

    /// Policies from innermost to outermost.
    pub fn policies(&self) -> impl Iterator<Item = &AutonomyPolicy> {
        self.nodes().filter_map(|n| match &n.layer {
            Layer::Policy(p) => Some(&**p),
            Layer::Agent(_) => None,
        })
    }

    /// The stack from innermost to outermost.
    #[inline]
    fn nodes(&self) -> impl Iterator<Item = &Node> + Clone {
        std::iter::successors(self.layers.as_deref(), |n| n.parent.as_deref())
    }

    fn push(&mut self, layer: Layer) {
        self.layers = Some(Arc::new(Node {
            layer,
            parent: self.layers.take(),
        }));
    }

    fn with_policy(mut self, policy: Arc<AutonomyPolicy>) -> Scope {
        self.audit_auto |= policy.audit_auto;
        self.rules |= !policy.rules.is_empty();
        self.push(Layer::Policy(policy));
        self.new_decider()
    }

    fn with_dispatch(mut self, ctx: DispatchContext) -> Scope {
        if let Some(agent) = &ctx.agent_id {
            self.push(Layer::Agent(agent.as_str().into()));
        }
        let merged = match &self.dispatch {
            Some(outer) => ctx.within(outer),
            None => ctx,
        };
        self.dispatch = Some(Arc::new(merged));
        self.new_decider()
    }

    fn new_decider(mut self) -> Scope {
        self.decider = NEXT_DECIDER.fetch_add(1, Ordering::Relaxed);
        self
    }

    pub(crate) fn dispatch_arc(&self) -> Option<Arc<DispatchContext>> {
        self.dispatch.clone()
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

/// Runs `fut` with `ctx` entered as a dispatch context. Contexts nest tighten-only: the tier
/// is at most every enclosing context's, and other fields come from the innermost context
/// that sets them (see [`Scope::dispatch`]).
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

/// Runs `fut` with `observer` told of every call at each stage (see [`crate::observe`]). An
/// inner observer replaces an outer one. Calls in its scope always take enforcement's full path
/// (their arguments are recorded), even act_auto ones.
///
/// ```
/// # struct Quiet;
/// # #[sidefx::async_trait]
/// # impl sidefx::observe::CallObserver for Quiet {
/// #     async fn observe(&self, _: &sidefx::observe::ObservedCall<'_>, _: sidefx::observe::CallStage<'_>) {}
/// # }
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let installed = sidefx::with_observer(std::sync::Arc::new(Quiet), async {
///     sidefx::Scope::capture().observer().is_some()
/// }).await;
/// assert!(installed);
/// # });
/// ```
pub fn with_observer<F: Future>(observer: Arc<dyn CallObserver>, fut: F) -> impl Future<Output = F::Output> {
    scoped(
        move |mut s| {
            s.observer = Some(observer);
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
    current::try_with(f)
}

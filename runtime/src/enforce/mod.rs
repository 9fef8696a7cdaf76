//! Enforcement per tier (SPEC §9): what happens to a call once its tier is known.
//!
//! The `#[side_effect]` macro calls [`gate`]; runtimes that dispatch by name call [`enforce`].
//! Both share one path, so a builtin behaves the same however it is reached.
//!
//! | tier | body | records |
//! |---|---|---|
//! | act_auto | runs | none (a trust record with `audit_auto`) |
//! | shadow | skipped | proposal; trust `denied` / `shadow_noop` |
//! | suggest | skipped | proposal; approval request; trust `denied` / `suggest_approval_request` |
//! | act_with_approval | waits, then runs | approval request; trust `success` / `denied` / `timeout` |
//! | requires_human | refused | proposal; approval request; trust `denied` / `needs_human_denied` |
//!
//! When the scopes leave nobody who could approve (disjoint reviewer allowlists, or a quorum
//! above the common reviewers), suggest, act_with_approval and requires_human file no request:
//! the call is refused at once with `SIDEFX-NO-REVIEWER` and a trust record `denied` /
//! `no_reviewer`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use serde_json::Value;

use crate::approval::grant::{CallPrint, GrantArgs};
use crate::log::EventLog;
use crate::observe::{CallObserver, CallStage};
use crate::resource::Resource;
use crate::rules::DecidedBy;
use crate::scope::{self, Scope};
use crate::trust::{self, Outcome};
use crate::{Error, Result, SideEffectAction, Tier};

mod check;
mod enforced;
mod facts;

pub use check::Check;
pub use enforced::{Enforced, Stage};
use facts::{CallFacts, Traced};

/// What the fast, synchronous check decided: run now, or finish the decision asynchronously.
#[doc(hidden)]
pub enum Gate {
    /// Run the body; no record is needed.
    Open(Permit),
    /// The call needs the asynchronous path (records, approvals or a refusal).
    Check(Box<Check>),
}

/// Permission to run the body. Call [`finish`](Permit::finish) with the body's result so an
/// audited act_auto call gets its trust record.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use sidefx::{registry, Decision};
/// registry::register(registry::BuiltinInfo::new("doc_permit", "store.write", "store.write")).unwrap();
/// if let Decision::Proceed(permit) = sidefx::enforce("doc_permit", &serde_json::json!({})).await.unwrap() {
///     // ... run the builtin ...
///     permit.finish(true).await;
/// }
/// # });
/// ```
#[must_use = "run the body, then call `finish` with its outcome"]
#[derive(Debug)]
pub struct Permit {
    audit: Option<Box<Audit>>,
}

/// What happens once the body of a call has run: an audited act_auto call gets its trust
/// record, an observed call its `finished` stage.
#[derive(Debug)]
struct Audit {
    facts: Arc<CallFacts>,
    log: Option<Arc<dyn EventLog>>,
    observer: Option<Arc<dyn CallObserver>>,
}

impl Permit {
    const FREE: Permit = Permit { audit: None };

    /// Whether there is nothing to do after the body (no audit, no observer).
    #[inline(always)]
    fn is_free(&self) -> bool {
        self.audit.is_none()
    }

    /// Records the outcome when the scope audits act_auto calls, and tells the scope's
    /// [observer](crate::observe) the call finished; otherwise does nothing. A failure to write
    /// the record is reported through `tracing` (the body already ran).
    ///
    /// The returned future is ready at once when there is nothing to record, and holds no
    /// more than a pointer, so an annotated builtin's own future stays small.
    #[inline]
    pub fn finish(self, ok: bool) -> Finish {
        Finish(self.audit.map(|audit| -> Pin<Box<dyn Future<Output = ()> + Send>> {
            Box::pin(async move {
                if let Some(log) = &audit.log {
                    let outcome = if ok { Outcome::Success } else { Outcome::Failure };
                    let draft = audit.facts.trust(outcome, "act_auto");
                    if let Err(e) = trust::append(log.as_ref(), draft).await {
                        tracing::error!(target: "sidefx::decision", builtin = audit.facts.action.builtin, error = %e, "audit trust record lost");
                    }
                }
                if let Some(observer) = &audit.observer {
                    observer.observe(&audit.facts.observed(), CallStage::Finished { ok }).await;
                }
            })
        }))
    }
}

/// The future [`Permit::finish`] returns: ready at once unless the call is audited, in which
/// case it writes the trust record.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// sidefx::registry::register(sidefx::registry::BuiltinInfo::new("doc_finish", "store.write", "store.write")).unwrap();
/// if let sidefx::Decision::Proceed(permit) = sidefx::enforce("doc_finish", &serde_json::json!({})).await.unwrap() {
///     let finish: sidefx::Finish = permit.finish(true);
///     finish.await;
/// }
/// # });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Finish(Option<Pin<Box<dyn Future<Output = ()> + Send>>>);

impl Future for Finish {
    type Output = ();

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.0.as_mut() {
            None => Poll::Ready(()),
            Some(fut) => fut.as_mut().poll(cx),
        }
    }
}

impl std::fmt::Debug for Finish {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Finish")
            .field("audited", &self.0.is_some())
            .finish()
    }
}

/// The decision for a call dispatched by name, as [`enforce`] returns it.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// sidefx::registry::register(sidefx::registry::BuiltinInfo::new("doc_decision", "fs.delete", "workspace.delete")).unwrap();
/// let policy = sidefx::AutonomyPolicy::at_tier(sidefx::Tier::Shadow);
/// let d = sidefx::with_policy(policy, sidefx::enforce("doc_decision", &serde_json::json!({}))).await.unwrap();
/// assert!(matches!(d, sidefx::Decision::Skip { .. }));
/// # });
/// ```
#[derive(Debug)]
pub enum Decision {
    /// Run the builtin (act_auto), then call `permit.finish(ok)`.
    Proceed(Permit),
    /// A reviewer quorum approved; run the builtin, then call `permit.finish(ok)`.
    Approved {
        /// Permission to run.
        permit: Permit,
        /// The approval request.
        request_id: String,
        /// Who approved.
        approvers: Vec<String>,
    },
    /// Do not run the builtin; `reason` says why (its code is stable).
    Skip {
        /// The refusal (`SIDEFX-SKIPPED`, `SIDEFX-APPROVAL-DENIED`, ...).
        reason: Error,
    },
}

/// The synchronous first half of enforcement: decides from the task scope whether the call can
/// run at once (act_auto, nothing to record) without allocating.
#[doc(hidden)]
#[inline]
pub fn gate(action: &SideEffectAction) -> Gate {
    match open_now(action, false) {
        true => Gate::Open(Permit::FREE),
        false => gate_impl(action, false, Vec::new),
    }
}

/// [`gate`] for a builtin that declares resources: `resources` reads them from the call's
/// arguments, and runs only when the decision needs them (a policy with rules, or the slow
/// path's records). Without rules the decision is the cached one of [`gate`].
#[doc(hidden)]
#[inline]
pub fn gate_with(action: &SideEffectAction, resources: impl FnOnce() -> Vec<Resource>) -> Gate {
    match open_now(action, true) {
        true => Gate::Open(Permit::FREE),
        false => gate_impl(action, true, resources),
    }
}

/// The fast path of [`gate`]: whether the call runs at once with nothing to record or trace.
/// Not inlined into annotated builtins, so its thread-local reads are direct ones of this
/// crate (inlined elsewhere they go through an accessor call each).
fn open_now(action: &SideEffectAction, declared: bool) -> bool {
    !facts::traced() && scope::open_now(action, declared)
}

/// The full gate: everything [`open_now`] does not answer (a decision to make, records,
/// observers, rules on the call's resources, the `tracing` event).
#[inline(never)]
fn gate_impl(action: &SideEffectAction, declared: bool, resources: impl FnOnce() -> Vec<Resource>) -> Gate {
    let mut read = Some(resources);
    let mut take = || read.take().map_or_else(Vec::new, |f| f());
    match scope::try_with_current(|scope| gate_in(scope, action, declared, &mut take)) {
        Some(gate) => gate,
        None if !scope::is_process_strict() => {
            if facts::traced() {
                trace_proceed(action, scope::DEFAULT_AGENT, "");
            }
            Gate::Open(Permit::FREE)
        }
        None => check(&Scope::default(), action, take()),
    }
}

#[inline]
fn gate_in(
    scope: &Scope,
    action: &SideEffectAction,
    declared: bool,
    resources: &mut impl FnMut() -> Vec<Resource>,
) -> Gate {
    // With rules, the answer depends on the call's resources: never from the cache. A builtin
    // that declares none gets the cached answer, which already includes resource-free rules.
    if declared && scope.has_rules() {
        return gate_rules(scope, action, resources());
    }
    match scope.decide_cached(action) {
        Ok((agent, Tier::ActAuto, false)) if quiet(scope) => {
            if facts::traced() {
                let trace = scope.dispatch().and_then(|d| d.trace_id.as_deref()).unwrap_or("");
                trace_proceed(action, agent, trace);
            }
            Gate::Open(Permit::FREE)
        }
        _ => check(scope, action, resources()),
    }
}

/// Whether an act_auto call may run without its arguments: nothing audits it and nothing
/// observes it.
#[inline(always)]
fn quiet(scope: &Scope) -> bool {
    scope.observer().is_none() && !scope.audit_auto()
}

/// The gate under a policy with rules, for a call whose resources have been read.
#[cold]
#[inline(never)]
fn gate_rules(scope: &Scope, action: &SideEffectAction, resources: Vec<Resource>) -> Gate {
    match scope.decide_call(action, &resources) {
        Ok((agent, Tier::ActAuto, false, by)) if quiet(scope) => {
            let traced = Traced {
                action,
                agent,
                tier: Tier::ActAuto,
                trace_id: scope.dispatch().and_then(|d| d.trace_id.as_deref()).unwrap_or(""),
                decided_by: &by,
            };
            traced.emit("proceed", || scope.normalise_resources(&resources).to_string());
            Gate::Open(Permit::FREE)
        }
        _ => check(scope, action, resources),
    }
}

/// The `sidefx::decision` event of a call the cached answer lets run: no rule decided it and it
/// declares no resources that mattered.
#[cold]
#[inline(never)]
fn trace_proceed(action: &SideEffectAction, agent: &str, trace_id: &str) {
    let traced = Traced {
        action,
        agent,
        tier: Tier::ActAuto,
        trace_id,
        decided_by: &DecidedBy::Default,
    };
    traced.emit_now("proceed", "[]", &crate::telemetry::Detail::default());
}

/// The asynchronous half of enforcement for a call whose arguments are recorded (`Err`: they
/// could not be, and the call is refused without consulting the scope).
///
/// Boxed so that the (large) asynchronous path does not grow the future of every annotated
/// builtin: the fast path never builds it, and the slow path allocates anyway.
#[cold]
fn decide_boxed(
    check: Box<Check>,
    args: Result<Value>,
) -> Pin<Box<dyn Future<Output = Result<Permit>> + Send>> {
    Box::pin(async move { check.run(args?).await })
}

/// [`decide_boxed`], after fingerprinting the call's real arguments when it may file or use a
/// suggestion grant: the recorded ones with `secrets` putting redacted values back.
#[cold]
fn decide_printed(
    mut check: Box<Check>,
    args: Result<Value>,
    secrets: impl FnOnce(GrantArgs) -> GrantArgs,
) -> Pin<Box<dyn Future<Output = Result<Permit>> + Send>> {
    if let Ok(recorded) = &args
        && check.wants_print()
    {
        check.set_print(secrets(GrantArgs::new(recorded)).finish());
    }
    decide_boxed(check, args)
}

#[cold]
#[inline(never)]
fn check(scope: &Scope, action: &SideEffectAction, resources: Vec<Resource>) -> Gate {
    Gate::Check(Box::new(Check::capture(scope, action, &resources)))
}

/// Enforces the active tier for a builtin dispatched by name (a VM's builtin table): looks the
/// name up in the registry, then decides exactly as `#[side_effect]` would. `Err` means the
/// call could not be decided (unknown builtin, a failing log): do not run it either.
///
/// # Errors
/// `SIDEFX-UNKNOWN-BUILTIN` for a name nobody registered, `SIDEFX-LOG` when a record cannot be
/// written. A refusal is not an error here: it is [`Decision::Skip`].
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use sidefx::{registry, Decision};
/// registry::register(registry::BuiltinInfo::new("doc_enforce", "process.exec", "process.exec")).unwrap();
/// // No policy active: the process default, act_auto.
/// let d = sidefx::enforce("doc_enforce", &serde_json::json!({"cmd": "ls"})).await.unwrap();
/// assert!(matches!(d, Decision::Proceed(_)));
/// assert_eq!(sidefx::enforce("doc_enforse", &serde_json::json!({})).await.unwrap_err().code(), "SIDEFX-UNKNOWN-BUILTIN");
/// # });
/// ```
pub async fn enforce(builtin: &str, args: &Value) -> Result<Decision> {
    let info = crate::registry::require(builtin)?;
    let action = info.action();
    let gate = match info.resources.is_empty() {
        true => gate(&action),
        false => gate_with(&action, || info.resources_from_json(args)),
    };
    match gate {
        Gate::Open(permit) => Ok(Decision::Proceed(permit)),
        Gate::Check(mut check) => {
            // A builtin dispatched by name has no redacted arguments: the values given are
            // the real ones.
            if check.wants_print() {
                check.set_print(CallPrint::of(args));
            }
            match check.decide(args.clone()).await {
                Err(reason) if reason.is_refusal() => Ok(Decision::Skip { reason }),
                decided => decided,
            }
        }
    }
}

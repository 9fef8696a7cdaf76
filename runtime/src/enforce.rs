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

use serde_json::{Value, json};

use crate::approval::{self, ApprovalDecision, ApprovalDraft, Approver, Verdict};
use crate::log::{EventLog, LogEvent, Topic};
use crate::resource::Resource;
use crate::rules::DecidedBy;
use crate::scope::{self, ApprovalSettings, DispatchContext, Scope};
use crate::trust::{self, Outcome, TrustDraft};
use crate::{Error, Result, SideEffectAction, Tier};

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
    audit: Option<Box<Call>>,
}

impl Permit {
    const FREE: Permit = Permit { audit: None };

    /// Records the outcome when the scope audits act_auto calls; otherwise does nothing.
    /// A failure to write the record is reported through `tracing` (the body already ran).
    ///
    /// The returned future is ready at once when there is nothing to record, and holds no
    /// more than a pointer, so an annotated builtin's own future stays small.
    #[inline]
    pub fn finish(self, ok: bool) -> Finish {
        Finish(self.audit.map(|call| -> Pin<Box<dyn Future<Output = ()> + Send>> {
            Box::pin(async move {
                let outcome = if ok { Outcome::Success } else { Outcome::Failure };
                let draft = call.trust(outcome, "act_auto");
                if let Some(log) = &call.log
                    && let Err(e) = trust::append(log.as_ref(), draft).await
                {
                    tracing::error!(target: "sidefx::decision", builtin = call.action.builtin, error = %e, "audit trust record lost");
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

/// Everything the asynchronous path needs about a call, captured from the task scope.
#[doc(hidden)]
#[derive(Debug)]
pub struct Check {
    call: Call,
    refusal: Option<Error>,
}

#[derive(Debug)]
struct Call {
    action: SideEffectAction,
    agent: String,
    tier: Tier,
    requires_human: bool,
    log: Option<Arc<dyn EventLog>>,
    approver: Option<Arc<dyn Approver>>,
    dispatch: Option<Arc<DispatchContext>>,
    /// The scopes' combined approval settings, or why nobody could approve.
    approval: Result<ApprovalSettings>,
    trace_id: String,
    args: Value,
    /// The call's declared resources, normalised as the rules saw them (`[{"kind", "arg",
    /// "value"}]`), for records.
    resources: Value,
    /// The rule or row whose answer stood.
    decided_by: DecidedBy,
}

/// The synchronous first half of enforcement: decides from the task scope whether the call can
/// run at once (act_auto, nothing to record) without allocating.
#[doc(hidden)]
#[inline]
pub fn gate(action: &SideEffectAction) -> Gate {
    gate_impl(action, false, Vec::new)
}

/// [`gate`] for a builtin that declares resources: `resources` reads them from the call's
/// arguments, and runs only when the decision needs them (a policy with rules, or the slow
/// path's records). Without rules the decision is the cached one of [`gate`].
#[doc(hidden)]
#[inline]
pub fn gate_with(action: &SideEffectAction, resources: impl FnOnce() -> Vec<Resource>) -> Gate {
    gate_impl(action, true, resources)
}

#[inline(always)]
fn gate_impl(action: &SideEffectAction, declared: bool, resources: impl FnOnce() -> Vec<Resource>) -> Gate {
    let mut read = Some(resources);
    let mut take = || read.take().map_or_else(Vec::new, |f| f());
    match scope::try_with_current(|scope| gate_in(scope, action, declared, &mut take)) {
        Some(gate) => gate,
        None if !scope::is_process_strict() => {
            trace_decision(
                action,
                scope::DEFAULT_AGENT,
                Tier::ActAuto,
                "proceed",
                "",
                &DecidedBy::Default,
                || "[]".to_owned(),
            );
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
        Ok((agent, Tier::ActAuto, false)) if !scope.audit_auto() => {
            if decision_traced() {
                let trace = scope.dispatch().and_then(|d| d.trace_id.as_deref()).unwrap_or("");
                emit_decision(
                    action,
                    agent,
                    Tier::ActAuto,
                    "proceed",
                    trace,
                    &DecidedBy::Default,
                    "[]",
                );
            }
            Gate::Open(Permit::FREE)
        }
        _ => check(scope, action, resources()),
    }
}

/// The gate under a policy with rules, for a call whose resources have been read.
#[cold]
#[inline(never)]
fn gate_rules(scope: &Scope, action: &SideEffectAction, resources: Vec<Resource>) -> Gate {
    match scope.decide_call(action, &resources) {
        Ok((agent, Tier::ActAuto, false, by)) if !scope.audit_auto() => {
            let trace = scope.dispatch().and_then(|d| d.trace_id.as_deref()).unwrap_or("");
            let shown = || scope.normalise_resources(&resources).to_string();
            trace_decision(action, agent, Tier::ActAuto, "proceed", trace, &by, shown);
            Gate::Open(Permit::FREE)
        }
        _ => check(scope, action, resources),
    }
}

#[cold]
#[inline(never)]
fn check(scope: &Scope, action: &SideEffectAction, resources: Vec<Resource>) -> Gate {
    Gate::Check(Box::new(Check::capture(scope, action, &resources)))
}

/// Whether an `info` event could be recorded at all: the cheap, inlined part of
/// [`trace_decision`] (two comparisons against `tracing`'s static and current maximum level).
#[inline(always)]
fn decision_traced() -> bool {
    tracing::Level::INFO <= tracing::level_filters::STATIC_MAX_LEVEL
        && tracing::Level::INFO <= tracing::level_filters::LevelFilter::current()
}

#[inline(always)]
fn trace_decision(
    action: &SideEffectAction,
    agent: &str,
    tier: Tier,
    outcome: &str,
    trace_id: &str,
    decided_by: &DecidedBy,
    resources: impl FnOnce() -> String,
) {
    // The resources are shown only when the event is enabled: normalising them reads the
    // file system.
    if decision_traced() {
        emit_decision(action, agent, tier, outcome, trace_id, decided_by, &resources());
    }
}

#[cold]
#[inline(never)]
fn emit_decision(
    action: &SideEffectAction,
    agent: &str,
    tier: Tier,
    outcome: &str,
    trace_id: &str,
    decided_by: &DecidedBy,
    resources: &str,
) {
    tracing::info!(
        target: "sidefx::decision",
        agent,
        builtin = action.builtin,
        class = action.class,
        tier = tier.as_str(),
        outcome,
        trace_id,
        decided_by = %decided_by,
        resources,
        "tool_decision"
    );
}

impl Check {
    fn capture(scope: &Scope, action: &SideEffectAction, resources: &[Resource]) -> Check {
        let approval = scope.approval_settings(action);
        let dispatch = scope.dispatch_arc();
        let trace_id = dispatch
            .as_ref()
            .and_then(|d| d.trace_id.clone())
            .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
        let (agent, tier, requires_human, decided_by, refusal) = match scope.decide_call(action, resources) {
            Ok((a, t, h, by)) => (a.to_owned(), t, h, by, None),
            Err(e) => (
                scope::DEFAULT_AGENT.to_owned(),
                Tier::Shadow,
                false,
                DecidedBy::Default,
                Some(e),
            ),
        };
        Check {
            call: Call {
                action: *action,
                agent,
                tier,
                requires_human,
                log: scope.event_log().cloned(),
                approver: scope.approver().cloned(),
                dispatch,
                approval,
                trace_id,
                args: Value::Null,
                resources: scope.normalise_resources(resources),
                decided_by,
            },
            refusal,
        }
    }

    /// The asynchronous second half: records, approvals, refusals. `args` is the call's
    /// recorded arguments (skipped ones left out, redacted ones masked).
    pub async fn run(self: Box<Self>, args: Value) -> Result<Permit> {
        self.run_detailed(args).await.map(|(permit, _)| permit)
    }

    async fn run_detailed(self: Box<Self>, args: Value) -> Result<(Permit, Option<(String, Vec<String>)>)> {
        let Check { mut call, refusal } = *self;
        call.args = args;
        if let Some(e) = refusal {
            call.trace("strict_no_context");
            return Err(e);
        }
        let result = call.enforce().await;
        match &result {
            Ok(_) => {}
            Err(e) => call.trace(match e {
                Error::Skipped { .. } => "skipped",
                Error::ApprovalDenied { .. } => "denied",
                Error::ApprovalTimedOut { .. } => "timeout",
                Error::NeedsHuman { .. } => "needs_human",
                Error::NoEventLog { .. } => "no_event_log",
                Error::NoReviewer { .. } => "no_reviewer",
                _ => "error",
            }),
        }
        result
    }
}

impl Call {
    fn trace(&self, outcome: &str) {
        trace_decision(
            &self.action,
            &self.agent,
            self.tier,
            outcome,
            &self.trace_id,
            &self.decided_by,
            || self.resources.to_string(),
        );
    }

    fn log(&self, tier: Tier) -> Result<&dyn EventLog> {
        self.log.as_deref().ok_or_else(|| Error::NoEventLog {
            builtin: self.action.builtin.to_owned(),
            tier,
        })
    }

    async fn enforce(&self) -> Result<(Permit, Option<(String, Vec<String>)>)> {
        if self.requires_human {
            return Err(self.needs_human().await?);
        }
        match self.tier {
            Tier::ActAuto => {
                self.trace("proceed");
                Ok((
                    Permit {
                        audit: Some(Box::new(self.clone_for_audit())),
                    },
                    None,
                ))
            }
            Tier::Shadow => Err(self.shadow().await?),
            Tier::Suggest => Err(self.suggest().await?),
            Tier::ActWithApproval => self.with_approval().await,
        }
    }

    fn clone_for_audit(&self) -> Call {
        Call {
            action: self.action,
            agent: self.agent.clone(),
            tier: self.tier,
            requires_human: false,
            log: self.log.clone(),
            approver: None,
            dispatch: self.dispatch.clone(),
            approval: Err(Error::Config("an audit record files no approval request".into())),
            trace_id: self.trace_id.clone(),
            args: self.args.clone(),
            resources: self.resources.clone(),
            decided_by: self.decided_by.clone(),
        }
    }

    fn skipped(&self, request_id: Option<String>) -> Error {
        Error::Skipped {
            builtin: self.action.builtin.to_owned(),
            agent: self.agent.clone(),
            tier: self.tier,
            request_id,
        }
    }

    async fn shadow(&self) -> Result<Error> {
        let refusal = self.skipped(None);
        // Shadow never runs the body, so without a log the call is still safely refused.
        if let Some(log) = self.log.as_deref() {
            self.propose(log, None).await?;
            let draft = self
                .trust(Outcome::Denied, "shadow_noop")
                .meta("deny_code", refusal.code());
            trust::append(log, draft).await?;
        }
        Ok(refusal)
    }

    async fn suggest(&self) -> Result<Error> {
        let log = self.log(Tier::Suggest)?;
        let draft = match self.approval_draft(false) {
            Ok(d) => d,
            Err(e) => return self.no_reviewer(log, e).await,
        };
        let req = approval::request(log, draft).await?;
        self.propose(log, Some(&req.request_id)).await?;
        let refusal = self.skipped(Some(req.request_id.clone()));
        let draft = self
            .trust(Outcome::Denied, "suggest_approval_request")
            .meta("approval_request_id", req.request_id)
            .meta("deny_code", refusal.code());
        trust::append(log, draft).await?;
        Ok(refusal)
    }

    async fn needs_human(&self) -> Result<Error> {
        let log = self.log(self.tier)?;
        let draft = match self.approval_draft(false) {
            Ok(d) => d,
            Err(e) => return self.no_reviewer(log, e).await,
        };
        let req = approval::request(log, draft).await?;
        self.propose(log, Some(&req.request_id)).await?;
        let refusal = Error::NeedsHuman {
            builtin: self.action.builtin.to_owned(),
            agent: self.agent.clone(),
            request_id: req.request_id.clone(),
        };
        let draft = self
            .trust(Outcome::Denied, "needs_human_denied")
            .meta("approval_request_id", req.request_id)
            .meta("deny_code", refusal.code());
        trust::append(log, draft).await?;
        Ok(refusal)
    }

    async fn with_approval(&self) -> Result<(Permit, Option<(String, Vec<String>)>)> {
        let log = self.log(Tier::ActWithApproval)?;
        let draft = match self.approval_draft(true) {
            Ok(d) => d,
            Err(e) => return Err(self.no_reviewer(log, e).await?),
        };
        let req = approval::request(log, draft).await?;
        let Verdict { decision, metadata } = match &self.approver {
            Some(approver) => approver.decide(&req, log).await?,
            None => approval::wait(log, &req).await?.into(),
        };
        let base = |outcome, how| {
            let mut draft = self
                .trust(outcome, how)
                .meta("approval_request_id", req.request_id.clone());
            draft.metadata.extend(metadata.clone());
            draft
        };
        match decision {
            ApprovalDecision::Approved { approvers } => {
                let draft = base(Outcome::Success, "approval_granted")
                    .approver(approvers.join(","))
                    .meta("approvers", json!(approvers));
                trust::append(log, draft).await?;
                self.trace("approved");
                Ok((Permit::FREE, Some((req.request_id, approvers))))
            }
            ApprovalDecision::Denied { reviewer, reason } => {
                let err = Error::ApprovalDenied {
                    builtin: self.action.builtin.to_owned(),
                    request_id: req.request_id.clone(),
                    reviewer: reviewer.clone(),
                    reason: reason.clone(),
                };
                let draft = base(Outcome::Denied, "approval_denied")
                    .approver(reviewer)
                    .meta("deny_code", err.code())
                    .meta("reason", json!(reason));
                trust::append(log, draft).await?;
                Err(err)
            }
            ApprovalDecision::TimedOut => {
                let err = Error::ApprovalTimedOut {
                    builtin: self.action.builtin.to_owned(),
                    request_id: req.request_id.clone(),
                };
                let draft = base(Outcome::Timeout, "approval_timed_out").meta("deny_code", err.code());
                trust::append(log, draft).await?;
                Err(err)
            }
        }
    }

    /// The request to file, or the refusal when the scopes leave nobody who could approve.
    fn approval_draft(&self, blocking: bool) -> Result<ApprovalDraft> {
        let settings = self.approval.as_ref().map_err(Clone::clone)?;
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
        Ok(d)
    }

    /// Refuses at once a call nobody could approve, with a `denied` trust record; no request
    /// is filed, so nothing waits for a deadline.
    async fn no_reviewer(&self, log: &dyn EventLog, refusal: Error) -> Result<Error> {
        let draft = self
            .trust(Outcome::Denied, "no_reviewer")
            .meta("deny_code", refusal.code())
            .meta("reason", refusal.to_string());
        trust::append(log, draft).await?;
        Ok(refusal)
    }

    async fn propose(&self, log: &dyn EventLog, request_id: Option<&str>) -> Result<()> {
        let d = self.dispatch.as_deref();
        let payload = json!({
            "agent": self.agent,
            "action": d.and_then(|d| d.action.as_deref()).unwrap_or(self.action.builtin),
            "builtin": self.action.builtin,
            "action_class": self.action.class,
            "capability": self.action.capability,
            "args": self.args,
            "resources": self.resources,
            "decided_by": self.decided_by,
            "trace_id": self.trace_id,
            "trigger_event_id": d.and_then(|d| d.trigger_event_id.as_deref()),
            "replay_of_event_id": d.and_then(|d| d.replay_of_event_id.as_deref()),
            "autonomy_tier": self.tier,
            "requires_human": self.requires_human,
            "approval_request_id": request_id,
            "proposal": true,
        });
        let event = LogEvent::new("dispatch_proposed", payload)
            .with_header("trace_id", self.trace_id.clone())
            .with_header("agent", self.agent.clone())
            .with_header("autonomy_tier", self.tier.as_str());
        log.append(&Topic::TRIGGER_OUTBOX, event).await?;
        Ok(())
    }

    fn trust(&self, outcome: Outcome, enforcement: &str) -> TrustDraft {
        let d = self.dispatch.as_deref();
        TrustDraft::new(self.agent.clone(), self.action.class, outcome, self.tier)
            .trace(self.trace_id.clone())
            .enforcement(enforcement)
            .meta("builtin", self.action.builtin)
            .meta("action_class", self.action.class)
            .meta("capability", self.action.capability)
            .meta("args", self.args.clone())
            // New keys only: existing fields are hashed as before, so old chains verify.
            .meta("resources", self.resources.clone())
            .meta("decided_by", json!(self.decided_by))
            .meta(
                "trigger_event_id",
                json!(d.and_then(|d| d.trigger_event_id.clone())),
            )
            .meta(
                "replay_of_event_id",
                json!(d.and_then(|d| d.replay_of_event_id.clone())),
            )
    }
}

/// Enforces the active tier for a builtin dispatched by name (a VM's builtin table): looks the
/// name up in the registry, then decides exactly as `#[side_effect]` would. `Err` means the
/// call could not be decided (unknown builtin, a failing log): do not run it either.
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
        Gate::Check(check) => match check.run_detailed(args.clone()).await {
            Ok((permit, None)) => Ok(Decision::Proceed(permit)),
            Ok((permit, Some((request_id, approvers)))) => Ok(Decision::Approved {
                permit,
                request_id,
                approvers,
            }),
            Err(reason) if reason.is_refusal() => Ok(Decision::Skip { reason }),
            Err(e) => Err(e),
        },
    }
}

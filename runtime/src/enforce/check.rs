//! The asynchronous half of enforcement: the call's [`CallFacts`] are built once its arguments
//! are recorded, then each tier writes the records it owes (proposals, approval requests, trust
//! records), all derived from those facts.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};

use super::facts::CallFacts;
use super::{Audit, Decision, Permit};
use crate::approval::{self, ApprovalDecision, ApprovalDraft, Approver, Verdict};
use crate::log::{EventLog, Topic};
use crate::observe::{CallObserver, CallStage};
use crate::resource::Resource;
use crate::rules::DecidedBy;
use crate::scope::{self, ApprovalSettings, DispatchContext, Scope};
use crate::trust::{self, Outcome};
use crate::{Error, Refusal, RefusalKind, Result, SideEffectAction, Tier};

/// Everything the asynchronous path needs about a call, captured from the task scope before
/// its arguments are recorded.
#[doc(hidden)]
#[derive(Debug)]
pub struct Check {
    action: SideEffectAction,
    agent: String,
    tier: Tier,
    requires_human: bool,
    decided_by: DecidedBy,
    trace_id: String,
    resources: Value,
    dispatch: Option<Arc<DispatchContext>>,
    context: Context,
    /// Why the call is refused before any record is written (strict mode without a tier).
    refusal: Option<Error>,
}

/// Where the call's records go and who answers its approvals.
#[derive(Debug)]
struct Context {
    log: Option<Arc<dyn EventLog>>,
    approver: Option<Arc<dyn Approver>>,
    observer: Option<Arc<dyn CallObserver>>,
    /// Whether act_auto calls get a trust record.
    audit_auto: bool,
    /// The scopes' combined approval settings, or why nobody could approve.
    approval: Result<ApprovalSettings>,
}

/// One call being enforced: its facts and where its records go.
struct Call {
    facts: Arc<CallFacts>,
    context: Context,
    /// The chain index of the decision's trust record once written (`u64::MAX`: none yet),
    /// for its span.
    chain_index: AtomicU64,
}

impl Check {
    pub(super) fn capture(scope: &Scope, action: &SideEffectAction, resources: &[Resource]) -> Check {
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
            action: *action,
            agent,
            tier,
            requires_human,
            decided_by,
            trace_id,
            resources: scope.normalise_resources(resources),
            dispatch,
            context: Context {
                log: scope.event_log().cloned(),
                approver: scope.approver().cloned(),
                observer: scope.observer().cloned(),
                audit_auto: scope.audit_auto(),
                approval: scope.approval_settings(action),
            },
            refusal,
        }
    }

    /// The asynchronous second half: records, approvals, refusals. `args` is the call's
    /// recorded arguments (skipped ones left out, redacted ones masked).
    ///
    /// # Errors
    /// The refusal ([`Error::Refused`]) when the call must not run, or the failure that kept it
    /// from being decided.
    pub async fn run(self: Box<Self>, args: Value) -> Result<Permit> {
        match self.decide(args).await? {
            Decision::Proceed(permit) | Decision::Approved { permit, .. } => Ok(permit),
            Decision::Skip { reason } => Err(reason),
        }
    }

    /// Decides the call: `Ok` with `Proceed` or `Approved`, or the refusal as `Err`.
    pub(super) async fn decide(self: Box<Self>, args: Value) -> Result<Decision> {
        let Check {
            action,
            agent,
            tier,
            requires_human,
            decided_by,
            trace_id,
            resources,
            dispatch,
            context,
            refusal,
        } = *self;
        let call = Call {
            facts: Arc::new(CallFacts {
                action,
                agent,
                tier,
                requires_human,
                decided_by,
                args,
                trace_id,
                resources,
                dispatch,
            }),
            context,
            chain_index: AtomicU64::new(u64::MAX),
        };
        call.observe(CallStage::Announced).await;
        let result = match refusal {
            Some(e) => Err(call.stamp(e)),
            None => call.enforce().await,
        };
        match &result {
            Ok(_) => call.observe(CallStage::Running).await,
            Err(e) => call.observe(CallStage::Refused(e)).await,
        }
        if let Err(e) = &result {
            let outcome = e.refusal().map_or("error", |r| r.kind.outcome());
            call.facts.trace_with(outcome, Some(e.code()), call.chain_index());
        }
        result
    }
}

impl Call {
    /// Notes the decision's trust record for the span.
    fn recorded(&self, record: &trust::TrustRecord) {
        self.chain_index.store(record.chain_index, Ordering::Relaxed);
    }

    fn chain_index(&self) -> Option<u64> {
        Some(self.chain_index.load(Ordering::Relaxed)).filter(|&i| i != u64::MAX)
    }

    async fn observe(&self, stage: CallStage<'_>) {
        if let Some(observer) = &self.context.observer {
            observer.observe(&self.facts.observed(), stage).await;
        }
    }

    /// What the permit does once the body ran: an audit record when act_auto calls are
    /// audited, the `finished` stage when the call is observed.
    fn permit(&self, audited: bool) -> Permit {
        let log = self.context.log.clone().filter(|_| audited);
        let observer = self.context.observer.clone();
        if log.is_none() && observer.is_none() {
            return Permit::FREE;
        }
        Permit {
            audit: Some(Box::new(Audit {
                facts: Arc::clone(&self.facts),
                log,
                observer,
            })),
        }
    }

    fn log(&self) -> Result<&dyn EventLog> {
        self.context
            .log
            .as_deref()
            .ok_or_else(|| self.refusal(RefusalKind::NoEventLog, None))
    }

    /// A refusal of this call: its builtin, agent, tier and what decided, from its facts.
    fn refusal(&self, kind: RefusalKind, request_id: Option<String>) -> Error {
        let f = &self.facts;
        Error::from(Refusal {
            kind,
            builtin: f.action.builtin.to_owned(),
            agent: f.agent.clone(),
            tier: f.tier,
            request_id,
            decided_by: f.decided_by.clone(),
        })
    }

    /// A refusal made before the call's facts were known (strict mode, reviewer settings),
    /// restated with them; any other error as it is.
    fn stamp(&self, e: Error) -> Error {
        match e {
            Error::Refused(r) => self.refusal(r.kind, r.request_id),
            e => e,
        }
    }

    async fn enforce(&self) -> Result<Decision> {
        if self.facts.requires_human {
            return Err(self.refer().await?);
        }
        match self.facts.tier {
            Tier::ActAuto => {
                self.facts.trace("proceed");
                Ok(Decision::Proceed(self.permit(self.context.audit_auto)))
            }
            Tier::Shadow => Err(self.shadow().await?),
            Tier::Suggest => Err(self.refer().await?),
            Tier::ActWithApproval => self.with_approval().await,
        }
    }

    async fn shadow(&self) -> Result<Error> {
        let refusal = self.refusal(RefusalKind::Skipped, None);
        // Shadow never runs the body, so without a log the call is still safely refused.
        if let Some(log) = self.context.log.as_deref() {
            let draft = self
                .facts
                .trust(Outcome::Denied, "shadow_noop")
                .meta("deny_code", refusal.code());
            // The proposal and its record in one commit.
            let proposal = (Topic::TRIGGER_OUTBOX, self.facts.proposal(None));
            let record = trust::append_after(log, vec![proposal], draft).await?;
            self.recorded(&record);
        }
        Ok(refusal)
    }

    /// Suggest and requires_human: files a non-blocking approval request, proposes the call and
    /// refuses it. Under suggest a reviewer may re-dispatch it; under requires_human a person
    /// must perform it.
    async fn refer(&self) -> Result<Error> {
        let log = self.log()?;
        let draft = match self.approval_draft(false) {
            Ok(d) => d,
            Err(e) => return self.no_reviewer(log, e).await,
        };
        let req = approval::request(log, draft).await?;
        let proposal = (Topic::TRIGGER_OUTBOX, self.facts.proposal(Some(&req.request_id)));
        let (kind, enforcement) = match self.facts.requires_human {
            true => (RefusalKind::NeedsHuman, "needs_human_denied"),
            false => (RefusalKind::Skipped, "suggest_approval_request"),
        };
        let refusal = self.refusal(kind, Some(req.request_id.clone()));
        let draft = self
            .facts
            .trust(Outcome::Denied, enforcement)
            .meta("approval_request_id", req.request_id)
            .meta("deny_code", refusal.code());
        let record = trust::append_after(log, vec![proposal], draft).await?;
        self.recorded(&record);
        Ok(refusal)
    }

    async fn with_approval(&self) -> Result<Decision> {
        let log = self.log()?;
        let draft = match self.approval_draft(true) {
            Ok(d) => d,
            Err(e) => return Err(self.no_reviewer(log, e).await?),
        };
        let req = approval::request(log, draft).await?;
        let Verdict { decision, metadata } = match &self.context.approver {
            Some(approver) => approver.decide(&req, log).await?,
            None => approval::wait(log, &req).await?.into(),
        };
        let base = |outcome, how| {
            let mut draft = self
                .facts
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
                let record = trust::append(log, draft).await?;
                self.facts.trace_with("approved", None, Some(record.chain_index));
                Ok(Decision::Approved {
                    permit: self.permit(false),
                    request_id: req.request_id,
                    approvers,
                })
            }
            ApprovalDecision::Denied { reviewer, reason } => {
                let kind = RefusalKind::ApprovalDenied {
                    reviewer: reviewer.clone(),
                    reason: reason.clone(),
                };
                let err = self.refusal(kind, Some(req.request_id.clone()));
                let draft = base(Outcome::Denied, "approval_denied")
                    .approver(reviewer)
                    .meta("deny_code", err.code())
                    .meta("reason", json!(reason));
                self.recorded(&trust::append(log, draft).await?);
                Err(err)
            }
            ApprovalDecision::TimedOut => {
                let err = self.refusal(RefusalKind::ApprovalTimedOut, Some(req.request_id.clone()));
                let draft = base(Outcome::Timeout, "approval_timed_out").meta("deny_code", err.code());
                self.recorded(&trust::append(log, draft).await?);
                Err(err)
            }
        }
    }

    /// The request to file, or the refusal when the scopes leave nobody who could approve.
    fn approval_draft(&self, blocking: bool) -> Result<ApprovalDraft> {
        let settings = self
            .context
            .approval
            .as_ref()
            .map_err(|e| self.stamp(e.clone()))?;
        Ok(self.facts.approval_draft(settings, blocking))
    }

    /// Refuses at once a call nobody could approve, with a `denied` trust record; no request
    /// is filed, so nothing waits for a deadline.
    async fn no_reviewer(&self, log: &dyn EventLog, refusal: Error) -> Result<Error> {
        let draft = self
            .facts
            .trust(Outcome::Denied, "no_reviewer")
            .meta("deny_code", refusal.code())
            .meta("reason", refusal.to_string());
        self.recorded(&trust::append(log, draft).await?);
        Ok(refusal)
    }
}

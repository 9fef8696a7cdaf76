//! The asynchronous half of enforcement: the call's [`CallFacts`] are built once its arguments
//! are recorded, then each tier writes the records it owes (proposals, approval requests, trust
//! records), all derived from those facts.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};

use super::facts::CallFacts;
use super::{Audit, Decision, Permit};
use crate::approval::grant::{self, Bounds, CallPrint, Grant, GrantTerms};
use crate::approval::{self, ApprovalDecision, ApprovalDraft, Approver, Verdict};
use crate::log::{EventLog, Topic};
use crate::observe::{CallObserver, CallStage};
use crate::resource::Resource;
use crate::rules::DecidedBy;
use crate::scope::{self, ApprovalSettings, DispatchContext, Scope};
use crate::trust::{self, Meta, Outcome};
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
    /// The fingerprint of the call's real arguments, taken only for a call that may file or
    /// use a suggestion grant ([`Check::wants_print`]).
    print: Option<CallPrint>,
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
    /// The fingerprint of the real arguments (suggest-tier calls only).
    print: Option<CallPrint>,
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
            print: None,
        }
    }

    /// Whether the call may file or use a [suggestion grant](crate::grant): it would get the
    /// suggest answer. Only then are its real arguments fingerprinted.
    #[inline]
    pub(super) fn wants_print(&self) -> bool {
        self.refusal.is_none()
            && self.tier == Tier::Suggest
            && !self.requires_human
            && self.context.log.is_some()
    }

    /// Keeps the fingerprint of the call's real arguments.
    pub(super) fn set_print(&mut self, print: CallPrint) {
        self.print = Some(print);
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
            print,
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
            print,
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
    fn recorded(&self, chain_index: u64) {
        self.chain_index.store(chain_index, Ordering::Relaxed);
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
            return Err(self.refer(None).await?);
        }
        match self.facts.tier {
            Tier::ActAuto => {
                self.facts.trace("proceed");
                Ok(Decision::Proceed(self.permit(self.context.audit_auto)))
            }
            Tier::Shadow => Err(self.shadow().await?),
            Tier::Suggest => self.suggest().await,
            Tier::ActWithApproval => self.with_approval().await,
        }
    }

    async fn shadow(&self) -> Result<Error> {
        let refusal = self.refusal(RefusalKind::Skipped, None);
        // Shadow never runs the body, so without a log the call is still safely refused.
        if let Some(log) = self.context.log.as_deref() {
            let record = self
                .facts
                .record(Outcome::Denied, "shadow_noop")
                .meta("deny_code", Meta::Str(refusal.code()));
            // The proposal and its record in one commit.
            let proposal = (Topic::TRIGGER_OUTBOX, self.facts.proposal(None));
            let done = trust::append_parts(log, vec![proposal], record).await?;
            self.recorded(done.link.index);
        }
        Ok(refusal)
    }

    /// Suggest and requires_human: files a non-blocking approval request, proposes the call and
    /// refuses it. Under suggest a reviewer may re-dispatch it; under requires_human a person
    /// must perform it.
    async fn refer(&self, grant: Option<GrantTerms>) -> Result<Error> {
        let log = self.log()?;
        let draft = match self.approval_draft(false) {
            Ok(d) => ApprovalDraft { grant, ..d },
            Err(e) => return self.no_reviewer(log, e).await,
        };
        let req = approval::request(log, draft).await?;
        let proposal = (Topic::TRIGGER_OUTBOX, self.facts.proposal(Some(&req.request_id)));
        let (kind, enforcement) = match self.facts.requires_human {
            true => (RefusalKind::NeedsHuman, "needs_human_denied"),
            false => (RefusalKind::Skipped, "suggest_approval_request"),
        };
        let refusal = self.refusal(kind, Some(req.request_id.clone()));
        let record = self
            .facts
            .record(Outcome::Denied, enforcement)
            .meta("approval_request_id", Meta::Str(&req.request_id))
            .meta("deny_code", Meta::Str(refusal.code()));
        let done = trust::append_parts(log, vec![proposal], record).await?;
        self.recorded(done.link.index);
        Ok(refusal)
    }

    /// Suggest: runs once under a live grant for this very call (an approved earlier
    /// suggestion), else files the request a reviewer may approve into such a grant.
    async fn suggest(&self) -> Result<Decision> {
        let log = self.log()?;
        let terms = self.grant_terms(log);
        if let (Some(digest), Ok(settings)) = (
            terms.as_ref().and_then(|t| t.digest.as_deref()),
            &self.context.approval,
        ) {
            let f = &self.facts;
            let bounds = Bounds {
                reviewers: &settings.reviewers,
                quorum: settings.quorum,
                ttl: settings.grant_ttl,
            };
            if let Some((grant, used)) =
                grant::consume(log, digest, &f.agent, f.action.builtin, &bounds, &f.trace_id).await?
            {
                return self.granted(log, grant, used).await;
            }
        }
        Err(self.refer(terms).await?)
    }

    /// What approving this call's request would grant; `None` when nobody could approve it.
    fn grant_terms(&self, log: &dyn EventLog) -> Option<GrantTerms> {
        let settings = self.context.approval.as_ref().ok()?;
        let ttl_ms = u64::try_from(settings.grant_ttl.as_millis()).unwrap_or(u64::MAX);
        let f = &self.facts;
        let digest = match &self.print {
            Some(print) => grant::call_digest(log, &f.agent, f.action.builtin, &f.resources, print),
            None => Err("the call's real arguments were not available to fingerprint".to_owned()),
        };
        Some(match digest {
            Ok(d) => GrantTerms {
                digest: Some(d),
                ttl_ms,
                ungrantable: None,
            },
            Err(why) => GrantTerms {
                digest: None,
                ttl_ms,
                ungrantable: Some(why),
            },
        })
    }

    /// The call won a grant: its trust record links the request and the approvers.
    async fn granted(&self, log: &dyn EventLog, grant: Grant, used: u64) -> Result<Decision> {
        let draft = self
            .facts
            .trust(Outcome::Success, "suggestion_grant")
            .approver(grant.approvers.join(","))
            .meta("approval_request_id", grant.request_id.clone())
            .meta("approvers", json!(grant.approvers))
            .meta(
                "grant",
                json!({"expires_at_ms": grant.expires_at_ms, "consumed_event_id": used}),
            );
        let record = trust::append(log, draft).await?;
        self.facts.trace_with("approved", None, Some(record.chain_index));
        Ok(Decision::Approved {
            permit: self.permit(false),
            request_id: grant.request_id,
            approvers: grant.approvers,
        })
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
                self.recorded(trust::append(log, draft).await?.chain_index);
                Err(err)
            }
            ApprovalDecision::TimedOut => {
                let err = self.refusal(RefusalKind::ApprovalTimedOut, Some(req.request_id.clone()));
                let draft = base(Outcome::Timeout, "approval_timed_out").meta("deny_code", err.code());
                self.recorded(trust::append(log, draft).await?.chain_index);
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
        self.recorded(trust::append(log, draft).await?.chain_index);
        Ok(refusal)
    }
}

//! The approval flow on the log: filing, answering, settling and waiting. Decisions are derived
//! from `hitl.approvals` events alone, so any process sharing the log sees the same state.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use super::{
    ApprovalDecision, ApprovalDraft, ApprovalRequest, ApprovalResponse, ApprovalState, ApprovalStatus,
    resolve,
};
use crate::log::{Conflicts, EventId, EventLog, LogEvent, StoredEvent, Topic, now_ms, rfc3339_ms, subscribe};
use crate::{Error, Result};

fn event(kind: &str, request_id: &str, payload: Value) -> LogEvent {
    LogEvent::new(kind, payload).with_header("request_id", request_id)
}

/// Files a request (event `approval_requested`) and returns it without waiting.
///
/// # Errors
/// `SIDEFX-LOG` when the request cannot be encoded or appended.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let log = sidefx::log::MemoryEventLog::new();
/// let req = sidefx::approval::request(&log, sidefx::approval::ApprovalDraft::new("a", "b", "c")).await.unwrap();
/// assert_eq!(sidefx::approval::pending(&log).await.unwrap()[0].request_id, req.request_id);
/// # });
/// ```
pub async fn request(log: &dyn EventLog, draft: ApprovalDraft) -> Result<ApprovalRequest> {
    let now = now_ms();
    let timeout_ms = draft.timeout.min(super::MAX_TIMEOUT).as_millis();
    let deadline = now.saturating_add(u64::try_from(timeout_ms).unwrap_or(u64::MAX));
    let mut req = ApprovalRequest {
        request_id: uuid::Uuid::now_v7().to_string(),
        agent: draft.agent,
        trace_id: if draft.trace_id.is_empty() {
            uuid::Uuid::now_v7().to_string()
        } else {
            draft.trace_id
        },
        action: draft.action,
        builtin: draft.builtin,
        args_digest: crate::canonical::sha256(&draft.args),
        args: draft.args,
        reviewers: draft.reviewers,
        quorum: draft.quorum.max(1),
        requested_at: rfc3339_ms(now),
        requested_at_ms: now,
        deadline: rfc3339_ms(deadline),
        deadline_ms: deadline,
        capabilities_requested: draft.capabilities,
        blocking: draft.blocking,
        resources: draft.resources,
        decided_by: draft.decided_by,
        grant: draft.grant,
        event_id: 0,
    };
    let payload =
        serde_json::to_value(&req).map_err(|e| Error::log("cannot encode the approval request", e))?;
    let ev = event("approval_requested", &req.request_id, payload)
        .with_header("agent", req.agent.clone())
        .with_header("trace_id", req.trace_id.clone());
    req.event_id = log.append(&Topic::HITL_APPROVALS, ev).await?;
    Ok(req)
}

/// Folds `hitl.approvals` events into per-request status.
#[derive(Default)]
struct Fold {
    order: Vec<String>,
    by_id: BTreeMap<String, ApprovalStatus>,
    /// When each decided request was decided (the decision's `decided_at_ms`), ms since the
    /// epoch: a grant recorded late still dates from its approval.
    decided_at: BTreeMap<String, u64>,
}

impl Fold {
    fn apply(&mut self, stored: &StoredEvent) {
        let e = &stored.event;
        let id = e.payload["request_id"].as_str().unwrap_or_default().to_owned();
        match e.kind.as_str() {
            "approval_requested" => {
                if let Ok(mut request) = serde_json::from_value::<ApprovalRequest>(e.payload.clone()) {
                    request.event_id = stored.id;
                    self.order.push(id.clone());
                    self.by_id.insert(
                        id,
                        ApprovalStatus {
                            request,
                            responses: Vec::new(),
                            decision: None,
                        },
                    );
                }
            }
            "response_received" => {
                if let (Some(s), Ok(r)) = (self.by_id.get_mut(&id), serde_json::from_value(e.payload.clone()))
                    && s.decision.is_none()
                {
                    s.responses.push(r);
                }
            }
            _ => {
                if let (Some(s), Some(d)) = (self.by_id.get_mut(&id), ApprovalDecision::from_event(e))
                    && s.decision.is_none()
                {
                    s.decision = Some(d);
                    let at = e.payload["decided_at_ms"].as_u64().unwrap_or(e.occurred_at_ms);
                    self.decided_at.insert(id, at);
                }
            }
        }
    }
}

async fn fold_all(log: &dyn EventLog) -> Result<(Fold, Option<EventId>)> {
    let events = crate::log::read_all(log, &Topic::HITL_APPROVALS).await?;
    let mut fold = Fold::default();
    for e in &events {
        fold.apply(e);
    }
    Ok((fold, events.last().map(|e| e.id)))
}

/// The status of one request.
///
/// # Errors
/// `SIDEFX-UNKNOWN-APPROVAL` when no request has this id; `SIDEFX-LOG` when the log cannot be read.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let log = sidefx::log::MemoryEventLog::new();
/// let err = sidefx::approval::status(&log, "nope").await.unwrap_err();
/// assert_eq!(err.code(), "SIDEFX-UNKNOWN-APPROVAL");
/// # });
/// ```
pub async fn status(log: &dyn EventLog, request_id: &str) -> Result<ApprovalStatus> {
    let (mut fold, _) = fold_all(log).await?;
    fold.by_id
        .remove(request_id)
        .ok_or_else(|| Error::UnknownApproval(request_id.to_owned()))
}

/// Every request, oldest first, with its status.
///
/// # Errors
/// `SIDEFX-LOG` when the log cannot be read.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let log = sidefx::log::MemoryEventLog::new();
/// assert!(sidefx::approval::list(&log).await.unwrap().is_empty());
/// # });
/// ```
pub async fn list(log: &dyn EventLog) -> Result<Vec<ApprovalStatus>> {
    let (mut fold, _) = fold_all(log).await?;
    Ok(fold.order.iter().filter_map(|id| fold.by_id.remove(id)).collect())
}

/// Requests that are undecided and still before their deadline, oldest first.
///
/// # Errors
/// `SIDEFX-LOG` when the log cannot be read.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let log = sidefx::log::MemoryEventLog::new();
/// assert!(sidefx::approval::pending(&log).await.unwrap().is_empty());
/// # });
/// ```
pub async fn pending(log: &dyn EventLog) -> Result<Vec<ApprovalRequest>> {
    Ok(list(log)
        .await?
        .into_iter()
        .filter(|s| s.state() == ApprovalState::Pending)
        .map(|s| s.request)
        .collect())
}

/// Records a reviewer's answer, then writes the decision if the answer settles the request.
/// Returns the request's status after the answer.
///
/// An approved suggestion whose grant is missing (the decision was written, the grant was not:
/// a failed write or a crash between the two) gets it here, even though the request is closed.
///
/// # Errors
/// `SIDEFX-UNKNOWN-APPROVAL` for an unknown id, `SIDEFX-APPROVAL-CLOSED` when the request is
/// already decided (the answer is not recorded), `SIDEFX-LOG` when the log fails.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let log = sidefx::log::MemoryEventLog::new();
/// let req = sidefx::approval::request(&log, sidefx::approval::ApprovalDraft::new("a", "b", "c")).await.unwrap();
/// let s = sidefx::approval::respond(&log, &req.request_id, "bob", false, Some("not today".into())).await.unwrap();
/// assert_eq!(s.state(), sidefx::approval::ApprovalState::Denied);
/// # });
/// ```
pub async fn respond(
    log: &dyn EventLog,
    request_id: &str,
    reviewer: &str,
    approved: bool,
    reason: Option<String>,
) -> Result<ApprovalStatus> {
    let (mut fold, _) = fold_all(log).await?;
    let before = fold
        .by_id
        .remove(request_id)
        .ok_or_else(|| Error::UnknownApproval(request_id.to_owned()))?;
    if let Some(d) = &before.decision {
        // The answer is not recorded, but an approval whose grant a failed write (or a crash)
        // left out gets it now.
        grant_if_approved(log, &before.request, d, fold.decided_at.get(request_id).copied()).await?;
        return Err(Error::ApprovalClosed {
            request_id: request_id.to_owned(),
            state: before.state(),
        });
    }
    let response = ApprovalResponse {
        request_id: request_id.to_owned(),
        reviewer: Some(reviewer.to_owned()).filter(|r| !r.trim().is_empty()),
        approved,
        reason,
        responded_at_ms: now_ms(),
    };
    let payload =
        serde_json::to_value(&response).map_err(|e| Error::log("cannot encode the approval response", e))?;
    log.append(
        &Topic::HITL_APPROVALS,
        event("response_received", request_id, payload),
    )
    .await?;
    settle(log, &before.request).await?;
    status(log, request_id).await
}

/// Writes the decision the responses (or the deadline) call for, unless one is recorded.
/// Returns the recorded decision, or `None` while the request is still open.
async fn settle(log: &dyn EventLog, request: &ApprovalRequest) -> Result<Option<ApprovalDecision>> {
    let topic = Topic::HITL_APPROVALS;
    let mut conflicts = Conflicts::new(&topic, "an approval decision");
    loop {
        // The head exactly as compare-and-append checks it, read before the events so the
        // decision is derived from everything up to it (later events are left for the retry).
        let head = log.latest(&topic).await?.map(|e| e.id);
        let mut fold = Fold::default();
        let events = log
            .read_range(&topic, request.event_id.saturating_sub(1), usize::MAX)
            .await?;
        for e in events.iter().take_while(|e| Some(e.id) <= head) {
            fold.apply(e);
        }
        let Some(s) = fold.by_id.get(&request.request_id) else {
            return Err(Error::Log(format!(
                "approval request {} is no longer in the log (a bounded log dropped it); the call fails closed",
                request.request_id
            ).into()));
        };
        if let Some(d) = &s.decision {
            let at = fold.decided_at.get(&request.request_id).copied();
            grant_if_approved(log, request, d, at).await?;
            return Ok(Some(d.clone()));
        }
        let decision = match resolve(request, &s.responses) {
            Some(d) => d,
            None if now_ms() > request.deadline_ms => ApprovalDecision::TimedOut,
            None => return Ok(None),
        };
        let mut payload = serde_json::to_value(&decision)
            .map_err(|e| Error::log("cannot encode the approval decision", e))?;
        payload["request_id"] = json!(request.request_id);
        let decided_at = now_ms();
        payload["decided_at_ms"] = json!(decided_at);
        let ev = event(decision.kind(), &request.request_id, payload);
        if log.append_if_latest(&topic, head, ev).await?.is_some() {
            // Approving a suggestion issues its one-shot grant; the decision's writer does it,
            // whichever path (CLI, in process, ACP) the approval came through.
            if let ApprovalDecision::Approved { approvers } = &decision {
                super::grant::issue(log, request, approvers, decided_at).await?;
            }
            return Ok(Some(decision));
        }
        // Someone appended meanwhile (maybe the decision): re-read and decide again, a bounded
        // number of times.
        conflicts.conflicted(head)?;
    }
}

/// Issues the grant of an approved suggestion whose decision is already recorded: the decision
/// and the grant are two writes, and a failure (or a crash) between them must not leave an
/// approval without its grant. Idempotent ([`grant::issue`](super::grant::issue) finds an
/// issued grant); dated from the approval, so a late grant lives no longer.
async fn grant_if_approved(
    log: &dyn EventLog,
    request: &ApprovalRequest,
    decision: &ApprovalDecision,
    decided_at: Option<u64>,
) -> Result<()> {
    match decision {
        ApprovalDecision::Approved { approvers } if request.grant.is_some() && !request.blocking => {
            let at = decided_at.unwrap_or(request.requested_at_ms);
            super::grant::issue(log, request, approvers, at).await
        }
        _ => Ok(()),
    }
}

/// Waits for the decision on `request`: woken by each new event on `hitl.approvals`, settles
/// the request when responses decide it, and records `approval_timed_out` at the deadline.
///
/// # Errors
/// `SIDEFX-LOG` when the log fails or no longer holds the request; the caller must then fail
/// closed.
///
/// ```
/// use std::time::Duration;
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let log = sidefx::log::MemoryEventLog::new();
/// let draft = sidefx::approval::ApprovalDraft::new("a", "b", "c").timeout(Duration::from_millis(10));
/// let req = sidefx::approval::request(&log, draft).await.unwrap();
/// let d = sidefx::approval::wait(&log, &req).await.unwrap();
/// assert_eq!(d, sidefx::approval::ApprovalDecision::TimedOut);
/// # });
/// ```
pub async fn wait(log: &dyn EventLog, request: &ApprovalRequest) -> Result<ApprovalDecision> {
    if let Some(d) = settle(log, request).await? {
        return Ok(d);
    }
    let mut sub = subscribe(log, Topic::HITL_APPROVALS, request.event_id);
    loop {
        let left = Duration::from_millis(request.deadline_ms.saturating_sub(now_ms()));
        match tokio::time::timeout(left.saturating_add(Duration::from_millis(1)), sub.next()).await {
            Ok(next) => {
                let e = next?;
                if e.event.headers.get("request_id").map(String::as_str) != Some(&request.request_id) {
                    continue;
                }
                if let Some(d) = ApprovalDecision::from_event(&e.event) {
                    return Ok(d);
                }
                if e.event.kind == "response_received"
                    && let Some(d) = settle(log, request).await?
                {
                    return Ok(d);
                }
            }
            Err(_deadline) => {
                if let Some(d) = settle(log, request).await? {
                    return Ok(d);
                }
            }
        }
    }
}

//! Finding the request a blocked call waits on: a stream of filed requests, and a lookup by
//! trace id. An in-process reviewer (a UI thread, a bot, a test) uses these instead of parsing
//! `hitl.approvals` events by hand.

use super::ApprovalRequest;
use crate::Result;
use crate::log::{EventId, EventLog, Subscription, Topic, subscribe};

/// Requests as they are filed on `hitl.approvals`, oldest first, then live.
///
/// Made by [`requests`]. Each [`next`](Requests::next) returns the next filed request; it waits
/// (woken by the log, not by polling in process) when none is left. A request that has already
/// been decided is still yielded: check [`status`](super::status) when that matters.
///
/// ```
/// use sidefx::approval::{self, ApprovalDraft};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let log = sidefx::log::MemoryEventLog::new();
/// let mut filed = approval::requests(&log, 0);
/// let req = approval::request(&log, ApprovalDraft::new("planner", "git.push", "git.write")).await.unwrap();
/// assert_eq!(filed.next().await.unwrap().request_id, req.request_id);
/// # });
/// ```
pub struct Requests<'a> {
    sub: Subscription<'a>,
}

/// Follows the requests filed on `log` after event id `after` on `hitl.approvals` (0: every
/// request ever filed; the topic's latest id: only new ones).
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let log = sidefx::log::MemoryEventLog::new();
/// let filed = sidefx::approval::requests(&log, 0);
/// assert_eq!(filed.cursor(), 0);
/// # });
/// ```
pub fn requests(log: &dyn EventLog, after: EventId) -> Requests<'_> {
    Requests {
        sub: subscribe(log, Topic::HITL_APPROVALS, after),
    }
}

impl Requests<'_> {
    /// The next filed request, waiting for one if none is left.
    ///
    /// # Errors
    /// A log error (`SIDEFX-LOG`). Events that are not well-formed requests are skipped, as the
    /// approval fold skips them.
    pub async fn next(&mut self) -> Result<ApprovalRequest> {
        loop {
            let stored = self.sub.next().await?;
            if let Some(request) = parse_request(&stored) {
                return Ok(request);
            }
        }
    }

    /// The `hitl.approvals` event id of the last event read: pass it to [`requests`] to resume.
    pub fn cursor(&self) -> EventId {
        self.sub.cursor()
    }
}

fn parse_request(stored: &crate::log::StoredEvent) -> Option<ApprovalRequest> {
    if stored.event.kind != "approval_requested" {
        return None;
    }
    let mut request: ApprovalRequest = serde_json::from_value(stored.event.payload.clone()).ok()?;
    request.event_id = stored.id;
    Some(request)
}

/// The newest request filed for the call with trace id `trace_id`, if any.
///
/// A host sets the trace id on the dispatch context
/// ([`DispatchContext::trace`](crate::DispatchContext::trace)); a reviewer who knows it finds
/// the request the blocked call is waiting on.
///
/// ```
/// use sidefx::approval::{self, ApprovalDraft};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let log = sidefx::log::MemoryEventLog::new();
/// let req = approval::request(&log, ApprovalDraft::new("planner", "git.push", "git.write").trace("t-7")).await.unwrap();
/// let found = approval::request_for_trace(&log, "t-7").await.unwrap().unwrap();
/// assert_eq!(found.request_id, req.request_id);
/// assert!(approval::request_for_trace(&log, "t-8").await.unwrap().is_none());
/// # });
/// ```
///
/// # Errors
/// A log error (`SIDEFX-LOG`).
pub async fn request_for_trace(log: &dyn EventLog, trace_id: &str) -> Result<Option<ApprovalRequest>> {
    let events = crate::log::read_all(log, &Topic::HITL_APPROVALS).await?;
    Ok(events
        .iter()
        .rev()
        .filter_map(parse_request)
        .find(|r| r.trace_id == trace_id))
}

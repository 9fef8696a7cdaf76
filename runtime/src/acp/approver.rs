//! The [`Approver`] that asks the editor: session grants first, then
//! `session/request_permission`, fail-closed, with every answer recorded on `hitl.approvals`.

use std::sync::Arc;

use agent_client_protocol_schema::v1 as schema;
use serde_json::{Map, Value, json};

use super::codec::{self, OptionKind, PermissionAnswer, REQUEST_PERMISSION, ToolCall};
use super::session::{CancelFlag, Session, Turn};
use super::tool_call::{current_tool_call, new_tool_call_id, with_current_text};
use crate::approval::{self, ApprovalDecision, ApprovalRequest, Approver, Verdict};
use crate::log::EventLog;
use crate::{Error, Result};

/// What decided an approval request the [`AcpApprover`] saw: the `decided_by` of its verdict
/// metadata (and so of the trust record), serialised in snake case.
///
/// ```
/// use sidefx::acp::Decider;
/// assert_eq!(serde_json::to_value(Decider::InvalidResponse).unwrap(), "invalid_response");
/// assert_eq!(serde_json::from_value::<Decider>("grant".into()).unwrap(), Decider::Grant);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decider {
    /// The user's choice in the editor.
    Editor,
    /// A standing `allow_always` / `reject_always` grant of the session.
    Grant,
    /// A reviewer on the event log (or its deadline) decided before the editor answered.
    Log,
    /// The request's reviewer allowlist leaves the editor out: the log's reviewers decided.
    LogReviewers,
    /// The prompt turn was cancelled.
    Cancelled,
    /// The editor's answer was not a valid one (malformed, not offered, an error, a closed
    /// connection): refused.
    InvalidResponse,
}

/// Decides blocking approval requests of one prompt turn through the editor.
///
/// In order: a turn the client cancelled refuses at once; a request whose reviewer allowlist
/// does not name `acp:<sessionId>` (or `acp`) is left to the log's reviewers; a session grant
/// for the builtin decides without asking; otherwise the call is announced and the editor is
/// asked. Only a selected allow option that was offered approves; reject options, a cancelled
/// turn, malformed answers, JSON-RPC errors, a closed connection and the deadline all refuse.
/// The answer is recorded with [`approval::respond`] as reviewer `acp:<sessionId>`, and the
/// verdict's metadata (merged into the trust record) says how it was decided:
/// `{"acp": {"session_id", "tool_call_id", "decided_by", "option_id", "option_kind", "grant"}}`.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use std::sync::Arc;
/// use sidefx::acp::{AcpApprover, CancelFlag, Session, codec::OptionKind};
/// use sidefx::approval::{self, ApprovalDecision, ApprovalDraft, Approver};
///
/// let (conn, _rx) = sidefx::acp::rpc::connect(tokio::io::empty(), tokio::io::sink());
/// let session = Session::new("s-1", "/w", conn);
/// session.grants().insert("write_file", "fs.write", OptionKind::AllowAlways, "allow_always", "r0");
/// let approver = AcpApprover::new(session, Arc::new(CancelFlag::new()));
///
/// let log = sidefx::log::MemoryEventLog::new();
/// let req = approval::request(&log, ApprovalDraft::new("a", "write_file", "fs.write")).await.unwrap();
/// let verdict = approver.decide(&req, &log).await.unwrap();
/// assert_eq!(verdict.decision, ApprovalDecision::Approved { approvers: vec!["acp:s-1".into()] });
/// assert_eq!(verdict.metadata["acp"]["decided_by"], "grant");
/// # });
/// ```
#[derive(Debug)]
pub struct AcpApprover {
    session: Arc<Session>,
    cancel: Arc<CancelFlag>,
}

enum Asked {
    Answer(PermissionAnswer),
    TurnCancelled,
    Decided(ApprovalDecision),
}

impl AcpApprover {
    /// An approver for calls made during the turn that `cancel` belongs to.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let (conn, _rx) = sidefx::acp::rpc::connect(tokio::io::empty(), tokio::io::sink());
    /// let session = sidefx::acp::Session::new("s", "/w", conn);
    /// let flag = std::sync::Arc::new(sidefx::acp::CancelFlag::new());
    /// let approver = std::sync::Arc::new(sidefx::acp::AcpApprover::new(session, flag));
    /// sidefx::with_approver(approver, async { /* calls here ask the editor */ }).await;
    /// # });
    /// ```
    pub fn new(session: Arc<Session>, cancel: Arc<CancelFlag>) -> Self {
        AcpApprover { session, cancel }
    }

    /// The approver for calls made during `turn`: install it with [`crate::with_approver`]
    /// around the turn's work ([`serve`](super::serve) does this for every prompt).
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let (conn, _rx) = sidefx::acp::rpc::connect(tokio::io::empty(), tokio::io::sink());
    /// let session = sidefx::acp::Session::new("s-1", "/work", conn);
    /// let turn = session.begin_turn().unwrap();
    /// let approver = sidefx::acp::AcpApprover::for_turn(&turn);
    /// sidefx::with_approver(approver, async { /* act_with_approval calls ask the editor */ }).await;
    /// # });
    /// ```
    pub fn for_turn(turn: &Turn) -> Arc<dyn Approver> {
        Arc::new(AcpApprover::new(turn.session().clone(), turn.cancel_flag()))
    }

    /// Records the editor's (or a grant's) answer and returns the decision the log settles on.
    /// With a quorum above one, an approval waits for the other reviewers (or the turn's end).
    async fn record(
        &self,
        log: &dyn EventLog,
        request: &ApprovalRequest,
        approved: bool,
        reason: String,
    ) -> Result<ApprovalDecision> {
        let reviewer = self.session.reviewer();
        match approval::respond(log, &request.request_id, &reviewer, approved, Some(reason)).await {
            Ok(status) => {
                if let Some(d) = status.decision {
                    return Ok(d);
                }
            }
            // Someone (a reviewer on the command line) decided first: their decision stands.
            Err(Error::ApprovalClosed { .. }) => {}
            Err(e) => return Err(e),
        }
        self.wait_on_log(log, request).await
    }

    async fn wait_on_log(&self, log: &dyn EventLog, request: &ApprovalRequest) -> Result<ApprovalDecision> {
        tokio::select! {
            d = approval::wait(log, request) => d,
            _ = self.cancel.cancelled() => Ok(ApprovalDecision::Denied {
                reviewer: self.session.reviewer(),
                reason: Some("the ACP prompt turn was cancelled".into()),
            }),
        }
    }

    async fn describe(&self, request: &ApprovalRequest, tool_call_id: &str, title: Option<&str>) -> ToolCall {
        let mut call = ToolCall::for_request(tool_call_id, request, Some(self.session.cwd()));
        if let Some(t) = title {
            call = call.with_title(t);
        }
        with_current_text(call).await
    }

    async fn ask(&self, log: &dyn EventLog, request: &ApprovalRequest, call: &ToolCall) -> Asked {
        let options = codec::standard_options(&request.builtin);
        let params = codec::request_permission_params(self.session.id(), call, &options);
        let mut pending = self
            .session
            .connection()
            .start_request(REQUEST_PERMISSION, &params)
            .await;
        let asked = tokio::select! {
            reply = pending.response() => Asked::Answer(codec::parse_reply(&reply, &options)),
            _ = self.cancel.cancelled() => Asked::TurnCancelled,
            d = approval::wait(log, request) => match d {
                Ok(d) => Asked::Decided(d),
                Err(e) => Asked::Answer(PermissionAnswer::Invalid { reason: e.to_string() }),
            },
        };
        if matches!(asked, Asked::Decided(_)) {
            // The log decided (a reviewer, or the deadline): withdraw the question.
            pending.cancel().await;
        }
        asked
    }
}

#[async_trait::async_trait]
impl Approver for AcpApprover {
    async fn decide(&self, request: &ApprovalRequest, log: &dyn EventLog) -> Result<Verdict> {
        let reviewer = self.session.reviewer();
        let slot = current_tool_call();
        let tool_call_id = slot.as_ref().map_or_else(new_tool_call_id, |s| s.id.clone());
        let mut meta = Map::new();
        meta.insert("session_id".into(), json!(self.session.id()));
        meta.insert("tool_call_id".into(), json!(tool_call_id));
        let mut set = |k: &str, v: Value| {
            meta.insert(k.to_owned(), v);
        };

        // Announce the call before anything decides it, so the editor shows every call.
        let call = self
            .describe(request, &tool_call_id, slot.as_ref().map(|s| s.title.as_str()))
            .await;
        if slot.as_ref().is_none_or(|s| s.announce_once()) {
            self.session.update(&call.announcement(self.session.id())).await;
        }

        let allowed =
            request.reviewers.is_empty() || request.reviewers.iter().any(|r| *r == reviewer || r == "acp");
        let decision = if !allowed {
            set("decided_by", json!(Decider::LogReviewers));
            self.wait_on_log(log, request).await?
        } else if self.cancel.is_cancelled() {
            set("decided_by", json!(Decider::Cancelled));
            let reason = "the ACP prompt turn was cancelled before the call".to_owned();
            self.record(log, request, false, reason).await?
        } else if let Some(grant) = self.session.grants().lookup(&request.builtin, &request.action) {
            set("decided_by", json!(Decider::Grant));
            set("option_id", json!(grant.option_id));
            set("option_kind", json!(grant.kind.as_str()));
            set("grant", grant.to_json());
            let reason = format!(
                "standing {} grant {} of this ACP session",
                grant.kind, grant.grant_id
            );
            self.record(log, request, grant.allows(), reason).await?
        } else {
            match self.ask(log, request, &call).await {
                Asked::Decided(d) => {
                    set("decided_by", json!(Decider::Log));
                    d
                }
                Asked::TurnCancelled | Asked::Answer(PermissionAnswer::Cancelled) => {
                    // A `cancelled` outcome means the client cancelled the turn (its
                    // `session/cancel` may still be in flight): end the turn here too.
                    self.cancel.cancel();
                    set("decided_by", json!(Decider::Cancelled));
                    let reason = "the ACP prompt turn was cancelled".to_owned();
                    self.record(log, request, false, reason).await?
                }
                Asked::Answer(PermissionAnswer::Invalid { reason }) => {
                    set("decided_by", json!(Decider::InvalidResponse));
                    set("error", json!(reason));
                    let reason = format!("no valid answer from the editor: {reason}");
                    self.record(log, request, false, reason).await?
                }
                Asked::Answer(PermissionAnswer::Selected { option_id, kind }) => {
                    set("decided_by", json!(Decider::Editor));
                    set("option_id", json!(option_id));
                    set("option_kind", json!(kind.as_str()));
                    if kind.is_always() {
                        let grant = self.session.grants().insert(
                            &request.builtin,
                            &request.action,
                            kind,
                            &option_id,
                            &request.request_id,
                        );
                        set("grant", grant.to_json());
                    }
                    let reason = match kind {
                        OptionKind::AllowOnce => "allowed once in the editor",
                        OptionKind::AllowAlways => "allowed in the editor for the rest of the session",
                        OptionKind::RejectOnce => "rejected in the editor",
                        OptionKind::RejectAlways => "rejected in the editor for the rest of the session",
                    };
                    self.record(log, request, kind.is_allow(), reason.to_owned())
                        .await?
                }
            }
        };

        // Tell the editor where the call stands; inside `Turn::tool_call` the final status
        // follows when the call returns.
        let approved = matches!(decision, ApprovalDecision::Approved { .. });
        let (status, text) = if approved {
            (schema::ToolCallStatus::InProgress, None)
        } else {
            (schema::ToolCallStatus::Failed, Some("refused: not approved"))
        };
        // Inside a tool call the refusal is reported when the call returns, with its text.
        if approved && slot.as_ref().is_none_or(|s| s.start_once()) || !approved && slot.is_none() {
            let update = codec::tool_call_update(self.session.id(), &tool_call_id, status, text);
            self.session.update(&update).await;
        }
        let mut metadata = Map::new();
        metadata.insert("acp".into(), Value::Object(meta));
        Ok(Verdict { decision, metadata })
    }
}

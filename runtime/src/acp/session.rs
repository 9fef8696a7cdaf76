//! ACP sessions and prompt turns: the state the approver needs (session id, cwd, connection,
//! grants, the running turn's cancellation) and the tool-call lifecycle an editor expects
//! (announce, ask, report).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};
use tokio::sync::watch;

use super::approver::AcpApprover;
use super::codec::{self, SESSION_UPDATE, ToolCall, ToolStatus};
use super::grants::Grants;
use super::rpc::{Connection, RpcError};
use crate::approval::Approver;

/// A one-way cancellation flag that tasks can poll or await.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let flag = sidefx::acp::CancelFlag::new();
/// assert!(!flag.is_cancelled());
/// flag.cancel();
/// flag.cancelled().await; // returns at once
/// # });
/// ```
#[derive(Debug)]
pub struct CancelFlag {
    tx: watch::Sender<bool>,
}

impl Default for CancelFlag {
    fn default() -> Self {
        CancelFlag {
            tx: watch::Sender::new(false),
        }
    }
}

impl CancelFlag {
    /// Not cancelled.
    ///
    /// ```
    /// assert!(!sidefx::acp::CancelFlag::new().is_cancelled());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels (idempotent).
    ///
    /// ```
    /// let flag = sidefx::acp::CancelFlag::new();
    /// flag.cancel();
    /// flag.cancel();
    /// assert!(flag.is_cancelled());
    /// ```
    pub fn cancel(&self) {
        self.tx.send_replace(true);
    }

    /// Whether [`cancel`](Self::cancel) was called.
    ///
    /// ```
    /// assert!(!sidefx::acp::CancelFlag::default().is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        *self.tx.borrow()
    }

    /// Resolves once cancelled.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let flag = std::sync::Arc::new(sidefx::acp::CancelFlag::new());
    /// let waiter = tokio::spawn({ let f = flag.clone(); async move { f.cancelled().await } });
    /// flag.cancel();
    /// waiter.await.unwrap();
    /// # });
    /// ```
    pub async fn cancelled(&self) {
        let mut rx = self.tx.subscribe();
        // The sender lives as long as `self`, so `wait_for` cannot fail while we borrow it.
        let _ = rx.wait_for(|c| *c).await;
    }
}

/// One ACP session: its id, working directory, connection to the client and grants.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let (conn, _rx) = sidefx::acp::rpc::connect(tokio::io::empty(), tokio::io::sink());
/// let session = sidefx::acp::Session::new("s-1", "/work", conn);
/// assert_eq!(session.reviewer(), "acp:s-1");
/// assert!(session.grants().list().is_empty());
/// # });
/// ```
#[derive(Debug)]
pub struct Session {
    id: String,
    cwd: PathBuf,
    conn: Connection,
    grants: Grants,
    turn: Mutex<Option<Arc<CancelFlag>>>,
}

impl Session {
    /// A session with no grants.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let (conn, _rx) = sidefx::acp::rpc::connect(tokio::io::empty(), tokio::io::sink());
    /// let session = sidefx::acp::Session::new("s-1", "/work", conn);
    /// assert_eq!(session.id(), "s-1");
    /// # });
    /// ```
    pub fn new(id: impl Into<String>, cwd: impl Into<PathBuf>, conn: Connection) -> Arc<Session> {
        Arc::new(Session {
            id: id.into(),
            cwd: cwd.into(),
            conn,
            grants: Grants::new(),
            turn: Mutex::new(None),
        })
    }

    /// The session id.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let (conn, _rx) = sidefx::acp::rpc::connect(tokio::io::empty(), tokio::io::sink());
    /// let session = sidefx::acp::Session::new("s-1", "/work", conn);
    /// assert_eq!(session.id(), "s-1");
    /// # });
    /// ```
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The absolute working directory the client gave.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let (conn, _rx) = sidefx::acp::rpc::connect(tokio::io::empty(), tokio::io::sink());
    /// let session = sidefx::acp::Session::new("s-1", "/work", conn);
    /// assert_eq!(session.cwd(), std::path::Path::new("/work"));
    /// # });
    /// ```
    pub fn cwd(&self) -> &Path {
        &self.cwd
    }

    /// The connection to the client.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let (conn, _rx) = sidefx::acp::rpc::connect(tokio::io::empty(), tokio::io::sink());
    /// let session = sidefx::acp::Session::new("s-1", "/work", conn);
    /// let _ = session.connection().notify("session/update", serde_json::json!({})).await;
    /// # });
    /// ```
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The session's "always" grants.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let (conn, _rx) = sidefx::acp::rpc::connect(tokio::io::empty(), tokio::io::sink());
    /// let session = sidefx::acp::Session::new("s-1", "/work", conn);
    /// assert!(session.grants().list().is_empty()); // a new session starts with no grants
    /// # });
    /// ```
    pub fn grants(&self) -> &Grants {
        &self.grants
    }

    /// The reviewer id recorded for the editor's answers: `acp:<sessionId>`.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let (conn, _rx) = sidefx::acp::rpc::connect(tokio::io::empty(), tokio::io::sink());
    /// let session = sidefx::acp::Session::new("s-1", "/work", conn);
    /// assert_eq!(session.reviewer(), "acp:s-1");
    /// # });
    /// ```
    pub fn reviewer(&self) -> String {
        format!("acp:{}", self.id)
    }

    /// Sends a `session/update` notification; a failed write is logged, not returned (the
    /// client is gone and the next request will fail closed anyway).
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let (conn, _rx) = sidefx::acp::rpc::connect(tokio::io::empty(), tokio::io::sink());
    /// let session = sidefx::acp::Session::new("s-1", "/work", conn);
    /// session.update(sidefx::acp::codec::agent_message("s-1", "hello")).await;
    /// # });
    /// ```
    pub async fn update(&self, params: Value) {
        if let Err(e) = self.conn.notify(SESSION_UPDATE, params).await {
            tracing::warn!(target: "sidefx::acp", session = %self.id, error = %e, "session/update not sent");
        }
    }

    /// Starts a prompt turn; fails while another turn of this session is running.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let (conn, _rx) = sidefx::acp::rpc::connect(tokio::io::empty(), tokio::io::sink());
    /// let session = sidefx::acp::Session::new("s", "/w", conn);
    /// let turn = session.begin_turn().unwrap();
    /// assert!(session.begin_turn().is_err());
    /// drop(turn);
    /// assert!(session.begin_turn().is_ok());
    /// # });
    /// ```
    pub fn begin_turn(self: &Arc<Self>) -> Result<Turn, RpcError> {
        let mut slot = self.turn.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_some() {
            return Err(RpcError::new(
                RpcError::INVALID_REQUEST,
                format!("session {} already has a prompt turn running", self.id),
            ));
        }
        let cancel = Arc::new(CancelFlag::new());
        *slot = Some(cancel.clone());
        Ok(Turn {
            session: self.clone(),
            cancel,
        })
    }

    /// Cancels the running turn, if any (`session/cancel`). Returns whether one was running.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let (conn, _rx) = sidefx::acp::rpc::connect(tokio::io::empty(), tokio::io::sink());
    /// let session = sidefx::acp::Session::new("s-1", "/work", conn);
    /// assert!(!session.cancel_turn()); // no turn running
    /// let turn = session.begin_turn().unwrap();
    /// assert!(session.cancel_turn() && turn.is_cancelled());
    /// # });
    /// ```
    pub fn cancel_turn(&self) -> bool {
        match &*self.turn.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(flag) => {
                flag.cancel();
                true
            }
            None => false,
        }
    }
}

/// The tool call a task is inside, set by [`Turn::tool_call`] so the approver reuses its id.
#[derive(Debug)]
pub(crate) struct ToolCallSlot {
    pub(crate) id: String,
    pub(crate) title: String,
    pub(crate) announced: AtomicBool,
}

tokio::task_local! {
    static TOOL_CALL: Arc<ToolCallSlot>;
}

pub(crate) fn current_tool_call() -> Option<Arc<ToolCallSlot>> {
    TOOL_CALL.try_with(Arc::clone).ok()
}

pub(crate) fn new_tool_call_id() -> String {
    format!("call_{}", uuid::Uuid::now_v7().simple())
}

/// One running prompt turn of a session. Dropping it ends the turn.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let (conn, _rx) = sidefx::acp::rpc::connect(tokio::io::empty(), tokio::io::sink());
/// let session = sidefx::acp::Session::new("s", "/w", conn);
/// let turn = session.begin_turn().unwrap();
/// session.cancel_turn();
/// assert!(turn.is_cancelled());
/// # });
/// ```
#[derive(Debug)]
pub struct Turn {
    session: Arc<Session>,
    cancel: Arc<CancelFlag>,
}

impl Drop for Turn {
    fn drop(&mut self) {
        let mut slot = self.session.turn.lock().unwrap_or_else(|p| p.into_inner());
        if slot.as_ref().is_some_and(|f| Arc::ptr_eq(f, &self.cancel)) {
            *slot = None;
        }
    }
}

impl Turn {
    /// The session.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let (conn, _rx) = sidefx::acp::rpc::connect(tokio::io::empty(), tokio::io::sink());
    /// let session = sidefx::acp::Session::new("s-1", "/work", conn);
    /// let turn = session.begin_turn().unwrap();
    /// assert_eq!(turn.session().id(), "s-1");
    /// # });
    /// ```
    pub fn session(&self) -> &Arc<Session> {
        &self.session
    }

    /// Whether the client cancelled the turn.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let (conn, _rx) = sidefx::acp::rpc::connect(tokio::io::empty(), tokio::io::sink());
    /// let session = sidefx::acp::Session::new("s-1", "/work", conn);
    /// let turn = session.begin_turn().unwrap();
    /// assert!(!turn.is_cancelled());
    /// # });
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Resolves once the client cancels the turn.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let (conn, _rx) = sidefx::acp::rpc::connect(tokio::io::empty(), tokio::io::sink());
    /// let session = sidefx::acp::Session::new("s-1", "/work", conn);
    /// let turn = session.begin_turn().unwrap();
    /// session.cancel_turn();
    /// turn.cancelled().await;
    /// # });
    /// ```
    pub async fn cancelled(&self) {
        self.cancel.cancelled().await
    }

    /// The turn's cancellation flag.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let (conn, _rx) = sidefx::acp::rpc::connect(tokio::io::empty(), tokio::io::sink());
    /// let session = sidefx::acp::Session::new("s-1", "/work", conn);
    /// let turn = session.begin_turn().unwrap();
    /// turn.cancel_flag().cancel();
    /// assert!(turn.is_cancelled());
    /// # });
    /// ```
    pub fn cancel_flag(&self) -> Arc<CancelFlag> {
        self.cancel.clone()
    }

    /// The approver for calls made during this turn: install it with [`crate::with_approver`]
    /// (the [`super::serve`] loop does this for you).
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let (conn, _rx) = sidefx::acp::rpc::connect(tokio::io::empty(), tokio::io::sink());
    /// let session = sidefx::acp::Session::new("s-1", "/work", conn);
    /// let turn = session.begin_turn().unwrap();
    /// sidefx::with_approver(turn.approver(), async { /* act_with_approval calls ask the editor */ }).await;
    /// # });
    /// ```
    pub fn approver(&self) -> Arc<dyn Approver> {
        Arc::new(AcpApprover::new(self.session.clone(), self.cancel.clone()))
    }

    /// Sends a chunk of the agent's reply text.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let (conn, _rx) = sidefx::acp::rpc::connect(tokio::io::empty(), tokio::io::sink());
    /// let session = sidefx::acp::Session::new("s-1", "/work", conn);
    /// let turn = session.begin_turn().unwrap();
    /// turn.say("writing notes.txt\n").await;
    /// # });
    /// ```
    pub async fn say(&self, text: &str) {
        self.session
            .update(codec::agent_message(&self.session.id, text))
            .await;
    }

    /// Runs one tool call the way an editor expects to see it: the call is announced
    /// (`session/update` `tool_call`, by the approver when it must ask, with the full
    /// description), and afterwards reported `completed` or `failed` (with the error text) in a
    /// `tool_call_update`. Calls that need no approval are announced when they finish.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let (conn, _rx) = sidefx::acp::rpc::connect(tokio::io::empty(), tokio::io::sink());
    /// let session = sidefx::acp::Session::new("s-1", "/work", conn);
    /// let turn = session.begin_turn().unwrap();
    /// // No approval needed here (no policy: act_auto), so the call is announced when it finishes.
    /// let r: Result<u32, sidefx::Error> = turn.tool_call("compute", async { Ok(42) }).await;
    /// assert_eq!(r.unwrap(), 42);
    /// # });
    /// ```
    pub async fn tool_call<T, E, F>(&self, title: impl Into<String>, fut: F) -> Result<T, E>
    where
        E: std::fmt::Display,
        F: Future<Output = Result<T, E>>,
    {
        let slot = Arc::new(ToolCallSlot {
            id: new_tool_call_id(),
            title: title.into(),
            announced: AtomicBool::new(false),
        });
        let result = TOOL_CALL.scope(slot.clone(), fut).await;
        let (status, text) = match &result {
            Ok(_) => (ToolStatus::Completed, None),
            Err(e) => (ToolStatus::Failed, Some(e.to_string())),
        };
        if slot.announced.load(Ordering::SeqCst) {
            let update = codec::tool_call_update(&self.session.id, &slot.id, status, text.as_deref());
            self.session.update(update).await;
        } else {
            let call = ToolCall {
                tool_call_id: slot.id.clone(),
                title: slot.title.clone(),
                kind: "other",
                status,
                raw_input: Value::Null,
                locations: Vec::new(),
                diff: None,
                meta: Map::new(),
            };
            self.session.update(call.announcement(&self.session.id)).await;
            if let Some(t) = &text {
                let update = codec::tool_call_update(&self.session.id, &slot.id, status, Some(t));
                self.session.update(update).await;
            }
        }
        result
    }
}

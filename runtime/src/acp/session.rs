//! ACP sessions and prompt turns: the state the approver needs (session id, cwd, connection,
//! grants, the running turn's cancellation) and the tool-call lifecycle an editor expects
//! (announce, ask, report).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use agent_client_protocol_schema::v1 as schema;
use tokio::sync::watch;

use super::codec::{self, SESSION_UPDATE, ToolCall};
use super::grants::Grants;
use super::rpc::{Connection, RpcError};
use super::tool_call::ToolCallSlot;

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
    /// let _ = session.connection().notify("session/update", &serde_json::json!({})).await;
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
    /// session.update(&sidefx::acp::codec::agent_message("s-1", "hello")).await;
    /// # });
    /// ```
    pub async fn update(&self, note: &schema::SessionNotification) {
        if let Err(e) = self.conn.notify(SESSION_UPDATE, note).await {
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
            .update(&codec::agent_message(&self.session.id, text))
            .await;
    }

    /// Runs one tool call the way an editor expects to see it. A sidefx call inside `fut` is
    /// announced (`session/update` `tool_call`, `pending`, with its kind, `rawInput` and
    /// `locations`) before anything decides it, at every tier, and reported `in_progress` just
    /// before its body runs (by the turn's [`AcpObserver`](super::AcpObserver), and the
    /// [`AcpApprover`](super::AcpApprover) asks in between when it must); when `fut` returns the
    /// call is reported `completed` or `failed` (with the error text). A future that makes no
    /// sidefx call is announced by its title when it returns.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let (conn, _rx) = sidefx::acp::rpc::connect(tokio::io::empty(), tokio::io::sink());
    /// let session = sidefx::acp::Session::new("s-1", "/work", conn);
    /// let turn = session.begin_turn().unwrap();
    /// // No sidefx call inside: announced by its title when it finishes.
    /// let r: Result<u32, sidefx::Error> = turn.tool_call("compute", async { Ok(42) }).await;
    /// assert_eq!(r.unwrap(), 42);
    /// # });
    /// ```
    pub async fn tool_call<T, E, F>(&self, title: impl Into<String>, fut: F) -> Result<T, E>
    where
        E: std::fmt::Display,
        F: Future<Output = Result<T, E>>,
    {
        let slot = ToolCallSlot::new(title.into());
        let result = slot.scope(fut).await;
        let (status, text) = match &result {
            Ok(_) => (schema::ToolCallStatus::Completed, None),
            Err(e) => (schema::ToolCallStatus::Failed, Some(e.to_string())),
        };
        if slot.announce_once() {
            // Nothing described the call while it ran (it was not a sidefx call, or one that
            // was never announced): announce it now, by its title only.
            let call = ToolCall::titled(slot.id.clone(), slot.title.clone()).with_status(status);
            self.session.update(&call.announcement(&self.session.id)).await;
            if text.is_none() {
                return result;
            }
        }
        let update = codec::tool_call_update(&self.session.id, &slot.id, status, text.as_deref());
        self.session.update(&update).await;
        result
    }
}

//! The agent side of an ACP connection: `initialize`, `session/new`, `session/prompt`,
//! `session/cancel` and `$/cancel_request`, with each prompt turn run under the turn's
//! [`AcpApprover`](super::AcpApprover).

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::task::JoinSet;

use super::announce::AcpObserver;
use super::approver::AcpApprover;
use super::rpc::{self, Connection, Incoming, RpcError};
use super::session::{CancelFlag, Session, Turn};

/// The ACP protocol version this agent speaks.
pub const PROTOCOL_VERSION: u64 = 1;

/// How a prompt turn ended (ACP `StopReason`).
///
/// ```
/// assert_eq!(sidefx::acp::StopReason::EndTurn.as_str(), "end_turn");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The agent finished.
    EndTurn,
    /// The model's token limit was reached.
    MaxTokens,
    /// The turn's request limit was reached.
    MaxTurnRequests,
    /// The agent refused to continue.
    Refusal,
    /// The client cancelled the turn.
    Cancelled,
}

impl StopReason {
    /// The wire string.
    ///
    /// ```
    /// assert_eq!(sidefx::acp::StopReason::Cancelled.as_str(), "cancelled");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::EndTurn => "end_turn",
            StopReason::MaxTokens => "max_tokens",
            StopReason::MaxTurnRequests => "max_turn_requests",
            StopReason::Refusal => "refusal",
            StopReason::Cancelled => "cancelled",
        }
    }
}

/// Name and version announced in `initialize` (`agentInfo`).
///
/// ```
/// let info = sidefx::acp::AgentInfo::new("my-agent", "0.1.0");
/// assert_eq!(info.name, "my-agent");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentInfo {
    /// Agent name.
    pub name: String,
    /// Agent version.
    pub version: String,
}

impl AgentInfo {
    /// An agent's name and version.
    ///
    /// ```
    /// assert_eq!(sidefx::acp::AgentInfo::new("a", "1.2.3").version, "1.2.3");
    /// ```
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        AgentInfo {
            name: name.into(),
            version: version.into(),
        }
    }
}

/// What the agent does with a prompt. Calls it makes to `#[side_effect]` builtins are
/// enforced under the scope [`serve`] was called in (policy, event log), with the turn's
/// approver installed, so act_with_approval calls ask the editor.
///
/// ```
/// use sidefx::acp::{PromptHandler, StopReason, Turn, rpc::RpcError};
/// struct Echo;
/// #[sidefx::async_trait]
/// impl PromptHandler for Echo {
///     async fn prompt(&self, turn: &Turn, prompt: &[serde_json::Value]) -> Result<StopReason, RpcError> {
///         turn.say(&sidefx::acp::prompt_text(prompt)).await;
///         Ok(StopReason::EndTurn)
///     }
/// }
/// ```
#[async_trait::async_trait]
pub trait PromptHandler: Send + Sync + 'static {
    /// Runs one turn; `prompt` is the request's `ContentBlock` array. If the client cancels the
    /// turn, the answer is `cancelled` whatever this returns.
    async fn prompt(&self, turn: &Turn, prompt: &[Value]) -> Result<StopReason, RpcError>;
}

/// The text of a prompt: its `text` content blocks joined with newlines (other blocks skipped).
///
/// ```
/// let blocks = [serde_json::json!({"type": "text", "text": "a"}), serde_json::json!({"type": "image"})];
/// assert_eq!(sidefx::acp::prompt_text(&blocks), "a");
/// ```
pub fn prompt_text(prompt: &[Value]) -> String {
    prompt
        .iter()
        .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
        .filter_map(|b| b.get("text").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join("\n")
}

type Running = Arc<Mutex<HashMap<String, Arc<CancelFlag>>>>;

struct Server<H> {
    conn: Connection,
    info: AgentInfo,
    handler: Arc<H>,
    sessions: HashMap<String, Arc<Session>>,
    running: Running,
    tasks: JoinSet<()>,
}

/// Serves ACP on a byte stream until it ends (stdin EOF), then cancels running turns, waits for
/// them and returns. Run it inside the scope the agent's calls should be enforced in:
///
/// ```no_run
/// # async fn demo(handler: std::sync::Arc<impl sidefx::acp::PromptHandler>) -> std::io::Result<()> {
/// let log = std::sync::Arc::new(sidefx::log::MemoryEventLog::new());
/// let policy = sidefx::AutonomyPolicy::at_tier(sidefx::Tier::ActWithApproval);
/// let info = sidefx::acp::AgentInfo::new("my-agent", "0.1.0");
/// let serving = sidefx::acp::serve(tokio::io::stdin(), tokio::io::stdout(), info, handler);
/// sidefx::with_event_log(log, sidefx::with_policy(policy, serving)).await
/// # }
/// ```
pub async fn serve<R, W, H>(reader: R, writer: W, info: AgentInfo, handler: Arc<H>) -> io::Result<()>
where
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
    H: PromptHandler,
{
    let (conn, mut incoming) = rpc::connect(reader, writer);
    let mut server = Server {
        conn,
        info,
        handler,
        sessions: HashMap::new(),
        running: Arc::default(),
        tasks: JoinSet::new(),
    };
    while let Some(msg) = incoming.recv().await {
        while server.tasks.try_join_next().is_some() {}
        match msg {
            Incoming::Request { id, method, params } => {
                let reply = server.request(&id, &method, params);
                if let Some(reply) = reply {
                    let sent = match reply {
                        Ok(result) => server.conn.respond(&id, result).await,
                        Err(e) => server.conn.respond_error(&id, &e).await,
                    };
                    if let Err(e) = sent {
                        tracing::warn!(target: "sidefx::acp", error = %e, "writing a response failed");
                    }
                }
            }
            Incoming::Notification { method, params } => server.notification(&method, &params),
        }
    }
    for s in server.sessions.values() {
        s.cancel_turn();
    }
    while server.tasks.join_next().await.is_some() {}
    Ok(())
}

fn params_object<'a>(
    params: &'a Value,
    method: &str,
) -> Result<&'a serde_json::Map<String, Value>, RpcError> {
    params
        .as_object()
        .ok_or_else(|| RpcError::invalid_params(format!("`{method}` takes an object of params")))
}

impl<H: PromptHandler> Server<H> {
    /// Answers a request; `None` when the answer comes later (a prompt turn).
    fn request(&mut self, id: &Value, method: &str, params: Value) -> Option<Result<Value, RpcError>> {
        Some(match method {
            "initialize" => self.initialize(&params),
            "session/new" => self.new_session(&params),
            "session/prompt" => match self.prompt(id, &params) {
                Ok(()) => return None,
                Err(e) => Err(e),
            },
            _ => Err(RpcError::method_not_found(method)),
        })
    }

    fn initialize(&self, params: &Value) -> Result<Value, RpcError> {
        let p = params_object(params, "initialize")?;
        if !p.get("protocolVersion").is_some_and(|v| v.is_u64()) {
            return Err(RpcError::invalid_params(
                "`protocolVersion` must be a non-negative integer",
            ));
        }
        // Any requested version is answered with the one this agent speaks.
        Ok(json!({
            "protocolVersion": PROTOCOL_VERSION,
            "agentCapabilities": {
                "loadSession": false,
                "promptCapabilities": {"image": false, "audio": false, "embeddedContext": false},
                "mcpCapabilities": {"http": false, "sse": false},
            },
            "authMethods": [],
            "agentInfo": {"name": self.info.name, "version": self.info.version},
        }))
    }

    fn new_session(&mut self, params: &Value) -> Result<Value, RpcError> {
        let p = params_object(params, "session/new")?;
        let cwd = p
            .get("cwd")
            .and_then(Value::as_str)
            .filter(|c| std::path::Path::new(c).is_absolute())
            .ok_or_else(|| RpcError::invalid_params("`cwd` must be an absolute path"))?;
        let id = uuid::Uuid::now_v7().to_string();
        let session = Session::new(id.clone(), cwd, self.conn.clone());
        self.sessions.insert(id.clone(), session);
        tracing::info!(target: "sidefx::acp", session = %id, cwd, "session started");
        Ok(json!({"sessionId": id}))
    }

    fn prompt(&mut self, id: &Value, params: &Value) -> Result<(), RpcError> {
        let p = params_object(params, "session/prompt")?;
        let sid = p
            .get("sessionId")
            .and_then(Value::as_str)
            .ok_or_else(|| RpcError::invalid_params("`sessionId` must be a string"))?;
        let session = self
            .sessions
            .get(sid)
            .ok_or_else(|| RpcError::invalid_params(format!("unknown session `{sid}`")))?;
        let blocks = p
            .get("prompt")
            .and_then(Value::as_array)
            .cloned()
            .ok_or_else(|| RpcError::invalid_params("`prompt` must be an array of content blocks"))?;
        let turn = session.begin_turn()?;
        let key = id.to_string();
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.clone(), turn.cancel_flag());
        let (conn, handler, running, id) = (
            self.conn.clone(),
            self.handler.clone(),
            self.running.clone(),
            id.clone(),
        );
        let run = async move {
            let (approver, observer) = (AcpApprover::for_turn(&turn), AcpObserver::for_turn(&turn));
            let prompt = crate::with_approver(approver, handler.prompt(&turn, &blocks));
            let result = crate::with_observer(observer, prompt).await;
            let result = if turn.is_cancelled() {
                Ok(StopReason::Cancelled)
            } else {
                result
            };
            // End the turn before answering, so the client may prompt again at once.
            drop(turn);
            running.lock().unwrap_or_else(|p| p.into_inner()).remove(&key);
            let sent = match result {
                Ok(stop) => conn.respond(&id, json!({"stopReason": stop.as_str()})).await,
                Err(e) => conn.respond_error(&id, &e).await,
            };
            if let Err(e) = sent {
                tracing::warn!(target: "sidefx::acp", error = %e, "writing a prompt response failed");
            }
        };
        self.tasks.spawn(crate::Scope::capture().run(run));
        Ok(())
    }

    fn notification(&self, method: &str, params: &Value) {
        match method {
            "session/cancel" => {
                if let Some(s) = params
                    .get("sessionId")
                    .and_then(Value::as_str)
                    .and_then(|sid| self.sessions.get(sid))
                {
                    s.cancel_turn();
                }
            }
            "$/cancel_request" => {
                if let Some(id) = params.get("requestId")
                    && let Some(flag) = self
                        .running
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get(&id.to_string())
                {
                    flag.cancel();
                }
            }
            // Unknown notifications are ignored, as JSON-RPC requires.
            _ => {}
        }
    }
}

/// [`serve`] on the process's stdin and stdout: the framing editors use when they launch an
/// agent. Returns at stdin EOF. Nothing else may write to stdout; log to stderr.
///
/// ```no_run
/// # async fn demo(handler: std::sync::Arc<impl sidefx::acp::PromptHandler>) -> std::io::Result<()> {
/// sidefx::acp::serve_stdio(sidefx::acp::AgentInfo::new("my-agent", "0.1.0"), handler).await
/// # }
/// ```
pub async fn serve_stdio<H: PromptHandler>(info: AgentInfo, handler: Arc<H>) -> io::Result<()> {
    serve(tokio::io::stdin(), tokio::io::stdout(), info, handler).await
}

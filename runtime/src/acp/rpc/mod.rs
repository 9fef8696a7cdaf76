//! JSON-RPC 2.0 over a byte stream, one message per `\n`-terminated line (ACP's stdio framing).
//!
//! [`connect`] spawns a read loop that keeps serving for as long as the stream is open:
//! responses go straight to the request waiting for them (so a permission request can be
//! answered while the agent is busy elsewhere), requests and notifications go to the returned
//! channel, unparsable lines are answered `-32700`, malformed messages `-32600`. When the
//! stream ends every outstanding request fails, so a waiting caller refuses instead of hanging.
//!
//! ```
//! use serde_json::json;
//! use sidefx::acp::rpc::{self, Incoming};
//! use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let (agent_in, mut client_out) = tokio::io::duplex(4096);
//! let (client_in, agent_out) = tokio::io::duplex(4096);
//! let (conn, mut incoming) = rpc::connect(agent_in, agent_out);
//!
//! client_out.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":\"a-1\",\"method\":\"ping\"}\n").await.unwrap();
//! let Some(Incoming::Request { id, method, .. }) = incoming.recv().await else { panic!() };
//! assert_eq!(method, "ping");
//! conn.respond(&id, json!({})).await.unwrap();
//!
//! let mut lines = BufReader::new(client_in).lines();
//! let line = lines.next_line().await.unwrap().unwrap();
//! let reply: serde_json::Value = serde_json::from_str(&line).unwrap();
//! assert_eq!(reply["id"], "a-1");
//! # });
//! ```
//!
//! The agent side serves ACP through this connection rather than the official SDK's
//! (`agent-client-protocol`): the SDK drops a malformed response-shaped message (for example
//! `{"jsonrpc": "1.0", "id": 3, "result": ..}`, or `{"jsonrpc": "2.0", "id": 3}` with neither
//! `result` nor `error`) without failing the request it answers, so an outstanding
//! `session/request_permission` would stay pending until its approval deadline instead of
//! refusing at once (see `hostile_answers_refuse_at_the_connection_level` in
//! `tests/tests/acp.rs`). Fail closed means refusing now, not after a day. The messages are the
//! official schema types ([`super::codec`]), and the end-to-end tests drive the agent with the
//! SDK as the client.

mod error;
mod wire;

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::io::{AsyncBufRead, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot};

pub use error::RpcError;
pub use wire::Incoming;
use wire::{Classified, Line, Outgoing, classify, read_line_bounded};

/// Longest line the reader accepts (16 MiB); a longer one is answered `-32700` and skipped.
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

type Reply = Result<Value, RpcError>;

struct Inner {
    writer: tokio::sync::Mutex<Box<dyn AsyncWrite + Send + Unpin>>,
    /// `None` once the read side closed: no response can arrive any more.
    pending: Mutex<Option<HashMap<String, oneshot::Sender<Reply>>>>,
    next_id: AtomicU64,
}

/// The sending half of a connection; cheap to clone, shared by every task that talks to the
/// peer. Each message is written and flushed as one line under a lock, so lines never interleave.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let (a, _b) = tokio::io::duplex(64);
/// let (conn, _incoming) = sidefx::acp::rpc::connect(tokio::io::empty(), a);
/// conn.notify("session/update", &serde_json::json!({})).await.unwrap();
/// # });
/// ```
#[derive(Clone)]
pub struct Connection {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("closed", &self.is_closed())
            .finish()
    }
}

fn id_key(id: &Value) -> String {
    id.to_string()
}

/// Starts serving a connection: spawns the read loop (on the current tokio runtime) and returns
/// the sending half plus the channel of incoming requests and notifications, which closes when
/// the read side reaches end of stream.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let (conn, mut incoming) = sidefx::acp::rpc::connect(tokio::io::empty(), tokio::io::sink());
/// assert!(incoming.recv().await.is_none()); // end of stream
/// let err = conn.request("x", &serde_json::json!({})).await.unwrap_err();
/// assert_eq!(err, sidefx::acp::rpc::RpcError::closed());
/// # });
/// ```
pub fn connect<R, W>(reader: R, writer: W) -> (Connection, mpsc::UnboundedReceiver<Incoming>)
where
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
{
    let conn = Connection {
        inner: Arc::new(Inner {
            writer: tokio::sync::Mutex::new(Box::new(writer)),
            pending: Mutex::new(Some(HashMap::new())),
            next_id: AtomicU64::new(0),
        }),
    };
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(read_loop(BufReader::new(reader), conn.clone(), tx));
    (conn, rx)
}

async fn read_loop<R: AsyncBufRead + Unpin>(
    mut reader: R,
    conn: Connection,
    tx: mpsc::UnboundedSender<Incoming>,
) {
    let mut line = Vec::new();
    loop {
        line.clear();
        match read_line_bounded(&mut reader, &mut line, MAX_LINE_BYTES).await {
            Ok(Line::Eof) => break,
            Ok(Line::TooLong) => {
                let e = RpcError::new(RpcError::PARSE_ERROR, "message longer than the line limit");
                let _ = conn.respond_error(&Value::Null, &e).await;
            }
            Ok(Line::Complete) => conn.handle_line(&line, &tx).await,
            Err(e) => {
                tracing::warn!(target: "sidefx::acp", error = %e, "reading the connection failed");
                break;
            }
        }
    }
    conn.close_read_side();
}

impl Connection {
    async fn handle_line(&self, line: &[u8], tx: &mpsc::UnboundedSender<Incoming>) {
        let text = line.trim_ascii();
        if text.is_empty() {
            return;
        }
        let msg: Value = match serde_json::from_slice(text) {
            Ok(v) => v,
            Err(e) => {
                let err = RpcError::new(RpcError::PARSE_ERROR, format!("parse error: {e}"));
                let _ = self.respond_error(&Value::Null, &err).await;
                return;
            }
        };
        match classify(msg) {
            Classified::Incoming(m) => {
                let _ = tx.send(m);
            }
            Classified::Response { id, reply } => self.deliver(&id, reply),
            Classified::Invalid { id, why } => {
                let err = RpcError::new(RpcError::INVALID_REQUEST, why);
                let _ = self.respond_error(&id, &err).await;
            }
            Classified::Ignored(why) => {
                tracing::debug!(target: "sidefx::acp", why, "ignored a message");
            }
        }
    }

    fn deliver(&self, id: &Value, reply: Reply) {
        let waiter = self
            .inner
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
            .and_then(|m| m.remove(&id_key(id)));
        match waiter {
            Some(w) => {
                let _ = w.send(reply);
            }
            None => tracing::debug!(target: "sidefx::acp", %id, "response to no outstanding request"),
        }
    }

    fn close_read_side(&self) {
        // Dropping the senders fails every outstanding request with `closed`.
        self.inner
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
    }

    /// Whether the read side has closed (no response can arrive any more).
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let (conn, mut rx) = sidefx::acp::rpc::connect(tokio::io::empty(), tokio::io::sink());
    /// rx.recv().await;
    /// assert!(conn.is_closed());
    /// # });
    /// ```
    pub fn is_closed(&self) -> bool {
        self.inner
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_none()
    }

    async fn write(&self, msg: &impl serde::Serialize) -> io::Result<()> {
        let mut line = serde_json::to_vec(msg).map_err(io::Error::other)?;
        line.push(b'\n');
        let mut w = self.inner.writer.lock().await;
        w.write_all(&line).await?;
        w.flush().await
    }

    /// Sends a notification.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let (conn, _rx) = sidefx::acp::rpc::connect(tokio::io::empty(), tokio::io::sink());
    /// conn.notify("session/update", &serde_json::json!({"sessionId": "s"})).await.unwrap();
    /// # });
    /// ```
    pub async fn notify(&self, method: &str, params: &impl serde::Serialize) -> io::Result<()> {
        self.write(&Outgoing {
            jsonrpc: "2.0",
            id: None,
            method,
            params,
        })
        .await
    }

    /// Answers request `id` with a result.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let (conn, _rx) = sidefx::acp::rpc::connect(tokio::io::empty(), tokio::io::sink());
    /// conn.respond(&serde_json::json!(1), serde_json::json!({})).await.unwrap();
    /// # });
    /// ```
    pub async fn respond(&self, id: &Value, result: Value) -> io::Result<()> {
        self.write(&json!({"jsonrpc": "2.0", "id": id, "result": result}))
            .await
    }

    /// Answers request `id` (or `null` when it could not be read) with an error.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use sidefx::acp::rpc::RpcError;
    /// let (conn, _rx) = sidefx::acp::rpc::connect(tokio::io::empty(), tokio::io::sink());
    /// conn.respond_error(&serde_json::json!("x"), &RpcError::method_not_found("m")).await.unwrap();
    /// # });
    /// ```
    pub async fn respond_error(&self, id: &Value, error: &RpcError) -> io::Result<()> {
        self.write(&json!({"jsonrpc": "2.0", "id": id, "error": error.to_json()}))
            .await
    }

    /// Sends a request; await [`PendingRequest::response`] for its answer. Fails at once with
    /// [`RpcError::closed`] when the connection is closed or the write fails.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let (conn, mut rx) = sidefx::acp::rpc::connect(tokio::io::empty(), tokio::io::sink());
    /// rx.recv().await;
    /// let mut pending = conn.start_request("m", &serde_json::json!({})).await;
    /// assert!(pending.response().await.is_err());
    /// # });
    /// ```
    pub async fn start_request(&self, method: &str, params: &impl serde::Serialize) -> PendingRequest {
        let id = json!(self.inner.next_id.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = oneshot::channel();
        let registered = match self
            .inner
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
        {
            Some(map) => {
                map.insert(id_key(&id), tx);
                true
            }
            None => false,
        };
        let mut pending = PendingRequest {
            id: id.clone(),
            rx: Some(rx),
            conn: self.clone(),
        };
        if !registered {
            pending.rx = None;
            return pending;
        }
        let msg = Outgoing {
            jsonrpc: "2.0",
            id: Some(&id),
            method,
            params,
        };
        if let Err(e) = self.write(&msg).await {
            tracing::warn!(target: "sidefx::acp", error = %e, method, "sending a request failed");
            pending.forget();
        }
        pending
    }

    /// Sends a request and waits for its response.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let (conn, mut rx) = sidefx::acp::rpc::connect(tokio::io::empty(), tokio::io::sink());
    /// rx.recv().await;
    /// assert!(conn.request("m", &serde_json::json!({})).await.is_err());
    /// # });
    /// ```
    pub async fn request(&self, method: &str, params: &impl serde::Serialize) -> Reply {
        self.start_request(method, params).await.response().await
    }
}

/// A request that was sent and may still be answered. Dropping it forgets the request (a late
/// response is then ignored).
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let (conn, _rx) = sidefx::acp::rpc::connect(tokio::io::empty(), tokio::io::sink());
/// let pending = conn.start_request("m", &serde_json::json!({})).await;
/// assert!(pending.id().is_u64());
/// # });
/// ```
#[derive(Debug)]
pub struct PendingRequest {
    id: Value,
    rx: Option<oneshot::Receiver<Reply>>,
    conn: Connection,
}

impl PendingRequest {
    /// The request's id on the wire.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let (conn, _rx) = sidefx::acp::rpc::connect(tokio::io::empty(), tokio::io::sink());
    /// let first = conn.start_request("m", &serde_json::json!({})).await;
    /// let second = conn.start_request("m", &serde_json::json!({})).await;
    /// assert_ne!(first.id(), second.id());
    /// # });
    /// ```
    pub fn id(&self) -> &Value {
        &self.id
    }

    /// Waits for the response; [`RpcError::closed`] if the connection closes first. Cancel-safe:
    /// it can sit in a `select!` and be awaited again.
    ///
    /// ```
    /// use serde_json::json;
    /// use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let (agent_in, mut client_out) = tokio::io::duplex(4096);
    /// let (client_in, agent_out) = tokio::io::duplex(4096);
    /// let (conn, _incoming) = sidefx::acp::rpc::connect(agent_in, agent_out);
    /// let mut pending = conn.start_request("ping", &json!({})).await;
    /// let sent = BufReader::new(client_in).lines().next_line().await.unwrap().unwrap();
    /// let id = serde_json::from_str::<serde_json::Value>(&sent).unwrap()["id"].clone();
    /// let reply = json!({"jsonrpc": "2.0", "id": id, "result": {"pong": true}});
    /// client_out.write_all(format!("{reply}\n").as_bytes()).await.unwrap();
    /// assert_eq!(pending.response().await.unwrap()["pong"], true);
    /// # });
    /// ```
    pub async fn response(&mut self) -> Reply {
        let Some(rx) = self.rx.as_mut() else {
            return Err(RpcError::closed());
        };
        let reply = rx.await.unwrap_or_else(|_| Err(RpcError::closed()));
        self.rx = None;
        reply
    }

    fn forget(&mut self) {
        self.rx = None;
        if let Some(map) = self
            .conn
            .inner
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
        {
            map.remove(&id_key(&self.id));
        }
    }

    /// Gives up on the request: forgets it and tells the peer with `$/cancel_request`.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let (conn, _rx) = sidefx::acp::rpc::connect(tokio::io::empty(), tokio::io::sink());
    /// let pending = conn.start_request("m", &serde_json::json!({})).await;
    /// pending.cancel().await;
    /// # });
    /// ```
    pub async fn cancel(mut self) {
        self.forget();
        let params = json!({"requestId": self.id});
        let _ = self.conn.notify("$/cancel_request", &params).await;
    }
}

impl Drop for PendingRequest {
    fn drop(&mut self) {
        if self.rx.is_some() {
            self.forget();
        }
    }
}

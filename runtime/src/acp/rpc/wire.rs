//! The wire side of the connection: reading bounded lines, telling requests, notifications
//! and responses apart (and what is malformed), and the shape of what is written.

use serde_json::Value;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use super::{Reply, RpcError};

/// A request or notification from the peer.
///
/// ```
/// let n = sidefx::acp::rpc::Incoming::Notification { method: "session/cancel".into(), params: serde_json::json!({}) };
/// assert_eq!(n.method(), "session/cancel");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// Expects a response with the same `id` (a string or a number, echoed exactly).
    Request {
        /// The id.
        id: Value,
        /// The method.
        method: String,
        /// The params (`null` when absent).
        params: Value,
    },
    /// Never answered.
    Notification {
        /// The method.
        method: String,
        /// The params (`null` when absent).
        params: Value,
    },
}

impl Incoming {
    /// The method name.
    ///
    /// ```
    /// let r = sidefx::acp::rpc::Incoming::Request { id: 1.into(), method: "initialize".into(), params: serde_json::Value::Null };
    /// assert_eq!(r.method(), "initialize");
    /// ```
    pub fn method(&self) -> &str {
        match self {
            Incoming::Request { method, .. } | Incoming::Notification { method, .. } => method,
        }
    }
}

/// A request or notification as written: serialised straight from borrowed params.
#[derive(serde::Serialize)]
pub(super) struct Outgoing<'a, P> {
    pub(super) jsonrpc: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) id: Option<&'a Value>,
    pub(super) method: &'a str,
    pub(super) params: &'a P,
}

pub(super) enum Line {
    Complete,
    TooLong,
    Eof,
}

/// Reads one `\n`-terminated line into `line` without ever holding more than `max` bytes.
pub(super) async fn read_line_bounded<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    line: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Line> {
    let mut overflow = false;
    let mut any = false;
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(match (any, overflow) {
                (false, _) => Line::Eof,
                (true, true) => Line::TooLong,
                (true, false) => Line::Complete,
            });
        }
        any = true;
        let (chunk, done) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (&buf[..i], i + 1),
            None => (buf, buf.len()),
        };
        if !overflow && line.len() + chunk.len() <= max {
            line.extend_from_slice(chunk);
        } else {
            overflow = true;
            line.clear();
        }
        let ended = done > chunk.len();
        reader.consume(done);
        if ended {
            return Ok(if overflow { Line::TooLong } else { Line::Complete });
        }
    }
}

pub(super) enum Classified {
    Incoming(Incoming),
    Response { id: Value, reply: Reply },
    Invalid { id: Value, why: String },
    Ignored(&'static str),
}

pub(super) fn classify(msg: Value) -> Classified {
    let Value::Object(mut obj) = msg else {
        return Classified::Invalid {
            id: Value::Null,
            why: "a message must be a JSON object (batches are not supported)".into(),
        };
    };
    let id = obj.remove("id");
    let valid_id = matches!(&id, Some(Value::String(_)) | Some(Value::Number(_)));
    let echo = if valid_id {
        id.clone().unwrap_or_default()
    } else {
        Value::Null
    };
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return match id {
            Some(_) if obj.contains_key("method") => Classified::Invalid {
                id: echo,
                why: "`jsonrpc` must be \"2.0\"".into(),
            },
            // A response to one of our requests, but not JSON-RPC 2.0: the request fails
            // (closed) now rather than waiting for a deadline.
            Some(id) if valid_id => Classified::Response {
                id,
                reply: Err(RpcError::internal("the response is not JSON-RPC 2.0")),
            },
            _ => Classified::Ignored("not JSON-RPC 2.0"),
        };
    }
    match obj.remove("method") {
        Some(Value::String(method)) => {
            let params = obj.remove("params").unwrap_or(Value::Null);
            if !matches!(params, Value::Object(_) | Value::Array(_) | Value::Null) {
                return match id {
                    Some(_) => Classified::Invalid {
                        id: echo,
                        why: "`params` must be an object or an array".into(),
                    },
                    None => Classified::Ignored("notification with malformed params"),
                };
            }
            match id {
                None => Classified::Incoming(Incoming::Notification { method, params }),
                Some(_) if valid_id => Classified::Incoming(Incoming::Request {
                    id: echo,
                    method,
                    params,
                }),
                Some(_) => Classified::Invalid {
                    id: Value::Null,
                    why: "a request id must be a string or a number".into(),
                },
            }
        }
        Some(_) => Classified::Invalid {
            id: echo,
            why: "`method` must be a string".into(),
        },
        None => {
            let Some(id) = id.filter(|_| valid_id) else {
                return Classified::Ignored("response without a usable id");
            };
            let reply = match (obj.remove("result"), obj.remove("error")) {
                (Some(result), None) => Ok(result),
                (None, Some(error)) => Err(RpcError::from_json(&error)
                    .unwrap_or_else(|| RpcError::internal("the peer sent a malformed error object"))),
                _ => Err(RpcError::internal(
                    "the response must carry exactly one of `result` and `error`",
                )),
            };
            Classified::Response { id, reply }
        }
    }
}

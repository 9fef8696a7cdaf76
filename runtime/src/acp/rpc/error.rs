//! The JSON-RPC error object, on both sides of the connection.

use serde_json::{Value, json};

/// A JSON-RPC error object.
///
/// ```
/// use sidefx::acp::rpc::RpcError;
/// let e = RpcError::method_not_found("session/fork");
/// assert_eq!(e.code, RpcError::METHOD_NOT_FOUND);
/// assert_eq!(RpcError::from_json(&e.to_json()), Some(e));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    /// The error code.
    pub code: i64,
    /// A short description.
    pub message: String,
    /// Extra data.
    pub data: Option<Value>,
}

impl RpcError {
    /// Invalid JSON.
    pub const PARSE_ERROR: i64 = -32700;
    /// Not a valid request object.
    pub const INVALID_REQUEST: i64 = -32600;
    /// No such method.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Invalid method parameters.
    pub const INVALID_PARAMS: i64 = -32602;
    /// Internal error.
    pub const INTERNAL_ERROR: i64 = -32603;
    /// The request was cancelled (ACP).
    pub const REQUEST_CANCELLED: i64 = -32800;

    /// An error with `code` and `message`.
    ///
    /// ```
    /// assert_eq!(sidefx::acp::rpc::RpcError::new(-1, "x").message, "x");
    /// ```
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        RpcError {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// `-32601` for `method`.
    ///
    /// ```
    /// assert!(sidefx::acp::rpc::RpcError::method_not_found("m").message.contains("`m`"));
    /// ```
    pub fn method_not_found(method: &str) -> Self {
        let shown: String = method.chars().take(128).collect();
        RpcError::new(Self::METHOD_NOT_FOUND, format!("method `{shown}` not found"))
    }

    /// `-32602` with a message.
    ///
    /// ```
    /// assert_eq!(sidefx::acp::rpc::RpcError::invalid_params("no cwd").code, -32602);
    /// ```
    pub fn invalid_params(message: impl Into<String>) -> Self {
        RpcError::new(Self::INVALID_PARAMS, message)
    }

    /// `-32603` with a message.
    ///
    /// ```
    /// assert_eq!(sidefx::acp::rpc::RpcError::internal("boom").code, -32603);
    /// ```
    pub fn internal(message: impl Into<String>) -> Self {
        RpcError::new(Self::INTERNAL_ERROR, message)
    }

    /// What an outstanding request gets when the connection closes before its response.
    ///
    /// ```
    /// assert!(sidefx::acp::rpc::RpcError::closed().message.contains("closed"));
    /// ```
    pub fn closed() -> Self {
        RpcError::internal("the connection closed before a response arrived")
    }

    /// The wire form `{code, message, data?}`.
    ///
    /// ```
    /// assert_eq!(sidefx::acp::rpc::RpcError::new(-32800, "c").to_json()["code"], -32800);
    /// ```
    pub fn to_json(&self) -> Value {
        let mut v = json!({"code": self.code, "message": self.message});
        if let Some(d) = &self.data {
            v["data"] = d.clone();
        }
        v
    }

    /// Parses a wire error object; `None` unless `code` is an integer and `message` a string.
    ///
    /// ```
    /// use serde_json::json;
    /// assert!(sidefx::acp::rpc::RpcError::from_json(&json!({"code": "x", "message": "m"})).is_none());
    /// ```
    pub fn from_json(v: &Value) -> Option<RpcError> {
        Some(RpcError {
            code: v.get("code")?.as_i64()?,
            message: v.get("message")?.as_str()?.to_owned(),
            data: v.get("data").cloned(),
        })
    }
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JSON-RPC error {}: {}", self.code, self.message)
    }
}

impl std::error::Error for RpcError {}

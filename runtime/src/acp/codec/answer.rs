//! What the client answers, parsed fail-closed (ACP.md "Fail closed"): only
//! `{"outcome": {"outcome": "selected", "optionId": <an offered id>}}` with an allow kind grants;
//! `{"outcome": {"outcome": "cancelled"}}` means the turn was cancelled; anything else (a flat
//! outcome, an option never offered, a malformed value, a JSON-RPC error) refuses.
//!
//! The schema's `RequestPermissionResponse` is deliberately not the parser: its deserializer is
//! lenient (fields default on error), and a lenient reading of a permission answer could grant.
//!
//! ```
//! use serde_json::json;
//! use sidefx::acp::codec::{parse_result, standard_options, PermissionAnswer};
//! let offered = standard_options("write_file");
//! let pick = |id: &str| json!({"outcome": {"outcome": "selected", "optionId": id}});
//! assert!(parse_result(&pick("allow_once"), &offered).is_granted());
//! assert!(!parse_result(&pick("reject_once"), &offered).is_granted());
//! assert!(matches!(parse_result(&pick("yes"), &offered), PermissionAnswer::Invalid { .. }));
//! ```

use agent_client_protocol_schema::v1 as schema;
use serde_json::Value;

use super::{MAX_OPTION_ID_LEN, OptionKind, truncate};
use crate::acp::rpc::RpcError;

/// The client's answer to a permission request, parsed fail-closed.
///
/// ```
/// use sidefx::acp::codec::{OptionKind, PermissionAnswer};
/// let a = PermissionAnswer::Selected { option_id: "allow_always".into(), kind: OptionKind::AllowAlways };
/// assert!(a.is_granted());
/// assert!(!PermissionAnswer::Cancelled.is_granted());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PermissionAnswer {
    /// The user chose an option the agent offered.
    Selected {
        /// The chosen option's id.
        option_id: String,
        /// Its kind, as the agent offered it.
        kind: OptionKind,
    },
    /// The prompt turn was cancelled before the user answered.
    Cancelled,
    /// Not a usable answer (malformed, not offered, a JSON-RPC error, ...): refuses.
    Invalid {
        /// Why.
        reason: String,
    },
}

impl PermissionAnswer {
    /// Only a selected allow option grants.
    ///
    /// ```
    /// let a = sidefx::acp::codec::PermissionAnswer::Invalid { reason: "x".into() };
    /// assert!(!a.is_granted());
    /// ```
    pub fn is_granted(&self) -> bool {
        matches!(self, PermissionAnswer::Selected { kind, .. } if kind.is_allow())
    }

    /// The chosen option's kind, if one was chosen.
    ///
    /// ```
    /// assert_eq!(sidefx::acp::codec::PermissionAnswer::Cancelled.option_kind(), None);
    /// ```
    pub fn option_kind(&self) -> Option<OptionKind> {
        match self {
            PermissionAnswer::Selected { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    fn invalid(reason: impl Into<String>) -> Self {
        PermissionAnswer::Invalid {
            reason: reason.into(),
        }
    }
}

/// The one offered option named `id`, with a kind sidefx knows.
fn offered_kind(id: &str, offered: &[schema::PermissionOption]) -> Result<OptionKind, String> {
    let mut found = offered.iter().filter(|o| &*o.option_id.0 == id);
    match (found.next(), found.next()) {
        (Some(o), None) => OptionKind::from_wire(o.kind)
            .ok_or_else(|| format!("option `{}` has a kind sidefx does not know", truncate(id, 64))),
        (Some(_), Some(_)) => Err(format!("option `{}` was offered twice", truncate(id, 64))),
        (None, _) => Err(format!("option `{}` was not offered", truncate(id, 64))),
    }
}

/// Parses the `result` of a `session/request_permission` response against the options that
/// were offered. Only `{"outcome": {"outcome": "selected", "optionId": <offered id>}}` or
/// `{"outcome": {"outcome": "cancelled"}}` are understood; anything else is
/// [`PermissionAnswer::Invalid`].
///
/// ```
/// use serde_json::json;
/// use sidefx::acp::codec::{parse_result, standard_options, PermissionAnswer};
/// let opts = standard_options("write_file");
/// assert_eq!(parse_result(&json!({"outcome": {"outcome": "cancelled"}}), &opts), PermissionAnswer::Cancelled);
/// let unknown = json!({"outcome": {"outcome": "selected", "optionId": "yes"}});
/// assert!(matches!(parse_result(&unknown, &opts), PermissionAnswer::Invalid { .. }));
/// ```
pub fn parse_result(result: &Value, offered: &[schema::PermissionOption]) -> PermissionAnswer {
    let Some(obj) = result.as_object() else {
        return PermissionAnswer::invalid("the result is not an object");
    };
    let Some(outcome) = obj.get("outcome") else {
        return PermissionAnswer::invalid("the result has no `outcome`");
    };
    let Some(outcome) = outcome.as_object() else {
        return PermissionAnswer::invalid("`outcome` is not an object (a flat outcome is not ACP v1)");
    };
    match outcome.get("outcome").and_then(Value::as_str) {
        Some("cancelled") => PermissionAnswer::Cancelled,
        Some("selected") => {
            let Some(id) = outcome.get("optionId") else {
                return PermissionAnswer::invalid("a selected outcome without `optionId`");
            };
            let Some(id) = id.as_str() else {
                return PermissionAnswer::invalid("`optionId` is not a string");
            };
            if id.len() > MAX_OPTION_ID_LEN {
                return PermissionAnswer::invalid("`optionId` is longer than any offered option");
            }
            match offered_kind(id, offered) {
                Ok(kind) => PermissionAnswer::Selected {
                    option_id: id.to_owned(),
                    kind,
                },
                Err(reason) => PermissionAnswer::invalid(reason),
            }
        }
        Some(other) => PermissionAnswer::invalid(format!("unknown outcome `{}`", truncate(other, 64))),
        None => PermissionAnswer::invalid("`outcome.outcome` is missing or not a string"),
    }
}

/// Parses a reply as the connection delivers it: a result, or a JSON-RPC error (which always
/// refuses, whatever its code).
///
/// ```
/// use sidefx::acp::{codec, rpc::RpcError};
/// let opts = codec::standard_options("b");
/// let err = RpcError::new(RpcError::REQUEST_CANCELLED, "cancelled");
/// assert!(!codec::parse_reply(&Err(err), &opts).is_granted());
/// ```
pub fn parse_reply(
    reply: &Result<Value, RpcError>,
    offered: &[schema::PermissionOption],
) -> PermissionAnswer {
    match reply {
        Ok(result) => parse_result(result, offered),
        Err(e) => PermissionAnswer::invalid(format!(
            "the client answered with JSON-RPC error {}: {}",
            e.code, e.message
        )),
    }
}

/// Parses a whole JSON-RPC response message (`{"jsonrpc": "2.0", "id": .., "result"|"error": ..}`).
/// Matching the id to the request is the connection's job.
///
/// ```
/// use serde_json::json;
/// let opts = sidefx::acp::codec::standard_options("b");
/// let msg = json!({"jsonrpc": "2.0", "id": 7, "error": {"code": -32601, "message": "no handler"}});
/// assert!(!sidefx::acp::codec::parse_response(&msg, &opts).is_granted());
/// ```
pub fn parse_response(message: &Value, offered: &[schema::PermissionOption]) -> PermissionAnswer {
    let Some(obj) = message.as_object() else {
        return PermissionAnswer::invalid("the response is not an object");
    };
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return PermissionAnswer::invalid("the response is not JSON-RPC 2.0");
    }
    match (obj.get("result"), obj.get("error")) {
        (Some(result), None) => parse_result(result, offered),
        (None, Some(error)) => match RpcError::from_json(error) {
            Some(e) => parse_reply(&Err(e), offered),
            None => PermissionAnswer::invalid("the response carries a malformed error"),
        },
        _ => PermissionAnswer::invalid("the response must carry exactly one of `result` and `error`"),
    }
}

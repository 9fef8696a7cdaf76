//! The `session/request_permission` codec, on the official `agent-client-protocol-schema`
//! types (re-exported as [`sidefx::acp::schema`](crate::acp::schema)):
//!
//! - [`request`](self::request) builds what the agent sends: the [`ToolCall`] description of a
//!   call, the standard options, the request params, and the `session/update` notifications;
//! - [`answer`](self::answer) parses the client's reply fail-closed (ACP.md): only a selected
//!   option the agent actually offered, with an allow kind, grants.
//!
//! Everything here is pure: no I/O, no clock. The connection ([`super::rpc`]) moves the bytes;
//! the approver ([`super::AcpApprover`]) decides what to do with a parsed answer.
//!
//! ```
//! use sidefx::acp::codec::{self, ToolCall};
//! use serde_json::json;
//!
//! let call = ToolCall::for_action("call-1", "write_file", "fs.write", "workspace.write_text",
//!     &json!({"path": "notes.txt", "text": "hi"}), Some(std::path::Path::new("/work")));
//! let options = codec::standard_options("write_file");
//! let params = serde_json::to_value(codec::request_permission_params("sess-1", &call, &options)).unwrap();
//! assert_eq!(params["toolCall"]["kind"], "edit");
//! assert_eq!(params["toolCall"]["locations"][0]["path"], "/work/notes.txt");
//!
//! let reply = json!({"outcome": {"outcome": "selected", "optionId": "allow_once"}});
//! assert!(codec::parse_result(&reply, &options).is_granted());
//! let flat = json!({"outcome": "selected", "optionId": "allow_once"});
//! assert!(!codec::parse_result(&flat, &options).is_granted());
//! ```

use agent_client_protocol_schema::v1 as schema;

pub mod answer;
pub mod request;

pub use answer::{PermissionAnswer, parse_reply, parse_response, parse_result};
pub use request::{
    PermissionRequest, ToolCall, agent_message, request_permission_params, standard_options, tool_call_update,
};

/// Method name of the agent-to-client permission request.
pub const REQUEST_PERMISSION: &str = "session/request_permission";
/// Method name of the agent-to-client session update notification.
pub const SESSION_UPDATE: &str = "session/update";
/// The key under `_meta` that holds sidefx's own data.
pub const META_KEY: &str = "sidefx";
/// Longest option id the parser looks at; longer ones are refused without comparing.
pub const MAX_OPTION_ID_LEN: usize = 256;

/// The four ACP permission option kinds, as sidefx acts on them (allow or not, remembered or
/// not). The wire type is the schema's [`PermissionOptionKind`](schema::PermissionOptionKind).
///
/// ```
/// use sidefx::acp::codec::OptionKind;
/// assert_eq!(OptionKind::parse("allow_always"), Some(OptionKind::AllowAlways));
/// assert!(OptionKind::AllowAlways.is_allow() && OptionKind::AllowAlways.is_always());
/// assert_eq!(OptionKind::parse("allowAlways"), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptionKind {
    /// Allow this call only.
    AllowOnce,
    /// Allow this call and every later call of the same builtin in this ACP session.
    AllowAlways,
    /// Refuse this call only.
    RejectOnce,
    /// Refuse this call and every later call of the same builtin in this ACP session.
    RejectAlways,
}

impl OptionKind {
    /// All four kinds, in the order the standard options offer them.
    pub const ALL: [OptionKind; 4] = [
        OptionKind::AllowOnce,
        OptionKind::AllowAlways,
        OptionKind::RejectOnce,
        OptionKind::RejectAlways,
    ];

    /// The wire string (`allow_once`, ...).
    ///
    /// ```
    /// assert_eq!(sidefx::acp::codec::OptionKind::RejectOnce.as_str(), "reject_once");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            OptionKind::AllowOnce => "allow_once",
            OptionKind::AllowAlways => "allow_always",
            OptionKind::RejectOnce => "reject_once",
            OptionKind::RejectAlways => "reject_always",
        }
    }

    /// Parses the exact wire string; anything else is `None`.
    ///
    /// ```
    /// assert!(sidefx::acp::codec::OptionKind::parse("Allow_Once").is_none());
    /// ```
    pub fn parse(s: &str) -> Option<OptionKind> {
        OptionKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The kind of an offered schema option; `None` for a kind this version does not know
    /// (the schema's enum is non-exhaustive), which the parser treats as not offered.
    ///
    /// ```
    /// use sidefx::acp::{codec::OptionKind, schema::PermissionOptionKind};
    /// assert_eq!(OptionKind::from_wire(PermissionOptionKind::RejectAlways), Some(OptionKind::RejectAlways));
    /// ```
    pub fn from_wire(kind: schema::PermissionOptionKind) -> Option<OptionKind> {
        use schema::PermissionOptionKind as K;
        match kind {
            K::AllowOnce => Some(OptionKind::AllowOnce),
            K::AllowAlways => Some(OptionKind::AllowAlways),
            K::RejectOnce => Some(OptionKind::RejectOnce),
            K::RejectAlways => Some(OptionKind::RejectAlways),
            _ => None,
        }
    }

    /// The schema's kind.
    ///
    /// ```
    /// use sidefx::acp::{codec::OptionKind, schema::PermissionOptionKind};
    /// assert_eq!(OptionKind::AllowOnce.to_wire(), PermissionOptionKind::AllowOnce);
    /// ```
    pub fn to_wire(self) -> schema::PermissionOptionKind {
        use schema::PermissionOptionKind as K;
        match self {
            OptionKind::AllowOnce => K::AllowOnce,
            OptionKind::AllowAlways => K::AllowAlways,
            OptionKind::RejectOnce => K::RejectOnce,
            OptionKind::RejectAlways => K::RejectAlways,
        }
    }

    /// Whether choosing this kind lets the call run.
    ///
    /// ```
    /// assert!(!sidefx::acp::codec::OptionKind::RejectAlways.is_allow());
    /// ```
    pub fn is_allow(self) -> bool {
        matches!(self, OptionKind::AllowOnce | OptionKind::AllowAlways)
    }

    /// Whether choosing this kind creates a session grant.
    ///
    /// ```
    /// assert!(!sidefx::acp::codec::OptionKind::AllowOnce.is_always());
    /// ```
    pub fn is_always(self) -> bool {
        matches!(self, OptionKind::AllowAlways | OptionKind::RejectAlways)
    }
}

impl std::fmt::Display for OptionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The ACP [`ToolKind`](schema::ToolKind) for a sidefx class (ACP.md's mapping).
///
/// ```
/// use sidefx::acp::{codec::tool_kind, schema::ToolKind};
/// assert_eq!(tool_kind("fs.write"), ToolKind::Edit);
/// assert_eq!(tool_kind("fs.delete"), ToolKind::Delete);
/// assert_eq!(tool_kind("process.exec"), ToolKind::Execute);
/// assert_eq!(tool_kind("network.sse.write"), ToolKind::Fetch);
/// assert_eq!(tool_kind("git.write"), ToolKind::Other);
/// ```
pub fn tool_kind(class: &str) -> schema::ToolKind {
    use schema::ToolKind as K;
    match class {
        "fs.write" | "fs.mkdir" | "fs.mkdtemp" | "fs.copy" | "metadata.write" => K::Edit,
        "fs.delete" => K::Delete,
        "fs.move" => K::Move,
        "process.exec" => K::Execute,
        c if c.starts_with("network.") => K::Fetch,
        _ => K::Other,
    }
}

/// Cuts `s` to `max_chars` characters, marking the cut with `…`.
pub(crate) fn truncate(s: &str, max_chars: usize) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(max_chars) {
        None => std::borrow::Cow::Borrowed(s),
        Some((at, _)) => std::borrow::Cow::Owned(format!("{}…", &s[..at])),
    }
}

//! The `session/request_permission` codec: builds request params from a call's action, its
//! arguments and its approval request, and parses the client's reply fail-closed (ACP.md).
//!
//! Everything here is pure: no I/O, no clock. The connection ([`super::rpc`]) moves the JSON;
//! the approver ([`super::AcpApprover`]) decides what to do with a parsed answer.
//!
//! ```
//! use sidefx::acp::codec::{self, PermissionAnswer, ToolCall};
//! use serde_json::json;
//!
//! let call = ToolCall::for_action("call-1", "write_file", "fs.write", "workspace.write_text",
//!     &json!({"path": "notes.txt", "text": "hi"}), Some(std::path::Path::new("/work")));
//! let options = codec::standard_options("write_file");
//! let params = codec::request_permission_params("sess-1", &call, &options);
//! assert_eq!(params["toolCall"]["kind"], "edit");
//! assert_eq!(params["toolCall"]["locations"][0]["path"], "/work/notes.txt");
//!
//! let reply = json!({"outcome": {"outcome": "selected", "optionId": "allow_once"}});
//! assert!(codec::parse_result(&reply, &options).is_granted());
//! let flat = json!({"outcome": "selected", "optionId": "allow_once"});
//! assert!(!codec::parse_result(&flat, &options).is_granted());
//! ```

use std::path::{Component, Path, PathBuf};

use serde_json::{Map, Value, json};

use super::rpc::RpcError;
use crate::approval::ApprovalRequest;

/// Method name of the agent-to-client permission request.
pub const REQUEST_PERMISSION: &str = "session/request_permission";
/// Method name of the agent-to-client session update notification.
pub const SESSION_UPDATE: &str = "session/update";
/// The key under `_meta` that holds sidefx's own data.
pub const META_KEY: &str = "sidefx";
/// Longest option id the parser looks at; longer ones are refused without comparing.
pub const MAX_OPTION_ID_LEN: usize = 256;

/// The four ACP permission option kinds.
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

/// One option offered to the user (`PermissionOption` on the wire).
///
/// ```
/// let o = sidefx::acp::codec::PermissionOption::new("allow_once", "Allow once", sidefx::acp::codec::OptionKind::AllowOnce);
/// assert_eq!(o.to_json()["optionId"], "allow_once");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionOption {
    /// The id the client answers with.
    pub option_id: String,
    /// The label the user sees.
    pub name: String,
    /// The kind.
    pub kind: OptionKind,
}

impl PermissionOption {
    /// An option.
    ///
    /// ```
    /// use sidefx::acp::codec::{OptionKind, PermissionOption};
    /// assert_eq!(PermissionOption::new("x", "X", OptionKind::RejectOnce).kind, OptionKind::RejectOnce);
    /// ```
    pub fn new(option_id: impl Into<String>, name: impl Into<String>, kind: OptionKind) -> Self {
        PermissionOption {
            option_id: option_id.into(),
            name: name.into(),
            kind,
        }
    }

    /// The wire form `{optionId, name, kind}`.
    ///
    /// ```
    /// use sidefx::acp::codec::{OptionKind, PermissionOption};
    /// let v = PermissionOption::new("r", "Reject", OptionKind::RejectOnce).to_json();
    /// assert_eq!(v["kind"], "reject_once");
    /// ```
    pub fn to_json(&self) -> Value {
        json!({"optionId": self.option_id, "name": self.name, "kind": self.kind.as_str()})
    }
}

/// The four standard options with stable ids equal to their kinds (`allow_once`,
/// `allow_always`, `reject_once`, `reject_always`).
///
/// ```
/// let opts = sidefx::acp::codec::standard_options("git.push");
/// assert_eq!(opts.len(), 4);
/// assert_eq!(opts[1].name, "Always allow git.push in this session");
/// ```
pub fn standard_options(builtin: &str) -> Vec<PermissionOption> {
    OptionKind::ALL
        .into_iter()
        .map(|kind| {
            let name = match kind {
                OptionKind::AllowOnce => "Allow once".to_owned(),
                OptionKind::AllowAlways => format!("Always allow {builtin} in this session"),
                OptionKind::RejectOnce => "Reject".to_owned(),
                OptionKind::RejectAlways => format!("Always reject {builtin} in this session"),
            };
            PermissionOption::new(kind.as_str(), name, kind)
        })
        .collect()
}

/// The ACP `ToolKind` for a sidefx class (ACP.md's mapping).
///
/// ```
/// use sidefx::acp::codec::tool_kind;
/// assert_eq!(tool_kind("fs.write"), "edit");
/// assert_eq!(tool_kind("fs.delete"), "delete");
/// assert_eq!(tool_kind("network.sse.write"), "fetch");
/// assert_eq!(tool_kind("git.write"), "other");
/// ```
pub fn tool_kind(class: &str) -> &'static str {
    match class {
        "fs.write" | "fs.mkdir" | "fs.mkdtemp" | "fs.copy" | "metadata.write" => "edit",
        "fs.delete" => "delete",
        "fs.move" => "move",
        "process.exec" => "execute",
        c if c.starts_with("network.") => "fetch",
        _ => "other",
    }
}

/// ACP `ToolCallStatus` (v1 has no `cancelled`).
///
/// ```
/// assert_eq!(sidefx::acp::codec::ToolStatus::InProgress.as_str(), "in_progress");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolStatus {
    /// Not started (streaming input or awaiting approval).
    Pending,
    /// Running.
    InProgress,
    /// Finished successfully.
    Completed,
    /// Failed, refused or cancelled.
    Failed,
}

impl ToolStatus {
    /// The wire string.
    ///
    /// ```
    /// assert_eq!(sidefx::acp::codec::ToolStatus::Failed.as_str(), "failed");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            ToolStatus::Pending => "pending",
            ToolStatus::InProgress => "in_progress",
            ToolStatus::Completed => "completed",
            ToolStatus::Failed => "failed",
        }
    }
}

/// A proposed file change, shown as an ACP `diff` content item.
///
/// ```
/// let d = sidefx::acp::codec::FileDiff { path: "/w/a.txt".into(), old_text: None, new_text: "hi".into() };
/// assert_eq!(d.new_text, "hi");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDiff {
    /// Absolute path of the file.
    pub path: PathBuf,
    /// Current content (`None` for a new file).
    pub old_text: Option<String>,
    /// Content after the call.
    pub new_text: String,
}

/// What the editor is shown about one tool call: the fields of an ACP `ToolCall` /
/// `ToolCallUpdate`, plus sidefx's data that travels under `_meta.sidefx`.
///
/// ```
/// use serde_json::json;
/// let call = sidefx::acp::codec::ToolCall::for_action("t1", "delete_file", "fs.delete", "workspace.delete",
///     &json!({"path": "old.txt"}), Some(std::path::Path::new("/w")));
/// assert_eq!(call.title, "delete_file old.txt");
/// assert_eq!(call.kind, "delete");
/// assert_eq!(call.locations, vec![std::path::PathBuf::from("/w/old.txt")]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    /// The id shared by the announcement, the permission request and the updates.
    pub tool_call_id: String,
    /// Human-readable title.
    pub title: String,
    /// ACP `ToolKind` string.
    pub kind: &'static str,
    /// Status carried by the announcement and the permission request.
    pub status: ToolStatus,
    /// The recorded arguments (skipped ones left out, redacted ones masked).
    pub raw_input: Value,
    /// Absolute paths the call touches.
    pub locations: Vec<PathBuf>,
    /// The proposed file content, when the arguments carry one.
    pub diff: Option<FileDiff>,
    /// sidefx's data, sent as `_meta.sidefx`.
    pub meta: Map<String, Value>,
}

/// Argument names that name a file or directory.
const PATH_KEYS: [&str; 10] = [
    "path",
    "file",
    "file_path",
    "filename",
    "from",
    "to",
    "src",
    "dst",
    "source",
    "destination",
];
/// Argument names that carry a file's new text.
const TEXT_KEYS: [&str; 3] = ["text", "content", "contents"];

fn absolute(path: &str, cwd: Option<&Path>) -> Option<PathBuf> {
    let p = Path::new(path);
    if path.is_empty() || path.contains('\0') {
        return None;
    }
    if p.is_absolute() {
        return Some(p.to_path_buf());
    }
    let mut out = cwd.filter(|c| c.is_absolute())?.to_path_buf();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    Some(out)
}

impl ToolCall {
    /// Describes a call of `builtin` (class, capability) with recorded `args`. Relative paths
    /// in the arguments resolve against `cwd` (ACP wants absolute paths; without a `cwd` they
    /// are left out of `locations`). A file-writing class whose arguments carry the text gets a
    /// diff.
    ///
    /// ```
    /// use serde_json::json;
    /// let c = sidefx::acp::codec::ToolCall::for_action("t", "write_file", "fs.write", "workspace.write_text",
    ///     &json!({"path": "/abs/a.txt", "text": "new"}), None);
    /// assert_eq!(c.diff.unwrap().new_text, "new");
    /// assert_eq!(c.meta["class"], "fs.write");
    /// ```
    pub fn for_action(
        tool_call_id: impl Into<String>,
        builtin: &str,
        class: &str,
        capability: &str,
        args: &Value,
        cwd: Option<&Path>,
    ) -> ToolCall {
        let kind = tool_kind(class);
        let named = |keys: &[&str]| -> Vec<&str> {
            keys.iter()
                .filter_map(|k| args.get(*k).and_then(Value::as_str))
                .collect()
        };
        let paths = named(&PATH_KEYS);
        let title = match paths.first() {
            Some(p) => format!("{builtin} {}", truncate(p, 200)),
            None => builtin.to_owned(),
        };
        let mut locations: Vec<PathBuf> = Vec::new();
        for p in paths.iter().filter_map(|p| absolute(p, cwd)) {
            if !locations.contains(&p) {
                locations.push(p);
            }
        }
        let diff = match (kind, locations.first(), named(&TEXT_KEYS).first()) {
            ("edit", Some(path), Some(text)) if class == "fs.write" => Some(FileDiff {
                path: path.clone(),
                old_text: None,
                new_text: (*text).to_owned(),
            }),
            _ => None,
        };
        let mut meta = Map::new();
        meta.insert("builtin".into(), json!(builtin));
        meta.insert("class".into(), json!(class));
        meta.insert("capability".into(), json!(capability));
        ToolCall {
            tool_call_id: tool_call_id.into(),
            title,
            kind,
            status: ToolStatus::Pending,
            raw_input: args.clone(),
            locations,
            diff,
            meta,
        }
    }

    /// Describes the call behind a filed approval request: [`for_action`](Self::for_action)
    /// plus the approval request id, agent, trace, args digest and the policy decision under
    /// `_meta.sidefx`.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let log = sidefx::log::MemoryEventLog::new();
    /// let draft = sidefx::approval::ApprovalDraft::new("a", "write_file", "fs.write")
    ///     .args(serde_json::json!({"path": "x.txt", "text": "t"}));
    /// let req = sidefx::approval::request(&log, draft).await.unwrap();
    /// let call = sidefx::acp::codec::ToolCall::for_request("t1", &req, Some(std::path::Path::new("/w")));
    /// assert_eq!(call.meta["approvalRequestId"], req.request_id.as_str());
    /// assert_eq!(call.meta["policyDecision"], "act_with_approval");
    /// # });
    /// ```
    pub fn for_request(
        tool_call_id: impl Into<String>,
        request: &ApprovalRequest,
        cwd: Option<&Path>,
    ) -> ToolCall {
        let capability = request
            .capabilities_requested
            .first()
            .map(String::as_str)
            .or_else(|| crate::catalogue::capability_of(&request.action))
            .unwrap_or("");
        let mut call = ToolCall::for_action(
            tool_call_id,
            &request.builtin,
            &request.action,
            capability,
            &request.args,
            cwd,
        );
        let decision = if request.blocking {
            "act_with_approval"
        } else {
            "suggest"
        };
        for (k, v) in [
            ("approvalRequestId", json!(request.request_id)),
            ("policyDecision", json!(decision)),
            ("agent", json!(request.agent)),
            ("traceId", json!(request.trace_id)),
            ("argsDigest", json!(request.args_digest)),
            ("deadline", json!(request.deadline)),
        ] {
            call.meta.insert(k.into(), v);
        }
        call
    }

    /// Sets the file's current text on the diff (read by the caller; the codec does no I/O).
    ///
    /// ```
    /// use serde_json::json;
    /// let c = sidefx::acp::codec::ToolCall::for_action("t", "write_file", "fs.write", "workspace.write_text",
    ///     &json!({"path": "/a", "text": "new"}), None).with_old_text(Some("old".into()));
    /// assert_eq!(c.diff.unwrap().old_text.as_deref(), Some("old"));
    /// ```
    pub fn with_old_text(mut self, old_text: Option<String>) -> ToolCall {
        if let Some(d) = &mut self.diff {
            d.old_text = old_text;
        }
        self
    }

    /// The wire fields shared by `ToolCall` and `ToolCallUpdate` (no `sessionUpdate`).
    fn fields(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("toolCallId".into(), json!(self.tool_call_id));
        m.insert("title".into(), json!(self.title));
        m.insert("kind".into(), json!(self.kind));
        m.insert("status".into(), json!(self.status.as_str()));
        if let Some(d) = &self.diff {
            let mut diff = Map::new();
            diff.insert("type".into(), json!("diff"));
            diff.insert("path".into(), json!(d.path.to_string_lossy()));
            if let Some(old) = &d.old_text {
                diff.insert("oldText".into(), json!(old));
            }
            diff.insert("newText".into(), json!(d.new_text));
            m.insert("content".into(), json!([Value::Object(diff)]));
        }
        if !self.locations.is_empty() {
            let locs: Vec<Value> = self
                .locations
                .iter()
                .map(|p| json!({"path": p.to_string_lossy()}))
                .collect();
            m.insert("locations".into(), Value::Array(locs));
        }
        if !self.raw_input.is_null() {
            m.insert("rawInput".into(), self.raw_input.clone());
        }
        m.insert(
            "_meta".into(),
            json!({ META_KEY: Value::Object(self.meta.clone()) }),
        );
        m
    }

    /// The `ToolCallUpdate` carried as `toolCall` in `session/request_permission`.
    ///
    /// ```
    /// let c = sidefx::acp::codec::ToolCall::for_action("t", "exec", "process.exec", "process.exec",
    ///     &serde_json::json!({"cmd": "ls"}), None);
    /// let u = c.to_update();
    /// assert_eq!(u["kind"], "execute");
    /// assert!(u.get("sessionUpdate").is_none());
    /// ```
    pub fn to_update(&self) -> Value {
        Value::Object(self.fields())
    }

    /// `session/update` params announcing the call (`sessionUpdate: "tool_call"`).
    ///
    /// ```
    /// let c = sidefx::acp::codec::ToolCall::for_action("t", "exec", "process.exec", "process.exec",
    ///     &serde_json::json!({}), None);
    /// let n = c.announcement("s1");
    /// assert_eq!(n["update"]["sessionUpdate"], "tool_call");
    /// assert_eq!(n["sessionId"], "s1");
    /// ```
    pub fn announcement(&self, session_id: &str) -> Value {
        let mut update = Map::new();
        update.insert("sessionUpdate".into(), json!("tool_call"));
        update.extend(self.fields());
        json!({"sessionId": session_id, "update": Value::Object(update)})
    }
}

fn truncate(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        s.to_owned()
    } else {
        let cut: String = s.chars().take(max_chars).collect();
        format!("{cut}…")
    }
}

/// `session/update` params reporting a status change (`sessionUpdate: "tool_call_update"`),
/// with an optional text shown as the call's content.
///
/// ```
/// use sidefx::acp::codec::{tool_call_update, ToolStatus};
/// let n = tool_call_update("s1", "t1", ToolStatus::Failed, Some("rejected"));
/// assert_eq!(n["update"]["status"], "failed");
/// assert_eq!(n["update"]["content"][0]["content"]["text"], "rejected");
/// ```
pub fn tool_call_update(
    session_id: &str,
    tool_call_id: &str,
    status: ToolStatus,
    text: Option<&str>,
) -> Value {
    let mut update = json!({
        "sessionUpdate": "tool_call_update",
        "toolCallId": tool_call_id,
        "status": status.as_str(),
    });
    if let Some(t) = text {
        update["content"] = json!([{"type": "content", "content": {"type": "text", "text": t}}]);
    }
    json!({"sessionId": session_id, "update": update})
}

/// `session/update` params carrying a chunk of the agent's reply text.
///
/// ```
/// let n = sidefx::acp::codec::agent_message("s1", "done");
/// assert_eq!(n["update"]["sessionUpdate"], "agent_message_chunk");
/// ```
pub fn agent_message(session_id: &str, text: &str) -> Value {
    json!({
        "sessionId": session_id,
        "update": {"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": text}},
    })
}

/// The params of `session/request_permission`: `{sessionId, toolCall, options}`.
///
/// ```
/// use sidefx::acp::codec::{self, ToolCall};
/// let c = ToolCall::for_action("t", "exec", "process.exec", "process.exec", &serde_json::json!({}), None);
/// let p = codec::request_permission_params("s", &c, &codec::standard_options("exec"));
/// assert_eq!(p["options"].as_array().unwrap().len(), 4);
/// assert_eq!(p["toolCall"]["status"], "pending");
/// ```
pub fn request_permission_params(session_id: &str, call: &ToolCall, options: &[PermissionOption]) -> Value {
    json!({
        "sessionId": session_id,
        "toolCall": call.to_update(),
        "options": options.iter().map(PermissionOption::to_json).collect::<Vec<_>>(),
    })
}

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
pub fn parse_result(result: &Value, offered: &[PermissionOption]) -> PermissionAnswer {
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
            let mut kinds = offered.iter().filter(|o| o.option_id == id).map(|o| o.kind);
            match (kinds.next(), kinds.next()) {
                (Some(kind), None) => PermissionAnswer::Selected {
                    option_id: id.to_owned(),
                    kind,
                },
                (Some(_), Some(_)) => PermissionAnswer::invalid(format!("option `{id}` was offered twice")),
                (None, _) => {
                    PermissionAnswer::invalid(format!("option `{}` was not offered", truncate(id, 64)))
                }
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
pub fn parse_reply(reply: &Result<Value, RpcError>, offered: &[PermissionOption]) -> PermissionAnswer {
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
pub fn parse_response(message: &Value, offered: &[PermissionOption]) -> PermissionAnswer {
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

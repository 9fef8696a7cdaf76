//! What the agent sends: a call described as the schema's
//! [`ToolCallUpdate`](schema::ToolCallUpdate), the standard
//! [`PermissionOption`](schema::PermissionOption)s, the `session/request_permission` params and
//! the `session/update` notifications. Values are built once with the schema's types and
//! serialised from borrowed data, with no intermediate JSON tree.
//!
//! ```
//! use sidefx::acp::codec::{self, ToolCall};
//! let call = ToolCall::for_action("t1", "delete_file", "fs.delete", "workspace.delete",
//!     &serde_json::json!({"path": "old.txt"}), Some(std::path::Path::new("/w")));
//! let options = codec::standard_options("delete_file");
//! let line = serde_json::to_string(&codec::request_permission_params("s", &call, &options)).unwrap();
//! assert!(line.contains("\"kind\":\"delete\""));
//! ```

use std::path::{Component, Path, PathBuf};

use agent_client_protocol_schema::v1 as schema;
use serde_json::{Map, Value};

use super::{META_KEY, OptionKind, tool_kind, truncate};
use crate::approval::ApprovalRequest;

/// The four standard options with stable ids equal to their kinds (`allow_once`,
/// `allow_always`, `reject_once`, `reject_always`).
///
/// ```
/// let opts = sidefx::acp::codec::standard_options("git.push");
/// assert_eq!(opts.len(), 4);
/// assert_eq!(opts[1].name, "Always allow git.push in this session");
/// ```
pub fn standard_options(builtin: &str) -> Vec<schema::PermissionOption> {
    OptionKind::ALL
        .into_iter()
        .map(|kind| {
            let name = match kind {
                OptionKind::AllowOnce => "Allow once".to_owned(),
                OptionKind::AllowAlways => format!("Always allow {builtin} in this session"),
                OptionKind::RejectOnce => "Reject".to_owned(),
                OptionKind::RejectAlways => format!("Always reject {builtin} in this session"),
            };
            schema::PermissionOption::new(kind.as_str(), name, kind.to_wire())
        })
        .collect()
}

/// What the editor is shown about one tool call: a schema
/// [`ToolCallUpdate`](schema::ToolCallUpdate) with every field a client displays (title, kind,
/// status, the proposed diff, absolute locations, the recorded arguments as `rawInput`) and
/// sidefx's own data under `_meta.sidefx`.
///
/// ```
/// use sidefx::acp::{codec::ToolCall, schema::ToolKind};
/// let call = ToolCall::for_action("t1", "delete_file", "fs.delete", "workspace.delete",
///     &serde_json::json!({"path": "old.txt"}), Some(std::path::Path::new("/w")));
/// assert_eq!(call.title(), "delete_file old.txt");
/// assert_eq!(call.kind(), ToolKind::Delete);
/// assert_eq!(call.update().fields.locations.as_ref().unwrap()[0].path, std::path::Path::new("/w/old.txt"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    update: schema::ToolCallUpdate,
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
    /// Describes a call of `builtin` (class, capability) with recorded `args` (skipped
    /// arguments left out, redacted ones masked: they are shown as recorded). Relative paths in
    /// the arguments resolve against `cwd` (ACP wants absolute paths; without a `cwd` they are
    /// left out of `locations`). A file write whose arguments carry the text gets a diff.
    ///
    /// ```
    /// use serde_json::json;
    /// let c = sidefx::acp::codec::ToolCall::for_action("t", "write_file", "fs.write", "workspace.write_text",
    ///     &json!({"path": "/abs/a.txt", "text": "new"}), None);
    /// assert_eq!(c.diff().unwrap().new_text, "new");
    /// assert_eq!(c.sidefx_meta()["class"], "fs.write");
    /// ```
    pub fn for_action(
        tool_call_id: impl Into<String>,
        builtin: &str,
        class: &str,
        capability: &str,
        args: &Value,
        cwd: Option<&Path>,
    ) -> ToolCall {
        Self::build(
            tool_call_id.into(),
            builtin,
            class,
            capability,
            args,
            cwd,
            Map::new(),
        )
    }

    fn build(
        tool_call_id: String,
        builtin: &str,
        class: &str,
        capability: &str,
        args: &Value,
        cwd: Option<&Path>,
        mut meta: Map<String, Value>,
    ) -> ToolCall {
        let kind = tool_kind(class);
        let named = |keys: &[&str]| keys.iter().find_map(|k| args.get(*k).and_then(Value::as_str));
        let mut paths = PATH_KEYS
            .iter()
            .filter_map(|k| args.get(*k).and_then(Value::as_str))
            .peekable();
        let title = match paths.peek() {
            Some(p) => format!("{builtin} {}", truncate(p, 200)),
            None => builtin.to_owned(),
        };
        let mut locations: Vec<schema::ToolCallLocation> = Vec::new();
        for p in paths.filter_map(|p| absolute(p, cwd)) {
            if !locations.iter().any(|l| l.path == p) {
                locations.push(schema::ToolCallLocation::new(p));
            }
        }
        let diff = match (locations.first(), named(&TEXT_KEYS)) {
            (Some(at), Some(text)) if class == "fs.write" => Some(vec![schema::ToolCallContent::Diff(
                schema::Diff::new(at.path.clone(), text),
            )]),
            _ => None,
        };
        meta.insert("builtin".into(), Value::from(builtin));
        meta.insert("class".into(), Value::from(class));
        meta.insert("capability".into(), Value::from(capability));
        let mut wrapped = Map::new();
        wrapped.insert(META_KEY.into(), Value::Object(meta));
        let fields = schema::ToolCallUpdateFields::new()
            .title(title)
            .kind(kind)
            .status(schema::ToolCallStatus::Pending)
            .content(diff)
            .locations((!locations.is_empty()).then_some(locations))
            .raw_input((!args.is_null()).then(|| args.clone()));
        ToolCall {
            update: schema::ToolCallUpdate::new(tool_call_id, fields).meta(wrapped),
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
    /// assert_eq!(call.sidefx_meta()["approvalRequestId"], req.request_id.as_str());
    /// assert_eq!(call.sidefx_meta()["policyDecision"], "act_with_approval");
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
        let decision = if request.blocking {
            "act_with_approval"
        } else {
            "suggest"
        };
        let mut meta = Map::new();
        for (k, v) in [
            ("approvalRequestId", Value::from(request.request_id.as_str())),
            ("policyDecision", Value::from(decision)),
            ("agent", Value::from(request.agent.as_str())),
            ("traceId", Value::from(request.trace_id.as_str())),
            ("argsDigest", Value::from(request.args_digest.as_str())),
            ("deadline", Value::from(request.deadline.as_str())),
        ] {
            meta.insert(k.into(), v);
        }
        Self::build(
            tool_call_id.into(),
            &request.builtin,
            &request.action,
            capability,
            &request.args,
            cwd,
            meta,
        )
    }

    /// A call known only by its title (no class, no arguments): kind `other`.
    ///
    /// ```
    /// let c = sidefx::acp::codec::ToolCall::titled("t", "compute");
    /// assert_eq!(c.kind(), sidefx::acp::schema::ToolKind::Other);
    /// ```
    pub fn titled(tool_call_id: impl Into<String>, title: impl Into<String>) -> ToolCall {
        let fields = schema::ToolCallUpdateFields::new()
            .title(title.into())
            .kind(schema::ToolKind::Other)
            .status(schema::ToolCallStatus::Pending);
        ToolCall {
            update: schema::ToolCallUpdate::new(tool_call_id.into(), fields),
        }
    }

    /// Sets the file's current text on the diff (read by the caller; the codec does no I/O).
    ///
    /// ```
    /// use serde_json::json;
    /// let c = sidefx::acp::codec::ToolCall::for_action("t", "write_file", "fs.write", "workspace.write_text",
    ///     &json!({"path": "/a", "text": "new"}), None).with_old_text(Some("old".into()));
    /// assert_eq!(c.diff().unwrap().old_text.as_deref(), Some("old"));
    /// ```
    pub fn with_old_text(mut self, old_text: Option<String>) -> ToolCall {
        if let Some(schema::ToolCallContent::Diff(d)) =
            self.update.fields.content.as_mut().and_then(|c| c.first_mut())
        {
            d.old_text = old_text;
        }
        self
    }

    /// Replaces the title (the agent's own words for the call).
    ///
    /// ```
    /// let c = sidefx::acp::codec::ToolCall::titled("t", "x").with_title("write notes");
    /// assert_eq!(c.title(), "write notes");
    /// ```
    pub fn with_title(mut self, title: impl Into<String>) -> ToolCall {
        self.update.fields.title = Some(title.into());
        self
    }

    /// Adds `key` to sidefx's data under `_meta.sidefx`.
    ///
    /// ```
    /// let c = sidefx::acp::codec::ToolCall::titled("t", "x").with_sidefx_meta("tier", "shadow".into());
    /// assert_eq!(c.sidefx_meta()["tier"], "shadow");
    /// ```
    pub fn with_sidefx_meta(mut self, key: &str, value: Value) -> ToolCall {
        let meta = self.update.meta.get_or_insert_with(Map::new);
        let sidefx = meta.entry(META_KEY).or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(m) = sidefx {
            m.insert(key.to_owned(), value);
        }
        self
    }

    /// Replaces the status.
    ///
    /// ```
    /// use sidefx::acp::schema::ToolCallStatus;
    /// let c = sidefx::acp::codec::ToolCall::titled("t", "x").with_status(ToolCallStatus::Failed);
    /// assert_eq!(c.update().fields.status, Some(ToolCallStatus::Failed));
    /// ```
    pub fn with_status(mut self, status: schema::ToolCallStatus) -> ToolCall {
        self.update.fields.status = Some(status);
        self
    }

    /// The id shared by the announcement, the permission request and the updates.
    ///
    /// ```
    /// assert_eq!(sidefx::acp::codec::ToolCall::titled("t-1", "x").id(), "t-1");
    /// ```
    pub fn id(&self) -> &str {
        &self.update.tool_call_id.0
    }

    /// The title.
    ///
    /// ```
    /// assert_eq!(sidefx::acp::codec::ToolCall::titled("t", "compute").title(), "compute");
    /// ```
    pub fn title(&self) -> &str {
        self.update.fields.title.as_deref().unwrap_or_default()
    }

    /// The ACP tool kind.
    ///
    /// ```
    /// assert_eq!(sidefx::acp::codec::ToolCall::titled("t", "x").kind(), sidefx::acp::schema::ToolKind::Other);
    /// ```
    pub fn kind(&self) -> schema::ToolKind {
        self.update.fields.kind.unwrap_or_default()
    }

    /// The proposed file change, if the call writes a file whose new text is known.
    ///
    /// ```
    /// assert!(sidefx::acp::codec::ToolCall::titled("t", "x").diff().is_none());
    /// ```
    pub fn diff(&self) -> Option<&schema::Diff> {
        match self.update.fields.content.as_deref() {
            Some([schema::ToolCallContent::Diff(d)]) => Some(d),
            _ => None,
        }
    }

    /// sidefx's data (`_meta.sidefx`): builtin, class, capability and, for an approval
    /// request, its id, the agent, the trace, the args digest and the deadline.
    ///
    /// ```
    /// assert!(sidefx::acp::codec::ToolCall::titled("t", "x").sidefx_meta().is_empty());
    /// ```
    pub fn sidefx_meta(&self) -> &Map<String, Value> {
        static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
        self.update
            .meta
            .as_ref()
            .and_then(|m| m.get(META_KEY))
            .and_then(Value::as_object)
            .unwrap_or_else(|| EMPTY.get_or_init(Map::new))
    }

    /// The schema value: the `toolCall` of `session/request_permission`.
    ///
    /// ```
    /// let c = sidefx::acp::codec::ToolCall::titled("t", "x");
    /// assert_eq!(c.update().tool_call_id.0.as_ref(), "t");
    /// ```
    pub fn update(&self) -> &schema::ToolCallUpdate {
        &self.update
    }

    /// The `session/update` notification announcing the call (`sessionUpdate: "tool_call"`).
    ///
    /// ```
    /// let c = sidefx::acp::codec::ToolCall::for_action("t", "exec", "process.exec", "process.exec",
    ///     &serde_json::json!({"cmd": "ls"}), None);
    /// let n = serde_json::to_value(c.announcement("s1")).unwrap();
    /// assert_eq!(n["update"]["sessionUpdate"], "tool_call");
    /// assert_eq!(n["update"]["kind"], "execute");
    /// assert_eq!(n["sessionId"], "s1");
    /// ```
    pub fn announcement(&self, session_id: &str) -> schema::SessionNotification {
        let u = self.update.clone();
        let f = u.fields;
        let mut call = schema::ToolCall::new(u.tool_call_id, f.title.unwrap_or_default())
            .kind(f.kind.unwrap_or_default())
            .status(f.status.unwrap_or_default())
            .content(f.content.unwrap_or_default())
            .locations(f.locations.unwrap_or_default())
            .raw_input(f.raw_input);
        call.meta = u.meta;
        schema::SessionNotification::new(session_id.to_owned(), schema::SessionUpdate::ToolCall(call))
    }
}

/// The params of `session/request_permission`, borrowing the call and the options: serialises
/// exactly as the schema's [`RequestPermissionRequest`](schema::RequestPermissionRequest)
/// (which [`to_owned_request`](Self::to_owned_request) builds), without copying the call.
///
/// ```
/// use sidefx::acp::codec::{self, ToolCall};
/// let c = ToolCall::titled("t", "exec");
/// let options = codec::standard_options("exec");
/// let p = codec::request_permission_params("s", &c, &options);
/// assert_eq!(serde_json::to_value(p).unwrap(), serde_json::to_value(p.to_owned_request()).unwrap());
/// ```
#[derive(Debug, Clone, Copy, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionRequest<'a> {
    /// The session the call belongs to.
    pub session_id: &'a str,
    /// The call.
    pub tool_call: &'a schema::ToolCallUpdate,
    /// The options offered.
    pub options: &'a [schema::PermissionOption],
}

impl PermissionRequest<'_> {
    /// The owned schema value (a copy of the call and options).
    ///
    /// ```
    /// let c = sidefx::acp::codec::ToolCall::titled("t", "exec");
    /// let r = sidefx::acp::codec::request_permission_params("s", &c, &[]).to_owned_request();
    /// assert_eq!(r.session_id.0.as_ref(), "s");
    /// ```
    pub fn to_owned_request(&self) -> schema::RequestPermissionRequest {
        schema::RequestPermissionRequest::new(
            self.session_id.to_owned(),
            self.tool_call.clone(),
            self.options.to_vec(),
        )
    }
}

/// The params of `session/request_permission`: `{sessionId, toolCall, options}`.
///
/// ```
/// use sidefx::acp::codec::{self, ToolCall};
/// let c = ToolCall::titled("t", "exec");
/// let options = codec::standard_options("exec");
/// let p = serde_json::to_value(codec::request_permission_params("s", &c, &options)).unwrap();
/// assert_eq!(p["options"].as_array().unwrap().len(), 4);
/// assert_eq!(p["toolCall"]["status"], "pending");
/// ```
pub fn request_permission_params<'a>(
    session_id: &'a str,
    call: &'a ToolCall,
    options: &'a [schema::PermissionOption],
) -> PermissionRequest<'a> {
    PermissionRequest {
        session_id,
        tool_call: call.update(),
        options,
    }
}

/// The `session/update` notification reporting a status change (`sessionUpdate:
/// "tool_call_update"`), with an optional text shown as the call's content.
///
/// ```
/// use sidefx::acp::{codec::tool_call_update, schema::ToolCallStatus};
/// let n = serde_json::to_value(tool_call_update("s1", "t1", ToolCallStatus::Failed, Some("rejected"))).unwrap();
/// assert_eq!(n["update"]["status"], "failed");
/// assert_eq!(n["update"]["content"][0]["content"]["text"], "rejected");
/// ```
pub fn tool_call_update(
    session_id: &str,
    tool_call_id: &str,
    status: schema::ToolCallStatus,
    text: Option<&str>,
) -> schema::SessionNotification {
    let content = text.map(|t| vec![schema::ToolCallContent::from(t.to_owned())]);
    let fields = schema::ToolCallUpdateFields::new()
        .status(status)
        .content(content);
    let update = schema::ToolCallUpdate::new(tool_call_id.to_owned(), fields);
    schema::SessionNotification::new(
        session_id.to_owned(),
        schema::SessionUpdate::ToolCallUpdate(update),
    )
}

/// The `session/update` notification carrying a chunk of the agent's reply text.
///
/// ```
/// let n = serde_json::to_value(sidefx::acp::codec::agent_message("s1", "done")).unwrap();
/// assert_eq!(n["update"]["sessionUpdate"], "agent_message_chunk");
/// ```
pub fn agent_message(session_id: &str, text: &str) -> schema::SessionNotification {
    let chunk = schema::ContentChunk::new(schema::ContentBlock::from(text.to_owned()));
    schema::SessionNotification::new(
        session_id.to_owned(),
        schema::SessionUpdate::AgentMessageChunk(chunk),
    )
}

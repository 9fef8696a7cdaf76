//! The built-in side-effect class catalogue (SPEC §4), kept in exactly one place.
//!
//! Both the `sidefx` runtime and the `sidefx-macros` proc-macro crate read this table: the
//! macro validates `class = ".."` against it at expansion time, the runtime uses it to validate
//! policies. A proc-macro crate cannot depend on the crate that re-exports it, so the table lives
//! in this dependency-free crate that both can use.
//!
//! ```
//! use sidefx_catalogue::{capability_of, CLASSES};
//! assert_eq!(capability_of("fs.write"), Some("workspace.write_text"));
//! assert!(CLASSES.iter().any(|c| c.class == "git.write"));
//! ```

/// One row of the catalogue: a class, the capability it requires, and the builtins that the
/// reference runtime classifies under it.
///
/// ```
/// let row = &sidefx_catalogue::CLASSES[0];
/// assert_eq!(row.class, "fs.write");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassInfo {
    /// The class name, such as `fs.write`.
    pub class: &'static str,
    /// The single capability this class requires, such as `workspace.write_text`.
    pub capability: &'static str,
    /// Builtins of the reference runtime classified under this class.
    pub builtins: &'static [&'static str],
}

/// The built-in class catalogue, in SPEC §4 order.
///
/// ```
/// assert_eq!(sidefx_catalogue::CLASSES.len(), 15);
/// ```
pub const CLASSES: &[ClassInfo] = &[
    row(
        "fs.write",
        "workspace.write_text",
        &["write_file", "write_file_bytes", "append_file"],
    ),
    row("fs.mkdir", "workspace.write_text", &["mkdir"]),
    row("fs.mkdtemp", "workspace.write_text", &["mkdtemp"]),
    row("fs.copy", "workspace.write_text", &["copy_file"]),
    row("fs.move", "workspace.write_text", &["move_file"]),
    row("fs.delete", "workspace.delete", &["delete_file"]),
    row(
        "process.exec",
        "process.exec",
        &["exec", "exec_at", "shell", "shell_at"],
    ),
    row("host.call", "host.call", &["host_call"]),
    row(
        "store.write",
        "store.write",
        &["store_set", "store_delete", "store_save", "store_clear"],
    ),
    row(
        "metadata.write",
        "metadata.write",
        &[
            "metadata_set",
            "metadata_save",
            "metadata_refresh_hashes",
            "invalidate_facts",
            "path_metadata_set",
        ],
    ),
    row(
        "checkpoint.write",
        "checkpoint.write",
        &["checkpoint", "checkpoint_delete", "checkpoint_clear"],
    ),
    row(
        "network.sse.write",
        "network.sse",
        &[
            "sse_server_response",
            "sse_server_send",
            "sse_server_heartbeat",
            "sse_server_flush",
            "sse_server_close",
            "sse_server_cancel",
        ],
    ),
    row(
        "agent_state.write",
        "agent_state.write",
        &[
            "__agent_state_write",
            "__agent_state_delete",
            "__agent_state_handoff",
        ],
    ),
    row("mcp.release", "mcp.release", &["mcp_release"]),
    row(
        "git.write",
        "git.write",
        &[
            "git.worktree.create",
            "git.worktree.remove",
            "git.fetch",
            "git.rebase",
            "git.push",
        ],
    ),
];

const fn row(class: &'static str, capability: &'static str, builtins: &'static [&'static str]) -> ClassInfo {
    ClassInfo {
        class,
        capability,
        builtins,
    }
}

/// Looks up a built-in class.
///
/// ```
/// assert!(sidefx_catalogue::class("fs.delete").is_some());
/// assert!(sidefx_catalogue::class("fs.wrte").is_none());
/// ```
pub fn class(name: &str) -> Option<&'static ClassInfo> {
    CLASSES.iter().find(|c| c.class == name)
}

/// The capability a built-in class requires, if the class is built in.
///
/// ```
/// assert_eq!(sidefx_catalogue::capability_of("process.exec"), Some("process.exec"));
/// ```
pub fn capability_of(class_name: &str) -> Option<&'static str> {
    class(class_name).map(|c| c.capability)
}

/// Checks that a class name is well formed: non-empty dot-separated segments of lowercase ASCII
/// letters, digits and `_`. Custom classes declared by crates must satisfy this too.
///
/// ```
/// assert!(sidefx_catalogue::is_valid_class_name("payments.charge"));
/// assert!(!sidefx_catalogue::is_valid_class_name("Payments..charge"));
/// ```
pub fn is_valid_class_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|seg| {
            !seg.is_empty()
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
}

/// The candidate closest to `input`, if it is close enough to be a plausible typo: the one
/// "did you mean" rule shared by policy validation (runtime) and compile errors (macro).
///
/// ```
/// assert_eq!(sidefx_catalogue::closest("fs.wrte", ["fs.write", "fs.delete"]), Some("fs.write"));
/// assert_eq!(sidefx_catalogue::closest("network", ["fs.write"]), None);
/// ```
pub fn closest<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    // The length difference bounds the distance from below: skipping hopeless candidates keeps
    // a hostile 200 KB input from costing a 200 KB x N distance matrix per candidate.
    let n = input.chars().count();
    let limit = |c: &str| (c.len().max(input.len()) / 3).max(2);
    candidates
        .into_iter()
        .filter(|c| n.abs_diff(c.chars().count()) <= limit(c))
        .map(|c| (strsim::damerau_levenshtein(input, c), c))
        .filter(|(d, c)| *d <= limit(c))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// The kind of resource a call touches, declared by the builtin's author with `path(..)`,
/// `command(..)` or `url(..)` on `#[side_effect]` (SPEC §7a). Policy rules match on it.
///
/// ```
/// use sidefx_catalogue::ResourceKind;
/// assert_eq!(ResourceKind::Path.as_str(), "path");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceKind {
    /// A file-system path (`AsRef<Path>`).
    Path,
    /// A command: an argv or a shell line.
    Command,
    /// A URL (`AsRef<str>`).
    Url,
}

impl ResourceKind {
    /// The key used in the attribute and in policy rules: `path`, `command` or `url`.
    ///
    /// ```
    /// assert_eq!(sidefx_catalogue::ResourceKind::Url.as_str(), "url");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            ResourceKind::Path => "path",
            ResourceKind::Command => "command",
            ResourceKind::Url => "url",
        }
    }
}

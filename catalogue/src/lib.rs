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

pub mod manifest;

/// One row of the catalogue: a class, the capability it requires, the kind of resource its
/// builtins must declare (if any), and the builtins that the reference runtime classifies
/// under it.
///
/// ```
/// use sidefx_catalogue::ResourceKind;
/// let row = &sidefx_catalogue::CLASSES[0];
/// assert_eq!((row.class, row.resource), ("fs.write", Some(ResourceKind::Path)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassInfo {
    /// The class name, such as `fs.write`.
    pub class: &'static str,
    /// The single capability this class requires, such as `workspace.write_text`.
    pub capability: &'static str,
    /// The kind of resource a builtin of this class acts on. `#[side_effect]` requires such a
    /// builtin to declare at least one argument of this kind (or to opt out with
    /// `no_resource`), so policy rules on arguments always have something to match.
    pub resource: Option<ResourceKind>,
    /// Builtins of the reference runtime classified under this class.
    pub builtins: &'static [&'static str],
}

/// The built-in class catalogue, in SPEC §4 order.
///
/// ```
/// assert_eq!(sidefx_catalogue::CLASSES.len(), 16);
/// ```
pub const CLASSES: &[ClassInfo] = &[
    fs(
        "fs.write",
        "workspace.write_text",
        &["write_file", "write_file_bytes", "append_file"],
    ),
    fs("fs.mkdir", "workspace.write_text", &["mkdir"]),
    fs("fs.mkdtemp", "workspace.write_text", &["mkdtemp"]),
    fs("fs.copy", "workspace.write_text", &["copy_file"]),
    fs("fs.move", "workspace.write_text", &["move_file"]),
    fs("fs.delete", "workspace.delete", &["delete_file"]),
    ClassInfo {
        class: "process.exec",
        capability: "process.exec",
        resource: Some(ResourceKind::Command),
        builtins: &["exec", "exec_at", "shell", "shell_at"],
    },
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
    // No resource kind: its builtins act on different things (a worktree's path, a remote
    // that is usually a name such as `origin` rather than a URL), so no one kind can be
    // required. Authors still declare `path(..)` or `url(..)` where one fits.
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
    ClassInfo {
        class: "network.http",
        capability: "network.http",
        resource: Some(ResourceKind::Url),
        builtins: &[],
    },
];

/// A class without a resource kind.
const fn row(class: &'static str, capability: &'static str, builtins: &'static [&'static str]) -> ClassInfo {
    ClassInfo {
        class,
        capability,
        resource: None,
        builtins,
    }
}

/// A file-system class: its resource is a path.
const fn fs(class: &'static str, capability: &'static str, builtins: &'static [&'static str]) -> ClassInfo {
    ClassInfo {
        class,
        capability,
        resource: Some(ResourceKind::Path),
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

/// The kind of resource a built-in class's builtins must declare, if the class is built in and
/// carries one.
///
/// ```
/// use sidefx_catalogue::{resource_of, ResourceKind};
/// assert_eq!(resource_of("fs.delete"), Some(ResourceKind::Path));
/// assert_eq!(resource_of("network.http"), Some(ResourceKind::Url));
/// assert_eq!(resource_of("store.write"), None);
/// ```
pub fn resource_of(class_name: &str) -> Option<ResourceKind> {
    class(class_name).and_then(|c| c.resource)
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

    /// Every kind, in the order the attribute's docs list them.
    ///
    /// ```
    /// assert_eq!(sidefx_catalogue::ResourceKind::ALL.len(), 3);
    /// ```
    pub const ALL: [ResourceKind; 3] = [ResourceKind::Path, ResourceKind::Command, ResourceKind::Url];

    /// The kind named by `name` (`path`, `command` or `url`), as written in a manifest or a rule.
    ///
    /// ```
    /// use sidefx_catalogue::ResourceKind;
    /// assert_eq!(ResourceKind::from_name("url"), Some(ResourceKind::Url));
    /// assert_eq!(ResourceKind::from_name("file"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<ResourceKind> {
        ResourceKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

//! What a call touches: the typed resources a builtin declares (SPEC §7a).
//!
//! The attribute's `path(..)`, `command(..)` and `url(..)` keys name the arguments that are
//! resources. Enforcement turns each into a [`Resource`] before the policy decides, so rules
//! match typed values instead of strings. A declared argument that is missing or of the wrong
//! type becomes [`ResourceValue::Unreadable`]: no looser rule may apply to such a call.
//!
//! ```
//! use sidefx::resource::{Resource, ResourceKind, ResourceValue};
//! let r = Resource::new(ResourceKind::Path, "path", ResourceValue::Path("src/lib.rs".into()));
//! assert_eq!(r.kind, ResourceKind::Path);
//! assert!(!r.value.is_unreadable());
//! ```

use std::borrow::Cow;
use std::path::PathBuf;

pub use sidefx_catalogue::ResourceKind;

mod args;
pub use args::{CommandArg, PathArg, UrlArg};

/// One declared resource argument of a builtin: its kind and the parameter's name.
///
/// ```
/// use sidefx::resource::{ResourceKind, ResourceSpec};
/// const SPEC: ResourceSpec = ResourceSpec::new(ResourceKind::Command, "argv");
/// assert_eq!(SPEC.arg, "argv");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ResourceSpec {
    /// What kind of resource the argument is.
    pub kind: ResourceKind,
    /// The parameter's name, as written in the function signature.
    pub arg: &'static str,
}

impl ResourceSpec {
    /// A resource declaration.
    ///
    /// ```
    /// let spec = sidefx::resource::ResourceSpec::new(sidefx::resource::ResourceKind::Url, "url");
    /// assert_eq!(spec.kind.as_str(), "url");
    /// ```
    pub const fn new(kind: ResourceKind, arg: &'static str) -> Self {
        ResourceSpec { kind, arg }
    }
}

/// The value of one resource argument of one call, before normalisation.
///
/// ```
/// use sidefx::resource::ResourceValue;
/// assert!(ResourceValue::Unreadable.is_unreadable());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceValue {
    /// A path as the caller passed it (relative paths are resolved against the workspace
    /// later). Kept as `PathBuf` so non-UTF-8 names are never converted lossily.
    Path(PathBuf),
    /// A command given as an argv.
    Argv(Vec<String>),
    /// A command given as one shell line.
    ShellLine(String),
    /// A URL, unparsed.
    Url(String),
    /// The declared argument was missing or had a type that cannot be read as its kind.
    Unreadable,
}

impl ResourceValue {
    /// True when the argument could not be read: such a call gets no looser rule.
    ///
    /// ```
    /// assert!(!sidefx::resource::ResourceValue::Url("https://x.example/".into()).is_unreadable());
    /// ```
    pub fn is_unreadable(&self) -> bool {
        matches!(self, ResourceValue::Unreadable)
    }
}

/// One resource of one call: kind, argument name and value.
///
/// ```
/// use sidefx::resource::{Resource, ResourceKind, ResourceValue};
/// let r = Resource::new(ResourceKind::Command, "line", ResourceValue::ShellLine("cargo test".into()));
/// assert_eq!(r.arg, "line");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// What kind of resource this is.
    pub kind: ResourceKind,
    /// The parameter it came from.
    pub arg: Cow<'static, str>,
    /// Its value.
    pub value: ResourceValue,
}

impl Resource {
    /// A resource of one call.
    ///
    /// ```
    /// use sidefx::resource::{Resource, ResourceKind, ResourceValue};
    /// let r = Resource::new(ResourceKind::Url, "url", ResourceValue::Url("https://a.example/".into()));
    /// assert_eq!(r.kind, ResourceKind::Url);
    /// ```
    pub fn new(kind: ResourceKind, arg: impl Into<Cow<'static, str>>, value: ResourceValue) -> Self {
        Resource {
            kind,
            arg: arg.into(),
            value,
        }
    }
}

//! Reading a declared resource argument: typed (the code `#[side_effect]` generates) or from
//! JSON (runtimes that dispatch by name through [`enforce`](crate::enforce)).
//!
//! The three traits are the compile-time check of `path(..)`, `command(..)` and `url(..)`:
//! an argument whose type does not implement the trait of its kind is a compile error on the
//! type as written, naming the fix. They also convert the value into a [`ResourceValue`]
//! without a JSON round trip.
//!
//! ```
//! use sidefx::resource::{CommandArg, PathArg, ResourceValue, UrlArg};
//! assert_eq!("src/lib.rs".path_value(), ResourceValue::Path("src/lib.rs".into()));
//! assert_eq!(["cargo", "test"].command_value(), ResourceValue::Argv(vec!["cargo".into(), "test".into()]));
//! assert_eq!("cargo test".command_value(), ResourceValue::ShellLine("cargo test".into()));
//! assert_eq!("https://a.example/".url_value(), ResourceValue::Url("https://a.example/".into()));
//! ```

use std::path::Path;

use serde_json::Value;

use super::{Resource, ResourceKind, ResourceSpec, ResourceValue};

/// A value `path(..)` accepts: anything `AsRef<Path>` (`&Path`, `PathBuf`, `&str`, `String`,
/// `OsString`, ...). Non-UTF-8 paths are kept as they are.
///
/// ```
/// use sidefx::resource::{PathArg, ResourceValue};
/// let p = std::path::PathBuf::from("/etc/hosts");
/// assert_eq!(p.path_value(), ResourceValue::Path("/etc/hosts".into()));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a path: an argument named in `path(..)` must implement `AsRef<Path>`",
    label = "not `AsRef<Path>`",
    note = "give the argument a path type such as `&Path`, `PathBuf`, `&str` or `String`, or remove it from `path(..)` (write `no_resource` if the builtin touches no path)"
)]
pub trait PathArg {
    /// The path, unnormalised (the policy resolves it against the workspace).
    fn path_value(&self) -> ResourceValue;
}

impl<T: AsRef<Path> + ?Sized> PathArg for T {
    fn path_value(&self) -> ResourceValue {
        ResourceValue::Path(self.as_ref().to_path_buf())
    }
}

/// A value `command(..)` accepts: an argv (`Vec<String>`, `&[String]`, `&[&str]`, arrays) or
/// one shell line (`&str`, `String`), which the policy splits into segments.
///
/// ```
/// use sidefx::resource::{CommandArg, ResourceValue};
/// let argv = vec!["git".to_owned(), "push".to_owned()];
/// assert_eq!(argv.command_value(), ResourceValue::Argv(argv.clone()));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a command: an argument named in `command(..)` must be an argv or a shell line",
    label = "not an argv or a shell line",
    note = "give the argument an argv type (`Vec<String>`, `&[String]`, `&[&str]`) or a shell-line type (`&str`, `String`), or remove it from `command(..)`"
)]
pub trait CommandArg {
    /// The command as an argv or a shell line.
    fn command_value(&self) -> ResourceValue;
}

impl CommandArg for str {
    fn command_value(&self) -> ResourceValue {
        ResourceValue::ShellLine(self.to_owned())
    }
}

impl CommandArg for String {
    fn command_value(&self) -> ResourceValue {
        self.as_str().command_value()
    }
}

// One impl per argv shape rather than a generic `S: AsRef<str>`, so that a wrong element type
// (`Vec<u8>`) gets this trait's message instead of one about `AsRef<str>`.
impl CommandArg for [String] {
    fn command_value(&self) -> ResourceValue {
        ResourceValue::Argv(self.to_vec())
    }
}

impl CommandArg for [&str] {
    fn command_value(&self) -> ResourceValue {
        ResourceValue::Argv(self.iter().map(|s| (*s).to_owned()).collect())
    }
}

impl CommandArg for Vec<String> {
    fn command_value(&self) -> ResourceValue {
        self.as_slice().command_value()
    }
}

impl CommandArg for Vec<&str> {
    fn command_value(&self) -> ResourceValue {
        self.as_slice().command_value()
    }
}

impl<const N: usize> CommandArg for [&str; N] {
    fn command_value(&self) -> ResourceValue {
        self.as_slice().command_value()
    }
}

impl<const N: usize> CommandArg for [String; N] {
    fn command_value(&self) -> ResourceValue {
        self.as_slice().command_value()
    }
}

impl<T: CommandArg + ?Sized> CommandArg for &T {
    fn command_value(&self) -> ResourceValue {
        (**self).command_value()
    }
}

impl<T: CommandArg + ?Sized> CommandArg for &mut T {
    fn command_value(&self) -> ResourceValue {
        (**self).command_value()
    }
}

impl<T: CommandArg + ?Sized> CommandArg for Box<T> {
    fn command_value(&self) -> ResourceValue {
        (**self).command_value()
    }
}

/// A value `url(..)` accepts: anything `AsRef<str>` (`&str`, `String`, `url::Url`). The policy
/// parses it; an unparseable URL gets no looser rule.
///
/// ```
/// use sidefx::resource::{ResourceValue, UrlArg};
/// assert_eq!(String::from("https://x.example/a").url_value(), ResourceValue::Url("https://x.example/a".into()));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a URL: an argument named in `url(..)` must implement `AsRef<str>`",
    label = "not `AsRef<str>`",
    note = "give the argument a URL type such as `&str`, `String` or `url::Url`, or remove it from `url(..)`"
)]
pub trait UrlArg {
    /// The URL, unparsed.
    fn url_value(&self) -> ResourceValue;
}

impl<T: AsRef<str> + ?Sized> UrlArg for T {
    fn url_value(&self) -> ResourceValue {
        ResourceValue::Url(self.as_ref().to_owned())
    }
}

impl ResourceSpec {
    /// Reads this resource from a call's JSON arguments (an object keyed by parameter name).
    /// Strict: a missing argument, `null`, or a value that is not of this kind (a path or URL
    /// that is not a string, a command that is neither a string nor an array of strings) is
    /// [`ResourceValue::Unreadable`], which no looser rule matches.
    ///
    /// ```
    /// use sidefx::resource::{ResourceKind, ResourceSpec, ResourceValue};
    /// let spec = ResourceSpec::new(ResourceKind::Command, "argv");
    /// let args = serde_json::json!({"argv": ["cargo", "test"]});
    /// assert_eq!(spec.read_json(&args).value, ResourceValue::Argv(vec!["cargo".into(), "test".into()]));
    /// assert!(spec.read_json(&serde_json::json!({"argv": 7})).value.is_unreadable());
    /// assert!(spec.read_json(&serde_json::json!({})).value.is_unreadable());
    /// ```
    pub fn read_json(&self, args: &Value) -> Resource {
        let value = match (self.kind, args.get(self.arg)) {
            (ResourceKind::Path, Some(Value::String(s))) => s.path_value(),
            (ResourceKind::Url, Some(Value::String(s))) => s.url_value(),
            (ResourceKind::Command, Some(Value::String(s))) => s.command_value(),
            (ResourceKind::Command, Some(Value::Array(items))) => items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<Vec<String>>>()
                .map_or(ResourceValue::Unreadable, ResourceValue::Argv),
            _ => ResourceValue::Unreadable,
        };
        Resource::new(self.kind, self.arg, value)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn read(kind: ResourceKind, args: Value) -> ResourceValue {
        ResourceSpec::new(kind, "x").read_json(&args).value
    }

    #[test]
    fn json_of_the_right_shape_is_read() {
        assert_eq!(
            read(ResourceKind::Path, json!({"x": "src/a.rs"})),
            ResourceValue::Path("src/a.rs".into())
        );
        assert_eq!(
            read(ResourceKind::Command, json!({"x": "cargo test && rm -rf /"})),
            ResourceValue::ShellLine("cargo test && rm -rf /".into())
        );
        assert_eq!(
            read(ResourceKind::Command, json!({"x": []})),
            ResourceValue::Argv(Vec::new())
        );
        assert_eq!(
            read(ResourceKind::Url, json!({"x": "https://a.example/"})),
            ResourceValue::Url("https://a.example/".into())
        );
    }

    #[test]
    fn anything_else_is_unreadable() {
        let bad = [
            (ResourceKind::Path, json!({})),
            (ResourceKind::Path, json!({"x": null})),
            (ResourceKind::Path, json!({"x": ["a", "b"]})),
            (ResourceKind::Path, json!({"x": {"path": "a"}})),
            (ResourceKind::Path, json!({"y": "a"})),
            (ResourceKind::Path, json!("x")),
            (ResourceKind::Command, json!({"x": ["cargo", 1]})),
            (ResourceKind::Command, json!({"x": ["cargo", null]})),
            (ResourceKind::Command, json!({"x": 3})),
            (ResourceKind::Url, json!({"x": ["https://a.example/"]})),
            (ResourceKind::Url, json!({"x": false})),
        ];
        for (kind, args) in bad {
            assert_eq!(
                read(kind, args.clone()),
                ResourceValue::Unreadable,
                "{kind:?} {args}"
            );
        }
    }

    #[test]
    fn typed_values_convert_without_loss() {
        use std::ffi::OsStr;
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            let raw = OsStr::from_bytes(b"caf\xe9.txt");
            assert_eq!(raw.path_value(), ResourceValue::Path(raw.into()));
        }
        let argv: &[&str] = &["git", "push", "--force"];
        assert_eq!(
            argv.command_value(),
            ResourceValue::Argv(vec!["git".into(), "push".into(), "--force".into()])
        );
        assert_eq!(
            (&&String::from("ls")).command_value(),
            ResourceValue::ShellLine("ls".into())
        );
    }
}

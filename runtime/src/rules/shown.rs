//! A call's resources as records show them, without the real paths the rules need: what a
//! record shows of a path is its lexical form, so writing a record never walks the file system
//! (it reads the current directory only for a relative path without a workspace).

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::path::normalise;
use super::url;
use crate::resource::{Resource, ResourceKind, ResourceValue};

/// `[{"kind", "arg", "value"}]` for `resources`: the same value as
/// [`CallFacts::gather`](super::CallFacts::gather)`(..).to_json()` under a [`RuleEnv`](super::RuleEnv)
/// with `dispatch_workspace`, anchored with `policy_workspace`.
pub(crate) fn shown(
    resources: &[Resource],
    dispatch_workspace: Option<&Path>,
    policy_workspace: Option<&Path>,
) -> Value {
    let mut anchors = Lazy {
        dispatch_workspace,
        policy_workspace,
        cwd: None,
        workspace: None,
        home: None,
    };
    resources
        .iter()
        .map(|r| {
            let value = match (&r.kind, &r.value) {
                (ResourceKind::Path, ResourceValue::Path(p)) => anchors
                    .shown_path(p)
                    .map_or(Value::Null, |s| Value::String(s.to_string_lossy().into_owned())),
                (ResourceKind::Command, ResourceValue::Argv(argv)) => json!(argv),
                (ResourceKind::Command, ResourceValue::ShellLine(line)) => json!(line),
                (ResourceKind::Url, ResourceValue::Url(u)) => Value::String(url::fact(u).shown()),
                _ => Value::Null,
            };
            json!({"kind": r.kind.as_str(), "arg": r.arg, "value": value})
        })
        .collect()
}

/// The anchors of [`RuleEnv::anchors`](super::RuleEnv::anchors) in their lexical form, each
/// read from the process only when a path needs it.
struct Lazy<'a> {
    dispatch_workspace: Option<&'a Path>,
    policy_workspace: Option<&'a Path>,
    cwd: Option<Option<PathBuf>>,
    workspace: Option<Option<PathBuf>>,
    home: Option<Option<PathBuf>>,
}

impl Lazy<'_> {
    fn cwd(&mut self) -> Option<&Path> {
        self.cwd
            .get_or_insert_with(|| std::env::current_dir().ok())
            .as_deref()
    }

    /// An anchor made absolute against the current directory, normalised.
    fn absolute(&mut self, p: &Path) -> Option<PathBuf> {
        if p.is_absolute() {
            Some(normalise(p))
        } else {
            self.cwd().map(|cwd| normalise(&cwd.join(p)))
        }
    }

    fn workspace(&mut self) -> Option<&Path> {
        if self.workspace.is_none() {
            let ws = match self.dispatch_workspace.or(self.policy_workspace) {
                Some(ws) => self.absolute(ws),
                None => self.cwd().map(normalise),
            };
            self.workspace = Some(ws);
        }
        self.workspace.as_ref().and_then(Option::as_deref)
    }

    fn home(&mut self) -> Option<&Path> {
        if self.home.is_none() {
            let home = std::env::home_dir().and_then(|h| self.absolute(&h));
            self.home = Some(home);
        }
        self.home.as_ref().and_then(Option::as_deref)
    }

    /// The first reading of a path argument (as `Anchors::path_fact` takes it), normalised.
    fn shown_path(&mut self, arg: &Path) -> Option<PathBuf> {
        if arg.is_absolute() {
            return Some(normalise(arg));
        }
        if let Some(ws) = self.workspace() {
            return Some(normalise(&ws.join(arg)));
        }
        let bytes = arg.as_os_str().as_bytes();
        if bytes == b"~" || bytes.starts_with(b"~/") {
            let rest = Path::new(std::ffi::OsStr::from_bytes(bytes.get(2..).unwrap_or_default()));
            return self.home().map(|h| normalise(&h.join(rest)));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{CallFacts, RuleEnv};

    fn path(p: &str) -> Resource {
        Resource::new(ResourceKind::Path, "path", ResourceValue::Path(p.into()))
    }

    /// What records show is what the rules' normalisation shows, for every kind of resource
    /// and anchor, without its real paths.
    #[test]
    fn same_as_the_rules_facts() {
        let resources = vec![
            path("notes/a.txt"),
            path("/abs/../x/./y"),
            path("~/secret"),
            path("~"),
            path("../up/and/away"),
            Resource::new(
                ResourceKind::Command,
                "cmd",
                ResourceValue::Argv(vec!["ls".into(), "-l".into()]),
            ),
            Resource::new(
                ResourceKind::Command,
                "line",
                ResourceValue::ShellLine("git push".into()),
            ),
            Resource::new(
                ResourceKind::Url,
                "url",
                ResourceValue::Url("https://A.example/x".into()),
            ),
            Resource::new(ResourceKind::Url, "bad", ResourceValue::Url("not a url".into())),
            Resource::new(ResourceKind::Path, "wrong", ResourceValue::Url("x".into())),
        ];
        for (dispatch, policy) in [
            (None, None),
            (Some("/work/ws"), None),
            (None, Some("/policy/ws")),
            (Some("rel/ws"), Some("/policy/ws")),
            (None, Some("relative/policy")),
        ] {
            let env = match dispatch {
                Some(ws) => RuleEnv::new().workspace(ws),
                None => RuleEnv::new(),
            };
            let policy = policy.map(Path::new);
            let expected = CallFacts::gather(&resources, &env.anchors(policy)).to_json();
            assert_eq!(
                shown(&resources, dispatch.map(Path::new), policy),
                expected,
                "dispatch workspace {dispatch:?}, policy workspace {policy:?}"
            );
        }
    }
}

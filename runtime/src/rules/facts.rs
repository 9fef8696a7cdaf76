//! Normalising a call's resources once, before any rule is matched: the only part of a decision
//! that touches the file system (real paths).

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::command::{self, Segment};
use super::path::{normalise, real_path, under};
use super::url::{self, UrlFact};
use crate::resource::{Resource, ResourceKind, ResourceValue};

/// Where relative things are anchored for a call: the workspace (the dispatch context's, else
/// the policy's `"workspace"`, else the current directory) and the home directory.
///
/// ```
/// let env = sidefx::rules::RuleEnv::new().workspace("/work/project").home("/home/me");
/// let anchors = env.anchors(None);
/// assert_eq!(anchors.workspace(), Some(std::path::Path::new("/work/project")));
/// ```
#[derive(Debug, Clone, Default)]
pub struct RuleEnv {
    workspace: Option<PathBuf>,
    home: Option<PathBuf>,
    cwd: Option<PathBuf>,
}

impl RuleEnv {
    /// The process's current directory and home directory, no workspace set.
    ///
    /// ```
    /// let env = sidefx::rules::RuleEnv::new();
    /// assert!(env.anchors(None).workspace().is_some());
    /// ```
    pub fn new() -> Self {
        RuleEnv {
            workspace: None,
            home: std::env::home_dir(),
            cwd: std::env::current_dir().ok(),
        }
    }

    /// Sets the workspace (the dispatch context's); it wins over a policy's `"workspace"`.
    ///
    /// ```
    /// let env = sidefx::rules::RuleEnv::new().workspace("/w");
    /// assert_eq!(env.anchors(Some("/other".as_ref())).workspace(), Some("/w".as_ref()));
    /// ```
    pub fn workspace(mut self, dir: impl Into<PathBuf>) -> Self {
        self.workspace = Some(dir.into());
        self
    }

    /// Sets the home directory `~/` patterns refer to.
    ///
    /// ```
    /// let env = sidefx::rules::RuleEnv::new().home("/home/me");
    /// assert_eq!(env.anchors(None).home(), Some("/home/me".as_ref()));
    /// ```
    pub fn home(mut self, dir: impl Into<PathBuf>) -> Self {
        self.home = Some(dir.into());
        self
    }

    /// The anchors for a policy whose own `"workspace"` is `policy_workspace`: lexical and real
    /// forms of the workspace and home directories (this computes real paths).
    ///
    /// ```
    /// let env = sidefx::rules::RuleEnv::new();
    /// let a = env.anchors(Some("/srv/../srv/app".as_ref()));
    /// assert_eq!(a.workspace(), Some("/srv/app".as_ref()));
    /// ```
    pub fn anchors(&self, policy_workspace: Option<&Path>) -> Anchors {
        let absolute = |p: &Path| -> Option<PathBuf> {
            if p.is_absolute() {
                Some(normalise(p))
            } else {
                self.cwd.as_ref().map(|cwd| normalise(&cwd.join(p)))
            }
        };
        let root = |p: Option<&Path>| {
            p.and_then(absolute).map(|lexical| Root {
                real: real_path(&lexical),
                lexical,
            })
        };
        Anchors {
            workspace: root(
                self.workspace
                    .as_deref()
                    .or(policy_workspace)
                    .or(self.cwd.as_deref()),
            ),
            home: root(self.home.as_deref()),
            lexical_only: false,
        }
    }
}

/// A directory in its lexical and real form.
#[derive(Debug, Clone)]
struct Root {
    lexical: PathBuf,
    real: Option<PathBuf>,
}

/// The resolved workspace and home directories of one call under one policy.
///
/// ```
/// let a = sidefx::rules::RuleEnv::new().workspace("/w").home("/h").anchors(None);
/// assert_eq!((a.workspace(), a.home()), (Some("/w".as_ref()), Some("/h".as_ref())));
/// ```
#[derive(Debug, Clone)]
pub struct Anchors {
    workspace: Option<Root>,
    home: Option<Root>,
    /// Take the lexical path for the real one (examples: no file-system access at load).
    lexical_only: bool,
}

impl Anchors {
    /// No anchors: for calls without path arguments (a relative path would be unreadable).
    pub(crate) fn none() -> Anchors {
        Anchors {
            workspace: None,
            home: None,
            lexical_only: true,
        }
    }

    /// Anchors that never touch the file system: real paths are the lexical ones.
    pub(crate) fn lexical_only(workspace: &Path, home: &Path) -> Anchors {
        let root = |p: &Path| {
            let lexical = normalise(p);
            Some(Root {
                real: Some(lexical.clone()),
                lexical,
            })
        };
        Anchors {
            workspace: root(workspace),
            home: root(home),
            lexical_only: true,
        }
    }

    /// The workspace, normalised lexically.
    pub fn workspace(&self) -> Option<&Path> {
        self.workspace.as_ref().map(|r| r.lexical.as_path())
    }

    /// The home directory, normalised lexically.
    pub fn home(&self) -> Option<&Path> {
        self.home.as_ref().map(|r| r.lexical.as_path())
    }

    /// Lexical and real forms of an absolute, normalised path relative to the anchors.
    fn forms(&self, lexical: &Path, real: Option<&Path>) -> (Forms, Option<Forms>) {
        let lex = Forms {
            abs: lexical.as_os_str().as_bytes().to_vec(),
            in_ws: self.workspace.as_ref().and_then(|w| under(lexical, &w.lexical)),
            in_home: self.home.as_ref().and_then(|h| under(lexical, &h.lexical)),
        };
        let real = real.map(|real| Forms {
            abs: real.as_os_str().as_bytes().to_vec(),
            in_ws: self
                .workspace
                .as_ref()
                .and_then(|w| w.real.as_deref())
                .and_then(|w| under(real, w)),
            in_home: self
                .home
                .as_ref()
                .and_then(|h| h.real.as_deref())
                .and_then(|h| under(real, h)),
        });
        (lex, real)
    }

    /// The facts of one path argument: resolved against the workspace, normalised, real path
    /// computed. A `~` argument is ambiguous (a shell expands it, `std::fs` does not): both
    /// readings are kept for stricter rules, and it gets no looser one.
    fn path_fact(&self, arg: &Path) -> PathFact {
        let bytes = arg.as_os_str().as_bytes();
        let tilde = bytes == b"~" || bytes.starts_with(b"~/");
        let mut readings: Vec<PathBuf> = Vec::new();
        if arg.is_absolute() {
            readings.push(arg.to_path_buf());
        } else if let Some(w) = &self.workspace {
            readings.push(w.lexical.join(arg));
        }
        if tilde && let Some(h) = &self.home {
            let rest = Path::new(std::ffi::OsStr::from_bytes(bytes.get(2..).unwrap_or_default()));
            readings.push(h.lexical.join(rest));
        }
        let forms = readings
            .iter()
            .map(|raw| {
                let lexical = normalise(raw);
                // The real path follows the raw path: `link/..` is the link target's parent.
                let real = if self.lexical_only {
                    Some(lexical.clone())
                } else {
                    real_path(raw)
                };
                self.forms(&lexical, real.as_deref())
            })
            .collect::<Vec<_>>();
        PathFact {
            ambiguous: tilde,
            shown: readings.first().map(|r| normalise(r)),
            forms,
        }
    }
}

/// One form (lexical or real) of a path argument, as bytes: absolute, and relative to the
/// workspace and to home when under them.
#[derive(Debug, Clone)]
pub(crate) struct Forms {
    pub(crate) abs: Vec<u8>,
    pub(crate) in_ws: Option<Vec<u8>>,
    pub(crate) in_home: Option<Vec<u8>>,
}

/// A path argument's forms: one (lexical, real) pair per reading.
#[derive(Debug, Clone)]
pub(crate) struct PathFact {
    pub(crate) forms: Vec<(Forms, Option<Forms>)>,
    pub(crate) ambiguous: bool,
    shown: Option<PathBuf>,
}

/// A call's resources, normalised once: what rules match against.
///
/// ```
/// use sidefx::resource::{Resource, ResourceKind, ResourceValue};
/// let anchors = sidefx::rules::RuleEnv::new().workspace("/w").anchors(None);
/// let facts = sidefx::rules::CallFacts::gather(
///     &[Resource::new(ResourceKind::Path, "path", ResourceValue::Path("src/../a.txt".into()))],
///     &anchors,
/// );
/// assert_eq!(facts.to_json(), serde_json::json!([{"kind": "path", "arg": "path", "value": "/w/a.txt"}]));
/// ```
#[derive(Debug, Clone, Default)]
pub struct CallFacts {
    pub(crate) paths: Vec<PathFact>,
    pub(crate) commands: Vec<Vec<Segment>>,
    pub(crate) urls: Vec<UrlFact>,
    pub(crate) unreadable: [bool; 3],
    pub(crate) shown: Vec<(ResourceKind, String, serde_json::Value)>,
}

fn kind_slot(kind: ResourceKind) -> usize {
    match kind {
        ResourceKind::Path => 0,
        ResourceKind::Command => 1,
        ResourceKind::Url => 2,
    }
}

impl CallFacts {
    /// Normalises `resources` against `anchors` (real paths are computed here).
    pub fn gather(resources: &[Resource], anchors: &Anchors) -> CallFacts {
        let mut facts = CallFacts::default();
        for r in resources {
            let shown = match (&r.kind, &r.value) {
                (ResourceKind::Path, ResourceValue::Path(p)) => {
                    let fact = anchors.path_fact(p);
                    let shown = fact.shown.as_ref().map_or(serde_json::Value::Null, |s| {
                        serde_json::Value::String(s.to_string_lossy().into_owned())
                    });
                    facts.paths.push(fact);
                    shown
                }
                (ResourceKind::Command, ResourceValue::Argv(argv)) => {
                    facts.commands.push(command::argv_segments(argv));
                    serde_json::json!(argv)
                }
                (ResourceKind::Command, ResourceValue::ShellLine(line)) => {
                    facts.commands.push(command::line_segments(line));
                    serde_json::json!(line)
                }
                (ResourceKind::Url, ResourceValue::Url(u)) => {
                    let fact = url::fact(u);
                    let shown = fact.shown();
                    facts.urls.push(fact);
                    serde_json::Value::String(shown)
                }
                (kind, _) => {
                    facts.unreadable[kind_slot(*kind)] = true;
                    serde_json::Value::Null
                }
            };
            facts.shown.push((r.kind, r.arg.to_string(), shown));
        }
        facts
    }

    /// Whether any resource could not be read: the call gets no looser rule.
    pub(crate) fn any_unreadable(&self) -> bool {
        self.unreadable.iter().any(|&u| u)
            || self.paths.iter().any(|p| p.forms.is_empty())
            || self.commands.iter().any(|c| c.is_empty())
    }

    pub(crate) fn unreadable(&self, kind: ResourceKind) -> bool {
        self.unreadable[kind_slot(kind)]
    }

    /// The normalised resources for records: `[{"kind", "arg", "value"}]`, `value` null when
    /// unreadable. Paths are shown lossily here (display only; matching uses bytes).
    pub fn to_json(&self) -> serde_json::Value {
        self.shown
            .iter()
            .map(|(kind, arg, value)| serde_json::json!({"kind": kind.as_str(), "arg": arg, "value": value}))
            .collect()
    }
}

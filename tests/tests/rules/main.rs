//! Rules on arguments (issue 10, SPEC §7a): bypass attempts, each asserting the strict outcome,
//! and the cases where a looser rule does apply.
//!
//! Paths use real files and real symlinks in a temporary directory: a workspace, a home
//! directory and a denied directory outside both.

#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

mod commands;
mod paths;
mod urls;

use std::os::unix::fs::symlink;
use std::path::PathBuf;

use serde_json::json;
use sidefx::resource::{Resource, ResourceKind, ResourceValue};
use sidefx::rules::RuleEnv;
use sidefx::{AutonomyPolicy, SideEffectAction, Tier};

/// What a call gets: its tier, or `Human` when a human is required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Got {
    Human,
    T(Tier),
}
use Got::{Human, T};
const AUTO: Got = T(Tier::ActAuto);
const APPROVAL: Got = T(Tier::ActWithApproval);
const SUGGEST: Got = T(Tier::Suggest);
const SHADOW: Got = T(Tier::Shadow);

fn got(policy: &AutonomyPolicy, action: &SideEffectAction, resources: &[Resource], env: &RuleEnv) -> Got {
    let a = policy.answer("planner", action, resources, env);
    if a.requires_human {
        Human
    } else {
        T(a.tier.unwrap_or(Tier::ActAuto))
    }
}

fn path(p: impl Into<PathBuf>) -> Resource {
    Resource::new(ResourceKind::Path, "path", ResourceValue::Path(p.into()))
}
fn line(l: &str) -> Resource {
    Resource::new(ResourceKind::Command, "line", ResourceValue::ShellLine(l.into()))
}
fn argv(words: &[&str]) -> Resource {
    let words = words.iter().map(|w| w.to_string()).collect();
    Resource::new(ResourceKind::Command, "argv", ResourceValue::Argv(words))
}
fn url(u: &str) -> Resource {
    Resource::new(ResourceKind::Url, "url", ResourceValue::Url(u.into()))
}

const WRITE: SideEffectAction = SideEffectAction::new("write_file", "fs.write", "workspace.write_text");
const EXEC: SideEffectAction = SideEffectAction::new("exec", "process.exec", "process.exec");
const POST: SideEffectAction = SideEffectAction::new("http_post", "network.http", "network.http");

/// A workspace with `src/`, `secrets/`, symlinks out of it, a home with `.ssh/` and a denied
/// directory outside both.
struct Fs {
    _dir: tempfile::TempDir,
    ws: PathBuf,
    home: PathBuf,
    denied: PathBuf,
    outside: PathBuf,
}

fn fs() -> Fs {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let (ws, home, denied, outside) = (
        root.join("ws"),
        root.join("home"),
        root.join("denied"),
        root.join("outside"),
    );
    for d in [
        ws.join("src"),
        ws.join("secrets"),
        home.join(".ssh"),
        denied.clone(),
        outside.clone(),
    ] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(denied.join("passwd"), "x").unwrap();
    std::fs::write(ws.join("src/lib.rs"), "x").unwrap();
    symlink(&outside, ws.join("src/out")).unwrap();
    symlink(&denied, ws.join("src/deny")).unwrap();
    symlink(denied.join("passwd"), ws.join("src/passwd")).unwrap();
    symlink(denied.join("new-file"), ws.join("src/dangling")).unwrap();
    symlink(ws.join("src"), ws.join("alias")).unwrap();
    symlink(&ws, root.join("ws-link")).unwrap();
    Fs {
        _dir: dir,
        ws,
        home,
        denied,
        outside,
    }
}

impl Fs {
    fn env(&self) -> RuleEnv {
        RuleEnv::new().workspace(&self.ws).home(&self.home)
    }

    fn policy(&self) -> AutonomyPolicy {
        AutonomyPolicy::from_value(&json!({
            "autonomy_tier": "act_with_approval",
            "rules": [
                { "class": "fs.write", "path": "src/**", "tier": "act_auto" },
                { "path": ["~/.ssh/**", format!("{}/**", self.denied.display())], "requires_human": true },
                { "path": "secrets/**", "tier": "shadow" }
            ]
        }))
        .unwrap()
    }

    fn check(&self, cases: &[(Resource, Got)]) {
        let (policy, env) = (self.policy(), self.env());
        for (r, want) in cases {
            assert_eq!(
                got(&policy, &WRITE, std::slice::from_ref(r), &env),
                *want,
                "{r:?}"
            );
        }
    }
}

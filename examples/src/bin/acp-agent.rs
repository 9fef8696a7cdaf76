//! `acp-agent`: a scripted ACP agent (no model) whose file edits go through sidefx.
//!
//! An editor launches it and talks ACP v1 over stdin/stdout. Each line of a prompt is a command:
//!
//! ```text
//! write <relative path> <text>
//! delete <relative path>
//! ```
//!
//! Both run through `#[side_effect]` builtins (`write_file`, class fs.write; `delete_file`,
//! class fs.delete) that declare their `path` argument, so the agent's policy decides on it: a
//! path rule `**`, anchored at the session's working directory (each turn runs under
//! `DispatchContext::workspace(cwd)`), gives edits inside it tier act_with_approval unless
//! `SIDEFX_TIER` says otherwise, so every edit waits for the user's answer to
//! `session/request_permission`. Anything else — `..`, an absolute path, a symlink out of the
//! session directory — gets no rule and falls to the policy's default, shadow: refused without
//! asking, and recorded. At every tier each call is announced to the editor before it is
//! decided (kind, arguments, paths), reported `in_progress` before its body runs (the body
//! says "writing ..." / "deleting ..."), then `completed` or `failed`. "Always" answers become
//! grants for the rest of the session. Decisions land in the event log at `SIDEFX_LOG` (a file
//! or a `postgres://` URL; default `.sidefx/events.db` under the directory the agent was started
//! in): the editor's answers on
//! `hitl.approvals`, one hash-chained trust record per call on `trust_graph`.
//!
//! Only protocol goes to stdout; diagnostics go to stderr. The agent exits 0 at stdin EOF.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use serde_json::Value;
use sidefx::acp::{self, AgentInfo, PromptHandler, StopReason, Turn, rpc::RpcError};
use sidefx::{AutonomyPolicy, DispatchContext, Tier};

/// The agent id its calls are attributed to.
const AGENT_ID: &str = "acp-agent";

/// Why a builtin did not do its job.
#[derive(Debug)]
enum ToolError {
    /// sidefx refused the call (rejected, cancelled, skipped by the tier...).
    Refused(sidefx::Error),
    /// The file system said no.
    Io(std::io::Error),
}

impl From<sidefx::Error> for ToolError {
    fn from(e: sidefx::Error) -> Self {
        ToolError::Refused(e)
    }
}

impl From<std::io::Error> for ToolError {
    fn from(e: std::io::Error) -> Self {
        ToolError::Io(e)
    }
}

impl std::fmt::Display for ToolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ToolError::Refused(e) => write!(f, "{e} [{}]", e.code()),
            ToolError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// Writes `text` to `path` under `root`, creating parent directories; tells the editor first.
#[sidefx::side_effect(class = "fs.write", path(path), skip(turn, root))]
async fn write_file(turn: &Turn, root: &Path, path: &str, text: &str) -> Result<(), ToolError> {
    turn.say(&format!("writing {path}\n")).await;
    let target = root.join(path);
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&target, text)?;
    Ok(())
}

/// Deletes the file `path` under `root`; tells the editor first.
#[sidefx::side_effect(class = "fs.delete", path(path), skip(turn, root))]
async fn delete_file(turn: &Turn, root: &Path, path: &str) -> Result<(), ToolError> {
    turn.say(&format!("deleting {path}\n")).await;
    std::fs::remove_file(root.join(path))?;
    Ok(())
}

#[derive(Debug, PartialEq)]
enum Command<'a> {
    Write { path: &'a str, text: &'a str },
    Delete { path: &'a str },
}

/// The path word of a command: present. Where it may lead is the policy's call (path rules
/// anchored at the session directory), not a textual check's.
fn path_word(path: &str) -> Result<&str, String> {
    if path.is_empty() {
        Err("a command needs a path: `write <relative path> <text>` or `delete <relative path>`".into())
    } else {
        Ok(path)
    }
}

fn parse(line: &str) -> Result<Command<'_>, String> {
    let (verb, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let rest = rest.trim_start();
    match verb {
        "write" => {
            let (path, text) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            Ok(Command::Write {
                path: path_word(path)?,
                text,
            })
        }
        "delete" => Ok(Command::Delete {
            path: path_word(rest.trim_end())?,
        }),
        _ => Err(format!(
            "unknown command `{verb}`; use `write <relative path> <text>` or `delete <relative path>`"
        )),
    }
}

struct Scripted;

#[sidefx::async_trait]
impl PromptHandler for Scripted {
    async fn prompt(&self, turn: &Turn, prompt: &[Value]) -> Result<StopReason, RpcError> {
        let root = turn.session().cwd().to_path_buf();
        // The session directory anchors the policy's relative path rules for this turn.
        let ctx = DispatchContext::default().workspace(&root);
        sidefx::with_dispatch(ctx, run_turn(turn, &root, prompt)).await
    }
}

/// Runs each line of the prompt as a command, inside the session directory `root`.
async fn run_turn(turn: &Turn, root: &Path, prompt: &[Value]) -> Result<StopReason, RpcError> {
    for line in acp::prompt_text(prompt).lines() {
        if turn.is_cancelled() {
            return Ok(StopReason::Cancelled);
        }
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (title, result) = match parse(line) {
            Ok(Command::Write { path, text }) => {
                let title = format!("write {path}");
                (
                    title.clone(),
                    turn.tool_call(title, write_file(turn, root, path, text)).await,
                )
            }
            Ok(Command::Delete { path }) => {
                let title = format!("delete {path}");
                (
                    title.clone(),
                    turn.tool_call(title, delete_file(turn, root, path)).await,
                )
            }
            Err(msg) => {
                turn.say(&format!("{msg}\n")).await;
                continue;
            }
        };
        match result {
            Ok(()) => turn.say(&format!("done: {title}\n")).await,
            Err(e) => turn.say(&format!("not done: {title}: {e}\n")).await,
        }
    }
    Ok(if turn.is_cancelled() {
        StopReason::Cancelled
    } else {
        StopReason::EndTurn
    })
}

/// The agent's policy: edits inside the session directory (the turn's workspace) at `tier`,
/// anything else at shadow, so a path that leaves it — by `..`, an absolute path or a symlink
/// (a looser rule must match the real path too) — is refused without asking.
fn session_policy(tier: Tier) -> sidefx::Result<AutonomyPolicy> {
    AutonomyPolicy::from_value(&serde_json::json!({
        "agent_id": AGENT_ID,
        "autonomy_tier": "shadow",
        "rules": [{ "path": "**", "tier": tier.to_string() }],
    }))
}

#[tokio::main]
async fn main() -> ExitCode {
    let tier = match std::env::var("SIDEFX_TIER") {
        Ok(s) if !s.trim().is_empty() => match s.trim().parse::<Tier>() {
            Ok(t) => t,
            Err(e) => {
                eprintln!("acp-agent: SIDEFX_TIER: {e}");
                return ExitCode::from(2);
            }
        },
        _ => Tier::ActWithApproval,
    };
    let log = match sidefx::log::open_default() {
        Ok(log) => log,
        Err(e) => {
            eprintln!("acp-agent: cannot open the event log: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("acp-agent: serving ACP on stdio at tier {tier}");
    let policy = match session_policy(tier) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("acp-agent: {e}");
            return ExitCode::FAILURE;
        }
    };
    let info = AgentInfo::new(AGENT_ID, env!("CARGO_PKG_VERSION"));
    let serving = acp::serve_stdio(info, Arc::new(Scripted));
    match sidefx::with_event_log(log, sidefx::with_policy(policy, serving)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("acp-agent: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse() {
        assert_eq!(
            parse("write notes/a.txt hello world"),
            Ok(Command::Write {
                path: "notes/a.txt",
                text: "hello world"
            })
        );
        assert_eq!(parse("delete a.txt "), Ok(Command::Delete { path: "a.txt" }));
        // Where a path leads is the policy's call, not the parser's.
        assert_eq!(
            parse("write ../x.txt hi"),
            Ok(Command::Write {
                path: "../x.txt",
                text: "hi"
            })
        );
        assert!(parse("delete").is_err());
        assert!(parse("write").is_err());
        assert!(parse("rm a.txt").is_err());
    }

    #[test]
    fn the_policy_gives_the_session_directory_the_tier_and_refuses_the_rest() {
        use sidefx::resource::{Resource, ResourceKind, ResourceValue};
        use sidefx::rules::RuleEnv;
        let dir = std::env::temp_dir();
        let policy = session_policy(Tier::ActWithApproval).unwrap();
        let write = sidefx::SideEffectAction::new("write_file", "fs.write", "workspace.write_text");
        let env = RuleEnv::new().workspace(&dir);
        let tier = |p: &str| {
            let path = [Resource::new(
                ResourceKind::Path,
                "path",
                ResourceValue::Path(p.into()),
            )];
            policy.answer(AGENT_ID, &write, &path, &env).tier
        };
        assert_eq!(tier("notes/a.txt"), Some(Tier::ActWithApproval));
        assert_eq!(tier("../x.txt"), Some(Tier::Shadow));
        assert_eq!(tier("/etc/passwd"), Some(Tier::Shadow));
    }
}

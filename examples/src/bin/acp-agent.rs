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
//! class fs.delete) inside the session's working directory, at tier act_with_approval unless
//! `SIDEFX_TIER` says otherwise, so every edit is announced to the editor and waits for the
//! user's answer to `session/request_permission`. "Always" answers become grants for the rest
//! of the session. Decisions land in the event log at `SIDEFX_LOG` (default
//! `.sidefx/events.db` under the directory the agent was started in): the editor's answers on
//! `hitl.approvals`, one hash-chained trust record per call on `trust_graph`.
//!
//! Only protocol goes to stdout; diagnostics go to stderr. The agent exits 0 at stdin EOF.

use std::path::{Component, Path};
use std::process::ExitCode;
use std::sync::Arc;

use serde_json::Value;
use sidefx::acp::{self, AgentInfo, PromptHandler, StopReason, Turn, rpc::RpcError};
use sidefx::{AutonomyPolicy, Tier};

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

/// Writes `text` to `path` under `root`, creating parent directories.
#[sidefx::side_effect(class = "fs.write", path(path), skip(root))]
async fn write_file(root: &Path, path: &str, text: &str) -> Result<(), ToolError> {
    let target = root.join(path);
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&target, text)?;
    Ok(())
}

/// Deletes the file `path` under `root`.
#[sidefx::side_effect(class = "fs.delete", path(path), skip(root))]
async fn delete_file(root: &Path, path: &str) -> Result<(), ToolError> {
    std::fs::remove_file(root.join(path))?;
    Ok(())
}

#[derive(Debug, PartialEq)]
enum Command<'a> {
    Write { path: &'a str, text: &'a str },
    Delete { path: &'a str },
}

/// A path that stays inside the session directory: relative, no `..`, no root.
fn check_path(path: &str) -> Result<&str, String> {
    let p = Path::new(path);
    let inside = !path.is_empty()
        && p.components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if inside {
        Ok(path)
    } else {
        Err(format!(
            "`{path}` is not a relative path inside the session directory"
        ))
    }
}

fn parse(line: &str) -> Result<Command<'_>, String> {
    let (verb, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let rest = rest.trim_start();
    match verb {
        "write" => {
            let (path, text) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            Ok(Command::Write {
                path: check_path(path)?,
                text,
            })
        }
        "delete" => Ok(Command::Delete {
            path: check_path(rest.trim_end())?,
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
                        turn.tool_call(title, write_file(&root, path, text)).await,
                    )
                }
                Ok(Command::Delete { path }) => {
                    let title = format!("delete {path}");
                    (
                        title.clone(),
                        turn.tool_call(title, delete_file(&root, path)).await,
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
    let policy = AutonomyPolicy::at_tier(tier).for_agent(AGENT_ID);
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
    fn commands_parse_and_paths_stay_inside() {
        assert_eq!(
            parse("write notes/a.txt hello world"),
            Ok(Command::Write {
                path: "notes/a.txt",
                text: "hello world"
            })
        );
        assert_eq!(parse("delete a.txt "), Ok(Command::Delete { path: "a.txt" }));
        assert!(parse("write ../x.txt hi").is_err());
        assert!(parse("write /etc/passwd hi").is_err());
        assert!(parse("delete").is_err());
        assert!(parse("rm a.txt").is_err());
    }
}

//! End to end: the official ACP SDK (`agent-client-protocol` 5.0.0) as the client, spawning the
//! real `acp-agent` binary, answering its permission requests the way an editor's user would.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a test failure

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use agent_client_protocol::schema::ProtocolVersion;
use agent_client_protocol::v1::ConnectionTo;
use agent_client_protocol::v1::schema::{
    CancelNotification, ContentBlock, InitializeRequest, NewSessionRequest, PermissionOptionKind,
    PromptRequest, RequestPermissionOutcome, RequestPermissionRequest, RequestPermissionResponse,
    SelectedPermissionOutcome, SessionNotification, SessionUpdate, StopReason, TextContent, ToolCallContent,
    ToolCallStatus, ToolKind,
};
use agent_client_protocol::{AcpAgent, AcpAgentConfig, Agent, Client, LineDirection};
use serde_json::{Value, json};
use sidefx::log::SqliteEventLog;
use sidefx::trust::{self, Outcome, TrustQuery, TrustRecord};

const AGENT: &str = env!("CARGO_BIN_EXE_acp-agent");

/// What the simulated user does when asked.
#[derive(Debug, Clone, Copy)]
enum Answer {
    Pick(PermissionOptionKind),
    /// Cancel the turn (`session/cancel`), then answer `cancelled` as ACP requires.
    CancelTurn,
}

#[derive(Default)]
struct Seen {
    asked: Vec<RequestPermissionRequest>,
    updates: Vec<SessionNotification>,
    stdout: Vec<String>,
    unexpected_asks: usize,
}

struct Run {
    /// Per session: its id and the stop reason of each prompt.
    sessions: Vec<(String, Vec<StopReason>)>,
    seen: Seen,
    records: Vec<TrustRecord>,
    log: SqliteEventLog,
}

struct Workspace {
    tmp: tempfile::TempDir,
    cwd: PathBuf,
    log: PathBuf,
}

fn workspace() -> Workspace {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path().join("project");
    std::fs::create_dir_all(&cwd).unwrap();
    let log = tmp.path().join("events.db");
    Workspace { tmp, cwd, log }
}

/// Runs the agent under the official client: one session per entry of `sessions`, each entry's
/// prompts in order, answering permission requests from `answers`.
async fn drive(ws: &Workspace, answers: &[Answer], sessions: &[&[&str]]) -> Run {
    drive_at(ws, None, answers, sessions).await
}

/// [`drive`] with the agent's `SIDEFX_TIER` set to `tier`.
async fn drive_at(ws: &Workspace, tier: Option<&str>, answers: &[Answer], sessions: &[&[&str]]) -> Run {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let queue = Arc::new(Mutex::new(answers.iter().copied().collect::<VecDeque<_>>()));
    let mut config = AcpAgentConfig::new(AGENT).env("SIDEFX_LOG", ws.log.display().to_string());
    if let Some(tier) = tier {
        config = config.env("SIDEFX_TIER", tier);
    }
    let stdout_seen = seen.clone();
    let agent = AcpAgent::new(config).with_debug(move |line, direction| {
        if matches!(direction, LineDirection::Stdout) {
            stdout_seen.lock().unwrap().stdout.push(line.to_owned());
        }
    });
    let (notes_seen, asks_seen) = (seen.clone(), seen.clone());
    let cwd = ws.cwd.clone();
    let plan: Vec<Vec<String>> = sessions
        .iter()
        .map(|s| s.iter().map(|p| (*p).to_owned()).collect())
        .collect();
    let ran = Client
        .v1()
        .on_receive_notification(
            async move |note: SessionNotification, _cx| {
                notes_seen.lock().unwrap().updates.push(note);
                Ok(())
            },
            agent_client_protocol::on_receive_notification!(),
        )
        .on_receive_request(
            async move |req: RequestPermissionRequest, responder, cx: ConnectionTo<Agent>| {
                let next = queue.lock().unwrap().pop_front();
                let mut seen = asks_seen.lock().unwrap();
                seen.asked.push(req.clone());
                let outcome = match next {
                    Some(Answer::Pick(kind)) => {
                        let option = req
                            .options
                            .iter()
                            .find(|o| o.kind == kind)
                            .expect("the kind is offered");
                        RequestPermissionOutcome::Selected(SelectedPermissionOutcome::new(
                            option.option_id.clone(),
                        ))
                    }
                    Some(Answer::CancelTurn) => {
                        cx.send_notification(CancelNotification::new(req.session_id.clone()))?;
                        RequestPermissionOutcome::Cancelled
                    }
                    None => {
                        seen.unexpected_asks += 1;
                        RequestPermissionOutcome::Cancelled
                    }
                };
                drop(seen);
                responder.respond(RequestPermissionResponse::new(outcome))
            },
            agent_client_protocol::on_receive_request!(),
        )
        .connect_with(agent, async move |cx: ConnectionTo<Agent>| {
            let init = cx
                .send_request(InitializeRequest::new(ProtocolVersion::V1))
                .block_task()
                .await?;
            assert_eq!(init.protocol_version, ProtocolVersion::V1);
            let mut out = Vec::new();
            for prompts in plan {
                let sid = cx
                    .send_request(NewSessionRequest::new(cwd.clone()))
                    .block_task()
                    .await?
                    .session_id;
                let mut stops = Vec::new();
                for text in prompts {
                    let prompt = vec![ContentBlock::Text(TextContent::new(text))];
                    let resp = cx
                        .send_request(PromptRequest::new(sid.clone(), prompt))
                        .block_task()
                        .await?;
                    stops.push(resp.stop_reason);
                }
                out.push((sid.0.to_string(), stops));
            }
            Ok(out)
        })
        .await
        .expect("the official client ran the sessions and the agent exited cleanly");
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert_eq!(
        seen.unexpected_asks, 0,
        "the agent asked more often than the script expected"
    );
    assert_protocol_only(&seen.stdout);
    let log = SqliteEventLog::open(&ws.log).unwrap();
    let records = trust::query(&log, &TrustQuery::default()).await.unwrap();
    assert!(trust::verify_chain(&log).await.unwrap().is_valid());
    Run {
        sessions: ran,
        seen,
        records,
        log,
    }
}

/// Every line on the agent's stdout is one JSON-RPC 2.0 object, and no `toolCall` of a
/// permission request carries `sessionUpdate` (that tag belongs to `session/update` only).
fn assert_protocol_only(lines: &[String]) {
    assert!(!lines.is_empty());
    for line in lines {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v.is_object(), "not an object: {line}");
        assert_eq!(v["jsonrpc"], "2.0", "{line}");
        if v["method"] == "session/request_permission" {
            let tool_call = v["params"]["toolCall"].as_object().expect("toolCall");
            assert!(!tool_call.contains_key("sessionUpdate"), "{line}");
            assert!(tool_call.contains_key("title"), "{line}");
        }
    }
}

fn record_for<'a>(run: &'a Run, builtin: &str, path: &str) -> &'a TrustRecord {
    let found: Vec<&TrustRecord> = run
        .records
        .iter()
        .filter(|r| r.metadata["builtin"] == builtin && r.metadata["args"]["path"] == path)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one trust record for {builtin} {path}: {:#?}",
        run.records
    );
    found[0]
}

/// The status updates the editor saw for a tool call, in order.
fn statuses(run: &Run, tool_call_id: &str) -> Vec<ToolCallStatus> {
    let mut out = Vec::new();
    for note in &run.seen.updates {
        match &note.update {
            SessionUpdate::ToolCall(tc) if tc.tool_call_id.0.as_ref() == tool_call_id => out.push(tc.status),
            SessionUpdate::ToolCallUpdate(u) if u.tool_call_id.0.as_ref() == tool_call_id => {
                out.extend(u.fields.status)
            }
            _ => {}
        }
    }
    out
}

/// What the editor saw of one tool call, and of the agent's words, in arrival order: `tool_call`
/// and `tool_call_update` as their status, agent message chunks as their text.
#[derive(Debug, Clone, PartialEq)]
enum Shown {
    Status(ToolCallStatus),
    Said(String),
}

/// The notifications about tool call `id` and the agent's messages, in the order they arrived.
fn timeline(run: &Run, tool_call_id: &str) -> Vec<Shown> {
    let mut out = Vec::new();
    for note in &run.seen.updates {
        match &note.update {
            SessionUpdate::ToolCall(tc) if tc.tool_call_id.0.as_ref() == tool_call_id => {
                out.push(Shown::Status(tc.status))
            }
            SessionUpdate::ToolCallUpdate(u) if u.tool_call_id.0.as_ref() == tool_call_id => {
                out.extend(u.fields.status.map(Shown::Status))
            }
            SessionUpdate::AgentMessageChunk(chunk) => {
                if let ContentBlock::Text(t) = &chunk.content {
                    out.push(Shown::Said(t.text.trim_end().to_owned()));
                }
            }
            _ => {}
        }
    }
    out
}

/// The announcement (`tool_call`) titled `title`: exactly one.
fn announced<'a>(run: &'a Run, title: &str) -> &'a agent_client_protocol::v1::schema::ToolCall {
    let found: Vec<_> = run
        .seen
        .updates
        .iter()
        .filter_map(|n| match &n.update {
            SessionUpdate::ToolCall(tc) if tc.title == title => Some(tc),
            _ => None,
        })
        .collect();
    assert_eq!(found.len(), 1, "one announcement titled {title}");
    found[0]
}

mod announce;
mod paths;
mod permissions;
mod raw;

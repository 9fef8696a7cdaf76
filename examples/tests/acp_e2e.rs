//! End to end: the official ACP SDK (`agent-client-protocol` 5.0.0) as the client, spawning the
//! real `acp-agent` binary, answering its permission requests the way an editor's user would.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a test failure

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
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
    _tmp: tempfile::TempDir,
    cwd: PathBuf,
    log: PathBuf,
}

fn workspace() -> Workspace {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path().join("project");
    std::fs::create_dir_all(&cwd).unwrap();
    let log = tmp.path().join("events.db");
    Workspace { _tmp: tmp, cwd, log }
}

/// Runs the agent under the official client: one session per entry of `sessions`, each entry's
/// prompts in order, answering permission requests from `answers`.
async fn drive(ws: &Workspace, answers: &[Answer], sessions: &[&[&str]]) -> Run {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let queue = Arc::new(Mutex::new(answers.iter().copied().collect::<VecDeque<_>>()));
    let config = AcpAgentConfig::new(AGENT).env("SIDEFX_LOG", ws.log.display().to_string());
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_once_writes_the_file() {
    let ws = workspace();
    let run = drive(
        &ws,
        &[Answer::Pick(PermissionOptionKind::AllowOnce)],
        &[&["write notes/a.txt hello world"]],
    )
    .await;
    let (sid, stops) = &run.sessions[0];
    assert_eq!(stops, &[StopReason::EndTurn]);
    assert_eq!(
        std::fs::read_to_string(ws.cwd.join("notes/a.txt")).unwrap(),
        "hello world"
    );

    // What the editor was asked.
    assert_eq!(run.seen.asked.len(), 1);
    let req = &run.seen.asked[0];
    assert_eq!(req.session_id.0.as_ref(), sid);
    assert_eq!(req.options.len(), 4);
    let fields = &req.tool_call.fields;
    assert_eq!(fields.kind, Some(ToolKind::Edit));
    assert_eq!(fields.status, Some(ToolCallStatus::Pending));
    assert_eq!(fields.title.as_deref(), Some("write notes/a.txt"));
    assert_eq!(
        fields.raw_input,
        Some(json!({"path": "notes/a.txt", "text": "hello world"}))
    );
    let target = ws.cwd.join("notes/a.txt");
    assert_eq!(fields.locations.as_ref().unwrap()[0].path, target);
    let Some([ToolCallContent::Diff(diff)]) = fields.content.as_deref() else {
        panic!("a diff: {:?}", fields.content);
    };
    assert_eq!(
        (
            diff.path.as_path(),
            diff.old_text.as_deref(),
            diff.new_text.as_str()
        ),
        (target.as_path(), None, "hello world")
    );
    let meta = &req.tool_call.meta.as_ref().expect("_meta")["sidefx"];
    assert_eq!(meta["class"], "fs.write");
    assert_eq!(meta["capability"], "workspace.write_text");
    assert_eq!(meta["policyDecision"], "act_with_approval");

    // Announced before it was asked, then reported.
    let id = req.tool_call.tool_call_id.0.as_ref();
    assert_eq!(
        statuses(&run, id),
        [
            ToolCallStatus::Pending,
            ToolCallStatus::InProgress,
            ToolCallStatus::Completed
        ]
    );

    // The trust record names the approver and the option chosen; hitl.approvals has the answer.
    let rec = record_for(&run, "write_file", "notes/a.txt");
    assert_eq!(rec.outcome, Outcome::Success);
    assert_eq!(rec.approver.as_deref(), Some(format!("acp:{sid}").as_str()));
    assert_eq!(rec.metadata["acp"]["option_kind"], "allow_once");
    assert_eq!(rec.metadata["acp"]["decided_by"], "editor");
    assert_eq!(rec.metadata["acp"]["tool_call_id"], id);
    assert_eq!(rec.metadata["acp"]["grant"], Value::Null);
    let approvals = sidefx::approval::list(&run.log).await.unwrap();
    assert_eq!(approvals.len(), 1);
    assert_eq!(approvals[0].state(), "approved");
    assert_eq!(
        approvals[0].responses[0].reviewer.as_deref(),
        Some(format!("acp:{sid}").as_str())
    );
    assert_eq!(
        rec.metadata["approval_request_id"],
        json!(approvals[0].request.request_id)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_once_leaves_the_file_system_untouched() {
    let ws = workspace();
    std::fs::write(ws.cwd.join("keep.txt"), "old").unwrap();
    let reject = Answer::Pick(PermissionOptionKind::RejectOnce);
    let run = drive(
        &ws,
        &[reject, reject, reject],
        &[&["write keep.txt new\ndelete keep.txt\nwrite fresh.txt x"]],
    )
    .await;
    let (sid, stops) = &run.sessions[0];
    assert_eq!(stops, &[StopReason::EndTurn]);
    assert_eq!(std::fs::read_to_string(ws.cwd.join("keep.txt")).unwrap(), "old");
    assert!(!ws.cwd.join("fresh.txt").exists());
    assert_eq!(run.seen.asked.len(), 3);
    // The diff shows what would change.
    let Some([ToolCallContent::Diff(diff)]) = run.seen.asked[0].tool_call.fields.content.as_deref() else {
        panic!("a diff");
    };
    assert_eq!(
        (diff.old_text.as_deref(), diff.new_text.as_str()),
        (Some("old"), "new")
    );
    assert_eq!(run.seen.asked[1].tool_call.fields.kind, Some(ToolKind::Delete));
    for req in &run.seen.asked {
        let id = req.tool_call.tool_call_id.0.as_ref();
        assert_eq!(
            statuses(&run, id),
            [ToolCallStatus::Pending, ToolCallStatus::Failed]
        );
    }
    for (builtin, path) in [
        ("write_file", "keep.txt"),
        ("delete_file", "keep.txt"),
        ("write_file", "fresh.txt"),
    ] {
        let rec = record_for(&run, builtin, path);
        assert_eq!(rec.outcome, Outcome::Denied);
        assert_eq!(rec.approver.as_deref(), Some(format!("acp:{sid}").as_str()));
        assert_eq!(rec.metadata["acp"]["option_kind"], "reject_once");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_cancel_then_cancelled_outcome_stops_the_turn() {
    let ws = workspace();
    let run = drive(
        &ws,
        &[Answer::CancelTurn],
        &[&["write a.txt one\nwrite b.txt two"]],
    )
    .await;
    let (_, stops) = &run.sessions[0];
    assert_eq!(stops, &[StopReason::Cancelled]);
    assert!(!ws.cwd.join("a.txt").exists());
    assert!(!ws.cwd.join("b.txt").exists());
    // The turn ended: the second command was never asked about nor recorded.
    assert_eq!(run.seen.asked.len(), 1);
    assert_eq!(run.records.len(), 1);
    let rec = record_for(&run, "write_file", "a.txt");
    assert_eq!(rec.outcome, Outcome::Denied);
    assert_eq!(rec.metadata["acp"]["decided_by"], "cancelled");
    let id = run.seen.asked[0].tool_call.tool_call_id.0.as_ref();
    assert_eq!(
        statuses(&run, id),
        [ToolCallStatus::Pending, ToolCallStatus::Failed]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_always_is_remembered_for_the_session_only() {
    let ws = workspace();
    let answers = [
        Answer::Pick(PermissionOptionKind::AllowAlways), // write a.txt, session 1
        Answer::Pick(PermissionOptionKind::RejectOnce),  // delete a.txt: another builtin asks
        Answer::Pick(PermissionOptionKind::AllowOnce),   // write d.txt, session 2 asks again
    ];
    let run = drive(
        &ws,
        &answers,
        &[
            &["write a.txt 1", "write b.txt 2\nwrite c.txt 3\ndelete a.txt"],
            &["write d.txt 4"],
        ],
    )
    .await;
    let (s1, stops1) = &run.sessions[0];
    let (s2, stops2) = &run.sessions[1];
    assert_eq!(stops1, &[StopReason::EndTurn, StopReason::EndTurn]);
    assert_eq!(stops2, &[StopReason::EndTurn]);
    for (f, text) in [("a.txt", "1"), ("b.txt", "2"), ("c.txt", "3"), ("d.txt", "4")] {
        assert_eq!(std::fs::read_to_string(ws.cwd.join(f)).unwrap(), text, "{f}");
    }
    let asked: Vec<(&str, Option<ToolKind>)> = run
        .seen
        .asked
        .iter()
        .map(|r| (r.session_id.0.as_ref(), r.tool_call.fields.kind))
        .collect();
    assert_eq!(
        asked,
        [
            (s1.as_str(), Some(ToolKind::Edit)),
            (s1.as_str(), Some(ToolKind::Delete)),
            (s2.as_str(), Some(ToolKind::Edit))
        ]
    );

    let first = record_for(&run, "write_file", "a.txt");
    assert_eq!(first.metadata["acp"]["option_kind"], "allow_always");
    let grant_id = first.metadata["acp"]["grant"]["grant_id"]
        .as_str()
        .expect("the grant is recorded");
    for path in ["b.txt", "c.txt"] {
        let rec = record_for(&run, "write_file", path);
        assert_eq!(rec.outcome, Outcome::Success);
        assert_eq!(rec.approver.as_deref(), Some(format!("acp:{s1}").as_str()));
        assert_eq!(rec.metadata["acp"]["decided_by"], "grant");
        assert_eq!(rec.metadata["acp"]["option_kind"], "allow_always");
        assert_eq!(rec.metadata["acp"]["grant"]["grant_id"], grant_id);
        assert_eq!(rec.metadata["acp"]["grant"]["builtin"], "write_file");
    }
    let del = record_for(&run, "delete_file", "a.txt");
    assert_eq!(del.outcome, Outcome::Denied);
    let d = record_for(&run, "write_file", "d.txt");
    assert_eq!(d.approver.as_deref(), Some(format!("acp:{s2}").as_str()));
    assert_eq!(d.metadata["acp"]["option_kind"], "allow_once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_always_refuses_later_calls_without_asking() {
    let ws = workspace();
    let run = drive(
        &ws,
        &[Answer::Pick(PermissionOptionKind::RejectAlways)],
        &[&["write a.txt 1\nwrite b.txt 2", "write c.txt 3"]],
    )
    .await;
    let (sid, stops) = &run.sessions[0];
    assert_eq!(stops, &[StopReason::EndTurn, StopReason::EndTurn]);
    assert_eq!(run.seen.asked.len(), 1);
    for f in ["a.txt", "b.txt", "c.txt"] {
        assert!(!ws.cwd.join(f).exists(), "{f}");
    }
    assert_eq!(
        record_for(&run, "write_file", "a.txt").metadata["acp"]["decided_by"],
        "editor"
    );
    for path in ["b.txt", "c.txt"] {
        let rec = record_for(&run, "write_file", path);
        assert_eq!(rec.outcome, Outcome::Denied);
        assert_eq!(rec.approver.as_deref(), Some(format!("acp:{sid}").as_str()));
        assert_eq!(rec.metadata["acp"]["decided_by"], "grant");
        assert_eq!(rec.metadata["acp"]["grant"]["kind"], "reject_always");
    }
}

/// Raw protocol, no SDK: string and numeric ids echoed, -32700 for garbage, -32600 for a
/// malformed request, -32601 for unknown methods, notifications never answered, exit 0 at EOF.
#[test]
fn raw_protocol_errors_and_exit_at_eof() {
    let ws = workspace();
    let mut child = Command::new(AGENT)
        .env("SIDEFX_LOG", &ws.log)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let input = [
        r#"{"jsonrpc":"2.0","id":"init-1","method":"initialize","params":{"protocolVersion":7,"clientCapabilities":{"fs":{"readTextFile":true},"future":{"x":1}}}}"#,
        "this is not json",
        r#"{"jsonrpc":"2.0","id":42,"method":"session/fork","params":{}}"#,
        r#"{"jsonrpc":"2.0","method":"unknown/notification","params":{}}"#,
        r#"{"jsonrpc":"2.0","id":{"no":"objects"},"method":"initialize","params":{}}"#,
        r#"{"jsonrpc":"2.0","id":7,"method":"session/new","params":{"cwd":"relative/dir","mcpServers":[]}}"#,
        r#"{"jsonrpc":"2.0","id":8,"method":"session/prompt","params":{"sessionId":"nope","prompt":[]}}"#,
        &format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000)),
        r#"{"jsonrpc":"2.0","id":9,"method":"session/new","params":{"cwd":"/tmp","mcpServers":[]}}"#,
    ];
    let mut stdin = child.stdin.take().unwrap();
    for line in input {
        writeln!(stdin, "{line}").unwrap();
    }
    drop(stdin); // EOF
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status}");
    let replies: Vec<Value> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect();
    let by_id = |id: Value| -> &Value {
        replies
            .iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("no reply for {id}: {replies:#?}"))
    };
    let init = by_id(json!("init-1"));
    assert_eq!(init["result"]["protocolVersion"], 1);
    assert_eq!(init["result"]["authMethods"], json!([]));
    assert_eq!(init["result"]["agentInfo"]["name"], "acp-agent");
    assert_eq!(by_id(json!(42))["error"]["code"], -32601);
    assert_eq!(by_id(json!(7))["error"]["code"], -32602);
    assert_eq!(by_id(json!(8))["error"]["code"], -32602);
    assert!(by_id(json!(9))["result"]["sessionId"].is_string());
    let null_id_codes: Vec<i64> = replies
        .iter()
        .filter(|r| r["id"].is_null())
        .map(|r| r["error"]["code"].as_i64().unwrap())
        .collect();
    assert_eq!(
        null_id_codes.iter().filter(|c| **c == -32700).count(),
        2,
        "{replies:#?}"
    );
    assert_eq!(
        null_id_codes.iter().filter(|c| **c == -32600).count(),
        1,
        "{replies:#?}"
    );
    // Five requests with usable ids answered, three unusable lines answered with id null,
    // the notification never.
    assert_eq!(replies.len(), 8, "{replies:#?}");
}

//! The ACP codec and connection, with the official schema crate `agent-client-protocol-schema`
//! as referee: what it accepts and produces is what editors accept and produce.

#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

use std::path::Path;

use acp::PermissionOption;
use agent_client_protocol_schema::v1 as acp;
use serde_json::{Value, json};
use sidefx::acp::codec::{self, OptionKind, PermissionAnswer, ToolCall};
use sidefx::acp::rpc::RpcError;
use sidefx::approval::{self, ApprovalDraft};
use sidefx::log::MemoryEventLog;

const CWD: &str = "/work/project";

/// Argument shapes a builtin may record: with a relative or absolute file and text, a file
/// only, two files, nothing, and an empty object.
fn arg_shapes() -> Vec<Value> {
    vec![
        json!({"path": "notes/today.md", "text": "hello\nworld \u{1F600} \"quoted\""}),
        json!({"path": "/abs/file.txt", "content": ""}),
        json!({"path": "../outside.txt"}),
        json!({"from": "a.txt", "to": "b/a.txt"}),
        json!({"cmd": "ls", "args": ["-l"]}),
        json!({}),
        json!({"path": "x", "text": "[redacted]", "token": "[redacted]"}),
    ]
}

/// The JSON a value puts on the wire.
fn wire(v: impl serde::Serialize) -> Value {
    serde_json::to_value(v).unwrap()
}

/// Asserts that `ours` is exactly what the official type serializes back to after
/// deserializing it: no field was dropped, defaulted on error or skipped as invalid.
fn assert_round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(ours: &Value, what: &str) -> T {
    let typed: T = serde_json::from_value(ours.clone())
        .unwrap_or_else(|e| panic!("{what}: the official type rejects it: {e}\n{ours:#}"));
    let back = serde_json::to_value(&typed).expect("serialize");
    assert_eq!(&back, ours, "{what}: the official type does not reproduce it");
    typed
}

/// Like [`assert_round_trip`], but tolerates fields the official serializer omits because
/// they hold the default (`status: pending`, `kind: other` on a `ToolCall`).
fn assert_round_trip_modulo_defaults<T: serde::de::DeserializeOwned + serde::Serialize>(
    ours: &Value,
    what: &str,
) -> T {
    let typed: T = serde_json::from_value(ours.clone())
        .unwrap_or_else(|e| panic!("{what}: the official type rejects it: {e}\n{ours:#}"));
    let mut back = serde_json::to_value(&typed).expect("serialize");
    let (Some(o), Some(b)) = (ours.pointer("/update"), back.pointer_mut("/update")) else {
        panic!("{what}: no update");
    };
    for (k, default) in [("status", "pending"), ("kind", "other")] {
        if o.get(k) == Some(&json!(default)) && b.get(k).is_none() {
            b[k] = json!(default);
        }
    }
    assert_eq!(&back, ours, "{what}: the official type does not reproduce it");
    typed
}

fn every_call() -> Vec<ToolCall> {
    let mut calls = Vec::new();
    for class in sidefx::catalogue::CLASSES {
        for (i, args) in arg_shapes().into_iter().enumerate() {
            for cwd in [Some(Path::new(CWD)), None] {
                let c = ToolCall::for_action(
                    format!("call-{i}"),
                    "some_builtin",
                    class.class,
                    class.capability,
                    &args,
                    cwd,
                );
                calls.push(c.clone().with_old_text(Some("old text\n".into())));
                calls.push(c);
            }
        }
    }
    calls
}

#[test]
fn every_built_request_is_an_official_request_permission_request() {
    let calls = every_call();
    assert!(calls.len() > 100);
    let mut with_diff = 0;
    for call in &calls {
        let mut option_sets = vec![codec::standard_options("some_builtin")];
        option_sets.push(vec![
            PermissionOption::new("allow_once", "Allow", OptionKind::AllowOnce.to_wire()),
            PermissionOption::new("reject_once", "Reject", OptionKind::RejectOnce.to_wire()),
        ]);
        for options in option_sets {
            let params = wire(codec::request_permission_params("sess-1", call, &options));
            let typed: acp::RequestPermissionRequest = assert_round_trip(&params, call.title());
            assert_eq!(typed.session_id.0.as_ref(), "sess-1");
            assert_eq!(typed.tool_call.tool_call_id.0.as_ref(), call.id());
            assert_eq!(typed.tool_call.fields.title.as_deref(), Some(call.title()));
            assert_eq!(typed.tool_call.fields.status, Some(acp::ToolCallStatus::Pending));
            assert_eq!(typed.options.len(), options.len());
            assert_eq!(typed.options, options);
            // No custom field at the root of a spec type; sidefx's data sits under _meta.sidefx.
            assert!(params["toolCall"].get("sessionUpdate").is_none());
            let meta = typed.tool_call.meta.as_ref().expect("_meta");
            assert_eq!(meta["sidefx"]["class"], call.sidefx_meta()["class"]);
            if let Some(content) = &typed.tool_call.fields.content {
                with_diff += 1;
                let [acp::ToolCallContent::Diff(diff)] = content.as_slice() else {
                    panic!("expected one diff: {content:?}");
                };
                assert!(diff.path.is_absolute());
            }
            for loc in typed.tool_call.fields.locations.iter().flatten() {
                assert!(loc.path.is_absolute(), "{:?}", loc.path);
            }
        }
    }
    assert!(with_diff > 10, "requests with file content were exercised");
}

#[test]
fn kinds_follow_the_class_mapping() {
    let expect = [
        ("fs.write", acp::ToolKind::Edit),
        ("fs.mkdir", acp::ToolKind::Edit),
        ("fs.mkdtemp", acp::ToolKind::Edit),
        ("fs.copy", acp::ToolKind::Edit),
        ("metadata.write", acp::ToolKind::Edit),
        ("fs.delete", acp::ToolKind::Delete),
        ("fs.move", acp::ToolKind::Move),
        ("process.exec", acp::ToolKind::Execute),
        ("network.sse.write", acp::ToolKind::Fetch),
        ("git.write", acp::ToolKind::Other),
        ("store.write", acp::ToolKind::Other),
        ("payments.charge", acp::ToolKind::Other),
    ];
    for (class, kind) in expect {
        let call = ToolCall::for_action("t", "b", class, "c", &json!({}), None);
        let params = wire(codec::request_permission_params(
            "s",
            &call,
            &codec::standard_options("b"),
        ));
        let typed: acp::RequestPermissionRequest = assert_round_trip(&params, class);
        assert_eq!(typed.tool_call.fields.kind, Some(kind), "{class}");
    }
}

#[test]
fn file_writes_carry_locations_and_a_diff() {
    let call = ToolCall::for_action(
        "t",
        "write_file",
        "fs.write",
        "workspace.write_text",
        &json!({"path": "./src/../lib.rs", "text": "fn main() {}"}),
        Some(Path::new(CWD)),
    )
    .with_old_text(Some("old".into()));
    let params = wire(codec::request_permission_params(
        "s",
        &call,
        &codec::standard_options("write_file"),
    ));
    let typed: acp::RequestPermissionRequest = assert_round_trip(&params, "write");
    let locations = typed.tool_call.fields.locations.expect("locations");
    assert_eq!(locations[0].path, Path::new("/work/project/lib.rs"));
    let content = typed.tool_call.fields.content.expect("content");
    let acp::ToolCallContent::Diff(diff) = &content[0] else {
        panic!("diff expected");
    };
    assert_eq!(diff.new_text, "fn main() {}");
    assert_eq!(diff.old_text.as_deref(), Some("old"));
    assert_eq!(
        typed.tool_call.fields.raw_input,
        Some(json!({"path": "./src/../lib.rs", "text": "fn main() {}"}))
    );
    // A delete names the file but proposes no content.
    let del = ToolCall::for_action(
        "t",
        "delete_file",
        "fs.delete",
        "workspace.delete",
        &json!({"path": "a"}),
        Some(Path::new(CWD)),
    );
    assert!(del.diff().is_none());
    assert_eq!(
        del.update().fields.locations,
        Some(vec![acp::ToolCallLocation::new("/work/project/a")])
    );
}

#[tokio::test]
async fn requests_built_from_approval_requests_carry_sidefx_meta() {
    let log = MemoryEventLog::new();
    for class in sidefx::catalogue::CLASSES {
        for args in arg_shapes() {
            let mut draft = ApprovalDraft::new("acp-agent", "b", class.class).args(args);
            draft.capabilities = vec![class.capability.to_owned()];
            let req = approval::request(&log, draft).await.unwrap();
            let call = ToolCall::for_request("tc-9", &req, Some(Path::new(CWD)));
            let params = wire(codec::request_permission_params(
                "sess",
                &call,
                &codec::standard_options("b"),
            ));
            let typed: acp::RequestPermissionRequest = assert_round_trip(&params, class.class);
            let meta = &typed.tool_call.meta.expect("meta")["sidefx"];
            assert_eq!(meta["approvalRequestId"], json!(req.request_id));
            assert_eq!(meta["policyDecision"], "act_with_approval");
            assert_eq!(meta["class"], class.class);
            assert_eq!(meta["capability"], class.capability);
            assert_eq!(meta["builtin"], "b");
            assert_eq!(meta["agent"], "acp-agent");
            assert_eq!(meta["argsDigest"], json!(req.args_digest));
        }
    }
}

#[test]
fn announcements_and_updates_are_official_session_notifications() {
    for call in every_call() {
        let note = wire(call.announcement("sess-1"));
        let typed: acp::SessionNotification = assert_round_trip_modulo_defaults(&note, call.title());
        let acp::SessionUpdate::ToolCall(tc) = typed.update else {
            panic!("a tool_call update expected");
        };
        assert_eq!(tc.tool_call_id.0.as_ref(), call.id());
        assert_eq!(tc.title, call.title());
        assert_eq!(tc.kind, call.kind());
        assert_eq!(tc.raw_input, call.update().fields.raw_input);
    }
    for status in [
        acp::ToolCallStatus::Pending,
        acp::ToolCallStatus::InProgress,
        acp::ToolCallStatus::Completed,
        acp::ToolCallStatus::Failed,
    ] {
        for text in [None, Some("rejected in the editor")] {
            let note = wire(codec::tool_call_update("sess-1", "t-1", status, text));
            let typed: acp::SessionNotification = assert_round_trip(&note, &format!("{status:?}"));
            assert!(matches!(typed.update, acp::SessionUpdate::ToolCallUpdate(_)));
        }
    }
    let note = wire(codec::agent_message("sess-1", "wrote a.txt"));
    let typed: acp::SessionNotification = assert_round_trip(&note, "message");
    assert!(matches!(typed.update, acp::SessionUpdate::AgentMessageChunk(_)));
}

fn official(outcome: acp::RequestPermissionOutcome) -> Value {
    serde_json::to_value(acp::RequestPermissionResponse::new(outcome)).unwrap()
}

#[test]
fn every_official_response_parses_to_the_right_answer() {
    let offered = codec::standard_options("write_file");
    for opt in &offered {
        let selected = acp::SelectedPermissionOutcome::new(opt.option_id.clone());
        let plain = official(acp::RequestPermissionOutcome::Selected(selected.clone()));
        let mut meta = serde_json::Map::new();
        meta.insert("zed".into(), json!({"remembered": false}));
        let with_meta = serde_json::to_value(
            acp::RequestPermissionResponse::new(acp::RequestPermissionOutcome::Selected(
                selected.meta(meta.clone()),
            ))
            .meta(meta),
        )
        .unwrap();
        for result in [plain, with_meta] {
            let kind = OptionKind::from_wire(opt.kind).unwrap();
            let want = PermissionAnswer::Selected {
                option_id: opt.option_id.0.to_string(),
                kind,
            };
            assert_eq!(codec::parse_result(&result, &offered), want);
            let message = json!({"jsonrpc": "2.0", "id": "0192-uuid", "result": result});
            assert_eq!(codec::parse_response(&message, &offered), want);
            assert_eq!(
                codec::parse_result(&result, &offered).is_granted(),
                kind.is_allow()
            );
        }
    }
    let cancelled = official(acp::RequestPermissionOutcome::Cancelled);
    assert_eq!(
        codec::parse_result(&cancelled, &offered),
        PermissionAnswer::Cancelled
    );
    assert!(!codec::parse_result(&cancelled, &offered).is_granted());
    // The official client picks by kind; custom ids and names work the same way.
    let custom = vec![
        PermissionOption::new("opt-a", "Yes", OptionKind::AllowOnce.to_wire()),
        PermissionOption::new("opt-b", "No", OptionKind::RejectAlways.to_wire()),
    ];
    let pick = |id: &str| {
        official(acp::RequestPermissionOutcome::Selected(
            acp::SelectedPermissionOutcome::new(id.to_owned()),
        ))
    };
    assert!(codec::parse_result(&pick("opt-a"), &custom).is_granted());
    assert_eq!(
        codec::parse_result(&pick("opt-b"), &custom).option_kind(),
        Some(OptionKind::RejectAlways)
    );
}

fn nested(depth: usize) -> Value {
    let mut v = json!("allow_once");
    for _ in 0..depth {
        v = json!([v]);
    }
    v
}

/// Responses that must refuse: (what, JSON-RPC response message).
fn hostile_responses() -> Vec<(&'static str, Value)> {
    let ok = |result: Value| json!({"jsonrpc": "2.0", "id": 1, "result": result});
    let err = |code: i64| json!({"jsonrpc": "2.0", "id": 1, "error": {"code": code, "message": "nope"}});
    let sel = |id: Value| ok(json!({"outcome": {"outcome": "selected", "optionId": id}}));
    vec![
        (
            "flat selected outcome",
            ok(json!({"outcome": "selected", "optionId": "allow_once"})),
        ),
        ("flat cancelled outcome", ok(json!({"outcome": "cancelled"}))),
        (
            "snake_case option_id",
            ok(json!({"outcome": {"outcome": "selected", "option_id": "allow_once"}})),
        ),
        ("unknown optionId", sel(json!("yes"))),
        ("optionId not offered", sel(json!("allow_always"))),
        ("optionId in another case", sel(json!("Allow_Once"))),
        ("optionId with trailing space", sel(json!("allow_once "))),
        ("empty optionId", sel(json!(""))),
        (
            "unknown outcome",
            ok(json!({"outcome": {"outcome": "approved", "optionId": "allow_once"}})),
        ),
        (
            "capitalised outcome",
            ok(json!({"outcome": {"outcome": "Selected", "optionId": "allow_once"}})),
        ),
        (
            "outcome named by kind",
            ok(json!({"outcome": {"outcome": "allow_once"}})),
        ),
        (
            "client-claimed kind only",
            ok(json!({"outcome": {"outcome": "selected", "kind": "allow_once"}})),
        ),
        ("optionId is a number", sel(json!(0))),
        ("optionId is null", sel(Value::Null)),
        ("optionId is an array", sel(json!(["allow_once"]))),
        ("optionId is an object", sel(json!({"optionId": "allow_once"}))),
        (
            "outcome.outcome is a number",
            ok(json!({"outcome": {"outcome": 1, "optionId": "allow_once"}})),
        ),
        (
            "outcome.outcome missing",
            ok(json!({"outcome": {"optionId": "allow_once"}})),
        ),
        ("outcome is null", ok(json!({"outcome": null}))),
        (
            "outcome is an array",
            ok(json!({"outcome": [{"outcome": "selected", "optionId": "allow_once"}]})),
        ),
        ("result is null", ok(Value::Null)),
        ("result is a string", ok(json!("allow_once"))),
        ("result is true", ok(json!(true))),
        (
            "result is an array",
            ok(json!([{"outcome": {"outcome": "selected", "optionId": "allow_once"}}])),
        ),
        ("result is empty", ok(json!({}))),
        ("huge optionId", sel(json!("a".repeat(4 * 1024 * 1024)))),
        (
            "huge optionId starting with an offered id",
            sel(json!(format!("allow_once{}", " ".repeat(100_000)))),
        ),
        // serde_json refuses to parse deeper than 128 levels, so nothing deeper reaches the codec;
        // the connection tests feed it deeper text.
        ("deeply nested optionId", sel(nested(120))),
        ("deeply nested result", ok(nested(120))),
        ("JSON-RPC error -32800 (request cancelled)", err(-32800)),
        ("JSON-RPC error -32601 (no handler)", err(-32601)),
        ("JSON-RPC error -32603 (internal)", err(-32603)),
        ("JSON-RPC error -32602", err(-32602)),
        ("JSON-RPC server error -32000", err(-32000)),
        (
            "error with a string code",
            json!({"jsonrpc": "2.0", "id": 1, "error": {"code": "-32800", "message": "x"}}),
        ),
        (
            "error and result together",
            json!({"jsonrpc": "2.0", "id": 1, "error": {"code": -32603, "message": "x"},
            "result": {"outcome": {"outcome": "selected", "optionId": "allow_once"}}}),
        ),
        ("neither error nor result", json!({"jsonrpc": "2.0", "id": 1})),
        (
            "JSON-RPC 1.0",
            json!({"jsonrpc": "1.0", "id": 1, "result": {"outcome": {"outcome": "selected", "optionId": "allow_once"}}}),
        ),
        (
            "no jsonrpc member",
            json!({"id": 1, "result": {"outcome": {"outcome": "selected", "optionId": "allow_once"}}}),
        ),
        (
            "message is an array",
            json!([{"jsonrpc": "2.0", "id": 1, "result": {"outcome": {"outcome": "selected", "optionId": "allow_once"}}}]),
        ),
        ("message is a string", json!("allow_once")),
    ]
}

#[test]
fn malformed_and_hostile_responses_refuse_without_panicking() {
    // Only the once-options are offered, so an `allow_always` answer was never offered.
    let offered = vec![
        PermissionOption::new("allow_once", "Allow", OptionKind::AllowOnce.to_wire()),
        PermissionOption::new("reject_once", "Reject", OptionKind::RejectOnce.to_wire()),
    ];
    let table = hostile_responses();
    assert!(table.len() >= 20);
    for (what, message) in &table {
        let answer = std::panic::catch_unwind(|| codec::parse_response(message, &offered))
            .unwrap_or_else(|_| panic!("{what}: the parser panicked"));
        assert!(!answer.is_granted(), "{what}: granted {answer:?}");
        assert!(
            matches!(answer, PermissionAnswer::Invalid { .. }),
            "{what}: {answer:?}"
        );
        if let Some(result) = message.get("result").filter(|_| message.get("error").is_none())
            && message["jsonrpc"] == "2.0"
        {
            assert!(!codec::parse_result(result, &offered).is_granted(), "{what}");
        }
    }
    // A reject option and a cancelled turn are answers, but refuse too.
    let reject = json!({"jsonrpc": "2.0", "id": 1, "result": {"outcome": {"outcome": "selected", "optionId": "reject_once"}}});
    assert!(!codec::parse_response(&reject, &offered).is_granted());
    let cancelled = json!({"jsonrpc": "2.0", "id": 1, "result": {"outcome": {"outcome": "cancelled"}}});
    assert_eq!(
        codec::parse_response(&cancelled, &offered),
        PermissionAnswer::Cancelled
    );
    // Nothing offered: nothing can grant.
    let allow = json!({"outcome": {"outcome": "selected", "optionId": "allow_once"}});
    assert!(!codec::parse_result(&allow, &[]).is_granted());
    // The same id offered twice with different kinds is ambiguous: refuse.
    let twice = vec![
        PermissionOption::new("x", "Allow", OptionKind::AllowOnce.to_wire()),
        PermissionOption::new("x", "Reject", OptionKind::RejectOnce.to_wire()),
    ];
    let pick_x = json!({"outcome": {"outcome": "selected", "optionId": "x"}});
    assert!(!codec::parse_result(&pick_x, &twice).is_granted());
}

#[test]
fn transport_errors_refuse() {
    let offered = codec::standard_options("b");
    for e in [
        RpcError::new(RpcError::REQUEST_CANCELLED, "cancelled"),
        RpcError::method_not_found(codec::REQUEST_PERMISSION),
        RpcError::internal("boom"),
        RpcError::closed(),
    ] {
        assert!(matches!(
            codec::parse_reply(&Err(e), &offered),
            PermissionAnswer::Invalid { .. }
        ));
    }
}

mod arbitrary {
    use super::*;
    use proptest::prelude::*;

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            prop_oneof![
                Just("selected".to_owned()),
                Just("cancelled".to_owned()),
                Just("allow_once".to_owned()),
                Just("allow_always".to_owned()),
                Just("outcome".to_owned()),
                Just("optionId".to_owned()),
                ".{0,12}",
            ]
            .prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("outcome".to_owned()),
                        Just("optionId".to_owned()),
                        "[a-z_]{1,8}"
                    ],
                    inner,
                    0..4
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Only the exact nested shape with an offered allow id ever grants.
        #[test]
        fn arbitrary_results_grant_only_in_the_exact_shape(result in json_value()) {
            let offered = codec::standard_options("b");
            let answer = codec::parse_result(&result, &offered);
            if answer.is_granted() {
                let id = result["outcome"]["optionId"].as_str().unwrap();
                prop_assert_eq!(&result["outcome"]["outcome"], "selected");
                prop_assert!(id == "allow_once" || id == "allow_always");
            }
        }
    }
}

/// The agent side in-process: [`sidefx::acp::serve`] over in-memory pipes, driven by a raw
/// JSON-RPC peer, so the tests control every byte and every interleaving.
mod connection {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use serde_json::{Value, json};
    use sidefx::acp::{self, PromptHandler, StopReason, Turn, rpc::RpcError};
    use sidefx::log::MemoryEventLog;
    use sidefx::trust::{self, Outcome, TrustQuery};
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream, Lines};

    #[sidefx::side_effect(class = "fs.write", path(path), skip(hits))]
    async fn acp_conn_write(hits: &AtomicUsize, path: &str) -> Result<(), sidefx::Error> {
        let _ = path;
        hits.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    /// Writes each line of the prompt as a path, counting the writes that ran.
    struct Writer {
        hits: Arc<AtomicUsize>,
    }

    #[sidefx::async_trait]
    impl PromptHandler for Writer {
        async fn prompt(&self, turn: &Turn, prompt: &[Value]) -> Result<StopReason, RpcError> {
            for line in acp::prompt_text(prompt).lines() {
                let _ = turn
                    .tool_call(format!("write {line}"), acp_conn_write(&self.hits, line))
                    .await;
            }
            Ok(StopReason::EndTurn)
        }
    }

    struct Peer {
        lines: Lines<BufReader<DuplexStream>>,
        out: Option<DuplexStream>,
        hits: Arc<AtomicUsize>,
        log: Arc<MemoryEventLog>,
        server: tokio::task::JoinHandle<std::io::Result<()>>,
    }

    #[sidefx::side_effect(class = "network.http", url(url), skip(hits), redact(token))]
    async fn acp_conn_post(hits: &AtomicUsize, url: &str, token: &str) -> Result<(), sidefx::Error> {
        let _ = (url, token);
        hits.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    /// Posts to each line of the prompt as a URL, with a secret token.
    struct Poster {
        hits: Arc<AtomicUsize>,
    }

    const SECRET: &str = "s3cr3t-t0ken";

    #[sidefx::async_trait]
    impl PromptHandler for Poster {
        async fn prompt(&self, turn: &Turn, prompt: &[Value]) -> Result<StopReason, RpcError> {
            for line in acp::prompt_text(prompt).lines() {
                let _ = turn
                    .tool_call(format!("post {line}"), acp_conn_post(&self.hits, line, SECRET))
                    .await;
            }
            Ok(StopReason::EndTurn)
        }
    }

    impl Peer {
        fn start() -> Peer {
            Self::start_with(sidefx::Tier::ActWithApproval, |hits| Arc::new(Writer { hits }))
        }

        fn start_with<H: PromptHandler>(
            tier: sidefx::Tier,
            handler: impl FnOnce(Arc<AtomicUsize>) -> Arc<H>,
        ) -> Peer {
            let (agent_in, client_out) = tokio::io::duplex(1 << 16);
            let (client_in, agent_out) = tokio::io::duplex(1 << 16);
            let hits = Arc::new(AtomicUsize::new(0));
            let log = Arc::new(MemoryEventLog::new());
            let handler = handler(hits.clone());
            let policy = sidefx::AutonomyPolicy::at_tier(tier);
            let serving = acp::serve(agent_in, agent_out, acp::AgentInfo::new("t", "0"), handler);
            let server = tokio::spawn(sidefx::with_event_log(
                log.clone(),
                sidefx::with_policy(policy, serving),
            ));
            Peer {
                lines: BufReader::new(client_in).lines(),
                out: Some(client_out),
                hits,
                log,
                server,
            }
        }

        async fn send_raw(&mut self, line: &str) {
            let out = self.out.as_mut().expect("open");
            out.write_all(line.as_bytes()).await.unwrap();
            out.write_all(b"\n").await.unwrap();
        }

        async fn send(&mut self, msg: Value) {
            self.send_raw(&msg.to_string()).await;
        }

        async fn recv(&mut self) -> Value {
            let line = self
                .lines
                .next_line()
                .await
                .unwrap()
                .expect("the agent closed its output");
            serde_json::from_str(&line).unwrap()
        }

        /// The next message that is not a `session/update` notification.
        async fn next(&mut self) -> Value {
            loop {
                let m = self.recv().await;
                if m["method"] != "session/update" {
                    return m;
                }
            }
        }

        /// Initializes, opens a session, sends a prompt with id `prompt_id`, and returns the
        /// first permission request.
        async fn prompt_until_asked(&mut self, prompt_id: Value, text: &str) -> Value {
            self.send(
                json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": 1}}),
            )
            .await;
            assert_eq!(self.next().await["result"]["protocolVersion"], 1);
            self.send(json!({"jsonrpc": "2.0", "id": "new", "method": "session/new",
                "params": {"cwd": "/work/project", "mcpServers": []}}))
                .await;
            let sid = self.next().await["result"]["sessionId"]
                .as_str()
                .unwrap()
                .to_owned();
            self.send(
                json!({"jsonrpc": "2.0", "id": prompt_id, "method": "session/prompt",
                "params": {"sessionId": sid, "prompt": [{"type": "text", "text": text}]}}),
            )
            .await;
            let asked = self.next().await;
            assert_eq!(asked["method"], "session/request_permission", "{asked}");
            asked
        }

        async fn answer(&mut self, request: &Value, result: Value) {
            self.send(json!({"jsonrpc": "2.0", "id": request["id"], "result": result}))
                .await;
        }

        async fn records(&self) -> Vec<trust::TrustRecord> {
            trust::query(self.log.as_ref(), &TrustQuery::default())
                .await
                .unwrap()
        }
    }

    fn allow_once() -> Value {
        json!({"outcome": {"outcome": "selected", "optionId": "allow_once"}})
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_read_loop_keeps_serving_while_a_permission_request_is_outstanding() {
        let mut peer = Peer::start();
        let asked = peer.prompt_until_asked(json!("p-1"), "a.txt").await;
        assert!(asked["id"].is_number());
        // While the agent waits for the answer: requests with string and numeric ids are
        // answered, garbage gets -32700, stray responses and unknown notifications nothing.
        peer.send(
            json!({"jsonrpc": "2.0", "id": 77, "method": "initialize", "params": {"protocolVersion": 1}}),
        )
        .await;
        assert_eq!(peer.next().await["id"], 77);
        peer.send(json!({"jsonrpc": "2.0", "id": "x-1", "method": "terminal/create", "params": {}}))
            .await;
        let unknown = peer.next().await;
        assert_eq!(
            (unknown["id"].clone(), unknown["error"]["code"].clone()),
            (json!("x-1"), json!(-32601))
        );
        peer.send(json!({"jsonrpc": "2.0", "method": "editor/was_focused", "params": {}}))
            .await;
        peer.send(json!({"jsonrpc": "2.0", "id": 123_456, "result": allow_once()}))
            .await;
        peer.send_raw("{\"jsonrpc\": \"2.0\", \"id\": ").await;
        let garbage = peer.next().await;
        assert_eq!(
            (garbage["id"].clone(), garbage["error"]["code"].clone()),
            (Value::Null, json!(-32700))
        );
        assert_eq!(
            peer.hits.load(Ordering::SeqCst),
            0,
            "nothing ran before the answer"
        );
        // The answer to the outstanding request still lands.
        peer.answer(&asked, allow_once()).await;
        let done = peer.next().await;
        assert_eq!(
            done,
            json!({"jsonrpc": "2.0", "id": "p-1", "result": {"stopReason": "end_turn"}})
        );
        assert_eq!(peer.hits.load(Ordering::SeqCst), 1);
        drop(peer.out.take());
        (&mut peer.server).await.unwrap().unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hostile_answers_refuse_at_the_connection_level() {
        let answers = [
            json!({"jsonrpc": "2.0", "result": {"outcome": "selected", "optionId": "allow_once"}}),
            json!({"jsonrpc": "2.0", "result": {"outcome": {"outcome": "selected", "optionId": "maybe"}}}),
            json!({"jsonrpc": "2.0", "result": null}),
            json!({"jsonrpc": "2.0", "error": {"code": -32800, "message": "request cancelled"}}),
            json!({"jsonrpc": "2.0", "error": {"code": -32601, "message": "no handler"}}),
            json!({"jsonrpc": "2.0", "error": {"code": -32603, "message": "internal"}}),
            json!({"jsonrpc": "2.0"}),
            json!({"jsonrpc": "1.0", "result": {"outcome": {"outcome": "selected", "optionId": "allow_once"}}}),
            json!({"result": {"outcome": {"outcome": "selected", "optionId": "allow_once"}}}),
        ];
        for mut answer in answers {
            let mut peer = Peer::start();
            let asked = peer.prompt_until_asked(json!(5), "a.txt").await;
            answer["id"] = asked["id"].clone();
            peer.send(answer.clone()).await;
            let done = peer.next().await;
            assert_eq!(done["result"]["stopReason"], "end_turn", "{answer}");
            assert_eq!(peer.hits.load(Ordering::SeqCst), 0, "{answer}");
            let records = peer.records().await;
            assert_eq!(records.len(), 1);
            assert_eq!(records[0].outcome, Outcome::Denied, "{answer}");
            assert_eq!(
                records[0].metadata["acp"]["decided_by"], "invalid_response",
                "{answer}"
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_closed_connection_refuses_the_waiting_call_and_serve_returns() {
        let mut peer = Peer::start();
        let _asked = peer.prompt_until_asked(json!(5), "a.txt").await;
        drop(peer.out.take()); // stdin EOF while the permission request is outstanding
        (&mut peer.server).await.unwrap().unwrap();
        assert_eq!(peer.hits.load(Ordering::SeqCst), 0);
        let records = peer.records().await;
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].outcome, Outcome::Denied);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cancel_request_for_the_prompt_cancels_the_turn() {
        let mut peer = Peer::start();
        let _asked = peer.prompt_until_asked(json!("turn-9"), "a.txt\nb.txt").await;
        peer.send(json!({"jsonrpc": "2.0", "method": "$/cancel_request", "params": {"requestId": "turn-9"}}))
            .await;
        let done = peer.next().await;
        assert_eq!(
            done,
            json!({"jsonrpc": "2.0", "id": "turn-9", "result": {"stopReason": "cancelled"}})
        );
        assert_eq!(peer.hits.load(Ordering::SeqCst), 0);
        let records = peer.records().await;
        assert_eq!(records.len(), 2, "both calls were refused and recorded");
        assert!(
            records
                .iter()
                .all(|r| r.outcome == Outcome::Denied && r.metadata["acp"]["decided_by"] == "cancelled")
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_reviewer_on_the_log_can_decide_first_and_the_question_is_withdrawn() {
        let mut peer = Peer::start();
        let asked = peer.prompt_until_asked(json!(3), "a.txt").await;
        let request_id = asked["params"]["toolCall"]["_meta"]["sidefx"]["approvalRequestId"]
            .as_str()
            .unwrap()
            .to_owned();
        sidefx::approval::respond(peer.log.as_ref(), &request_id, "alice", true, None)
            .await
            .unwrap();
        let withdrawn = peer.next().await;
        assert_eq!(withdrawn["method"], "$/cancel_request");
        assert_eq!(withdrawn["params"]["requestId"], asked["id"]);
        assert_eq!(peer.next().await["result"]["stopReason"], "end_turn");
        assert_eq!(peer.hits.load(Ordering::SeqCst), 1);
        let records = peer.records().await;
        assert_eq!(records[0].approver.as_deref(), Some("alice"));
        assert_eq!(records[0].metadata["acp"]["decided_by"], "log");
    }

    /// A redacted argument stays redacted in the announcement's `rawInput` (at act_auto, where
    /// the call never reaches an approver), and the secret never reaches the wire.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redacted_arguments_stay_redacted_in_announcements() {
        for tier in [sidefx::Tier::ActAuto, sidefx::Tier::Shadow] {
            let mut peer = Peer::start_with(tier, |hits| Arc::new(Poster { hits }));
            peer.send(
                json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": 1}}),
            )
            .await;
            assert_eq!(peer.next().await["id"], 1);
            peer.send(json!({"jsonrpc": "2.0", "id": 2, "method": "session/new",
                "params": {"cwd": "/work/project", "mcpServers": []}}))
                .await;
            let sid = peer.next().await["result"]["sessionId"].clone();
            peer.send(json!({"jsonrpc": "2.0", "id": 3, "method": "session/prompt",
                "params": {"sessionId": sid, "prompt": [{"type": "text", "text": "https://example.com/hook"}]}}))
                .await;
            let mut notes = Vec::new();
            loop {
                let m = peer.recv().await;
                assert!(
                    !m.to_string().contains(SECRET),
                    "{tier}: the secret on the wire: {m}"
                );
                if m["id"] == 3 {
                    break;
                }
                notes.push(
                    serde_json::from_value::<super::acp::SessionNotification>(m["params"].clone()).unwrap(),
                );
            }
            let super::acp::SessionUpdate::ToolCall(tc) = &notes[0].update else {
                panic!("{tier}: announced first: {notes:?}");
            };
            assert_eq!(tc.kind, super::acp::ToolKind::Fetch, "{tier}");
            assert_eq!(
                tc.raw_input,
                Some(json!({"url": "https://example.com/hook", "token": "[redacted]"})),
                "{tier}"
            );
            assert_eq!(tc.status, super::acp::ToolCallStatus::Pending, "{tier}");
            let ran = usize::from(tier == sidefx::Tier::ActAuto);
            assert_eq!(peer.hits.load(Ordering::SeqCst), ran, "{tier}");
        }
    }
}

//! The raw protocol, no SDK.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use super::*;

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

//! Row "ACP codec": build a `session/request_permission` request and parse the client's
//! response, against a serde_json round trip (serialize, then parse into a `Value`) of the same
//! request params, in the same group.
//!
//! * `build_request`: `ToolCall::for_action` (the schema's `ToolCallUpdate`: title, kind,
//!   absolute locations, diff, raw input), the four standard `PermissionOption`s, and the
//!   JSON-RPC 2.0 line serialised from the borrowed `request_permission_params`;
//! * `parse_response`: the response line parsed into a `Value`, then `parse_response`
//!   (fail-closed validation against the offered options);
//! * `build_and_parse`: both, the row's number;
//! * `serde_json_round_trip`: `to_string` + `from_str::<Value>` of the request params.

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};
use sidefx::acp::codec::{self, PermissionAnswer, ToolCall};
use sidefx::acp::schema::PermissionOption;

/// The JSON-RPC request line, serialised straight from the borrowed params (as the connection
/// writes it).
#[derive(serde::Serialize)]
struct Request<'a, P> {
    jsonrpc: &'static str,
    id: u64,
    method: &'static str,
    params: &'a P,
}

fn args() -> Value {
    json!({"path": "src/lib.rs", "text": "pub fn answer() -> u32 {\n    42\n}\n"})
}

const RESPONSE: &str =
    r#"{"jsonrpc":"2.0","id":7,"result":{"outcome":{"outcome":"selected","optionId":"allow_once"}}}"#;

fn build(args: &Value) -> (String, Vec<PermissionOption>) {
    let call = ToolCall::for_action(
        "call-7",
        "write_file",
        "fs.write",
        "workspace.write_text",
        args,
        Some(Path::new("/work/project")),
    );
    let options = codec::standard_options("write_file");
    let params = codec::request_permission_params("session-1", &call, &options);
    let line = serde_json::to_string(&Request {
        jsonrpc: "2.0",
        id: 7,
        method: codec::REQUEST_PERMISSION,
        params: &params,
    })
    .expect("serialize");
    (line, options)
}

fn parse(line: &str, offered: &[PermissionOption]) -> PermissionAnswer {
    match serde_json::from_str::<Value>(line) {
        Ok(msg) => codec::parse_response(&msg, offered),
        Err(e) => PermissionAnswer::Invalid {
            reason: e.to_string(),
        },
    }
}

fn bench(c: &mut Criterion) {
    let args = args();
    let (_, offered) = build(&args);
    assert!(
        parse(RESPONSE, &offered).is_granted(),
        "the response must select an offered option"
    );
    let call = ToolCall::for_action(
        "call-7",
        "write_file",
        "fs.write",
        "workspace.write_text",
        &args,
        Some(Path::new("/work/project")),
    );
    // The same params as a JSON tree: the baseline serialises it and parses it back.
    let params = serde_json::to_value(codec::request_permission_params("session-1", &call, &offered))
        .expect("serialize");

    let mut group = c.benchmark_group("acp_codec");
    group.throughput(Throughput::Elements(1));
    group.bench_function("build_request", |b| b.iter(|| black_box(build(black_box(&args)))));
    group.bench_function("parse_response", |b| {
        b.iter(|| black_box(parse(black_box(RESPONSE), black_box(&offered))))
    });
    group.bench_function("build_and_parse", |b| {
        b.iter(|| {
            let (line, options) = build(black_box(&args));
            black_box(line);
            black_box(parse(black_box(RESPONSE), &options))
        })
    });
    group.bench_function("serde_json_round_trip", |b| {
        b.iter(|| {
            let text = serde_json::to_string(black_box(&params)).expect("serialize");
            black_box(serde_json::from_str::<Value>(&text).expect("parse"))
        })
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
}

criterion_group! { name = benches; config = config(); targets = bench }
criterion_main!(benches);

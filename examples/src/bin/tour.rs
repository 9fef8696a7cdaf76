//! The sidefx tour: real builtins called by two agents under a policy loaded from
//! `examples/tour-policy.json`, each call decided by its tier, then the trust chain verified.
//!
//! Run it with `cargo run --release -p sidefx-examples --bin tour`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};
use sidefx::log::{EventLog, MemoryEventLog, Topic, subscribe};
use sidefx::registry::{self, BuiltinInfo};
use sidefx::trust::{self, TrustQuery};
use sidefx::{AutonomyPolicy, Decision, DispatchContext};

/// The builtins of this tour's little runtime, with their classes.
const BUILTINS: &[BuiltinInfo] = &[
    BuiltinInfo::new("write_file", "fs.write", "workspace.write_text"),
    BuiltinInfo::new("delete_file", "fs.delete", "workspace.delete"),
    BuiltinInfo::new("exec", "process.exec", "process.exec"),
    BuiltinInfo::new("git.push", "git.write", "git.write"),
    BuiltinInfo::new("charge_card", "payments.charge", "payments.write"),
];

/// Runs a builtin's real side effect inside the workspace.
fn perform(workspace: &Path, builtin: &str, args: &Value) -> Result<String, String> {
    let arg = |k: &str| args[k].as_str().unwrap_or_default().to_owned();
    match builtin {
        "write_file" => std::fs::write(workspace.join(arg("path")), arg("text"))
            .map(|()| format!("wrote {}", arg("path")))
            .map_err(|e| e.to_string()),
        "delete_file" => std::fs::remove_file(workspace.join(arg("path")))
            .map(|()| format!("deleted {}", arg("path")))
            .map_err(|e| e.to_string()),
        "exec" => std::process::Command::new(arg("program"))
            .args(
                args["args"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str),
            )
            .current_dir(workspace)
            .output()
            .map(|o| {
                format!(
                    "ran {}: {}",
                    arg("program"),
                    String::from_utf8_lossy(&o.stdout).trim()
                )
            })
            .map_err(|e| e.to_string()),
        // A stand-in for a remote: the push is appended to a file the tour can show.
        "git.push" => std::fs::write(
            workspace.join("remote.log"),
            format!("pushed {}\n", arg("branch")),
        )
        .map(|()| format!("pushed {}", arg("branch")))
        .map_err(|e| e.to_string()),
        "charge_card" => Ok(format!("charged {}", args["cents"])),
        other => Err(format!("no implementation for {other}")),
    }
}

struct Row {
    agent: String,
    builtin: String,
    class: String,
    tier: String,
    outcome: String,
    record: String,
}

async fn call(log: &Arc<MemoryEventLog>, workspace: &Path, agent: &str, builtin: &str, args: Value) -> Row {
    let trace = format!("tour-{agent}-{builtin}-{}", sidefx::log::now_ms());
    let ctx = DispatchContext::new(agent).trace(trace.clone());
    let info = registry::lookup(builtin).expect("registered above");
    let (tier, outcome) = sidefx::with_dispatch(ctx, async {
        let tier = sidefx::resolve(&info.action()).map(|r| {
            if r.requires_human {
                "needs-human".to_owned()
            } else {
                r.tier.to_string()
            }
        });
        let outcome = match sidefx::enforce(builtin, &args).await {
            Ok(Decision::Proceed(permit)) => {
                let r = perform(workspace, builtin, &args);
                permit.finish(r.is_ok()).await;
                r.unwrap_or_else(|e| format!("failed: {e}"))
            }
            Ok(Decision::Approved {
                permit, approvers, ..
            }) => {
                let r = perform(workspace, builtin, &args);
                permit.finish(r.is_ok()).await;
                format!(
                    "approved by {}; {}",
                    approvers.join("+"),
                    r.unwrap_or_else(|e| format!("failed: {e}"))
                )
            }
            Ok(Decision::Skip { reason }) => format!("not run: {}", reason.code()),
            Err(e) => format!("error: {e}"),
        };
        (tier.unwrap_or_else(|e| e.code().to_owned()), outcome)
    })
    .await;
    let query = TrustQuery {
        trace_id: Some(trace),
        limit: Some(1),
        ..Default::default()
    };
    let record = trust::query(log.as_ref(), &query)
        .await
        .ok()
        .and_then(|r| r.into_iter().next())
        .map(|r| format!("#{} {}", r.chain_index, r.outcome))
        .unwrap_or_else(|| "-".into());
    Row {
        agent: agent.into(),
        builtin: builtin.into(),
        class: info.class.into(),
        tier,
        outcome,
        record,
    }
}

/// A reviewer at another desk: answers blocking approval requests in order from a script.
async fn reviewer(log: Arc<MemoryEventLog>, mut script: Vec<(&'static str, bool)>) {
    let mut sub = subscribe(log.as_ref(), Topic::HITL_APPROVALS, 0);
    while !script.is_empty() {
        let Ok(event) = sub.next().await else { return };
        if event.event.kind != "approval_requested" || event.event.payload["blocking"] != json!(true) {
            continue;
        }
        let (who, approve) = script.remove(0);
        let id = event.event.payload["request_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let reason = (!approve).then(|| "not before the release freeze ends".to_owned());
        let _ = sidefx::approval::respond(log.as_ref(), &id, who, approve, reason).await;
    }
}

fn print_table(rows: &[Row]) {
    let headers = ["agent", "builtin", "class", "tier", "outcome", "record"];
    let cells: Vec<[&str; 6]> = rows
        .iter()
        .map(|r| {
            [
                &*r.agent,
                &*r.builtin,
                &*r.class,
                &*r.tier,
                &*r.outcome,
                &*r.record,
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..6)
        .map(|i| {
            cells
                .iter()
                .map(|c| c[i].len())
                .chain([headers[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |c: [&str; 6]| {
        c.iter()
            .zip(&widths)
            .map(|(s, w)| format!("{s:<w$}"))
            .collect::<Vec<_>>()
            .join(" | ")
    };
    println!("{}", line(headers));
    println!(
        "{}",
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("-+-")
    );
    for c in cells {
        println!("{}", line(c));
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    for b in BUILTINS {
        registry::register(*b)?;
    }
    let policy_path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tour-policy.json");
    let policy = AutonomyPolicy::load(&policy_path)?;
    policy.validate(&registry::snapshot())?;
    let workspace = std::env::temp_dir().join(format!("sidefx-tour-{}", std::process::id()));
    std::fs::create_dir_all(&workspace)?;
    std::fs::write(workspace.join("old.txt"), "stale")?;
    let log = Arc::new(MemoryEventLog::new());

    println!("sidefx tour: policy {}", policy_path.display());
    println!("workspace {}\n", workspace.display());
    let reviewer = tokio::spawn(reviewer(log.clone(), vec![("alice", true), ("bob", false)]));

    let calls: Vec<(&str, &str, Value)> = vec![
        (
            "planner",
            "write_file",
            json!({"path": "notes.txt", "text": "hello"}),
        ),
        ("planner", "exec", json!({"program": "echo", "args": ["built"]})),
        ("planner", "delete_file", json!({"path": "old.txt"})),
        ("planner", "git.push", json!({"branch": "main"})),
        ("planner", "git.push", json!({"branch": "release"})),
        ("planner", "charge_card", json!({"cents": 4200})),
        (
            "intern",
            "write_file",
            json!({"path": "intern.txt", "text": "draft"}),
        ),
        ("intern", "delete_file", json!({"path": "notes.txt"})),
        ("intern", "exec", json!({"program": "echo", "args": ["hi"]})),
    ];
    let mut rows = Vec::new();
    let policy = Arc::new(policy);
    let log_dyn: Arc<dyn EventLog> = log.clone();
    for (agent, builtin, args) in calls {
        let row = sidefx::with_event_log(
            log_dyn.clone(),
            sidefx::with_policy(policy.clone(), call(&log, &workspace, agent, builtin, args)),
        )
        .await;
        rows.push(row);
    }
    reviewer.abort();
    print_table(&rows);

    let proposals = log.read_range(&Topic::TRIGGER_OUTBOX, 0, usize::MAX).await?.len();
    let pending = sidefx::approval::pending(log.as_ref()).await?.len();
    let chain = trust::verify_chain(log.as_ref()).await?;
    println!();
    println!("proposals on trigger.outbox: {proposals}; approval requests still pending: {pending}");
    match &chain.first_broken {
        None => println!("trust chain: {} records, verified", chain.records),
        Some(b) => println!("trust chain: BROKEN at {b}"),
    }
    let files: Vec<String> = std::fs::read_dir(&workspace)?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    println!("workspace now holds: {}", files.join(", "));
    std::fs::remove_dir_all(&workspace)?;
    Ok(())
}

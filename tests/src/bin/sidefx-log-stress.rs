//! A helper process for the event log tests (`tests/tests/sqlite.rs`, `tests/tests/eventlog`):
//! it uses a log the way an agent process would, so the tests can run several processes at once
//! and kill them. LOG is a file path (SQLite) or a `postgres://` URL.
//!
//! ```text
//! sidefx-log-stress trust LOG AGENT COUNT TASKS   # COUNT 0: forever
//! sidefx-log-stress writer LOG AGENT TASKS        # forever; errors are printed, not fatal
//! sidefx-log-stress request LOG AGENT             # file an approval request, print its id
//! sidefx-log-stress approve LOG ID REVIEWER       # approve a request, print its state
//! sidefx-log-stress default AGENT                 # append one record to sidefx::log::open_default()
//! sidefx-log-stress open LOG                      # open (creating the schema), print `opened`
//! sidefx-log-stress follow LOG TOPIC              # print `event ID` for each event, forever
//! sidefx-log-stress call LOG AGENT                # an act_with_approval call: `waiting ID`, then `ran`
//! sidefx-log-stress grant-race LOG AGENT TOKEN TASKS # `ready`; on a stdin line, TASKS identical
//!                                                 # suggest-tier calls at once: `ran N`
//! ```
//!
//! `trust` and `writer` print `ready` once the log is open, wait for a line on stdin, then
//! print `committed CHAIN_INDEX RECORD_ID` after each record's append returned (`writer`
//! prints `error MESSAGE` for a failed append and goes on).

use std::io::{BufRead, Write};
use std::sync::Arc;

use sidefx::log::{EventLog, LogTarget, Topic};
use sidefx::trust::{self, Outcome, TrustDraft};
use sidefx::{AutonomyPolicy, Tier, approval};

/// The error type of the helper's builtin.
#[derive(Debug)]
struct ToolError(#[allow(dead_code)] sidefx::Error);

impl From<sidefx::Error> for ToolError {
    fn from(e: sidefx::Error) -> Self {
        ToolError(e)
    }
}

/// The call that waits for a reviewer in `call` mode.
#[sidefx::side_effect(class = "git.write", name = "git.push")]
async fn git_push(branch: &str) -> Result<String, ToolError> {
    Ok(format!("pushed {branch}"))
}

/// How many `grant_race_store` bodies ran in this process.
static GRANT_RACE_RAN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The suggest-tier call of `grant-race` mode; the same builtin as in the grant tests
/// (`tests/tests/core/grants.rs`), so an approved suggestion is a grant for either process.
#[sidefx::side_effect(class = "store.write", name = "grant_race_store", redact(token))]
async fn grant_race_store(key: &str, token: &str) -> Result<(), ToolError> {
    let _ = (key, token);
    GRANT_RACE_RAN.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => fail(&e.to_string()),
    };
    if let Err(e) = runtime.block_on(run(&args)) {
        fail(&e.to_string());
    }
}

fn fail(message: &str) -> ! {
    eprintln!("sidefx-log-stress: {message}");
    std::process::exit(1);
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    // A closed pipe means the parent stopped listening; nothing useful is left to do.
    if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
        std::process::exit(0);
    }
}

async fn run(args: &[String]) -> sidefx::Result<()> {
    let arg = |i: usize| -> &str {
        args.get(i)
            .map(String::as_str)
            .unwrap_or_else(|| fail("missing argument; see the file's doc comment for usage"))
    };
    let number = |i: usize| -> usize { arg(i).parse().unwrap_or_else(|_| fail("expected a number")) };
    match arg(0) {
        "trust" => {
            let log: Arc<dyn EventLog> = sidefx::log::open(arg(1))?;
            let (agent, count, tasks) = (arg(2).to_owned(), number(3), number(4).max(1));
            say("ready");
            let mut go = String::new();
            let _ = std::io::stdin().lock().read_line(&mut go);
            let mut handles = Vec::new();
            for task in 0..tasks {
                let (log, agent) = (log.clone(), agent.clone());
                handles.push(tokio::spawn(async move {
                    let mut n = 0usize;
                    while count == 0 || n < count.div_ceil(tasks) {
                        let draft = TrustDraft::new(&agent, "fs.write", Outcome::Success, Tier::ActAuto)
                            .enforcement("audit_auto")
                            .meta("task", task)
                            .meta("n", n);
                        let record = trust::append(log.as_ref(), draft).await?;
                        say(&format!("committed {} {}", record.chain_index, record.record_id));
                        n += 1;
                    }
                    Ok::<(), sidefx::Error>(())
                }));
            }
            for h in handles {
                h.await
                    .map_err(|e| sidefx::Error::log("a stress writer task failed", e))??;
            }
            Ok(())
        }
        "writer" => {
            let log: Arc<dyn EventLog> = sidefx::log::open(arg(1))?;
            let (agent, tasks) = (arg(2).to_owned(), number(3).max(1));
            say("ready");
            let mut go = String::new();
            let _ = std::io::stdin().lock().read_line(&mut go);
            let mut handles = Vec::new();
            for task in 0..tasks {
                let (log, agent) = (log.clone(), agent.clone());
                handles.push(tokio::spawn(async move {
                    for n in 0usize.. {
                        let draft = TrustDraft::new(&agent, "fs.write", Outcome::Success, Tier::ActAuto)
                            .enforcement("audit_auto")
                            .meta("task", task)
                            .meta("n", n);
                        match trust::append(log.as_ref(), draft).await {
                            Ok(r) => say(&format!("committed {} {}", r.chain_index, r.record_id)),
                            Err(e) => {
                                say(&format!("error {e}"));
                                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                            }
                        }
                    }
                }));
            }
            for h in handles {
                let _ = h.await;
            }
            Ok(())
        }
        "open" => {
            let _log = sidefx::log::open(arg(1))?;
            say("opened");
            Ok(())
        }
        "follow" => {
            let log = LogTarget::parse(arg(1))?.open_existing()?;
            let topic = Topic::new(arg(2))?;
            let mut sub = sidefx::log::subscribe(log.as_ref(), topic, 0);
            say("ready");
            loop {
                let e = sub.next().await?;
                say(&format!("event {}", e.id));
            }
        }
        "call" => {
            let log = LogTarget::parse(arg(1))?.open_existing()?;
            let from = log.last_id(&Topic::HITL_APPROVALS).await?;
            let policy = Arc::new(AutonomyPolicy::at_tier(Tier::ActWithApproval).for_agent(arg(2)));
            let call = tokio::spawn(sidefx::with_event_log(
                log.clone(),
                sidefx::with_policy(policy, async { git_push("main").await }),
            ));
            let mut sub = sidefx::log::subscribe(log.as_ref(), Topic::HITL_APPROVALS, from);
            loop {
                let e = sub.next().await?;
                if e.event.kind == "approval_requested" {
                    say(&format!(
                        "waiting {}",
                        e.event.payload["request_id"].as_str().unwrap_or_default()
                    ));
                    break;
                }
            }
            match call.await {
                Ok(Ok(out)) => say(&format!("ran {out}")),
                Ok(Err(e)) => fail(&format!("the call did not run: {e:?}")),
                Err(e) => fail(&e.to_string()),
            }
            Ok(())
        }
        "grant-race" => {
            let log = LogTarget::parse(arg(1))?.open_existing()?;
            let policy = Arc::new(AutonomyPolicy::at_tier(Tier::Suggest).for_agent(arg(2)));
            let (token, tasks) = (arg(3).to_owned(), number(4).max(1));
            say("ready");
            let mut go = String::new();
            let _ = std::io::stdin().lock().read_line(&mut go);
            let calls: Vec<_> = (0..tasks)
                .map(|_| {
                    let (log, policy, token) = (log.clone(), policy.clone(), token.clone());
                    tokio::spawn(sidefx::with_event_log(
                        log,
                        sidefx::with_policy(policy, async move { grant_race_store("k", &token).await }),
                    ))
                })
                .collect();
            for call in calls {
                match call.await {
                    // A refused call (the suggest answer) is the expected outcome for most.
                    Ok(Ok(())) | Ok(Err(ToolError(sidefx::Error::Refused(_)))) => {}
                    Ok(Err(e)) => fail(&format!("a call failed: {e:?}")),
                    Err(e) => fail(&e.to_string()),
                }
            }
            say(&format!(
                "ran {}",
                GRANT_RACE_RAN.load(std::sync::atomic::Ordering::SeqCst)
            ));
            Ok(())
        }
        "request" => {
            let log = LogTarget::parse(arg(1))?.open_existing()?;
            let draft = approval::ApprovalDraft::new(arg(2), "git.push", "git.write")
                .args(serde_json::json!({"branch": "main"}));
            let req = approval::request(log.as_ref(), draft).await?;
            say(&req.request_id);
            Ok(())
        }
        "approve" => {
            let log = LogTarget::parse(arg(1))?.open_existing()?;
            let status =
                approval::respond(log.as_ref(), arg(2), arg(3), true, Some("looks fine".into())).await?;
            say(status.state().as_str());
            Ok(())
        }
        "default" => {
            let log = sidefx::log::open_default()?;
            let draft = TrustDraft::new(arg(1), "fs.write", Outcome::Success, Tier::ActAuto);
            let record = trust::append(log.as_ref(), draft).await?;
            say(&format!("committed {} {}", record.chain_index, record.record_id));
            Ok(())
        }
        other => fail(&format!("unknown mode {other:?}")),
    }
}

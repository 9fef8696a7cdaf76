//! A helper process for the SQLite tests of `tests/tests/sqlite.rs`: it appends to a log file
//! the way an agent process would, so the tests can run several processes at once and kill them.
//!
//! ```text
//! sidefx-log-stress trust LOG AGENT COUNT TASKS   # COUNT 0: forever
//! sidefx-log-stress request LOG AGENT             # file an approval request, print its id
//! sidefx-log-stress approve LOG ID REVIEWER       # approve a request, print its state
//! sidefx-log-stress default AGENT                 # append one record to sidefx::log::open_default()
//! ```
//!
//! `trust` prints `ready` once the log is open, waits for a line on stdin, then prints
//! `committed CHAIN_INDEX RECORD_ID` after each record's append returned.

use std::io::{BufRead, Write};
use std::sync::Arc;

use sidefx::log::{EventLog, SqliteEventLog};
use sidefx::trust::{self, Outcome, TrustDraft};
use sidefx::{Tier, approval};

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
            let log: Arc<dyn EventLog> = Arc::new(SqliteEventLog::open(arg(1))?);
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
                h.await.map_err(|e| sidefx::Error::Log(e.to_string()))??;
            }
            Ok(())
        }
        "request" => {
            let log = SqliteEventLog::open_existing(arg(1))?;
            let draft = approval::ApprovalDraft::new(arg(2), "git.push", "git.write")
                .args(serde_json::json!({"branch": "main"}));
            let req = approval::request(&log, draft).await?;
            say(&req.request_id);
            Ok(())
        }
        "approve" => {
            let log = SqliteEventLog::open_existing(arg(1))?;
            let status = approval::respond(&log, arg(2), arg(3), true, Some("looks fine".into())).await?;
            say(status.state());
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

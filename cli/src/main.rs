//! `sidefx`: the reviewer's command line over a sidefx event log (an SQLite file or a
//! PostgreSQL database).
//!
//! ```text
//! sidefx approvals list [--pending]            requests and their state
//! sidefx approvals show ID                     one request, its answers and decision
//! sidefx approvals approve ID --reviewer R [--reason TEXT]
//! sidefx approvals deny ID --reviewer R --reason TEXT
//! sidefx log tail [--topic T] [--follow] [--limit N]
//! sidefx trust list [--agent A] [--outcome O] [--since T] [--limit N] ...
//! sidefx trust verify                          exit 1 if the hash chain is broken
//! sidefx trust export                          every trust record (its hashed form), one JSON object a line
//! sidefx policy check FILE [--builtin NAME=CLASS]... [--manifest CARGO_TOML]...
//! sidefx policy explain FILE --agent A --builtin B [--class C] [--path P]... [--command LINE]
//!                      [--url U]... [--workspace DIR]     the decision for a hypothetical call
//! sidefx policy replay CANDIDATE [--since T] [--agent A] [--workspace DIR]
//!                                              what CANDIDATE would change on the recorded decisions
//! ```
//!
//! Every command takes `--log PATH|URL` (a file, or a `postgres://` URL; else `$SIDEFX_LOG`,
//! else `.sidefx/events.db` in the working directory; the log must exist, it is never created)
//! and `--json`. Errors are one line on stderr with exit status 1.

mod cmd;
mod output;
mod table;

use std::ffi::OsString;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::bail;
use clap::{Parser, Subcommand};
use cmd::{approvals, log, policy, trust};
use sidefx::log::{EventLog, LogTarget};

/// The reviewer's command line for sidefx: approvals, the event log, the trust chain, policies.
#[derive(Debug, Parser)]
#[command(name = "sidefx", version)]
struct Cli {
    /// The event log: a file, or a postgres://USER:PASSWORD@HOST:PORT/DATABASE URL [default:
    /// $SIDEFX_LOG, else .sidefx/events.db in the working directory]. It must exist: the CLI
    /// never creates a log.
    #[arg(long, global = true, value_name = "PATH|URL")]
    log: Option<OsString>,
    /// Print JSON for scripts instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Human approval requests (the `hitl.approvals` topic).
    #[command(subcommand)]
    Approvals(approvals::ApprovalsCmd),
    /// Raw events of the log.
    #[command(subcommand)]
    Log(log::LogCmd),
    /// The hash-chained trust records (the audit trail).
    #[command(subcommand)]
    Trust(trust::TrustCmd),
    /// Autonomy policy files.
    #[command(subcommand)]
    Policy(policy::PolicyCmd),
}

/// Every command's result: an error is printed as one line (its `Display`, which for a sidefx
/// error already names its cause).
type Res<T = ()> = anyhow::Result<T>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => return fail(&format!("cannot start the async runtime: {e}")),
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e.to_string()),
    }
}

fn fail(message: &str) -> ExitCode {
    let line: Vec<&str> = message.split_whitespace().collect();
    // Messages quote names and reasons from the log: escaped like every text output.
    eprintln!("sidefx: error: {}", output::escape(&line.join(" ")));
    ExitCode::FAILURE
}

fn open_log(target: Option<OsString>) -> Res<Arc<dyn EventLog>> {
    let target = match target.filter(|t| !t.is_empty()) {
        Some(t) => LogTarget::parse(t)?,
        None => sidefx::log::default_target()?,
    };
    if let LogTarget::File(path) = &target
        && !path.exists()
    {
        bail!(
            "no sidefx event log at {}: the file does not exist (pass --log PATH|URL or set SIDEFX_LOG)",
            path.display()
        );
    }
    Ok(target.open_existing()?)
}

async fn run(cli: Cli) -> Res {
    let json = cli.json;
    match cli.command {
        Command::Policy(cmd) => policy::run(cmd, cli.log, json).await,
        Command::Approvals(cmd) => approvals::run(open_log(cli.log)?.as_ref(), cmd, json).await,
        Command::Log(cmd) => log::run(open_log(cli.log)?, cmd, json).await,
        Command::Trust(cmd) => trust::run(open_log(cli.log)?.as_ref(), cmd, json).await,
    }
}

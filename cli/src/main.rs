//! `sidefx`: the reviewer's command line over a sidefx event log (SQLite).
//!
//! ```text
//! sidefx approvals list [--pending]            requests and their state
//! sidefx approvals show ID                     one request, its answers and decision
//! sidefx approvals approve ID --reviewer R [--reason TEXT]
//! sidefx approvals deny ID --reviewer R --reason TEXT
//! sidefx log tail [--topic T] [--follow] [--limit N]
//! sidefx trust list [--agent A] [--outcome O] [--since T] [--limit N] ...
//! sidefx trust verify                          exit 1 if the hash chain is broken
//! sidefx trust export                          every trust record, one JSON object a line
//! sidefx policy check FILE [--builtin NAME=CLASS]... [--manifest CARGO_TOML]...
//! ```
//!
//! Every command takes `--log PATH` (else `$SIDEFX_LOG`, else `.sidefx/events.db` in the
//! working directory; the file must exist, it is never created) and `--json`. Errors are one
//! line on stderr with exit status 1.

mod table;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use clap::{Parser, Subcommand};
use serde_json::{Value, json};
use sidefx::AutonomyPolicy;
use sidefx::approval::{self, ApprovalDecision, ApprovalStatus};
use sidefx::log::{EventLog, SqliteEventLog, StoredEvent, Topic, now_ms, subscribe};
use sidefx::registry::{BuiltinInfo, Registry};
use sidefx::trust::{self, Outcome, TrustQuery};
use table::{Table, shorten};

/// The reviewer's command line for sidefx: approvals, the event log, the trust chain, policies.
#[derive(Debug, Parser)]
#[command(name = "sidefx", version)]
struct Cli {
    /// The event log file [default: $SIDEFX_LOG, else .sidefx/events.db in the working
    /// directory]. It must exist: the CLI never creates a log.
    #[arg(long, global = true, value_name = "PATH")]
    log: Option<PathBuf>,
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
    Approvals(ApprovalsCmd),
    /// Raw events of the log.
    #[command(subcommand)]
    Log(LogCmd),
    /// The hash-chained trust records (the audit trail).
    #[command(subcommand)]
    Trust(TrustCmd),
    /// Autonomy policy files.
    #[command(subcommand)]
    Policy(PolicyCmd),
}

#[derive(Debug, Subcommand)]
enum ApprovalsCmd {
    /// Every request with its state (pending, approved, denied, timed_out, expired).
    List {
        /// Only requests still waiting for an answer.
        #[arg(long)]
        pending: bool,
    },
    /// One request: what is asked, the answers so far, the decision.
    Show {
        /// The request id.
        id: String,
    },
    /// Approve a request; a waiting agent resumes once the quorum is reached.
    Approve {
        /// The request id.
        id: String,
        /// Who approves (must be on the request's reviewer list if it has one).
        #[arg(long)]
        reviewer: String,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Deny a request; the call does not run.
    Deny {
        /// The request id.
        id: String,
        /// Who denies (must be on the request's reviewer list if it has one).
        #[arg(long)]
        reviewer: String,
        /// Why (shown to the agent).
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
enum LogCmd {
    /// The newest events, of one topic or of all; `--follow` keeps printing new ones.
    Tail {
        /// Only this topic (`trigger.outbox`, `trust_graph`, `hitl.approvals`, ...).
        #[arg(long)]
        topic: Option<String>,
        /// Keep running and print events as they are appended (by any process).
        #[arg(long, short)]
        follow: bool,
        /// How many past events to print.
        #[arg(long, short = 'n', default_value_t = 20)]
        limit: usize,
    },
}

#[derive(Debug, Subcommand)]
enum TrustCmd {
    /// Trust records, oldest first, filtered.
    List {
        /// Only this agent.
        #[arg(long)]
        agent: Option<String>,
        /// Only this action class (`fs.write`).
        #[arg(long)]
        action: Option<String>,
        /// Only this outcome: success, failure, denied, timeout.
        #[arg(long)]
        outcome: Option<String>,
        /// Only this tier: shadow, suggest, act_with_approval, act_auto.
        #[arg(long)]
        tier: Option<String>,
        /// Only this trace id.
        #[arg(long)]
        trace: Option<String>,
        /// Only records since an RFC 3339 time (2025-01-31T12:00:00Z) or a duration ago (90m, 24h, 7d).
        #[arg(long)]
        since: Option<String>,
        /// Keep only the newest N matches.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Verify the hash chain; exit status 1 names the first broken record.
    Verify,
    /// Every trust record exactly as stored, one JSON object a line.
    Export,
}

#[derive(Debug, Subcommand)]
enum PolicyCmd {
    /// Validate a policy file (JSON, or TOML by extension): tiers, keys, classes, agent ids.
    Check {
        /// The policy file.
        file: PathBuf,
        /// A builtin the policy may name, as NAME=CLASS (builtins of your runtime are not linked
        /// into this CLI; catalogue classes are always known). Repeatable.
        #[arg(long = "builtin", value_name = "NAME=CLASS")]
        builtins: Vec<String>,
        /// A crate's Cargo.toml whose `[package.metadata.sidefx.classes]` declares custom
        /// classes the policy may name. Repeatable.
        #[arg(long = "manifest", value_name = "CARGO_TOML")]
        manifests: Vec<PathBuf>,
    },
}

type Res<T = ()> = Result<T, String>;

fn err(e: sidefx::Error) -> String {
    e.to_string()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => return fail(&format!("cannot start the async runtime: {e}")),
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => fail(&message),
    }
}

fn fail(message: &str) -> ExitCode {
    let line: Vec<&str> = message.split_whitespace().collect();
    eprintln!("sidefx: error: {}", line.join(" "));
    ExitCode::FAILURE
}

/// Writes to stdout; a closed pipe (`| head`) ends the program quietly.
fn out(text: &str) -> Res {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => Err(format!("cannot write to stdout: {e}")),
    }
}

fn out_json(value: &impl serde::Serialize) -> Res {
    let text = serde_json::to_string_pretty(value).map_err(|e| format!("cannot encode JSON: {e}"))?;
    out(&format!("{text}\n"))
}

fn open_log(path: Option<PathBuf>) -> Res<Arc<SqliteEventLog>> {
    let path = match path.filter(|p| !p.as_os_str().is_empty()) {
        Some(p) => p,
        None => sidefx::log::default_path().map_err(err)?,
    };
    if !path.exists() {
        return Err(format!(
            "no sidefx event log at {}: the file does not exist (pass --log PATH or set SIDEFX_LOG)",
            path.display()
        ));
    }
    SqliteEventLog::open_existing(&path).map(Arc::new).map_err(err)
}

async fn run(cli: Cli) -> Res {
    let json = cli.json;
    match cli.command {
        Command::Policy(PolicyCmd::Check {
            file,
            builtins,
            manifests,
        }) => policy_check(&file, &builtins, &manifests, json),
        Command::Approvals(cmd) => {
            let log = open_log(cli.log)?;
            approvals(log.as_ref(), cmd, json).await
        }
        Command::Log(LogCmd::Tail { topic, follow, limit }) => {
            let log = open_log(cli.log)?;
            tail(log, topic, follow, limit, json).await
        }
        Command::Trust(cmd) => {
            let log = open_log(cli.log)?;
            trust_cmd(log.as_ref(), cmd, json).await
        }
    }
}

// ---------------------------------------------------------------- time

fn rfc3339(ms: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

fn parse_since(s: &str) -> Res<u64> {
    let ms = |t: std::time::SystemTime| {
        t.duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    };
    if let Ok(t) = humantime::parse_rfc3339_weak(s) {
        return Ok(ms(t));
    }
    if let Ok(d) = humantime::parse_duration(s) {
        return Ok(now_ms().saturating_sub(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)));
    }
    Err(format!(
        "--since {s:?} is neither an RFC 3339 time (2025-01-31T12:00:00Z) nor a duration ago (90m, 24h, 7d)"
    ))
}

// ---------------------------------------------------------------- approvals

fn status_json(s: &ApprovalStatus) -> Res<Value> {
    let mut v = serde_json::to_value(s).map_err(|e| format!("cannot encode JSON: {e}"))?;
    v["state"] = json!(s.state());
    Ok(v)
}

fn answers(s: &ApprovalStatus) -> String {
    s.responses
        .iter()
        .map(|r| {
            format!(
                "{}:{}",
                r.reviewer.as_deref().unwrap_or("?"),
                if r.approved { "yes" } else { "no" }
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn decision_text(d: Option<&ApprovalDecision>) -> String {
    match d {
        None => "none yet".into(),
        Some(ApprovalDecision::Approved { approvers }) => format!("approved by {}", approvers.join(", ")),
        Some(ApprovalDecision::Denied { reviewer, reason }) => match reason {
            Some(r) => format!("denied by {reviewer}: {r}"),
            None => format!("denied by {reviewer}"),
        },
        Some(ApprovalDecision::TimedOut) => "timed out".into(),
    }
}

async fn approvals(log: &dyn EventLog, cmd: ApprovalsCmd, json: bool) -> Res {
    match cmd {
        ApprovalsCmd::List { pending } => {
            let all = approval::list(log).await.map_err(err)?;
            let shown: Vec<_> = all
                .into_iter()
                .filter(|s| !pending || s.state() == "pending")
                .collect();
            if json {
                let v: Res<Vec<Value>> = shown.iter().map(status_json).collect();
                return out_json(&v?);
            }
            let mut t = Table::new(&[
                "ID",
                "STATE",
                "AGENT",
                "BUILTIN",
                "ACTION",
                "REQUESTED",
                "REVIEWERS",
                "ANSWERS",
            ]);
            for s in &shown {
                let r = &s.request;
                t.row(vec![
                    r.request_id.clone(),
                    s.state().into(),
                    r.agent.clone(),
                    r.builtin.clone(),
                    r.action.clone(),
                    r.requested_at.clone(),
                    if r.reviewers.is_empty() {
                        "anyone".into()
                    } else {
                        r.reviewers.join(",")
                    },
                    answers(s),
                ]);
            }
            let empty = if pending {
                "no pending approval requests"
            } else {
                "no approval requests"
            };
            out(&t.render(empty))
        }
        ApprovalsCmd::Show { id } => {
            let s = approval::status(log, &id).await.map_err(err)?;
            if json {
                return out_json(&status_json(&s)?);
            }
            out(&show_text(&s))
        }
        ApprovalsCmd::Approve { id, reviewer, reason } => {
            answer(log, &id, &reviewer, true, reason, json).await
        }
        ApprovalsCmd::Deny { id, reviewer, reason } => {
            answer(log, &id, &reviewer, false, Some(reason), json).await
        }
    }
}

fn show_text(s: &ApprovalStatus) -> String {
    let r = &s.request;
    let args = serde_json::to_string(&r.args).unwrap_or_default();
    let reviewers = if r.reviewers.is_empty() {
        format!("anyone (quorum {})", r.quorum)
    } else {
        format!("{} (quorum {})", r.reviewers.join(", "), r.quorum)
    };
    let mut text = String::new();
    for (k, v) in [
        ("request", r.request_id.clone()),
        ("state", s.state().to_owned()),
        ("agent", r.agent.clone()),
        ("builtin", r.builtin.clone()),
        ("action", r.action.clone()),
        ("args", args),
        ("args digest", r.args_digest.clone()),
        ("capabilities", r.capabilities_requested.join(", ")),
        ("trace", r.trace_id.clone()),
        ("reviewers", reviewers),
        ("requested", r.requested_at.clone()),
        ("deadline", r.deadline.clone()),
        (
            "caller",
            if r.blocking {
                "waiting for the decision".into()
            } else {
                "not waiting (the call did not run)".into()
            },
        ),
        ("decision", decision_text(s.decision.as_ref())),
    ] {
        text.push_str(&format!("{k:<13} {v}\n"));
    }
    let mut t = Table::new(&["REVIEWER", "ANSWER", "REASON", "AT"]);
    for resp in &s.responses {
        t.row(vec![
            resp.reviewer.clone().unwrap_or_else(|| "(none)".into()),
            if resp.approved { "approve" } else { "deny" }.into(),
            resp.reason.clone().unwrap_or_default(),
            rfc3339(resp.responded_at_ms),
        ]);
    }
    text.push_str("\nanswers:\n");
    text.push_str(&t.render("(none)"));
    text
}

async fn answer(
    log: &dyn EventLog,
    id: &str,
    reviewer: &str,
    approve: bool,
    reason: Option<String>,
    json: bool,
) -> Res {
    let reviewer = reviewer.trim();
    if reviewer.is_empty() {
        return Err("--reviewer must name who answers; an anonymous answer does not count".into());
    }
    let before = approval::status(log, id).await.map_err(err)?;
    if before.decision.is_some() {
        return Err(format!(
            "approval request {id} is already decided ({}); later answers are ignored",
            decision_text(before.decision.as_ref())
        ));
    }
    let r = &before.request;
    if !r.reviewers.is_empty() && !r.reviewers.iter().any(|x| x == reviewer) {
        return Err(format!(
            "`{reviewer}` is not a reviewer of approval request {id} (reviewers: {}); the answer would not count",
            r.reviewers.join(", ")
        ));
    }
    if before
        .responses
        .iter()
        .any(|x| x.reviewer.as_deref() == Some(reviewer))
    {
        return Err(format!(
            "`{reviewer}` already answered approval request {id}; a second answer would not count"
        ));
    }
    if before.state() == "expired" {
        return Err(format!(
            "approval request {id} passed its deadline ({}); it can no longer be answered",
            r.deadline
        ));
    }
    let after = approval::respond(log, id, reviewer, approve, reason)
        .await
        .map_err(err)?;
    if after.state() == "timed_out" {
        return Err(format!(
            "approval request {id} reached its deadline before the answer; it timed out"
        ));
    }
    if json {
        return out_json(&status_json(&after)?);
    }
    let verb = if approve { "approved" } else { "denied" };
    let now = match after.state() {
        "pending" => format!(
            "still pending ({} of {} approvals)",
            after.responses.iter().filter(|x| x.approved).count(),
            r.quorum
        ),
        state => format!("{state} ({})", decision_text(after.decision.as_ref())),
    };
    let note = if r.blocking || !approve {
        ""
    } else {
        "; no call is waiting on it (the call was recorded, not run), so re-dispatch it to act"
    };
    out(&format!(
        "{reviewer} {verb} request {id}: `{}` ({}) by agent `{}`; the request is {now}{note}\n",
        r.builtin, r.action, r.agent
    ))
}

// ---------------------------------------------------------------- log tail

fn event_json(topic: &Topic, e: &StoredEvent) -> Value {
    json!({
        "topic": topic,
        "id": e.id,
        "kind": e.event.kind,
        "occurred_at_ms": e.event.occurred_at_ms,
        "headers": e.event.headers,
        "payload": e.event.payload,
    })
}

fn event_line(topic: &Topic, e: &StoredEvent, json: bool) -> String {
    if json {
        return format!("{}\n", event_json(topic, e));
    }
    let headers: Vec<String> = e.event.headers.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let payload = serde_json::to_string(&e.event.payload).unwrap_or_default();
    let payload: String = if payload.chars().count() > 160 {
        payload.chars().take(159).chain(['…']).collect()
    } else {
        payload
    };
    format!(
        "{}  {}#{}  {}  {}  {}\n",
        rfc3339(e.event.occurred_at_ms),
        topic,
        e.id,
        e.event.kind,
        shorten(&headers.join(" ")),
        payload
    )
}

async fn tail(
    log: Arc<SqliteEventLog>,
    topic: Option<String>,
    follow: bool,
    limit: usize,
    json: bool,
) -> Res {
    let topics = match topic {
        Some(t) => vec![Topic::new(t).map_err(err)?],
        None => {
            let mut t = log.topics().await.map_err(err)?;
            if follow {
                for known in [Topic::TRIGGER_OUTBOX, Topic::TRUST_GRAPH, Topic::HITL_APPROVALS] {
                    if !t.contains(&known) {
                        t.push(known);
                    }
                }
            }
            t
        }
    };
    let mut recent = Vec::new();
    let mut cursors = Vec::new();
    for t in &topics {
        let last = log.latest(t).await.map_err(err)?.map_or(0, |e| e.id);
        let events = log
            .read_range(t, last.saturating_sub(limit as u64), limit)
            .await
            .map_err(err)?;
        let cursor = events.last().map_or(last, |e| e.id.max(last));
        cursors.push((t.clone(), cursor));
        recent.extend(events.into_iter().map(|e| (t.clone(), e)));
    }
    recent.sort_by(|a, b| {
        (a.1.event.occurred_at_ms, &a.0, a.1.id).cmp(&(b.1.event.occurred_at_ms, &b.0, b.1.id))
    });
    let skip = recent.len().saturating_sub(limit);
    let mut text = String::new();
    for (t, e) in &recent[skip..] {
        text.push_str(&event_line(t, e, json));
    }
    out(&text)?;
    if !follow {
        return Ok(());
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<(Topic, StoredEvent), String>>(256);
    for (t, cursor) in cursors {
        let (log, tx) = (log.clone(), tx.clone());
        tokio::spawn(async move {
            let mut sub = subscribe(log.as_ref(), t.clone(), cursor);
            loop {
                let next = sub.next().await.map(|e| (t.clone(), e)).map_err(err);
                let stop = next.is_err();
                if tx.send(next).await.is_err() || stop {
                    return;
                }
            }
        });
    }
    drop(tx);
    while let Some(next) = rx.recv().await {
        let (t, e) = next?;
        out(&event_line(&t, &e, json))?;
    }
    Ok(())
}

// ---------------------------------------------------------------- trust

async fn trust_cmd(log: &dyn EventLog, cmd: TrustCmd, json: bool) -> Res {
    match cmd {
        TrustCmd::List {
            agent,
            action,
            outcome,
            tier,
            trace,
            since,
            limit,
        } => {
            let query = TrustQuery {
                agent,
                action,
                outcome: outcome.map(|o| o.parse::<Outcome>()).transpose().map_err(err)?,
                tier: tier
                    .map(|t| t.parse::<sidefx::Tier>())
                    .transpose()
                    .map_err(|e| format!("--tier: {e}"))?,
                since_ms: since.as_deref().map(parse_since).transpose()?,
                until_ms: None,
                trace_id: trace,
                limit,
            };
            let records = trust::query(log, &query).await.map_err(err)?;
            if json {
                return out_json(&records);
            }
            let mut t = Table::new(&[
                "#",
                "TIME",
                "AGENT",
                "ACTION",
                "BUILTIN",
                "OUTCOME",
                "TIER",
                "ENFORCEMENT",
                "APPROVER",
            ]);
            for r in &records {
                t.row(vec![
                    r.chain_index.to_string(),
                    r.timestamp.clone(),
                    r.agent.clone(),
                    r.action.clone(),
                    r.metadata["builtin"].as_str().unwrap_or_default().to_owned(),
                    r.outcome.to_string(),
                    r.autonomy_tier.to_string(),
                    r.enforcement().unwrap_or_default().to_owned(),
                    r.approver.clone().unwrap_or_default(),
                ]);
            }
            out(&t.render("no trust records match"))
        }
        TrustCmd::Verify => {
            let v = trust::verify_chain(log).await.map_err(err)?;
            if json {
                out_json(&json!({
                    "valid": v.is_valid(),
                    "records": v.records,
                    "first_broken": v.first_broken,
                }))?;
            } else if v.is_valid() {
                out(&format!("trust chain valid: {} records\n", v.records))?;
            }
            match v.first_broken {
                None => Ok(()),
                Some(link) => Err(format!(
                    "trust chain broken at {link} ({} records read)",
                    v.records
                )),
            }
        }
        TrustCmd::Export => {
            let mut after = 0;
            loop {
                let batch = log
                    .read_range(&Topic::TRUST_GRAPH, after, 1024)
                    .await
                    .map_err(err)?;
                let Some(last) = batch.last() else {
                    return Ok(());
                };
                after = last.id;
                let mut text = String::new();
                for e in &batch {
                    text.push_str(&e.event.payload.to_string());
                    text.push('\n');
                }
                out(&text)?;
            }
        }
    }
}

// ---------------------------------------------------------------- policy

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

/// The custom classes a crate declares under `[package.metadata.sidefx.classes]`.
fn declared_classes(manifest: &std::path::Path) -> Res<Vec<String>> {
    let text = std::fs::read_to_string(manifest)
        .map_err(|e| format!("cannot read manifest {}: {e}", manifest.display()))?;
    let doc: toml::Value = toml::from_str(&text)
        .map_err(|e| format!("{} is not valid TOML: {}", manifest.display(), e.message()))?;
    let Some(table) = doc
        .get("package")
        .and_then(|p| p.get("metadata"))
        .and_then(|m| m.get("sidefx"))
        .and_then(|s| s.get("classes"))
        .and_then(toml::Value::as_table)
    else {
        return Err(format!(
            "{} declares no custom classes; add `[package.metadata.sidefx.classes]` with `\"payments.charge\" = \"payments.write\"`",
            manifest.display()
        ));
    };
    table
        .keys()
        .map(|class| match sidefx::catalogue::is_valid_class_name(class) {
            true => Ok(class.clone()),
            false => Err(format!(
                "{}: `{class}` is not a valid class name; use dot-separated lowercase segments such as payments.charge",
                manifest.display()
            )),
        })
        .collect()
}

fn policy_check(file: &std::path::Path, builtins: &[String], manifests: &[PathBuf], json: bool) -> Res {
    let mut entries: Vec<BuiltinInfo> = sidefx::registry::snapshot().all().to_vec();
    for spec in builtins {
        let Some((name, class)) = spec
            .split_once('=')
            .filter(|(n, c)| !n.is_empty() && !c.is_empty())
        else {
            return Err(format!(
                "--builtin {spec:?}: expected NAME=CLASS, such as git.push=git.write"
            ));
        };
        let capability = sidefx::catalogue::capability_of(class).unwrap_or(class);
        if sidefx::catalogue::capability_of(class).is_none() && !sidefx::catalogue::is_valid_class_name(class)
        {
            return Err(format!(
                "--builtin {spec:?}: `{class}` is not a valid class name; use dot-separated lowercase segments such as payments.charge"
            ));
        }
        entries.push(BuiltinInfo::new(leak(name), leak(class), leak(capability)));
    }
    let mut registry = Registry::from_entries(entries);
    for manifest in manifests {
        for class in declared_classes(manifest)? {
            registry = registry.with_class(class);
        }
    }
    let policy = AutonomyPolicy::load(file).map_err(err)?;
    policy
        .validate(&registry)
        .map_err(|e| format!("{}: {e}", file.display()))?;
    if json {
        out_json(&json!({ "file": file, "valid": true }))
    } else {
        out(&format!("policy {} is valid\n", file.display()))
    }
}

//! The sidefx tour: real `#[side_effect]` builtins (files, a child process, a push, a payment)
//! called by two agents under the policy in `examples/tour-policy.json`. Each call is decided by
//! its tier (act_auto, shadow, suggest, act_with_approval, or needs-human), a reviewer answers
//! the blocking approvals in-process (approving one push and denying another), and the trust
//! chain is verified at the end.
//!
//! ```
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! let log = std::sync::Arc::new(sidefx::log::MemoryEventLog::new());
//! let mut out = Vec::new();
//! let report = sidefx_examples::tour::run(log, &mut out).await.unwrap();
//! assert!(report.chain.is_valid());
//! assert!(String::from_utf8(out).unwrap().contains("needs-human"));
//! # });
//! ```

mod builtins;
mod replay;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sidefx::log::{EventLog, Topic};
use sidefx::registry;
use sidefx::resource::{Resource, ResourceKind, ResourceValue};
use sidefx::trust::{self, ChainVerification, TrustQuery, TrustRecord};
use sidefx::{AutonomyPolicy, DispatchContext, RefusalKind};

pub use builtins::{ToolError, charge_card, delete_file, exec, git_push, shell, write_file};
pub use replay::candidates;

/// One call of the tour and what became of it: a row of the printed table.
///
/// ```
/// let row = sidefx_examples::tour::Row::default();
/// assert!(row.agent.is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Row {
    /// The agent that called.
    pub agent: String,
    /// The builtin's registered name (`git.push`).
    pub builtin: String,
    /// Its class (`git.write`).
    pub class: String,
    /// The tier that decided, or `needs-human`.
    pub tier: String,
    /// What in the policy decided it (`rules[0]`, `agent_action_tiers.planner.git.push`).
    pub decided_by: String,
    /// What happened: the builtin's result, or why it did not run.
    pub outcome: String,
    /// The call's trust record (`#3 success`), or `-` when none was written (plain act_auto).
    pub record: String,
}

/// Everything the tour did, for callers that check it (tests, the CLI).
///
/// ```
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// let log = std::sync::Arc::new(sidefx::log::MemoryEventLog::new());
/// let report = sidefx_examples::tour::run(log, &mut std::io::sink()).await.unwrap();
/// assert!(report.rows.iter().any(|r| r.tier == "shadow"));
/// assert_eq!(report.chain.records, 8);
/// assert_eq!(report.pushes, ["pushed main"]); // the denied push did not run
/// # });
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct TourReport {
    /// One row per call, in call order.
    pub rows: Vec<Row>,
    /// The verification of the whole trust chain in the log.
    pub chain: ChainVerification,
    /// Proposals this run put on `trigger.outbox`.
    pub proposals: usize,
    /// Approval requests this run filed that are still pending (suggest, needs-human).
    pub pending: usize,
    /// The workspace's files after the run (it is deleted afterwards).
    pub workspace_files: Vec<String>,
    /// The pushes that reached the stand-in remote (`remote.log`), in order.
    pub pushes: Vec<String>,
    /// The replay of each of [`candidates`] over this run's records: (file name, report).
    pub replays: Vec<(String, sidefx::replay::ReplayReport)>,
}

/// The policy the tour runs under, shipped beside this crate.
///
/// ```
/// assert!(sidefx_examples::tour::policy_path().exists());
/// ```
pub fn policy_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tour-policy.json")
}

/// The calls the tour makes, in order.
enum Call {
    WriteFile(&'static str, &'static str),
    DeleteFile(&'static str),
    Exec(&'static [&'static str]),
    Shell(&'static str),
    GitPush(&'static str),
    Charge(u64, &'static str),
}

impl Call {
    fn builtin(&self) -> &'static str {
        match self {
            Call::WriteFile(..) => "write_file",
            Call::DeleteFile(..) => "delete_file",
            Call::Exec(..) => "exec",
            Call::Shell(..) => "shell",
            Call::GitPush(..) => "git.push",
            Call::Charge(..) => "charge_card",
        }
    }

    /// The resources the call touches, as its builtin declares them, so the row can show the
    /// tier the rules give this very call.
    fn resources(&self) -> Vec<Resource> {
        let (kind, arg, value) = match *self {
            Call::WriteFile(path, _) | Call::DeleteFile(path) => {
                (ResourceKind::Path, "path", ResourceValue::Path(path.into()))
            }
            Call::Exec(argv) => (
                ResourceKind::Command,
                "argv",
                ResourceValue::Argv(argv.iter().map(|a| (*a).to_owned()).collect()),
            ),
            Call::Shell(line) => (
                ResourceKind::Command,
                "line",
                ResourceValue::ShellLine(line.into()),
            ),
            Call::GitPush(..) | Call::Charge(..) => return Vec::new(),
        };
        vec![Resource::new(kind, arg, value)]
    }

    async fn invoke(&self, root: &Path) -> Result<String, ToolError> {
        match *self {
            Call::WriteFile(path, text) => write_file(root, path, text).await,
            Call::DeleteFile(path) => delete_file(root, path).await,
            Call::Exec(argv) => exec(root, argv).await,
            Call::Shell(line) => shell(root, line).await,
            Call::GitPush(branch) => git_push(root, branch).await,
            Call::Charge(cents, token) => charge_card(root, cents, token).await,
        }
    }
}

const CALLS: &[(&str, Call)] = &[
    ("planner", Call::WriteFile("src/notes.txt", "hello")),
    ("planner", Call::Exec(&["echo", "built"])),
    ("planner", Call::Shell("echo hi && rm -rf src")),
    ("planner", Call::DeleteFile("old.txt")),
    ("planner", Call::GitPush("main")),
    ("planner", Call::GitPush("release")),
    ("planner", Call::WriteFile("todo.txt", "ship it")),
    ("planner", Call::Charge(4200, "tok_4242_secret")),
    ("intern", Call::WriteFile("intern.txt", "draft")),
    ("intern", Call::DeleteFile("src/notes.txt")),
    ("intern", Call::Exec(&["echo", "hi"])),
];

/// Runs the tour against `log`, writing its account to `out`. Needs a tokio runtime with
/// timers, I/O and process support (`enable_all`).
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let log = std::sync::Arc::new(sidefx::log::MemoryEventLog::new());
/// let report = sidefx_examples::tour::run(log, &mut std::io::stdout()).await?;
/// assert_eq!(report.rows.len(), 11);
/// # Ok(()) }
/// ```
pub async fn run(
    log: Arc<dyn EventLog>,
    out: &mut dyn Write,
) -> Result<TourReport, Box<dyn std::error::Error>> {
    run_with(log, out, Reviewers::Scripted).await
}

/// Who answers the tour's act_with_approval calls.
///
/// ```
/// assert_ne!(sidefx_examples::tour::Reviewers::Scripted, sidefx_examples::tour::Reviewers::External);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reviewers {
    /// An in-process reviewer: alice approves the first push, bob denies the second.
    Scripted,
    /// A person in another terminal, with `sidefx approvals approve|deny`; the tour prints
    /// the command for each request to stderr and waits (the log must be shared, e.g. SQLite).
    External,
}

/// [`run`], choosing who answers approval requests.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use sidefx_examples::tour::{run_with, Reviewers};
/// let log = sidefx::log::open_default()?;
/// run_with(log, &mut std::io::stdout(), Reviewers::External).await?;
/// # Ok(()) }
/// ```
pub async fn run_with(
    log: Arc<dyn EventLog>,
    out: &mut dyn Write,
    reviewers: Reviewers,
) -> Result<TourReport, Box<dyn std::error::Error>> {
    let policy_path = policy_path();
    let policy = AutonomyPolicy::load(&policy_path)?;
    policy.validate(&registry::snapshot())?;
    let policy = Arc::new(policy);

    // Unique per run (process, time, and a counter for runs within one process), so runs
    // sharing a durable log or running concurrently keep their traces and workspaces apart.
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let run_id = format!(
        "{}-{}-{}",
        std::process::id(),
        sidefx::log::now_ms(),
        RUNS.fetch_add(1, Ordering::Relaxed)
    );
    let workspace = std::env::temp_dir().join(format!("sidefx-tour-{run_id}"));
    std::fs::create_dir_all(&workspace)?;
    std::fs::create_dir_all(workspace.join("src"))?;
    std::fs::write(workspace.join("old.txt"), "stale")?;
    let trust_start = latest_id(log.as_ref(), &Topic::TRUST_GRAPH).await?;
    let outbox_start = latest_id(log.as_ref(), &Topic::TRIGGER_OUTBOX).await?;
    let approvals_start = latest_id(log.as_ref(), &Topic::HITL_APPROVALS).await?;

    writeln!(out, "sidefx tour: policy {}", policy_path.display())?;
    writeln!(out, "workspace {}", workspace.display())?;
    writeln!(out)?;
    print_registry(out)?;
    writeln!(out)?;

    let reviewer = match reviewers {
        Reviewers::Scripted => tokio::spawn(reviewer(
            log.clone(),
            approvals_start,
            vec![("alice", true), ("bob", false), ("alice", true)],
        )),
        Reviewers::External => tokio::spawn(announce_requests(log.clone(), approvals_start)),
    };
    let mut rows = Vec::new();
    for (i, (agent, call)) in CALLS.iter().enumerate() {
        let trace = format!("tour-{run_id}-{i}");
        let row = sidefx::with_event_log(
            log.clone(),
            sidefx::with_policy(
                policy.clone(),
                one_call(log.as_ref(), &workspace, agent, call, trace),
            ),
        )
        .await?;
        rows.push(row);
    }
    reviewer.abort();
    print_table(out, &rows)?;

    let proposals = log
        .read_range(&Topic::TRIGGER_OUTBOX, outbox_start, usize::MAX)
        .await?
        .len();
    let run_prefix = format!("tour-{run_id}-");
    let pending = sidefx::approval::pending(log.as_ref())
        .await?
        .iter()
        .filter(|r| r.trace_id.starts_with(&run_prefix))
        .count();
    let chain = trust::verify_chain(log.as_ref()).await?;
    let mut workspace_files: Vec<String> = std::fs::read_dir(&workspace)?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    workspace_files.sort();
    let pushes = match std::fs::read_to_string(workspace.join("remote.log")) {
        Ok(text) => text.lines().map(str::to_owned).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    std::fs::remove_dir_all(&workspace)?;

    writeln!(out)?;
    writeln!(
        out,
        "proposals on trigger.outbox: {proposals}; approval requests still pending: {pending}"
    )?;
    match &chain.first_broken {
        None => writeln!(out, "trust chain: {} records, verified", chain.records)?,
        Some(b) => writeln!(out, "trust chain: BROKEN at {b}")?,
    }
    writeln!(out, "workspace held: {}", workspace_files.join(", "))?;
    writeln!(out, "remote received: {}", pushes.join(", "))?;
    let replays = replay::replay_candidates(log.as_ref(), trust_start, out).await?;
    Ok(TourReport {
        rows,
        chain,
        proposals,
        pending,
        workspace_files,
        pushes,
        replays,
    })
}

/// One call as `agent`, under the scopes the caller set up.
async fn one_call(
    log: &dyn EventLog,
    workspace: &Path,
    agent: &str,
    call: &Call,
    trace: String,
) -> Result<Row, Box<dyn std::error::Error>> {
    let builtin = call.builtin();
    let info = registry::require(builtin)?;
    // Paths in rules are resolved against the scratch workspace, where the builtins write.
    let ctx = DispatchContext::new(agent)
        .trace(trace.clone())
        .workspace(workspace);
    let (tier, decided_by, result) = sidefx::with_dispatch(ctx, async {
        let resolved = sidefx::Scope::capture().resolve_call(&info.action(), &call.resources());
        let (tier, decided_by) = match resolved {
            Ok(r) if r.requires_human => ("needs-human".to_owned(), label(&r.decided_by)),
            Ok(r) => (r.tier.to_string(), label(&r.decided_by)),
            Err(e) => (e.code().to_owned(), "-".to_owned()),
        };
        (tier, decided_by, call.invoke(workspace).await)
    })
    .await;
    let record = record_for(log, &trace).await?;
    let outcome = match (&result, &record) {
        (Ok(done), Some(r)) if r.enforcement() == Some("approval_granted") => {
            format!("approved by {}; {done}", r.approver.as_deref().unwrap_or("?"))
        }
        (Ok(done), _) => done.clone(),
        (Err(ToolError::Refused(e)), _) => match e.refusal().map(|r| &r.kind) {
            Some(RefusalKind::ApprovalDenied { reviewer, .. }) => {
                format!("denied by {reviewer}; not run: {}", e.code())
            }
            _ => format!("not run: {}", e.code()),
        },
        (Err(e), _) => format!("failed: {e}"),
    };
    Ok(Row {
        agent: agent.to_owned(),
        builtin: builtin.to_owned(),
        class: info.class.to_owned(),
        tier,
        decided_by,
        outcome,
        record: record.map_or_else(|| "-".to_owned(), |r| format!("#{} {}", r.chain_index, r.outcome)),
    })
}

/// What decided, without a rule's full text (`rules[0]`): the table stays readable, and
/// `sidefx policy explain` shows the rule.
fn label(decided_by: &impl std::fmt::Display) -> String {
    let text = decided_by.to_string();
    match text.split_once(' ') {
        Some((head, _)) => head.to_owned(),
        None => text,
    }
}

async fn record_for(log: &dyn EventLog, trace: &str) -> sidefx::Result<Option<TrustRecord>> {
    let query = TrustQuery {
        trace_id: Some(trace.to_owned()),
        limit: Some(1),
        ..Default::default()
    };
    Ok(trust::query(log, &query).await?.pop())
}

async fn latest_id(log: &dyn EventLog, topic: &Topic) -> sidefx::Result<u64> {
    Ok(log.latest(topic).await?.map_or(0, |e| e.id))
}

/// A reviewer at another desk: answers this run's blocking approval requests in order. It
/// finds them with [`sidefx::approval::requests`], the documented stream of filed requests.
async fn reviewer(log: Arc<dyn EventLog>, after: u64, mut script: Vec<(&'static str, bool)>) {
    let mut filed = sidefx::approval::requests(log.as_ref(), after);
    while !script.is_empty() {
        let Ok(request) = filed.next().await else { return };
        if !request.blocking {
            continue;
        }
        let (who, approve) = script.remove(0);
        let reason = (!approve).then(|| "not before the release freeze ends".to_owned());
        if let Err(e) =
            sidefx::approval::respond(log.as_ref(), &request.request_id, who, approve, reason).await
        {
            eprintln!("reviewer {who}: {e}");
        }
    }
}

/// Tells the person at the other terminal how to answer each blocking request of this run.
async fn announce_requests(log: Arc<dyn EventLog>, after: u64) {
    let mut filed = sidefx::approval::requests(log.as_ref(), after);
    while let Ok(request) = filed.next().await {
        if request.blocking {
            let id = &request.request_id;
            eprintln!(
                "waiting for a reviewer on {} by {}: in another terminal run\n  sidefx approvals approve {id} --reviewer alice\n  sidefx approvals deny {id} --reviewer bob --reason \"..\"",
                request.builtin, request.agent,
            );
        }
    }
}

/// The builtins this binary linked, as the registry lists them.
fn print_registry(out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "builtins (link-time registry):")?;
    let mut mine: Vec<_> = registry::all()
        .into_iter()
        .filter(|e| e.module_path.starts_with(module_path!()))
        .collect();
    mine.sort_by_key(|e| e.line);
    for e in mine {
        writeln!(
            out,
            "  {:<12} {:<16} {:<22} {}:{}",
            e.name, e.class, e.capability, e.file, e.line
        )?;
    }
    Ok(())
}

fn print_table(out: &mut dyn Write, rows: &[Row]) -> std::io::Result<()> {
    let headers = [
        "agent",
        "builtin",
        "class",
        "tier",
        "decided by",
        "outcome",
        "record",
    ];
    let cells: Vec<[&str; 7]> = rows
        .iter()
        .map(|r| {
            [
                &*r.agent,
                &*r.builtin,
                &*r.class,
                &*r.tier,
                &*r.decided_by,
                &*r.outcome,
                &*r.record,
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..7)
        .map(|i| {
            cells
                .iter()
                .map(|c| c[i].len())
                .chain([headers[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |c: [&str; 7]| {
        c.iter()
            .zip(&widths)
            .map(|(s, w)| format!("{s:<w$}"))
            .collect::<Vec<_>>()
            .join(" | ")
            .trim_end()
            .to_owned()
    };
    writeln!(out, "{}", line(headers))?;
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    writeln!(out, "{}", rule.join("-+-"))?;
    for c in cells {
        writeln!(out, "{}", line(c))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_tour_shows_every_tier_and_what_ran() {
        let log = Arc::new(sidefx::log::MemoryEventLog::new());
        let mut out = Vec::new();
        let report = run(log.clone(), &mut out).await.expect("the tour runs");
        let text = String::from_utf8(out).expect("utf-8");
        for tier in [
            "act_auto",
            "shadow",
            "suggest",
            "act_with_approval",
            "needs-human",
        ] {
            assert!(
                report.rows.iter().any(|r| r.tier == tier),
                "no row at {tier}:\n{text}"
            );
            assert!(text.contains(tier), "{text}");
        }
        let outcomes: Vec<&str> = report.rows.iter().map(|r| r.outcome.as_str()).collect();
        assert_eq!(
            outcomes,
            [
                "wrote src/notes.txt",
                "ran echo: built",
                "not run: SIDEFX-SKIPPED",
                "not run: SIDEFX-SKIPPED",
                "approved by alice; pushed main",
                "denied by bob; not run: SIDEFX-APPROVAL-DENIED",
                "approved by alice; wrote todo.txt",
                "not run: SIDEFX-NEEDS-HUMAN",
                "wrote intern.txt",
                "not run: SIDEFX-SKIPPED",
                "not run: SIDEFX-SKIPPED",
            ]
        );
        // Rules on arguments: the planner's write under `src/` and its `echo` ran by a rule; the
        // write outside `src/` needed approval and the chained shell line was only suggested.
        let decided: Vec<(&str, &str)> = report
            .rows
            .iter()
            .map(|r| (r.tier.as_str(), r.decided_by.as_str()))
            .collect();
        assert_eq!(decided[0], ("act_auto", "rules[0]"), "{text}");
        assert_eq!(decided[1], ("act_auto", "rules[1]"), "{text}");
        assert_eq!(
            decided[2],
            ("suggest", "agent_action_tiers[planner][process.exec]"),
            "{text}"
        );
        assert_eq!(
            decided[6],
            ("act_with_approval", "agent_action_tiers[planner][fs.write]"),
            "{text}"
        );
        assert!(text.contains("decided by") && text.contains("rules[0]"), "{text}");
        // The bodies' effects: shadow and suggest deletes did not run (nor did `rm -rf src`),
        // the charge did not run, only the approved push reached the remote.
        assert_eq!(
            report.workspace_files,
            ["intern.txt", "old.txt", "remote.log", "src", "todo.txt"]
        );
        assert_eq!(report.pushes, ["pushed main"]);
        assert!(report.chain.is_valid());
        assert_eq!(report.chain.records, 8);
        // The tour ends by replaying candidates over its own records: the policy that ran
        // changes nothing; the stricter one sends the planner's delete to a human.
        let replayed: Vec<(&str, usize, usize, usize)> = report
            .replays
            .iter()
            .map(|(name, r)| (name.as_str(), r.total, r.changed, r.newly_human))
            .collect();
        assert_eq!(
            replayed,
            [
                ("tour-policy.json", 8, 0, 0),
                ("tour-policy-stricter.json", 8, 5, 1),
                ("tour-policy-looser.json", 8, 4, 0),
            ],
            "{text}"
        );
        assert!(
            text.contains("delete_file: shadow -> requires_human x1 (newly sent to a human)"),
            "{text}"
        );
        assert_eq!((report.proposals, report.pending), (5, 4));
        // The charge's card token is redacted everywhere.
        for topic in [Topic::TRIGGER_OUTBOX, Topic::TRUST_GRAPH, Topic::HITL_APPROVALS] {
            for e in log.read_range(&topic, 0, usize::MAX).await.expect("read") {
                let json = serde_json::to_string(&e.event).expect("json");
                assert!(!json.contains("tok_4242_secret"), "{json}");
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_runs_on_one_log_stay_apart() {
        let log: Arc<dyn EventLog> = Arc::new(sidefx::log::MemoryEventLog::new());
        let first = run(log.clone(), &mut std::io::sink()).await.expect("first run");
        let second = run(log, &mut std::io::sink()).await.expect("second run");
        assert_eq!(first.rows.len(), second.rows.len());
        assert_eq!((second.proposals, second.pending), (5, 4));
        assert_eq!(second.chain.records, 16);
        assert!(second.chain.is_valid());
        assert_eq!(second.rows[4].outcome, "approved by alice; pushed main");
    }
}

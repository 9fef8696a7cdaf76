//! `sidefx policy replay`: what a candidate policy would change on the decisions a log
//! recorded.

use std::path::PathBuf;

use sidefx::AutonomyPolicy;
use sidefx::log::EventLog;
use sidefx::replay::{ReplayFilter, ReplayReport};

use crate::Res;
use crate::output::{escape, out_json, out_text};
use crate::table::Table;

/// Arguments of `sidefx policy replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// The candidate policy file (JSON, or TOML by extension).
    candidate: PathBuf,
    /// Only decisions since an RFC 3339 time (2025-01-31T12:00:00Z) or a duration ago (90m, 24h, 7d).
    #[arg(long)]
    since: Option<String>,
    /// Only this agent's decisions.
    #[arg(long)]
    agent: Option<String>,
    /// Resolve relative path patterns against DIR for calls recorded without a workspace
    /// [default: the candidate's "workspace", else the working directory].
    #[arg(long, value_name = "DIR")]
    workspace: Option<PathBuf>,
}

/// Replays the candidate on the log and prints the report.
pub async fn run(log: &dyn EventLog, args: ReplayArgs, json: bool) -> Res {
    let candidate = AutonomyPolicy::load(&args.candidate)?;
    let mut filter = ReplayFilter::default();
    if let Some(since) = args.since.as_deref() {
        filter = filter.since_ms(super::trust::parse_since(since)?);
    }
    if let Some(agent) = args.agent {
        filter = filter.agent(agent);
    }
    if let Some(dir) = args.workspace {
        filter = filter.workspace(dir);
    }
    let report = sidefx::replay(log, &candidate, &filter).await?;
    if json {
        return out_json(&report);
    }
    out_text(&render(&args.candidate.display().to_string(), &report))
}

fn render(candidate: &str, r: &ReplayReport) -> String {
    let mut text = format!(
        "replayed {} recorded decisions under {}: {} changed, {} unchanged, {} unknown\n",
        r.total,
        escape(candidate),
        r.changed,
        r.unchanged,
        r.unknown
    );
    text.push_str(&format!("newly sent to a human: {}\n", r.newly_human));
    text.push_str(&format!(
        "act_auto calls not in the log: unknown ({} audited act_auto decisions replayed); {}\n",
        r.act_auto_replayed, r.record_act_auto
    ));
    let mut changes = Table::new(&[
        "AGENT",
        "BUILTIN",
        "FROM",
        "TO",
        "COUNT",
        "HUMAN",
        "EXAMPLE",
        "NOW DECIDED BY",
    ]);
    for c in &r.changes {
        changes.row(vec![
            c.agent.clone(),
            c.builtin.clone(),
            c.from.to_string(),
            c.to.to_string(),
            c.count.to_string(),
            if c.newly_human {
                "new".into()
            } else {
                String::new()
            },
            format!("#{} {}", c.example.chain_index, c.example.args),
            c.example.decided_by.clone().unwrap_or_default(),
        ]);
    }
    text.push_str("\nchanges (HUMAN new: the candidate files an approval request where none was filed):\n");
    text.push_str(&changes.render("no recorded decision would change"));
    if !r.unknowns.is_empty() {
        let mut unknowns = Table::new(&["AGENT", "BUILTIN", "FROM", "COUNT", "MASKED", "EXAMPLE"]);
        for u in &r.unknowns {
            unknowns.row(vec![
                u.agent.clone(),
                u.builtin.clone(),
                u.from.to_string(),
                u.count.to_string(),
                u.needs.join(","),
                format!("#{} {}", u.example.chain_index, u.example.args),
            ]);
        }
        text.push_str("\nunknown (a candidate rule reads a value the records mask or lack; not guessed):\n");
        text.push_str(&unknowns.render(""));
    }
    text
}

//! The tour's last step: replay candidate policies over the decisions this run recorded, as
//! `sidefx policy replay CANDIDATE` would.

use std::io::Write;
use std::path::{Path, PathBuf};

use sidefx::AutonomyPolicy;
use sidefx::log::EventLog;
use sidefx::replay::{ReplayFilter, ReplayReport};

/// The candidates the tour replays: the policy that ran, a stricter and a looser one, all
/// shipped beside this crate.
///
/// ```
/// let c = sidefx_examples::tour::candidates();
/// assert!(c.iter().all(|p| p.exists()));
/// ```
pub fn candidates() -> [PathBuf; 3] {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    [
        super::policy_path(),
        dir.join("tour-policy-stricter.json"),
        dir.join("tour-policy-looser.json"),
    ]
}

/// Replays each candidate over the decisions recorded after trust event `after` and prints
/// what would change.
pub(super) async fn replay_candidates(
    log: &dyn EventLog,
    after: u64,
    out: &mut dyn Write,
) -> Result<Vec<(String, ReplayReport)>, Box<dyn std::error::Error>> {
    let filter = ReplayFilter::default().after_event(after);
    let mut reports = Vec::new();
    writeln!(out)?;
    writeln!(
        out,
        "replaying candidate policies over this run's recorded decisions (`sidefx policy replay`):"
    )?;
    for path in candidates() {
        let name = path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let candidate = AutonomyPolicy::load(&path)?;
        let report = sidefx::replay(log, &candidate, &filter).await?;
        writeln!(
            out,
            "  {name}: {} decisions, {} changed, {} newly sent to a human",
            report.total, report.changed, report.newly_human
        )?;
        for c in &report.changes {
            let human = if c.newly_human {
                " (newly sent to a human)"
            } else {
                ""
            };
            writeln!(
                out,
                "    {} {}: {} -> {} x{}{human}",
                c.agent, c.builtin, c.from, c.to, c.count
            )?;
        }
        reports.push((name, report));
    }
    writeln!(
        out,
        "  act_auto calls this run made are not in the log: {}",
        sidefx::replay::RECORD_ACT_AUTO
    )?;
    Ok(reports)
}

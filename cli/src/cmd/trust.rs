//! `sidefx trust`: list, verify and export the hash-chained trust records.

use std::time::UNIX_EPOCH;

use anyhow::anyhow;
use clap::Subcommand;
use serde_json::json;
use sidefx::log::{EventLog, Topic, now_ms};
use sidefx::trust::{self, Outcome, TrustQuery, TrustRecord};

use crate::Res;
use crate::output::{out, out_json, out_text};
use crate::table::Table;

#[derive(Debug, Subcommand)]
pub enum TrustCmd {
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
    /// Every trust record in its canonical, hashed form (sorted keys), one JSON object a line.
    /// Stored fields outside the hash are never printed; `trust verify` reports them.
    Export,
}

/// Runs a `trust` subcommand.
pub async fn run(log: &dyn EventLog, cmd: TrustCmd, json: bool) -> Res {
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
                outcome: outcome.map(|o| o.parse::<Outcome>()).transpose()?,
                tier: tier
                    .map(|t| t.parse::<sidefx::Tier>())
                    .transpose()
                    .map_err(|e| anyhow!("--tier: {e}"))?,
                since_ms: since.as_deref().map(parse_since).transpose()?,
                until_ms: None,
                trace_id: trace,
                limit,
            };
            let records = trust::query(log, &query).await?;
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
            out_text(&t.render("no trust records match"))
        }
        TrustCmd::Verify => {
            let v = trust::verify_chain(log).await?;
            if json {
                out_json(&json!({
                    "valid": v.is_valid(),
                    "records": v.records,
                    "first_broken": v.first_broken,
                }))?;
            } else if v.is_valid() {
                out_text(&format!("trust chain valid: {} records\n", v.records))?;
            }
            match v.first_broken {
                None => Ok(()),
                Some(link) => Err(anyhow!(
                    "trust chain broken at {link} ({} records read)",
                    v.records
                )),
            }
        }
        TrustCmd::Export => {
            let mut text = String::new();
            for e in sidefx::log::read_all(log, &Topic::TRUST_GRAPH).await? {
                // Only what the hash covers: the record re-encoded, not the stored bytes.
                let record = TrustRecord::from_event(&e.event).map_err(|x| {
                    anyhow!("trust record at event {}: {x} (run `sidefx trust verify`)", e.id)
                })?;
                let value = serde_json::to_value(&record).map_err(|x| anyhow!("cannot encode JSON: {x}"))?;
                text.push_str(&sidefx::canonical::to_string(&value));
                text.push('\n');
            }
            out(&text)
        }
    }
}

pub(crate) fn parse_since(s: &str) -> Res<u64> {
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
    Err(anyhow!(
        "--since {s:?} is neither an RFC 3339 time (2025-01-31T12:00:00Z) nor a duration ago (90m, 24h, 7d)"
    ))
}

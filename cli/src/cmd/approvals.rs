//! `sidefx approvals`: list, show, approve and deny human approval requests.

use anyhow::{anyhow, bail};
use clap::Subcommand;
use serde_json::{Value, json};
use sidefx::approval::{self, ApprovalDecision, ApprovalState, ApprovalStatus};
use sidefx::log::{EventLog, rfc3339_ms};

use crate::Res;
use crate::output::{escape, out_json, out_text};
use crate::table::Table;

#[derive(Debug, Subcommand)]
pub enum ApprovalsCmd {
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

fn status_json(s: &ApprovalStatus) -> Res<Value> {
    let mut v = serde_json::to_value(s).map_err(|e| anyhow!("cannot encode JSON: {e}"))?;
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

/// Runs an `approvals` subcommand.
pub async fn run(log: &dyn EventLog, cmd: ApprovalsCmd, json: bool) -> Res {
    match cmd {
        ApprovalsCmd::List { pending } => {
            let all = approval::list(log).await?;
            let shown: Vec<_> = all
                .into_iter()
                .filter(|s| !pending || s.state() == ApprovalState::Pending)
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
                    s.state().to_string(),
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
            out_text(&t.render(empty))
        }
        ApprovalsCmd::Show { id } => {
            let s = approval::status(log, &id).await?;
            if json {
                return out_json(&status_json(&s)?);
            }
            out_text(&show_text(&s))
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
        ("state", s.state().to_string()),
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
        text.push_str(&format!("{k:<13} {}\n", escape(&v)));
    }
    let mut t = Table::new(&["REVIEWER", "ANSWER", "REASON", "AT"]);
    for resp in &s.responses {
        t.row(vec![
            resp.reviewer.clone().unwrap_or_else(|| "(none)".into()),
            if resp.approved { "approve" } else { "deny" }.into(),
            resp.reason.clone().unwrap_or_default(),
            rfc3339_ms(resp.responded_at_ms),
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
        bail!("--reviewer must name who answers; an anonymous answer does not count");
    }
    let before = approval::status(log, id).await?;
    if before.decision.is_some() {
        bail!(
            "approval request {id} is already decided ({}); later answers are ignored",
            decision_text(before.decision.as_ref())
        );
    }
    let r = &before.request;
    if !r.reviewers.is_empty() && !r.reviewers.iter().any(|x| x == reviewer) {
        bail!(
            "`{reviewer}` is not a reviewer of approval request {id} (reviewers: {}); the answer would not count",
            r.reviewers.join(", ")
        );
    }
    if before
        .responses
        .iter()
        .any(|x| x.reviewer.as_deref() == Some(reviewer))
    {
        bail!("`{reviewer}` already answered approval request {id}; a second answer would not count");
    }
    if before.state() == ApprovalState::Expired {
        bail!(
            "approval request {id} passed its deadline ({}); it can no longer be answered",
            r.deadline
        );
    }
    let after = approval::respond(log, id, reviewer, approve, reason).await?;
    if after.state() == ApprovalState::TimedOut {
        bail!("approval request {id} reached its deadline before the answer; it timed out");
    }
    if json {
        return out_json(&status_json(&after)?);
    }
    let verb = if approve { "approved" } else { "denied" };
    let now = match after.state() {
        ApprovalState::Pending => format!(
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
    out_text(&format!(
        "{} {verb} request {}: `{}` ({}) by agent `{}`; the request is {}{note}\n",
        escape(reviewer),
        escape(id),
        escape(&r.builtin),
        escape(&r.action),
        escape(&r.agent),
        escape(&now),
    ))
}

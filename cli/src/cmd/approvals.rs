//! `sidefx approvals`: list, show, approve and deny human approval requests.

use anyhow::{anyhow, bail};
use clap::Subcommand;
use serde_json::{Value, json};
use sidefx::approval::{self, ApprovalDecision, ApprovalState, ApprovalStatus};
use sidefx::grant::{self, GrantStatus};
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
    /// Approve a request; a waiting agent resumes once the quorum is reached. Approving a
    /// suggestion (a call that was recorded, not run) grants its next identical call one run.
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

fn status_json(s: &ApprovalStatus, grant: Option<&GrantStatus>) -> Res<Value> {
    let mut v = serde_json::to_value(s).map_err(|e| anyhow!("cannot encode JSON: {e}"))?;
    v["state"] = json!(s.state());
    if let Some(g) = grant {
        let mut g_json = serde_json::to_value(g).map_err(|e| anyhow!("cannot encode JSON: {e}"))?;
        g_json["used"] = json!(g.consumed.is_some());
        g_json["summary"] = json!(grant_summary(s, g));
        v["grant"] = g_json;
    }
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
                let v: Res<Vec<Value>> = shown.iter().map(|s| status_json(s, None)).collect();
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
            let grant = grant::status_of(log, &s.request).await?;
            if json {
                return out_json(&status_json(&s, grant.as_ref())?);
            }
            out_text(&show_text(&s, grant.as_ref()))
        }
        ApprovalsCmd::Approve { id, reviewer, reason } => {
            answer(log, &id, &reviewer, true, reason, json).await
        }
        ApprovalsCmd::Deny { id, reviewer, reason } => {
            answer(log, &id, &reviewer, false, Some(reason), json).await
        }
    }
}

fn show_text(s: &ApprovalStatus, grant: Option<&GrantStatus>) -> String {
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
    ]
    .into_iter()
    .chain(grant.map(|g| ("grant", grant_summary(s, g))))
    {
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
        if let Some(note) = recorded_late(log, &before, reviewer).await? {
            return out_text(&format!("{}\n", escape(&note)));
        }
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
    let grant = grant::status_of(log, &after.request).await?;
    if json {
        return out_json(&status_json(&after, grant.as_ref())?);
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
    let note = match (&grant, approve && !r.blocking) {
        (_, false) => String::new(),
        (Some(g), true) => grant_note(r, g, after.state()),
        // A needs-human request (or one filed without grant terms): approving it lets nothing
        // run, so a person has to perform the action.
        (None, true) => {
            "; nothing runs on this approval (no call is waiting and it grants no run): a person must perform the action".into()
        }
    };
    out_text(&format!(
        "{} {verb} request {}: `{}` ({}) by agent `{}`; the request is {}{}\n",
        escape(reviewer),
        escape(id),
        escape(&r.builtin),
        escape(&r.action),
        escape(&r.agent),
        escape(&now),
        escape(&note),
    ))
}

/// The grant line of `approvals show`: an approved suggestion whose grant is missing (the
/// approval was written, its grant was not) says so instead of "none yet".
fn grant_summary(s: &ApprovalStatus, g: &GrantStatus) -> String {
    if grant_missing(s, g) {
        return format!(
            "approved, grant not recorded yet (a failed write or a crash came between the two); run `sidefx approvals approve {} --reviewer NAME` to record it",
            s.request.request_id
        );
    }
    g.describe()
}

fn grant_missing(s: &ApprovalStatus, g: &GrantStatus) -> bool {
    s.state() == ApprovalState::Approved && !s.request.blocking && g.terms.grantable() && g.grant.is_none()
}

/// For an approved suggestion whose grant is missing: answering it again records the grant
/// (the answer itself is not: the request is closed). `None` when nothing was missing.
async fn recorded_late(log: &dyn EventLog, before: &ApprovalStatus, reviewer: &str) -> Res<Option<String>> {
    let r = &before.request;
    match grant::status_of(log, r).await? {
        Some(g) if grant_missing(before, &g) => {}
        _ => return Ok(None),
    }
    // A decided request takes no answer: `respond` only records the missing grant.
    match approval::respond(log, &r.request_id, reviewer, true, None).await {
        Err(e) if e.code() == "SIDEFX-APPROVAL-CLOSED" => {}
        Err(e) => return Err(e.into()),
        Ok(_) => bail!(
            "approval request {} changed while answering it; run the command again",
            r.request_id
        ),
    }
    let Some(GrantStatus { grant: Some(g), .. }) = grant::status_of(log, r).await? else {
        bail!(
            "the grant of approval request {} could not be recorded; run the command again",
            r.request_id
        );
    };
    Ok(Some(format!(
        "approval request {} was already approved ({}) but its grant was not recorded; it is now: the next identical call by {} to {} runs once before {}",
        r.request_id,
        decision_text(before.decision.as_ref()),
        g.agent,
        g.builtin,
        rfc3339_ms(g.expires_at_ms)
    )))
}

/// What approving a suggestion does: its one-shot grant, or why there is none.
fn grant_note(r: &approval::ApprovalRequest, g: &GrantStatus, state: ApprovalState) -> String {
    if let Some(why) = &g.terms.ungrantable {
        return format!(
            "; this suggestion cannot become a grant ({why}), so re-dispatching it is refused again"
        );
    }
    match (&g.grant, state) {
        (Some(grant), _) => format!(
            "; the next identical call by {} to {} runs once before {} (a one-shot grant: a changed argument or another agent is asked again)",
            grant.agent,
            grant.builtin,
            rfc3339_ms(grant.expires_at_ms)
        ),
        (None, ApprovalState::Pending) => format!(
            "; once approved, the next identical call by {} to {} runs once, within {} of the approval",
            r.agent,
            r.builtin,
            duration_text(g.terms.ttl_ms)
        ),
        (None, _) => String::new(),
    }
}

/// `86400000` -> `24 h`: the largest unit that divides it.
fn duration_text(ms: u64) -> String {
    match ms {
        ms if ms % 3_600_000 == 0 => format!("{} h", ms / 3_600_000),
        ms if ms % 60_000 == 0 => format!("{} min", ms / 60_000),
        ms if ms % 1000 == 0 => format!("{} s", ms / 1000),
        ms => format!("{ms} ms"),
    }
}

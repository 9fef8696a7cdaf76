//! `sidefx policy explain`: the decision a policy gives a hypothetical call, with what decided
//! and every rule that matched (SPEC §7a).

use std::path::PathBuf;

use anyhow::bail;
use clap::Args;
use serde_json::json;
use sidefx::resource::{Resource, ResourceKind, ResourceValue};
use sidefx::rules::RuleEnv;
use sidefx::{AutonomyPolicy, SideEffectAction, Tier};

use crate::Res;
use crate::output::{escape, out_json, out_text};

/// The hypothetical call to explain.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The policy file.
    file: PathBuf,
    /// The agent making the call.
    #[arg(long)]
    agent: String,
    /// The builtin called.
    #[arg(long)]
    builtin: String,
    /// The builtin's class [default: the class of a builtin linked into this CLI, else
    /// required].
    #[arg(long)]
    class: Option<String>,
    /// A path the call touches (relative paths resolve against the workspace). Repeatable.
    #[arg(long = "path", value_name = "P")]
    paths: Vec<PathBuf>,
    /// A command line the call runs.
    #[arg(long = "command", value_name = "LINE")]
    command: Option<String>,
    /// A URL the call reaches. Repeatable.
    #[arg(long = "url", value_name = "U")]
    urls: Vec<String>,
    /// The workspace relative paths and path rules are anchored at [default: the policy's
    /// "workspace", else the current directory].
    #[arg(long, value_name = "DIR")]
    workspace: Option<PathBuf>,
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

/// Runs `policy explain`.
pub fn run(args: ExplainArgs, json: bool) -> Res {
    let policy = AutonomyPolicy::load(&args.file)?;
    let class = match args.class.as_deref() {
        Some(c) if !c.trim().is_empty() => leak(c),
        _ => match sidefx::registry::lookup(&args.builtin) {
            Some(info) => info.class,
            None => {
                bail!(
                    "builtin `{}` is not linked into this CLI, so its class is unknown; pass --class, such as --class fs.write",
                    args.builtin
                );
            }
        },
    };
    let capability = sidefx::catalogue::capability_of(class).unwrap_or(class);
    let action = SideEffectAction::new(leak(&args.builtin), class, capability);
    let mut resources: Vec<Resource> = args
        .paths
        .into_iter()
        .map(|p| Resource::new(ResourceKind::Path, "path", ResourceValue::Path(p)))
        .collect();
    resources.extend(
        args.command
            .map(|l| Resource::new(ResourceKind::Command, "command", ResourceValue::ShellLine(l))),
    );
    resources.extend(
        args.urls
            .into_iter()
            .map(|u| Resource::new(ResourceKind::Url, "url", ResourceValue::Url(u))),
    );
    let mut env = RuleEnv::new();
    if let Some(ws) = args.workspace {
        env = env.workspace(ws);
    }
    let e = policy.explain(&args.agent, &action, &resources, &env);
    // No answer anywhere: the process default (act_auto unless the runtime is strict).
    let tier = e.answer.tier.unwrap_or(Tier::ActAuto);
    let matched: Vec<String> = e.matched.iter().map(ToString::to_string).collect();
    if json {
        return out_json(&json!({
            "tier": tier,
            "requires_human": e.answer.requires_human,
            "decided_by": e.answer.decided_by.to_string(),
            "matched": matched,
            "resources": e.resources,
        }));
    }
    let mut text = format!(
        "tier            {tier}{}\nrequires_human  {}\ndecided_by      {}\n",
        if e.answer.tier.is_none() {
            " (process default; refused when strict)"
        } else {
            ""
        },
        if e.answer.requires_human { "yes" } else { "no" },
        escape(&e.answer.decided_by.to_string()),
    );
    if matched.is_empty() {
        text.push_str("matched         no rule\n");
    }
    for (i, m) in matched.iter().enumerate() {
        let label = if i == 0 { "matched" } else { "" };
        text.push_str(&format!("{label:<16}{}\n", escape(m)));
    }
    for r in e.resources.as_array().into_iter().flatten() {
        let value = match &r["value"] {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => "(unreadable)".to_owned(),
            other => other.to_string(),
        };
        text.push_str(&format!(
            "{:<16}{}\n",
            r["kind"].as_str().unwrap_or_default(),
            escape(&value)
        ));
    }
    out_text(&text)
}

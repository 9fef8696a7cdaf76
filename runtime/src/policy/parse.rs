//! Policy parsing from a JSON value, with errors that name the key and the fix.
//!
//! serde's derived errors say "unknown variant" without the path; walking the value ourselves
//! lets every message name the exact key (`agent_action_tiers.planner.git.push`) and suggest.

use rustc_hash::{FxHashMap, FxHashSet};
use serde_json::{Map, Value};

use super::AutonomyPolicy;
use crate::approval::MAX_TIMEOUT;
use crate::quote::excerpt;
use crate::{Error, Result, Tier};
use sidefx_catalogue::closest;

const FIELDS: &[&str] = &[
    "agent_id",
    "autonomy_tier",
    "tier",
    "action_tiers",
    "agent_tiers",
    "agent_action_tiers",
    "reviewers",
    "requires_human",
    "requires_human_actions",
    "requires_human_agents",
    "approval_quorum",
    "approval_timeout_ms",
    "suggestion_grant_ttl_ms",
    "audit_auto",
    "rules",
    "workspace",
];

/// Collects every problem so a user fixes a file in one pass.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn push(&mut self, msg: String) {
        self.0.push(msg);
    }
}

pub(super) fn policy(value: &Value) -> Result<AutonomyPolicy> {
    let Value::Object(obj) = value else {
        return Err(Error::Policy(format!(
            "a policy must be an object of settings, found {}; write for example {{\"autonomy_tier\": \"suggest\"}}",
            kind(value)
        )));
    };
    let mut p = Problems::default();
    let mut out = AutonomyPolicy::default();
    for (key, v) in obj {
        match key.as_str() {
            "agent_id" => out.agent_id = string(&mut p, key, v),
            "autonomy_tier" | "tier" => {
                let t = tier(&mut p, key, v);
                default_tier(&mut p, &mut out, key, t);
            }
            "action_tiers" => out.action_tiers = tier_map(&mut p, key, v),
            "agent_tiers" => out.agent_tiers = tier_map(&mut p, key, v),
            "agent_action_tiers" => {
                if let Some(m) = object(&mut p, key, v) {
                    out.agent_action_tiers = m
                        .iter()
                        .map(|(agent, inner)| {
                            let path = format!("{key}.{}", excerpt(agent));
                            (agent.clone(), tier_map(&mut p, &path, inner))
                        })
                        .collect();
                }
            }
            "reviewers" => out.reviewers = strings(&mut p, key, v).into_iter().collect(),
            "requires_human" => out.requires_human = boolean(&mut p, key, v),
            "requires_human_actions" => {
                out.requires_human_actions = strings(&mut p, key, v).into_iter().collect()
            }
            "requires_human_agents" => {
                out.requires_human_agents = strings(&mut p, key, v).into_iter().collect()
            }
            "approval_quorum" => match v.as_u64().and_then(|q| u32::try_from(q).ok()) {
                Some(q) if q >= 1 => out.approval_quorum = Some(q),
                _ => p.push(format!(
                    "`{key}` must be a whole number of at least 1, found {}",
                    show(v)
                )),
            },
            "approval_timeout_ms" => out.approval_timeout_ms = millis(&mut p, key, v),
            "suggestion_grant_ttl_ms" => out.suggestion_grant_ttl_ms = millis(&mut p, key, v),
            "audit_auto" => out.audit_auto = boolean(&mut p, key, v),
            "rules" => out.rules = crate::rules::parse_rules(&mut p.0, key, v),
            "workspace" => out.workspace = string(&mut p, key, v).map(Into::into),
            other => p.push(match closest(other, FIELDS.iter().copied()) {
                Some(s) => format!("unknown field `{}`; did you mean `{s}`?", excerpt(other)),
                None => format!(
                    "unknown field `{}`; expected one of {}",
                    excerpt(other),
                    FIELDS.join(", ")
                ),
            }),
        }
    }
    // A quorum larger than the allowlist could never be met: every request would time out.
    let allowed = out.reviewers.len();
    if let Some(q) = out.approval_quorum
        && allowed > 0
        && q as usize > allowed
    {
        p.push(format!(
            "`approval_quorum` is {q} but `reviewers` allows only {allowed}, so no request could ever be approved; lower the quorum or add reviewers"
        ));
    }
    if p.0.is_empty() {
        p.0.extend(crate::rules::check_examples(
            &out.rules,
            out.autonomy_tier,
            out.workspace.as_deref(),
        ));
    }
    if p.0.is_empty() {
        Ok(out)
    } else {
        Err(Error::Policy(super::problems(p.0)))
    }
}

/// `tier` is an alias of `autonomy_tier`: one setting, named by the key the file used. Both keys
/// with different tiers would leave one silently ignored, so that is an error.
fn default_tier(p: &mut Problems, out: &mut AutonomyPolicy, key: &str, t: Option<Tier>) {
    let Some(t) = t else { return };
    match out.autonomy_tier {
        Some(seen) if seen != t => p.push(format!(
            "`autonomy_tier` and `tier` are the same setting (`tier` is an alias) but say {} and {}; keep one",
            if key == "tier" { seen } else { t },
            if key == "tier" { t } else { seen },
        )),
        Some(_) => {}
        None => {
            out.autonomy_tier = Some(t);
            out.tier_key = if key == "tier" { "tier" } else { "autonomy_tier" };
        }
    }
}

/// A timeout: a positive whole number of milliseconds, at most 30 days.
fn millis(p: &mut Problems, key: &str, v: &Value) -> Option<u64> {
    match v.as_u64() {
        Some(ms) if ms > 0 && u128::from(ms) <= MAX_TIMEOUT.as_millis() => Some(ms),
        _ => {
            p.push(format!(
                "`{key}` must be a positive whole number of milliseconds, at most {} (30 days), found {}",
                MAX_TIMEOUT.as_millis(),
                show(v)
            ));
            None
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A short rendering of a value for messages, cut so a huge value cannot flood the error.
fn show(v: &Value) -> String {
    let s = v.to_string();
    match excerpt(&s) {
        cut if cut.len() < s.len() => format!("{cut}, {}", kind(v)),
        whole => whole,
    }
}

fn string(p: &mut Problems, key: &str, v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        _ => {
            p.push(format!("`{key}` must be a string, found {}", show(v)));
            None
        }
    }
}

fn boolean(p: &mut Problems, key: &str, v: &Value) -> bool {
    v.as_bool().unwrap_or_else(|| {
        p.push(format!("`{key}` must be true or false, found {}", show(v)));
        false
    })
}

fn tier(p: &mut Problems, key: &str, v: &Value) -> Option<Tier> {
    match v {
        Value::String(s) => match s.parse::<Tier>() {
            Ok(t) => Some(t),
            Err(e) => {
                p.push(format!(
                    "`{key}`: unknown tier \"{}\"{}; expected one of shadow, suggest, act_with_approval, act_auto",
                    excerpt(s),
                    e.suggestion
                        .map(|s| format!(" (did you mean `{s}`?)"))
                        .unwrap_or_default()
                ));
                None
            }
        },
        _ => {
            p.push(format!(
                "`{key}` must be a tier name (shadow, suggest, act_with_approval, act_auto), found {}",
                show(v)
            ));
            None
        }
    }
}

fn object<'v>(p: &mut Problems, key: &str, v: &'v Value) -> Option<&'v Map<String, Value>> {
    match v {
        Value::Object(m) => Some(m),
        _ => {
            p.push(format!(
                "`{key}` must be an object of name -> value, found {}",
                show(v)
            ));
            None
        }
    }
}

fn tier_map(p: &mut Problems, key: &str, v: &Value) -> FxHashMap<String, Tier> {
    let Some(m) = object(p, key, v) else {
        return FxHashMap::default();
    };
    m.iter()
        .filter_map(|(k, v)| tier(p, &format!("{key}.{}", excerpt(k)), v).map(|t| (k.clone(), t)))
        .collect()
}

fn strings(p: &mut Problems, key: &str, v: &Value) -> FxHashSet<String> {
    let Value::Array(items) = v else {
        p.push(format!("`{key}` must be a list of strings, found {}", show(v)));
        return FxHashSet::default();
    };
    items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| string(p, &format!("{key}[{i}]"), item))
        .collect()
}

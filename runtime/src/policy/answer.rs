//! One policy's full answer for one call: rows, `requires_human` lists and rules on arguments,
//! with what decided.

use super::AutonomyPolicy;
use crate::resource::{Resource, ResourceKind};
use crate::rules::{Anchors, CallFacts, DecidedBy, Effect, PolicyAnswer, RuleEnv};
use crate::{SideEffectAction, Tier};

/// A policy's answer with every rule that matched: what `sidefx policy explain` prints.
///
/// ```
/// use sidefx::{AutonomyPolicy, SideEffectAction};
/// let p = AutonomyPolicy::from_json(r#"{"rules": [{"class": "fs.write", "tier": "suggest"}]}"#).unwrap();
/// let write = SideEffectAction::new("write_file", "fs.write", "workspace.write_text");
/// let e = p.explain("a", &write, &[], &sidefx::rules::RuleEnv::new());
/// assert_eq!(e.matched.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Explanation {
    /// The answer.
    #[serde(flatten)]
    pub answer: PolicyAnswer,
    /// Every rule that matched, in index order.
    pub matched: Vec<DecidedBy>,
    /// The call's resources, normalised (`[{"kind", "arg", "value"}]`).
    pub resources: serde_json::Value,
}

impl AutonomyPolicy {
    /// The row that answers the tier for (agent, action), with its name (see
    /// [`tier_for`](Self::tier_for) for the order).
    ///
    /// ```
    /// use sidefx::{AutonomyPolicy, SideEffectAction, Tier};
    /// let p = AutonomyPolicy::from_json(r#"{"agent_tiers": {"planner": "shadow"}}"#).unwrap();
    /// let exec = SideEffectAction::new("exec", "process.exec", "process.exec");
    /// let (tier, row) = p.tier_row("planner", &exec).unwrap();
    /// assert_eq!((tier, row.to_string().as_str()), (Tier::Shadow, "agent_tiers[planner]"));
    /// ```
    pub fn tier_row(&self, agent: &str, action: &SideEffectAction) -> Option<(Tier, DecidedBy)> {
        let row = |name: String, t: &Tier| Some((*t, DecidedBy::Row(name)));
        if let Some(per) = self.agent_action_tiers.get(agent) {
            for key in [action.builtin, action.class] {
                if let Some(t) = per.get(key) {
                    return row(format!("agent_action_tiers[{agent}][{key}]"), t);
                }
            }
        }
        if let Some(t) = self.agent_tiers.get(agent) {
            return row(format!("agent_tiers[{agent}]"), t);
        }
        for key in [action.builtin, action.class] {
            if let Some(t) = self.action_tiers.get(key) {
                return row(format!("action_tiers[{key}]"), t);
            }
        }
        self.autonomy_tier
            .as_ref()
            .and_then(|t| row(self.tier_key.into(), t))
    }

    /// The `requires_human` row that requires a human for the call, if any.
    ///
    /// ```
    /// use sidefx::{AutonomyPolicy, SideEffectAction};
    /// let p = AutonomyPolicy::from_json(r#"{"requires_human_agents": ["intern"]}"#).unwrap();
    /// let exec = SideEffectAction::new("exec", "process.exec", "process.exec");
    /// assert_eq!(p.human_row("intern", &exec).unwrap().to_string(), "requires_human_agents[intern]");
    /// assert!(p.human_row("lead", &exec).is_none());
    /// ```
    pub fn human_row(&self, agent: &str, action: &SideEffectAction) -> Option<DecidedBy> {
        if self.requires_human {
            return Some(DecidedBy::Row("requires_human".into()));
        }
        if self.requires_human_agents.contains(agent) {
            return Some(DecidedBy::Row(format!("requires_human_agents[{agent}]")));
        }
        [action.builtin, action.class]
            .into_iter()
            .find(|k| self.requires_human_actions.contains(*k))
            .map(|k| DecidedBy::Row(format!("requires_human_actions[{k}]")))
    }

    /// This policy's answer for one call, resources included: every matching rule counts and
    /// the strictest wins; no rule matching leaves the rows' answer; `requires_human` lists
    /// override everything. Relative paths resolve against `env`'s workspace, else this
    /// policy's `"workspace"`, else the current directory.
    ///
    /// ```
    /// use sidefx::resource::{Resource, ResourceKind, ResourceValue};
    /// use sidefx::{AutonomyPolicy, SideEffectAction, Tier};
    /// let p = AutonomyPolicy::from_json(r#"{
    ///     "autonomy_tier": "act_with_approval",
    ///     "rules": [{"class": "fs.write", "path": "src/**", "tier": "act_auto"}]
    /// }"#).unwrap();
    /// let write = SideEffectAction::new("write_file", "fs.write", "workspace.write_text");
    /// let path = |p: &str| [Resource::new(ResourceKind::Path, "path", ResourceValue::Path(p.into()))];
    /// let env = sidefx::rules::RuleEnv::new().workspace("/nonexistent/ws");
    /// let a = p.answer("planner", &write, &path("src/lib.rs"), &env);
    /// assert_eq!(a.tier, Some(Tier::ActAuto));
    /// assert_eq!(a.decided_by.to_string(), r#"rules[0] {"class":"fs.write","path":"src/**","tier":"act_auto"}"#);
    /// let a = p.answer("planner", &write, &path("src/../../etc/passwd"), &env);
    /// assert_eq!((a.tier, a.decided_by.to_string().as_str()), (Some(Tier::ActWithApproval), "autonomy_tier"));
    /// ```
    pub fn answer(
        &self,
        agent: &str,
        action: &SideEffectAction,
        resources: &[Resource],
        env: &RuleEnv,
    ) -> PolicyAnswer {
        self.decide(agent, action, resources, env, false).answer
    }

    /// [`answer`](Self::answer) with every rule that matched and the normalised resources.
    pub fn explain(
        &self,
        agent: &str,
        action: &SideEffectAction,
        resources: &[Resource],
        env: &RuleEnv,
    ) -> Explanation {
        self.decide(agent, action, resources, env, true)
    }

    fn decide(
        &self,
        agent: &str,
        action: &SideEffectAction,
        resources: &[Resource],
        env: &RuleEnv,
        explain: bool,
    ) -> Explanation {
        let rows = self.tier_row(agent, action);
        let human = self.human_row(agent, action);
        let rows_tier = rows.as_ref().map(|(t, _)| *t);
        let listed = human.is_some();
        let (matched, facts) = if self.rules.is_empty() && !explain {
            (Vec::new(), CallFacts::default())
        } else {
            // Anchors cost real-path system calls: only paths need them.
            let anchors = if resources.iter().any(|r| r.kind == ResourceKind::Path) {
                env.anchors(self.workspace.as_deref())
            } else {
                Anchors::none()
            };
            let facts = CallFacts::gather(resources, &anchors);
            (self.rules.matching(agent, action, &facts, rows_tier), facts)
        };
        let rule = |i: usize| DecidedBy::Rule {
            index: i,
            text: self.rules.text(i).unwrap_or_default().into(),
        };
        let effects = matched
            .iter()
            .filter_map(|&i| self.rules.effect(i).map(|e| (e, i)));
        let human_rule = effects.clone().find(|(e, _)| *e == Effect::RequiresHuman);
        let tier_rule = effects
            .filter_map(|(e, i)| match e {
                Effect::Tier(t) => Some((t, i)),
                Effect::RequiresHuman => None,
            })
            .min();
        let tier = tier_rule.map(|(t, _)| t).or(rows_tier);
        let decided_by = match (human, human_rule, tier_rule, rows) {
            (Some(row), ..) => row,
            (None, Some((_, i)), ..) | (None, None, Some((_, i)), _) => rule(i),
            (None, None, None, Some((_, row))) => row,
            (None, None, None, None) => DecidedBy::Default,
        };
        let requires_human = listed || human_rule.is_some();
        Explanation {
            answer: PolicyAnswer {
                tier,
                requires_human,
                decided_by,
            },
            matched: if explain {
                matched.into_iter().map(rule).collect()
            } else {
                Vec::new()
            },
            resources: if explain {
                facts.to_json()
            } else {
                serde_json::Value::Null
            },
        }
    }
}

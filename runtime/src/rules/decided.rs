//! What a policy answers for one call, and what decided it.

use std::fmt;
use std::sync::Arc;

use crate::Tier;

/// Which rule or row decided a call: shown in records, tracing events and `policy explain`.
///
/// Displays (and serialises) as one line: `rules[2] {"path":"src/**","tier":"act_auto"}` for a
/// rule, the row's name for a row (`action_tiers[fs.write]`, `autonomy_tier`,
/// `requires_human_actions[git.write]`), `dispatch.tier` for the dispatch context's tier and
/// `default` when nothing answered.
///
/// ```
/// use sidefx::rules::DecidedBy;
/// let rule = DecidedBy::Rule { index: 2, text: r#"{"tier":"shadow"}"#.into() };
/// assert_eq!(rule.to_string(), r#"rules[2] {"tier":"shadow"}"#);
/// assert_eq!(rule.to_string().parse::<DecidedBy>().unwrap(), rule);
/// assert_eq!(DecidedBy::Row("autonomy_tier".into()).to_string(), "autonomy_tier");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DecidedBy {
    /// A rule of the policy's `rules` list: its index and its text as written.
    Rule {
        /// The rule's position in `rules`, from 0.
        index: usize,
        /// The rule as written (compact JSON).
        text: Arc<str>,
    },
    /// A row of the policy, by name (`agent_action_tiers[planner][fs.write]`, `tier`, ...).
    Row(String),
    /// The dispatch context's tier.
    Dispatch,
    /// Nothing answered: the process default applied.
    Default,
}

impl fmt::Display for DecidedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecidedBy::Rule { index, text } => write!(f, "rules[{index}] {text}"),
            DecidedBy::Row(name) => f.write_str(name),
            DecidedBy::Dispatch => f.write_str("dispatch.tier"),
            DecidedBy::Default => f.write_str("default"),
        }
    }
}

impl std::str::FromStr for DecidedBy {
    type Err = std::convert::Infallible;

    /// The inverse of `Display`; anything that is not a rule, `dispatch.tier` or `default` is a
    /// row name.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(rest) = s.strip_prefix("rules[")
            && let Some((index, text)) = rest.split_once("] ")
            && let Ok(index) = index.parse()
        {
            return Ok(DecidedBy::Rule {
                index,
                text: text.into(),
            });
        }
        Ok(match s {
            "dispatch.tier" => DecidedBy::Dispatch,
            "default" => DecidedBy::Default,
            row => DecidedBy::Row(row.to_owned()),
        })
    }
}

impl serde::Serialize for DecidedBy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for DecidedBy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(s.parse().unwrap_or(DecidedBy::Default))
    }
}

/// One policy's answer for one call: the tier (if a rule or row gives one), whether a human is
/// required, and what decided.
///
/// ```
/// use sidefx::{AutonomyPolicy, SideEffectAction, Tier};
/// let p = AutonomyPolicy::from_json(r#"{"action_tiers": {"fs.write": "suggest"}}"#).unwrap();
/// let write = SideEffectAction::new("write_file", "fs.write", "workspace.write_text");
/// let a = p.answer("planner", &write, &[], &sidefx::rules::RuleEnv::new());
/// assert_eq!(a.tier, Some(Tier::Suggest));
/// assert_eq!(a.decided_by.to_string(), "action_tiers[fs.write]");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PolicyAnswer {
    /// The tier, when a rule or row gives one.
    pub tier: Option<Tier>,
    /// Whether the call needs a human (a `requires_human` list or rule).
    pub requires_human: bool,
    /// The rule or row that decided.
    pub decided_by: DecidedBy,
}

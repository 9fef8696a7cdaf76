//! Per-agent, per-action autonomy policy (SPEC §7).
//!
//! A policy answers "which tier for (agent, action)?" with the seven-row resolution order, and
//! "does this call require a human?". Composition across nested scopes (tighten-only) lives in
//! [`crate::scope`]; this module answers for one policy.

mod answer;
mod json;
pub use answer::Explanation;
mod parse;
mod validate;

use crate::quote::{excerpt, problems};

use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::{FxHashMap, FxHashSet};

use crate::rules::Rules;
use crate::{Result, SideEffectAction, Tier};

/// An autonomy policy. Every field is optional; load one with [`AutonomyPolicy::from_json`] or
/// [`AutonomyPolicy::from_toml`].
///
/// ```
/// use sidefx::{AutonomyPolicy, SideEffectAction, Tier};
/// let policy = AutonomyPolicy::from_json(r#"{
///     "agent_id": "planner",
///     "autonomy_tier": "suggest",
///     "action_tiers": { "fs.write": "act_auto" },
///     "agent_action_tiers": { "planner": { "git.push": "shadow" } }
/// }"#).unwrap();
/// let push = SideEffectAction::new("git.push", "git.write", "git.write");
/// let write = SideEffectAction::new("write_file", "fs.write", "workspace.write_text");
/// assert_eq!(policy.tier_for("planner", &push), Some(Tier::Shadow));
/// assert_eq!(policy.tier_for("planner", &write), Some(Tier::ActAuto));
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AutonomyPolicy {
    /// The agent this policy speaks for; the innermost policy's `agent_id` names the caller.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) agent_id: Option<String>,
    /// The tier when no more specific row matches (`autonomy_tier`, alias `tier`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) autonomy_tier: Option<Tier>,
    /// Which of the two spellings the policy used, so explanations quote the file's own key.
    #[serde(skip)]
    pub(crate) tier_key: &'static str,
    /// Tier per builtin name or class, for every agent.
    #[serde(skip_serializing_if = "map_is_empty")]
    pub(crate) action_tiers: FxHashMap<String, Tier>,
    /// Tier per agent.
    #[serde(skip_serializing_if = "map_is_empty")]
    pub(crate) agent_tiers: FxHashMap<String, Tier>,
    /// Tier per agent, then per builtin name or class.
    #[serde(skip_serializing_if = "map_is_empty")]
    pub(crate) agent_action_tiers: FxHashMap<String, FxHashMap<String, Tier>>,
    /// Reviewers allowed to answer approval requests; empty means anyone.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) reviewers: Vec<String>,
    /// Every call requires a human.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) requires_human: bool,
    /// Builtins or classes that require a human.
    #[serde(skip_serializing_if = "set_is_empty")]
    pub(crate) requires_human_actions: FxHashSet<String>,
    /// Agents all of whose calls require a human.
    #[serde(skip_serializing_if = "set_is_empty")]
    pub(crate) requires_human_agents: FxHashSet<String>,
    /// Distinct approvals needed under act_with_approval (default 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) approval_quorum: Option<u32>,
    /// How long an approval request waits for a decision, in milliseconds (default 24 h).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) approval_timeout_ms: Option<u64>,
    /// How long an approved suggestion's one-shot grant lives, in milliseconds (default 24 h).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) suggestion_grant_ttl_ms: Option<u64>,
    /// Record a success/failure trust record for act_auto calls too.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) audit_auto: bool,
    /// Rules on arguments (SPEC §7a), parsed and compiled; see [`crate::rules`].
    #[serde(skip_serializing_if = "Rules::is_empty")]
    pub(crate) rules: Rules,
    /// The directory relative path rules are anchored at when the dispatch context names none
    /// (relative to the current directory; default: the current directory).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) workspace: Option<std::path::PathBuf>,
}

impl Default for AutonomyPolicy {
    fn default() -> Self {
        AutonomyPolicy {
            agent_id: None,
            autonomy_tier: None,
            tier_key: "autonomy_tier",
            action_tiers: FxHashMap::default(),
            agent_tiers: FxHashMap::default(),
            agent_action_tiers: FxHashMap::default(),
            reviewers: Vec::new(),
            requires_human: false,
            requires_human_actions: FxHashSet::default(),
            requires_human_agents: FxHashSet::default(),
            approval_quorum: None,
            approval_timeout_ms: None,
            suggestion_grant_ttl_ms: None,
            audit_auto: false,
            rules: Rules::default(),
            workspace: None,
        }
    }
}

/// Read access to the settings. A policy is built by parsing ([`AutonomyPolicy::from_json`],
/// [`AutonomyPolicy::from_toml`], [`AutonomyPolicy::load`]) so every value it holds was
/// validated; the fields are private so nothing bypasses that.
///
/// ```
/// use sidefx::{AutonomyPolicy, Tier};
/// let p = AutonomyPolicy::from_json(r#"{
///     "agent_id": "planner", "tier": "suggest", "reviewers": ["alice"],
///     "approval_timeout_ms": 60000, "audit_auto": true
/// }"#).unwrap();
/// assert_eq!(p.agent_id(), Some("planner"));
/// assert_eq!(p.default_tier(), Some(Tier::Suggest));
/// assert_eq!(p.reviewers(), ["alice"]);
/// assert_eq!(p.approval_timeout(), Some(std::time::Duration::from_secs(60)));
/// assert!(p.audit_auto() && !p.requires_human());
/// ```
impl AutonomyPolicy {
    /// The agent this policy speaks for (`agent_id`).
    pub fn agent_id(&self) -> Option<&str> {
        self.agent_id.as_deref()
    }
    /// The tier when no more specific row matches (`autonomy_tier`, alias `tier`). Both keys
    /// with different tiers are an error rather than one silently winning.
    ///
    /// ```
    /// use sidefx::{AutonomyPolicy, Tier};
    /// let p = AutonomyPolicy::from_json(r#"{"tier": "shadow"}"#).unwrap();
    /// assert_eq!(p.default_tier(), Some(Tier::Shadow));
    /// let both = r#"{"autonomy_tier": "act_auto", "tier": "shadow"}"#;
    /// let err = AutonomyPolicy::from_json(both).unwrap_err().to_string();
    /// assert!(err.contains("same setting") && err.contains("keep one"), "{err}");
    /// ```
    pub fn default_tier(&self) -> Option<Tier> {
        self.autonomy_tier
    }
    /// Reviewers allowed to answer approval requests; empty means anyone.
    pub fn reviewers(&self) -> &[String] {
        &self.reviewers
    }
    /// Whether every call requires a human (`requires_human: true`).
    pub fn requires_human(&self) -> bool {
        self.requires_human
    }
    /// Distinct approvals needed under act_with_approval, when set.
    pub fn approval_quorum(&self) -> Option<u32> {
        self.approval_quorum
    }
    /// How long an approval request waits for a decision, when set.
    pub fn approval_timeout(&self) -> Option<std::time::Duration> {
        self.approval_timeout_ms.map(std::time::Duration::from_millis)
    }
    /// How long an approved suggestion's one-shot grant lives (`suggestion_grant_ttl_ms`), when
    /// set; see [`crate::grant`].
    ///
    /// ```
    /// let p = sidefx::AutonomyPolicy::from_json(r#"{"suggestion_grant_ttl_ms": 3600000}"#).unwrap();
    /// assert_eq!(p.suggestion_grant_ttl(), Some(std::time::Duration::from_secs(3600)));
    /// let err = sidefx::AutonomyPolicy::from_json(r#"{"suggestion_grant_ttl_ms": 0}"#).unwrap_err();
    /// assert!(err.to_string().contains("suggestion_grant_ttl_ms"), "{err}");
    /// ```
    pub fn suggestion_grant_ttl(&self) -> Option<std::time::Duration> {
        self.suggestion_grant_ttl_ms.map(std::time::Duration::from_millis)
    }
    /// Whether act_auto calls get success/failure trust records too.
    pub fn audit_auto(&self) -> bool {
        self.audit_auto
    }
    /// The compiled rules on arguments.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }
    /// The directory relative path rules are anchored at, when set.
    pub fn workspace(&self) -> Option<&std::path::Path> {
        self.workspace.as_deref()
    }
}

fn map_is_empty<K, V>(m: &FxHashMap<K, V>) -> bool {
    m.is_empty()
}
fn set_is_empty<T>(s: &FxHashSet<T>) -> bool {
    s.is_empty()
}

impl AutonomyPolicy {
    /// Parses a policy from JSON. Errors name the key and the fix; a key repeated at any level
    /// is an error (otherwise one of the values would silently win).
    ///
    /// # Errors
    /// `SIDEFX-POLICY` when the text is not JSON or names an unknown key, tier or class; the
    /// message names the key and the fix.
    ///
    /// ```
    /// let err = sidefx::AutonomyPolicy::from_json(r#"{"autonomy_tier": "act-autoo"}"#).unwrap_err();
    /// assert!(err.to_string().contains("autonomy_tier"));
    /// assert!(err.to_string().contains("act_auto"));
    /// let err = sidefx::AutonomyPolicy::from_json(r#"{"tier": "shadow", "tier": "act_auto"}"#).unwrap_err();
    /// assert!(err.to_string().contains("duplicate key `tier`"));
    /// ```
    pub fn from_json(text: &str) -> Result<Self> {
        use serde::de::DeserializeSeed;
        let mut de = serde_json::Deserializer::from_str(text);
        let value = json::Unique { path: "" }
            .deserialize(&mut de)
            .and_then(|v| de.end().map(|()| v))
            .map_err(|e| {
                crate::Error::Policy(match e.classify() {
                    serde_json::error::Category::Data => e.to_string(),
                    _ => format!("not valid JSON: {e}; check the syntax at that line and column"),
                })
            })?;
        Self::from_value(&value)
    }

    /// Parses a policy from TOML. Errors name the key and the fix.
    ///
    /// # Errors
    /// `SIDEFX-POLICY` when the text is not TOML or names an unknown key, tier or class; the
    /// message names the key and the fix.
    ///
    /// ```
    /// let p = sidefx::AutonomyPolicy::from_toml("agent_id = \"a\"\ntier = \"shadow\"\n").unwrap();
    /// assert_eq!(p.default_tier(), Some(sidefx::Tier::Shadow));
    /// ```
    pub fn from_toml(text: &str) -> Result<Self> {
        // The error's own rendering quotes the whole offending line: give the position instead.
        let value: toml::Value = toml::from_str(text).map_err(|e| {
            let at = e.span().map_or_else(String::new, |span| {
                let before = &text.as_bytes()[..span.start.min(text.len())];
                let line = before.iter().filter(|b| **b == b'\n').count() + 1;
                let column = before.iter().rev().take_while(|b| **b != b'\n').count() + 1;
                format!(" at line {line} column {column}")
            });
            crate::Error::Policy(format!("not valid TOML{at}: {}", excerpt(e.message().trim())))
        })?;
        let json = serde_json::to_value(value)
            .map_err(|e| crate::Error::Policy(format!("TOML value cannot be used: {e}")))?;
        Self::from_value(&json)
    }

    /// Parses a policy from a JSON value (what both text formats become).
    ///
    /// # Errors
    /// `SIDEFX-POLICY` when the value names an unknown key, tier or class.
    ///
    /// ```
    /// let p = sidefx::AutonomyPolicy::from_value(&serde_json::json!({"requires_human": true})).unwrap();
    /// assert!(p.requires_human());
    /// ```
    pub fn from_value(value: &serde_json::Value) -> Result<Self> {
        parse::policy(value)
    }

    /// Loads a policy file; `.toml` files are TOML, everything else JSON.
    ///
    /// # Errors
    /// `SIDEFX-POLICY` when the file cannot be read or does not hold a valid policy.
    ///
    /// ```no_run
    /// let p = sidefx::AutonomyPolicy::load("policy.json").unwrap();
    /// ```
    pub fn load(path: impl AsRef<std::path::Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| crate::Error::Policy(format!("cannot read policy file {}: {e}", path.display())))?;
        let parsed = if path.extension().is_some_and(|e| e == "toml") {
            Self::from_toml(&text)
        } else {
            Self::from_json(&text)
        };
        parsed.map_err(|e| match e {
            crate::Error::Policy(m) => crate::Error::Policy(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// A policy that puts everything at one tier.
    ///
    /// ```
    /// let p = sidefx::AutonomyPolicy::at_tier(sidefx::Tier::Shadow);
    /// assert_eq!(p.default_tier(), Some(sidefx::Tier::Shadow));
    /// ```
    pub fn at_tier(tier: Tier) -> Self {
        AutonomyPolicy {
            autonomy_tier: Some(tier),
            ..Default::default()
        }
    }

    /// Sets `agent_id` (builder style).
    ///
    /// ```
    /// let p = sidefx::AutonomyPolicy::default().for_agent("planner");
    /// assert_eq!(p.agent_id(), Some("planner"));
    /// ```
    pub fn for_agent(mut self, agent: impl Into<String>) -> Self {
        self.agent_id = Some(agent.into());
        self
    }

    /// The tier this policy gives `agent` for `action`, first match wins:
    /// `agent_action_tiers[agent][builtin]`, `agent_action_tiers[agent][class]`,
    /// `agent_tiers[agent]`, `action_tiers[builtin]`, `action_tiers[class]`, `autonomy_tier`
    /// (alias `tier`). `None` when no row matches.
    ///
    /// ```
    /// use sidefx::{AutonomyPolicy, SideEffectAction, Tier};
    /// let p = AutonomyPolicy::default();
    /// let exec = SideEffectAction::new("exec", "process.exec", "process.exec");
    /// assert_eq!(p.tier_for("anyone", &exec), None);
    /// ```
    #[inline]
    pub fn tier_for(&self, agent: &str, action: &SideEffectAction) -> Option<Tier> {
        if !self.agent_action_tiers.is_empty()
            && let Some(per_action) = self.agent_action_tiers.get(agent)
            && let Some(t) = per_action
                .get(action.builtin)
                .or_else(|| per_action.get(action.class))
        {
            return Some(*t);
        }
        if !self.agent_tiers.is_empty()
            && let Some(t) = self.agent_tiers.get(agent)
        {
            return Some(*t);
        }
        if !self.action_tiers.is_empty()
            && let Some(t) = self
                .action_tiers
                .get(action.builtin)
                .or_else(|| self.action_tiers.get(action.class))
        {
            return Some(*t);
        }
        self.autonomy_tier
    }

    /// Whether this policy requires a human for the call: blanket `requires_human`, the agent in
    /// `requires_human_agents`, or the builtin or class in `requires_human_actions`.
    ///
    /// ```
    /// use sidefx::{AutonomyPolicy, SideEffectAction};
    /// let p = AutonomyPolicy::from_json(r#"{"requires_human_actions": ["git.write"]}"#).unwrap();
    /// let push = SideEffectAction::new("git.push", "git.write", "git.write");
    /// assert!(p.requires_human_for("ci", &push));
    /// ```
    #[inline]
    pub fn requires_human_for(&self, agent: &str, action: &SideEffectAction) -> bool {
        self.requires_human
            || (!self.requires_human_agents.is_empty() && self.requires_human_agents.contains(agent))
            || (!self.requires_human_actions.is_empty()
                && (self.requires_human_actions.contains(action.builtin)
                    || self.requires_human_actions.contains(action.class)))
    }

    /// Every builtin-or-class key the policy uses, with the field path it appears at.
    fn action_keys(&self) -> BTreeMap<String, &str> {
        let mut keys = BTreeMap::new();
        for k in self.action_tiers.keys() {
            keys.insert(format!("action_tiers.{}", excerpt(k)), k.as_str());
        }
        for (agent, m) in &self.agent_action_tiers {
            for k in m.keys() {
                keys.insert(
                    format!("agent_action_tiers.{}.{}", excerpt(agent), excerpt(k)),
                    k.as_str(),
                );
            }
        }
        for k in &self.requires_human_actions {
            keys.insert(format!("requires_human_actions[{}]", excerpt(k)), k.as_str());
        }
        for (i, r) in self.rules.rules().iter().enumerate() {
            if let Some(b) = &r.builtin {
                keys.insert(format!("rules[{i}].builtin"), b.as_str());
            }
            if let Some(c) = &r.class {
                keys.insert(format!("rules[{i}].class"), c.as_str());
            }
        }
        keys
    }

    /// Every agent id the policy names, with the field path it appears at.
    fn agent_ids(&self) -> BTreeSet<(String, &str)> {
        let mut ids = BTreeSet::new();
        if let Some(a) = &self.agent_id {
            ids.insert(("agent_id".to_owned(), a.as_str()));
        }
        for a in self.agent_tiers.keys() {
            ids.insert(("agent_tiers".to_owned(), a.as_str()));
        }
        for a in self.agent_action_tiers.keys() {
            ids.insert(("agent_action_tiers".to_owned(), a.as_str()));
        }
        for a in &self.requires_human_agents {
            ids.insert(("requires_human_agents".to_owned(), a.as_str()));
        }
        for r in &self.reviewers {
            ids.insert(("reviewers".to_owned(), r.as_str()));
        }
        for (i, r) in self.rules.rules().iter().enumerate() {
            if let Some(a) = &r.agent {
                ids.insert((format!("rules[{i}].agent"), a.as_str()));
            }
        }
        ids
    }
}

impl<'de> serde::Deserialize<'de> for AutonomyPolicy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::DeserializeSeed;
        let value = json::Unique { path: "" }.deserialize(d)?;
        parse::policy(&value).map_err(serde::de::Error::custom)
    }
}

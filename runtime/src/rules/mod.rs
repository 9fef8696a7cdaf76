//! Rules on arguments (SPEC §7a): typed rules that decide on what a call touches.
//!
//! A policy's `rules` list holds rules with optional `agent` / `builtin` / `class` filters, at
//! most one resource matcher (`path` globs, a `command` argv prefix, a `url` pattern) and an
//! effect (`tier` or `requires_human: true`). Every matching rule counts and the **strictest**
//! wins; when none matches, the policy's rows decide as before.
//!
//! The safety property: a rule *looser* than what the rows answer for the call applies only when
//! every resource of its kind was normalised safely and matches (a path's lexical **and** real
//! form, every segment of a shell line, a URL without userinfo). A *stricter* rule applies when
//! any form of any resource matches, and to any resource that could not be read. Anything that
//! cannot be normalised safely therefore never gets the looser answer.
//!
//! ```
//! use sidefx::resource::{Resource, ResourceKind, ResourceValue};
//! use sidefx::rules::RuleEnv;
//! use sidefx::{AutonomyPolicy, SideEffectAction, Tier};
//! let policy = AutonomyPolicy::from_json(r#"{
//!     "autonomy_tier": "act_with_approval",
//!     "rules": [{ "class": "process.exec", "command": ["cargo", ["test", "check"]], "tier": "act_auto" }]
//! }"#).unwrap();
//! let exec = SideEffectAction::new("exec", "process.exec", "process.exec");
//! let line = |l: &str| [Resource::new(ResourceKind::Command, "line", ResourceValue::ShellLine(l.into()))];
//! let env = RuleEnv::new().workspace("/work/project");
//! assert_eq!(policy.answer("ci", &exec, &line("cargo test -p x"), &env).tier, Some(Tier::ActAuto));
//! assert_eq!(policy.answer("ci", &exec, &line("cargo test && rm -rf /"), &env).tier, Some(Tier::ActWithApproval));
//! ```

mod command;
mod decided;
mod examples;
mod facts;
mod parse;
mod path;
mod shell;
mod shown;
mod url;

use std::sync::Arc;

use rustc_hash::FxHashSet;
use serde_json::Value;

pub use decided::{DecidedBy, PolicyAnswer};
pub(crate) use examples::check as check_examples;
pub use facts::{Anchors, CallFacts, RuleEnv};
pub(crate) use parse::rules as parse_rules;
pub(crate) use shown::shown as shown_resources;

use crate::{SideEffectAction, Tier};

/// What a rule decides when it matches.
///
/// ```
/// use sidefx::rules::Effect;
/// use sidefx::Tier;
/// assert!(Effect::RequiresHuman.is_stricter_than(Effect::Tier(Tier::Shadow)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    /// The call gets this tier.
    Tier(Tier),
    /// The call is refused until a human decides (`requires_human: true`).
    RequiresHuman,
}

impl Effect {
    /// Rank from strictest (0, requires a human) to loosest (act_auto).
    fn rank(self) -> u8 {
        match self {
            Effect::RequiresHuman => 0,
            Effect::Tier(t) => 1 + t as u8,
        }
    }

    /// Whether `self` is strictly stricter than `other`.
    ///
    /// ```
    /// use sidefx::rules::Effect;
    /// assert!(Effect::Tier(sidefx::Tier::Suggest).is_stricter_than(Effect::Tier(sidefx::Tier::ActAuto)));
    /// ```
    pub fn is_stricter_than(self, other: Effect) -> bool {
        self.rank() < other.rank()
    }

    /// Whether this effect is looser than what the rows answer (`None`: no row answers, when
    /// the process default act_auto — or a strict refusal — applies, so only act_auto counts as
    /// looser there).
    fn is_looser_than_rows(self, rows: Option<Tier>) -> bool {
        match self {
            Effect::RequiresHuman => false,
            Effect::Tier(t) => rows.map_or(t == Tier::ActAuto, |r| t > r),
        }
    }
}

/// One parsed and compiled rule.
#[derive(Debug)]
pub(crate) struct Rule {
    /// The rule as written, compact JSON: what `decided_by` shows.
    pub(crate) text: Arc<str>,
    pub(crate) agent: Option<String>,
    pub(crate) builtin: Option<String>,
    pub(crate) class: Option<String>,
    pub(crate) matcher: Matcher,
    pub(crate) effect: Effect,
    pub(crate) matching: Vec<String>,
    pub(crate) not_matching: Vec<String>,
}

/// The resource matcher of a rule, if any.
#[derive(Debug)]
pub(crate) enum Matcher {
    /// No matcher: the rule matches on agent / builtin / class alone.
    Any,
    /// Path globs (indices into the policy's compiled path sets).
    Path(Vec<path::PathPattern>),
    /// An argv prefix; each element is a list of alternatives.
    Command(command::Prefix),
    /// A URL pattern.
    Url(url::UrlPattern),
}

impl Rule {
    /// Whether the agent / builtin / class filters admit the call.
    #[inline]
    fn admits(&self, agent: &str, action: &SideEffectAction) -> bool {
        self.agent.as_deref().is_none_or(|a| a == agent)
            && self.builtin.as_deref().is_none_or(|b| b == action.builtin)
            && self.class.as_deref().is_none_or(|c| c == action.class)
    }
}

/// A policy's rules, parsed and compiled once (globs into sets, command prefixes and URL hosts
/// into indexes). Cheap to clone; compares and serialises as the rules as written.
///
/// ```
/// let p = sidefx::AutonomyPolicy::from_json(r#"{"rules": [{"path": "/etc/**", "requires_human": true}]}"#).unwrap();
/// assert_eq!(p.rules().len(), 1);
/// assert_eq!(p.rules().text(0), Some(r#"{"path":"/etc/**","requires_human":true}"#));
/// ```
#[derive(Clone, Default)]
pub struct Rules {
    inner: Arc<Compiled>,
}

#[derive(Debug, Default)]
struct Compiled {
    source: Vec<Value>,
    rules: Vec<Rule>,
    /// Rules without a matcher, by their most selective filter.
    plain: PlainIndex,
    paths: path::PathIndex,
    commands: command::CommandIndex,
    urls: url::UrlIndex,
}

/// Matcher-less rules indexed by the first filter they have (builtin, else class, else agent),
/// so a call looks at the few that can admit it rather than all of them.
#[derive(Debug, Default)]
struct PlainIndex {
    by_builtin: rustc_hash::FxHashMap<String, Vec<usize>>,
    by_class: rustc_hash::FxHashMap<String, Vec<usize>>,
    by_agent: rustc_hash::FxHashMap<String, Vec<usize>>,
    rest: Vec<usize>,
}

impl PlainIndex {
    fn add(&mut self, i: usize, rule: &Rule) {
        let list = match (&rule.builtin, &rule.class, &rule.agent) {
            (Some(b), ..) => self.by_builtin.entry(b.clone()).or_default(),
            (None, Some(c), _) => self.by_class.entry(c.clone()).or_default(),
            (None, None, Some(a)) => self.by_agent.entry(a.clone()).or_default(),
            (None, None, None) => &mut self.rest,
        };
        list.push(i);
    }

    /// Every matcher-less rule that may admit the call (each at most once).
    fn for_call<'a>(&'a self, agent: &str, action: &SideEffectAction) -> impl Iterator<Item = &'a usize> {
        let get = |m: &'a rustc_hash::FxHashMap<String, Vec<usize>>, k: &str| m.get(k).into_iter().flatten();
        get(&self.by_builtin, action.builtin)
            .chain(get(&self.by_class, action.class))
            .chain(get(&self.by_agent, agent))
            .chain(self.rest.iter())
    }
}

impl std::fmt::Debug for Rules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.inner.rules.iter().map(|r| &*r.text))
            .finish()
    }
}

impl PartialEq for Rules {
    fn eq(&self, other: &Self) -> bool {
        self.inner.source == other.inner.source
    }
}

impl serde::Serialize for Rules {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.inner.source.serialize(s)
    }
}

impl Rules {
    /// Parses and compiles a `rules` list (the value of the policy's `rules` key). Errors name
    /// the rule by index and text, and say how to fix it.
    ///
    /// # Errors
    /// `SIDEFX-POLICY` when a rule is malformed; the message names the rule and the fix.
    ///
    /// ```
    /// let err = sidefx::rules::Rules::from_value(&serde_json::json!([{"pth": "src/**", "tier": "act_auto"}]))
    ///     .unwrap_err()
    ///     .to_string();
    /// assert!(err.contains("did you mean `path`"), "{err}");
    /// ```
    pub fn from_value(value: &Value) -> crate::Result<Rules> {
        let mut problems = Vec::new();
        let rules = parse::rules(&mut problems, "rules", value);
        if problems.is_empty() {
            Ok(rules)
        } else {
            Err(crate::Error::Policy(problems.join("; ")))
        }
    }

    /// Compiles parsed rules into the indexes used at call time.
    fn compile(source: Vec<Value>, rules: Vec<Rule>) -> std::result::Result<Rules, String> {
        let mut plain = PlainIndex::default();
        let mut paths = path::PathIndexBuilder::default();
        let mut commands = command::CommandIndex::default();
        let mut urls = url::UrlIndex::default();
        for (i, rule) in rules.iter().enumerate() {
            match &rule.matcher {
                Matcher::Any => plain.add(i, rule),
                Matcher::Path(patterns) => paths.add(i, patterns),
                Matcher::Command(prefix) => commands.add(i, prefix),
                Matcher::Url(pattern) => urls.add(i, pattern),
            }
        }
        Ok(Rules {
            inner: Arc::new(Compiled {
                source,
                rules,
                plain,
                paths: paths.build()?,
                commands,
                urls,
            }),
        })
    }

    /// How many rules there are.
    ///
    /// ```
    /// assert_eq!(sidefx::rules::Rules::default().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.inner.rules.len()
    }

    /// Whether there are no rules.
    ///
    /// ```
    /// assert!(sidefx::rules::Rules::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.inner.rules.is_empty()
    }

    /// The text of rule `index` as written (compact JSON).
    ///
    /// ```
    /// assert_eq!(sidefx::rules::Rules::default().text(0), None);
    /// ```
    pub fn text(&self, index: usize) -> Option<&str> {
        self.inner.rules.get(index).map(|r| &*r.text)
    }

    /// The effect of rule `index`.
    ///
    /// ```
    /// let r = sidefx::rules::Rules::from_value(&serde_json::json!([{"tier": "shadow"}])).unwrap();
    /// assert_eq!(r.effect(0), Some(sidefx::rules::Effect::Tier(sidefx::Tier::Shadow)));
    /// ```
    pub fn effect(&self, index: usize) -> Option<Effect> {
        self.inner.rules.get(index).map(|r| r.effect)
    }

    /// Every rule that applies to the call, in index order, given what the rows answer
    /// (`rows`): the pure, syscall-free part of a decision (facts are gathered beforehand with
    /// [`CallFacts::gather`]).
    ///
    /// ```
    /// use sidefx::resource::{Resource, ResourceKind, ResourceValue};
    /// use sidefx::rules::{CallFacts, RuleEnv, Rules};
    /// let rules = Rules::from_value(&serde_json::json!([{"url": "https://api.example/**", "tier": "act_auto"}])).unwrap();
    /// let env = RuleEnv::new().workspace("/w");
    /// let url = |u: &str| [Resource::new(ResourceKind::Url, "url", ResourceValue::Url(u.into()))];
    /// let action = sidefx::SideEffectAction::new("http_post", "network.http", "network.http");
    /// let facts = CallFacts::gather(&url("https://API.example./x"), &env.anchors(None));
    /// assert_eq!(rules.matching("a", &action, &facts, Some(sidefx::Tier::Suggest)), vec![0]);
    /// let facts = CallFacts::gather(&url("https://api.example@evil.example/x"), &env.anchors(None));
    /// assert!(rules.matching("a", &action, &facts, Some(sidefx::Tier::Suggest)).is_empty());
    /// ```
    pub fn matching(
        &self,
        agent: &str,
        action: &SideEffectAction,
        facts: &CallFacts,
        rows: Option<Tier>,
    ) -> Vec<usize> {
        let c = &*self.inner;
        if c.rules.is_empty() {
            return Vec::new();
        }
        let path_hits = c.paths.hits(
            &facts.paths,
            facts.unreadable(crate::resource::ResourceKind::Path),
        );
        let mut out = Vec::new();
        let consider = |i: usize, out: &mut Vec<usize>| {
            let rule = &c.rules[i];
            if !rule.admits(agent, action) {
                return;
            }
            let looser = rule.effect.is_looser_than_rows(rows);
            // A call with any unreadable resource gets no looser rule at all (fail closed).
            if looser && facts.any_unreadable() {
                return;
            }
            let applies = match &rule.matcher {
                Matcher::Any => true,
                Matcher::Path(_) => path_hits.applies(i, looser),
                Matcher::Command(prefix) => command::applies(prefix, looser, facts),
                Matcher::Url(pattern) => url::applies(pattern, looser, facts),
            };
            if applies {
                out.push(i);
            }
        };
        for &i in c.plain.for_call(agent, action) {
            consider(i, &mut out);
        }
        let mut candidates: FxHashSet<usize> = FxHashSet::default();
        let mut add = |i| {
            candidates.insert(i);
        };
        c.paths.candidates(&path_hits, &mut add);
        c.commands.candidates(facts, &mut add);
        c.urls.candidates(facts, &mut add);
        for i in candidates {
            consider(i, &mut out);
        }
        out.sort_unstable();
        out
    }

    /// The strictest applying rule (lowest index on ties), if any.
    ///
    /// ```
    /// let rules = sidefx::rules::Rules::from_value(&serde_json::json!([{"tier": "suggest"}, {"tier": "shadow"}])).unwrap();
    /// let action = sidefx::SideEffectAction::new("exec", "process.exec", "process.exec");
    /// let facts = sidefx::rules::CallFacts::default();
    /// assert_eq!(rules.strictest("a", &action, &facts, None), Some(1));
    /// ```
    pub fn strictest(
        &self,
        agent: &str,
        action: &SideEffectAction,
        facts: &CallFacts,
        rows: Option<Tier>,
    ) -> Option<usize> {
        self.matching(agent, action, facts, rows)
            .into_iter()
            .min_by_key(|&i| (self.inner.rules[i].effect.rank(), i))
    }

    pub(crate) fn rules(&self) -> &[Rule] {
        &self.inner.rules
    }

    /// The resource kinds (`[path, command, url]`) that rules admitting the call match on:
    /// what an answer for it may depend on beyond agent, builtin and class.
    pub(crate) fn kinds_read(&self, agent: &str, action: &SideEffectAction) -> [bool; 3] {
        let mut kinds = [false; 3];
        for rule in self.inner.rules.iter().filter(|r| r.admits(agent, action)) {
            match rule.matcher {
                Matcher::Any => {}
                Matcher::Path(_) => kinds[0] = true,
                Matcher::Command(_) => kinds[1] = true,
                Matcher::Url(_) => kinds[2] = true,
            }
        }
        kinds
    }
}

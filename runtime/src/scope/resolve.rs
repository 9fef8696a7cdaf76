//! Resolution: who a call is attributed to, which tier the scopes give it, and how approval
//! settings combine (the tighten-only rules of the [module docs](super)).

use std::time::Duration;

use super::{DEFAULT_AGENT, Layer, Scope, cache, current, is_process_strict};
use crate::approval::{DEFAULT_TIMEOUT, MAX_TIMEOUT};
use crate::quote::excerpt_list;
use crate::resource::Resource;
use crate::rules::{DecidedBy, RuleEnv};
use crate::{AutonomyPolicy, Error, Refusal, RefusalKind, Result, SideEffectAction, Tier};

/// Who a call is attributed to and what the scopes decided for it.
///
/// ```
/// let action = sidefx::SideEffectAction::new("exec", "process.exec", "process.exec");
/// let r = sidefx::Scope::default().resolve(&action).unwrap();
/// assert_eq!((r.agent.as_str(), r.tier, r.requires_human), ("runtime", sidefx::Tier::ActAuto, false));
/// assert_eq!(r.decided_by, sidefx::rules::DecidedBy::Default);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The innermost policy's `agent_id`, else the innermost dispatch agent, else `"runtime"`.
    pub agent: String,
    /// The most restrictive answer of every policy scope (for every agent it binds) and every
    /// dispatch tier; act_auto when nothing answers (unless strict).
    pub tier: Tier,
    /// Whether any active policy requires a human for the call.
    pub requires_human: bool,
    /// What decided: the rule or row of the policy whose answer stood, the dispatch tier, or
    /// the default.
    pub decided_by: DecidedBy,
}

/// How approval requests are shaped in a scope: every scope's settings combined tighten-only.
///
/// ```
/// use sidefx::{AutonomyPolicy, SideEffectAction};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let outer = AutonomyPolicy::from_json(r#"{"reviewers": ["alice", "bob"], "approval_quorum": 1}"#).unwrap();
/// let inner = AutonomyPolicy::from_json(r#"{"reviewers": ["bob", "carol"], "approval_timeout_ms": 60000}"#).unwrap();
/// let push = SideEffectAction::new("git.push", "git.write", "git.write");
/// let s = sidefx::with_policy(outer, sidefx::with_policy(inner, async {
///     sidefx::Scope::capture().approval_settings(&push)
/// })).await.unwrap();
/// assert_eq!(s.reviewers, vec!["bob".to_owned()]);
/// assert_eq!(s.timeout, std::time::Duration::from_secs(60));
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalSettings {
    /// Who may answer: the intersection of every non-empty allowlist; empty means anyone.
    pub reviewers: Vec<String>,
    /// Distinct approvals needed: the largest quorum of any scope (at least 1).
    pub quorum: u32,
    /// How long a request waits: the shortest timeout of any scope, else
    /// [`DEFAULT_TIMEOUT`], never more than [`MAX_TIMEOUT`].
    pub timeout: Duration,
    /// How long an approved suggestion's one-shot grant lives: the shortest
    /// `suggestion_grant_ttl_ms` of any scope, else [`crate::grant::DEFAULT_TTL`].
    pub grant_ttl: Duration,
}

impl Scope {
    /// Resolves identity and tier for `action` in this scope (see [`resolve`]).
    ///
    /// # Errors
    /// A `SIDEFX-STRICT-NO-CONTEXT` refusal when strict mode is on and nothing names a tier.
    ///
    /// ```
    /// let action = sidefx::SideEffectAction::new("exec", "process.exec", "process.exec");
    /// assert_eq!(sidefx::Scope::capture().resolve(&action).unwrap().tier, sidefx::Tier::ActAuto);
    /// ```
    pub fn resolve(&self, action: &SideEffectAction) -> Result<Resolved> {
        self.resolve_call(action, &[])
    }

    /// Resolves identity and tier for one call of `action` touching `resources`: each policy
    /// answers with its rules and rows ([`AutonomyPolicy::answer`]), and the most restrictive
    /// answer (with the dispatch tiers) stands, with what decided it.
    ///
    /// # Errors
    /// A `SIDEFX-STRICT-NO-CONTEXT` refusal when strict mode is on and nothing names a tier.
    ///
    /// ```
    /// use sidefx::resource::{Resource, ResourceKind, ResourceValue};
    /// use sidefx::{AutonomyPolicy, DispatchContext, SideEffectAction, Tier};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let p = AutonomyPolicy::from_json(r#"{"autonomy_tier": "suggest",
    ///     "rules": [{"path": "src/**", "tier": "act_auto"}]}"#).unwrap();
    /// let write = SideEffectAction::new("write_file", "fs.write", "workspace.write_text");
    /// let path = [Resource::new(ResourceKind::Path, "path", ResourceValue::Path("src/a.rs".into()))];
    /// let ctx = DispatchContext::new("planner").workspace("/nonexistent/ws");
    /// let r = sidefx::with_dispatch(ctx, sidefx::with_policy(p, async {
    ///     sidefx::Scope::capture().resolve_call(&write, &path)
    /// })).await.unwrap();
    /// assert_eq!(r.tier, Tier::ActAuto);
    /// assert!(r.decided_by.to_string().starts_with("rules[0]"));
    /// # });
    /// ```
    pub fn resolve_call(&self, action: &SideEffectAction, resources: &[Resource]) -> Result<Resolved> {
        let (agent, tier, requires_human, decided_by) = self.decide_call(action, resources)?;
        Ok(Resolved {
            agent: agent.to_owned(),
            tier,
            requires_human,
            decided_by,
        })
    }

    /// [`resolve_call`](Self::resolve_call) with the agent borrowed. Never cached: with rules,
    /// the answer depends on the call's resources.
    pub(crate) fn decide_call(
        &self,
        action: &SideEffectAction,
        resources: &[Resource],
    ) -> Result<(&str, Tier, bool, DecidedBy)> {
        let agent = self.agent();
        let (tier, requires_human, decided_by) = self.answer_call(agent, action, resources, true);
        let (agent, tier, requires_human) = self.settle(agent, action, (tier, requires_human))?;
        Ok((agent, tier, requires_human, decided_by))
    }

    /// Whether any active policy has rules on arguments: then answers depend on the call's
    /// resources and must not come from the per-action decision cache.
    ///
    /// ```
    /// assert!(!sidefx::Scope::capture().has_rules());
    /// ```
    pub fn has_rules(&self) -> bool {
        self.rules
    }

    /// The environment rules resolve paths in: the dispatch context's workspace, the current
    /// and home directories (it reads the process's current directory).
    fn rule_env(&self) -> RuleEnv {
        let env = RuleEnv::new();
        match self.dispatch.as_ref().and_then(|d| d.workspace.clone()) {
            Some(ws) => env.workspace(ws),
            None => env,
        }
    }

    /// A call's resources normalised as the rules see them (resolved against the workspace,
    /// `..` removed), as records show them: `[{"kind", "arg", "value"}]`, `value` null when
    /// unreadable. Empty when the call has none.
    ///
    /// ```
    /// use sidefx::resource::{Resource, ResourceKind, ResourceValue};
    /// let r = [Resource::new(ResourceKind::Path, "path", ResourceValue::Path("/w/src/../a".into()))];
    /// let shown = sidefx::Scope::capture().normalise_resources(&r);
    /// assert_eq!(shown[0]["value"], "/w/a");
    /// ```
    pub fn normalise_resources(&self, resources: &[Resource]) -> serde_json::Value {
        if resources.is_empty() {
            return serde_json::Value::Array(Vec::new());
        }
        // Records show lexical paths: no real path is computed (no file-system walk per call).
        let policy_workspace = self.policies().find_map(|p| p.workspace.as_deref());
        let dispatch_workspace = self.dispatch.as_ref().and_then(|d| d.workspace.as_deref());
        crate::rules::shown_resources(resources, dispatch_workspace, policy_workspace)
    }

    /// The approval settings every scope's policy calls for, combined tighten-only: reviewer
    /// allowlists intersect, the largest quorum and the shortest timeout win. Fails with
    /// `SIDEFX-NO-REVIEWER` when nobody could approve: the allowlists have nobody in common, or
    /// fewer common reviewers than the quorum.
    ///
    /// # Errors
    /// A `SIDEFX-NO-REVIEWER` refusal when nobody could approve.
    ///
    /// ```
    /// use sidefx::{AutonomyPolicy, SideEffectAction};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let outer = AutonomyPolicy::from_json(r#"{"reviewers": ["alice"]}"#).unwrap();
    /// let inner = AutonomyPolicy::from_json(r#"{"reviewers": ["mallory"]}"#).unwrap();
    /// let push = SideEffectAction::new("git.push", "git.write", "git.write");
    /// let err = sidefx::with_policy(outer, sidefx::with_policy(inner, async {
    ///     sidefx::Scope::capture().approval_settings(&push)
    /// })).await.unwrap_err();
    /// assert_eq!(err.code(), "SIDEFX-NO-REVIEWER");
    /// # });
    /// ```
    pub fn approval_settings(&self, action: &SideEffectAction) -> Result<ApprovalSettings> {
        // Enforcement stamps the call's agent, tier and what decided onto the refusal.
        let refuse = |reason: String| {
            let kind = RefusalKind::NoReviewer { reason };
            Error::from(Refusal::new(kind, action.builtin, DEFAULT_AGENT, Tier::Shadow))
        };
        // Innermost first: no allocation unless some scope has an allowlist.
        let mut allowed: Option<Vec<String>> = None;
        for p in self.policies().filter(|p| !p.reviewers.is_empty()) {
            let next: Vec<String> = match &allowed {
                None => dedup(&p.reviewers),
                Some(so_far) => so_far
                    .iter()
                    .filter(|r| p.reviewers.contains(r))
                    .cloned()
                    .collect(),
            };
            if next.is_empty() {
                return Err(refuse(format!(
                    "the reviewer allowlists of nested scopes have nobody in common (outer {}, inner {}), so nobody could approve; give the scopes a common reviewer",
                    excerpt_list(&p.reviewers),
                    excerpt_list(allowed.as_deref().unwrap_or_default()),
                )));
            }
            allowed = Some(next);
        }
        let quorum = self
            .policies()
            .filter_map(|p| p.approval_quorum)
            .max()
            .unwrap_or(1)
            .max(1);
        let reviewers = allowed.unwrap_or_default();
        if !reviewers.is_empty() && reviewers.len() < quorum as usize {
            return Err(refuse(format!(
                "the quorum is {quorum} approvals but only {} reviewer(s) are allowed by every scope ({}), so nobody could approve; lower `approval_quorum` or allow more reviewers",
                reviewers.len(),
                excerpt_list(&reviewers)
            )));
        }
        let timeout = self
            .policies()
            .filter_map(|p| p.approval_timeout_ms)
            .min()
            .map_or(DEFAULT_TIMEOUT, Duration::from_millis)
            .min(MAX_TIMEOUT);
        let grant_ttl = self
            .policies()
            .filter_map(|p| p.suggestion_grant_ttl_ms)
            .min()
            .map_or(crate::approval::grant::DEFAULT_TTL, Duration::from_millis)
            .min(crate::approval::grant::MAX_TTL);
        Ok(ApprovalSettings {
            reviewers,
            quorum,
            timeout,
            grant_ttl,
        })
    }

    /// The agent calls are attributed to: the innermost policy's `agent_id`, else the innermost
    /// dispatch context's agent, else [`DEFAULT_AGENT`].
    #[inline]
    fn agent(&self) -> &str {
        self.policies()
            .find_map(|p| p.agent_id.as_deref())
            .or_else(|| self.dispatch.as_ref().and_then(|d| d.agent_id.as_deref()))
            .unwrap_or(DEFAULT_AGENT)
    }

    /// What the stack answers for `action`: the most restrictive tier (if any answers) and
    /// whether a human is required (see [`answer_call`](Self::answer_call)).
    fn answer(&self, agent: &str, action: &SideEffectAction) -> (Option<Tier>, bool) {
        let (tier, human, _) = self.answer_call(agent, action, &[], false);
        (tier, human)
    }

    /// What the stack answers for one call: the most restrictive tier (if any answers), whether
    /// a human is required and (with `reasons`) what decided. Each policy answers — rules on
    /// the call's resources included — for `agent`, for the agent in force where it was
    /// entered and for every agent named inside it (the module docs' rule).
    fn answer_call(
        &self,
        agent: &str,
        action: &SideEffectAction,
        resources: &[Resource],
        reasons: bool,
    ) -> (Option<Tier>, bool, DecidedBy) {
        let mut tier: Option<Tier> = self.dispatch.as_ref().and_then(|d| d.tier);
        let mut decided = if tier.is_some() {
            DecidedBy::Dispatch
        } else {
            DecidedBy::Default
        };
        let mut human: Option<DecidedBy> = None;
        let mut env: Option<RuleEnv> = None;
        let mut ask = |p: &AutonomyPolicy, who: &str| {
            let (t, h, by) = if p.rules.is_empty() && !reasons {
                (
                    p.tier_for(who, action),
                    p.requires_human_for(who, action),
                    DecidedBy::Default,
                )
            } else {
                // Only path arguments need the directories (reading them costs system calls).
                let env = env.get_or_insert_with(|| {
                    if resources
                        .iter()
                        .any(|r| r.kind == crate::resource::ResourceKind::Path)
                    {
                        self.rule_env()
                    } else {
                        RuleEnv::default()
                    }
                });
                let a = p.answer(who, action, resources, env);
                (a.tier, a.requires_human, a.decided_by)
            };
            if h && human.is_none() {
                human = Some(by.clone());
            }
            if let Some(t) = t
                && tier.is_none_or(|cur| t < cur || (t == cur && decided == DecidedBy::Dispatch))
            {
                tier = Some(t);
                decided = by;
            }
        };
        let nodes = self.nodes();
        for (depth, node) in nodes.clone().enumerate() {
            let Layer::Policy(p) = &node.layer else { continue };
            ask(p, agent);
            for inner in nodes.clone().take(depth) {
                if let Some(who) = inner.layer.names().filter(|w| *w != agent) {
                    ask(p, who);
                }
            }
            if let Some(who) = attributed(node).filter(|w| *w != agent) {
                ask(p, who);
            }
        }
        let requires_human = human.is_some();
        (tier, requires_human, human.unwrap_or(decided))
    }

    /// The allocation-free core of [`resolve`](Self::resolve): the agent is borrowed.
    #[inline]
    #[cfg_attr(not(test), allow(dead_code))] // the reference the cache is tested against
    pub(crate) fn decide(&self, action: &SideEffectAction) -> Result<(&str, Tier, bool)> {
        let agent = self.agent();
        let answer = self.answer(agent, action);
        self.settle(agent, action, answer)
    }

    /// [`decide`](Self::decide) through a per-thread cache of answers keyed by this scope's
    /// stack and by the action's strings: the fast path of `#[side_effect]`, where the same
    /// builtins run again and again under one scope.
    #[inline]
    pub(crate) fn decide_cached(&self, action: &SideEffectAction) -> Result<(&str, Tier, bool)> {
        let agent = self.agent();
        let answer = if self.decider == 0 {
            self.answer(agent, action)
        } else if let Some(hit) = cache::get(self.decider, action) {
            hit
        } else {
            let answer = self.answer(agent, action);
            cache::put(self.decider, action, answer);
            answer
        };
        self.settle(agent, action, answer)
    }

    /// Applies the default (act_auto, or a refusal when strict) when nothing answered.
    #[inline]
    fn settle<'a>(
        &self,
        agent: &'a str,
        action: &SideEffectAction,
        (tier, requires_human): (Option<Tier>, bool),
    ) -> Result<(&'a str, Tier, bool)> {
        match tier {
            Some(t) => Ok((agent, t, requires_human)),
            // Nothing named a tier: the refusal carries the most restrictive one.
            None if self.strict || is_process_strict() => Err(Error::from(Refusal::new(
                RefusalKind::StrictNoContext,
                action.builtin,
                agent,
                Tier::Shadow,
            ))),
            None => Ok((agent, Tier::ActAuto, requires_human)),
        }
    }

    /// Whether any active policy asks for trust records of act_auto calls.
    pub(crate) fn audit_auto(&self) -> bool {
        self.audit_auto
    }
}

/// The agent a call made with `node` innermost would be attributed to (the rule of
/// [`Scope::agent`]), if the stack up to there names one.
pub(super) fn attributed(node: &super::Node) -> Option<&str> {
    let outward = || std::iter::successors(Some(node), |n| n.parent.as_deref());
    outward()
        .find_map(|n| match &n.layer {
            Layer::Policy(p) => p.agent_id.as_deref(),
            Layer::Agent(_) => None,
        })
        .or_else(|| outward().find_map(|n| n.layer.names()))
}

/// `list` without repeats, first occurrence kept.
fn dedup(list: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for r in list {
        if !out.contains(r) {
            out.push(r.clone());
        }
    }
    out
}

/// Resolves agent and tier for `action` in the current task's scope.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let action = sidefx::SideEffectAction::new("exec", "process.exec", "process.exec");
/// let ctx = sidefx::DispatchContext::new("worker").tier(sidefx::Tier::Shadow);
/// let policy = sidefx::AutonomyPolicy::at_tier(sidefx::Tier::ActAuto);
/// let r = sidefx::with_dispatch(ctx, sidefx::with_policy(policy, async { sidefx::resolve(&action) }))
///     .await
///     .unwrap();
/// assert_eq!((r.agent.as_str(), r.tier), ("worker", sidefx::Tier::Shadow));
/// # });
/// ```
pub fn resolve(action: &SideEffectAction) -> Result<Resolved> {
    match current::try_with(|s| s.resolve(action)) {
        Some(r) => r,
        None => Scope::default().resolve(action),
    }
}

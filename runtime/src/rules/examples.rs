//! `match` / `not_match` examples, checked when the policy loads (as Codex does): a rule that
//! does not do what its author wrote down is a policy error, not a surprise at call time.
//!
//! An example is checked in the sense the rule is used in: a rule looser than the policy's
//! default row (`autonomy_tier`, else `tier`) in the looser sense (every segment, lexical path),
//! any other in the stricter sense. Paths are resolved against the policy's `"workspace"` (or
//! `/workspace`) with `~` = `/home/user`, without touching the file system.

use std::path::Path;

use super::facts::{Anchors, CallFacts};
use super::{Matcher, Rules, command, path, url};
use crate::Tier;
use crate::quote::excerpt;
use crate::resource::{Resource, ResourceKind, ResourceValue};

/// Checks every example of every rule; one message per failing example.
pub(crate) fn check(rules: &Rules, default_tier: Option<Tier>, workspace: Option<&Path>) -> Vec<String> {
    let ws = workspace
        .filter(|w| w.is_absolute())
        .unwrap_or(Path::new("/workspace"));
    let anchors = Anchors::lexical_only(ws, Path::new("/home/user"));
    let mut problems = Vec::new();
    for (i, rule) in rules.rules().iter().enumerate() {
        let looser = rule.effect.is_looser_than_rows(default_tier);
        let sense = if looser { "looser" } else { "stricter" };
        let matches = |example: &str| match &rule.matcher {
            Matcher::Any => true,
            Matcher::Command(prefix) => command::example_matches(prefix, looser, example),
            Matcher::Url(pattern) => url::example_matches(pattern, looser, example),
            Matcher::Path(patterns) => {
                let mut b = path::PathIndexBuilder::default();
                b.add(0, patterns);
                let Ok(index) = b.build() else { return false };
                let r = Resource::new(ResourceKind::Path, "example", ResourceValue::Path(example.into()));
                let facts = CallFacts::gather(&[r], &anchors);
                index.hits(&facts.paths, false).applies(0, looser)
            }
        };
        for ex in &rule.matching {
            if !matches(ex) {
                problems.push(format!(
                    "`rules[{i}]` {}: its `match` example {:?} does not match (checked as a {sense} rule); fix the rule or the example",
                    excerpt(&rule.text),
                    excerpt(ex)
                ));
            }
        }
        for ex in &rule.not_matching {
            if matches(ex) {
                problems.push(format!(
                    "`rules[{i}]` {}: its `not_match` example {:?} matches (checked as a {sense} rule); fix the rule or the example",
                    excerpt(&rule.text),
                    excerpt(ex)
                ));
            }
        }
    }
    problems
}

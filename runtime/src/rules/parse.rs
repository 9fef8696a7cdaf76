//! Parsing a policy's `rules` list, with errors that name the rule (index and text) and the fix.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::command::Prefix;
use super::{Effect, Matcher, Rule, Rules, path, url};
use crate::Tier;
use crate::quote::{bounded, excerpt};
use sidefx_catalogue::closest;

const KEYS: &[&str] = &[
    "agent",
    "builtin",
    "class",
    "path",
    "command",
    "url",
    "tier",
    "requires_human",
    "match",
    "not_match",
];

const MATCHERS: &[&str] = &["path", "command", "url"];

/// Parses the value of `rules`; every problem is pushed to `problems`.
pub(crate) fn rules(problems: &mut Vec<String>, key: &str, value: &Value) -> Rules {
    let Value::Array(items) = value else {
        problems.push(format!(
            "`{key}` must be a list of rules, e.g. [{{\"path\": \"src/**\", \"tier\": \"act_auto\"}}]"
        ));
        return Rules::default();
    };
    let before = problems.len();
    let parsed: Vec<Rule> = items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| rule(problems, key, i, item))
        .collect();
    if problems.len() > before {
        return Rules::default();
    }
    match Rules::compile(items.clone(), parsed) {
        Ok(r) => r,
        Err(e) => {
            problems.push(bounded(&format!("`{key}`: {e}")));
            Rules::default()
        }
    }
}

fn rule(problems: &mut Vec<String>, key: &str, i: usize, item: &Value) -> Option<Rule> {
    let text: Arc<str> = item.to_string().into();
    // Messages quote the rule and its values cut short: a hostile file must not come back as a
    // huge error.
    let here = format!("`{key}[{i}]` {}", excerpt(&text));
    let Value::Object(obj) = item else {
        problems.push(format!(
            "{here}: a rule must be an object, e.g. {{\"path\": \"src/**\", \"tier\": \"act_auto\"}}"
        ));
        return None;
    };
    let before = problems.len();
    let mut bad = |msg: String| problems.push(format!("{here}: {}", bounded(&msg)));
    for k in obj.keys() {
        if !KEYS.contains(&k.as_str()) {
            bad(match closest(k, KEYS.iter().copied()) {
                Some(s) => format!("unknown key `{k}`; did you mean `{s}`?"),
                None => format!("unknown key `{k}`; a rule has {}", KEYS.join(", ")),
            });
        }
    }
    let name = |bad: &mut dyn FnMut(String), k: &str| -> Option<String> {
        match obj.get(k) {
            None => None,
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            Some(v) => {
                bad(format!("`{k}` must be a non-empty string, found {v}"));
                None
            }
        }
    };
    let agent = name(&mut bad, "agent");
    let builtin = name(&mut bad, "builtin");
    let class = name(&mut bad, "class");
    let present: Vec<&str> = MATCHERS
        .iter()
        .copied()
        .filter(|m| obj.contains_key(*m))
        .collect();
    let matcher = match present.as_slice() {
        [] => Some(Matcher::Any),
        [m] => matcher(&mut bad, m, &obj[*m]),
        more => {
            bad(format!(
                "has {} resource matchers ({}); a rule has at most one: split it into one rule per matcher",
                more.len(),
                more.join(", ")
            ));
            None
        }
    };
    let effect = effect(&mut bad, obj);
    let matching = examples(&mut bad, obj, "match");
    let not_matching = examples(&mut bad, obj, "not_match");
    if matches!(matcher, Some(Matcher::Any)) && !(matching.is_empty() && not_matching.is_empty()) {
        bad("`match` / `not_match` examples need a `path`, `command` or `url` matcher to check".into());
    }
    if problems.len() > before {
        return None;
    }
    Some(Rule {
        text,
        agent,
        builtin,
        class,
        matcher: matcher?,
        effect: effect?,
        matching,
        not_matching,
    })
}

fn matcher(bad: &mut dyn FnMut(String), key: &str, v: &Value) -> Option<Matcher> {
    match key {
        "path" => {
            let globs: Vec<&str> = match v {
                Value::String(s) => vec![s.as_str()],
                Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            let all_strings = matches!(v, Value::String(_))
                || matches!(v, Value::Array(items) if items.iter().all(Value::is_string));
            if globs.is_empty() || !all_strings {
                bad(format!(
                    "`path` must be a glob or a non-empty list of globs, e.g. \"src/**\" or [\"~/.ssh/**\", \"/etc/**\"]; found {v}"
                ));
                return None;
            }
            let mut out = Vec::new();
            for g in globs {
                match path::parse_pattern(g) {
                    Ok(p) => out.push(p),
                    Err(e) => bad(format!("`path`: {e}")),
                }
            }
            (out.len() == v.as_array().map_or(1, Vec::len)).then_some(Matcher::Path(out))
        }
        "command" => prefix(bad, v).map(Matcher::Command),
        _ => match v {
            Value::String(s) => match url::parse_pattern(s) {
                Ok(p) => Some(Matcher::Url(p)),
                Err(e) => {
                    bad(format!("`url`: {e}"));
                    None
                }
            },
            _ => {
                bad(format!(
                    "`url` must be a URL pattern string, e.g. \"https://api.example.com/v1/**\"; found {v}"
                ));
                None
            }
        },
    }
}

fn prefix(bad: &mut dyn FnMut(String), v: &Value) -> Option<Prefix> {
    let hint = "`command` is an argv prefix: a list of words where a word may be a list of alternatives, e.g. [\"cargo\", [\"test\", \"build\"]]";
    let word = |w: &Value| -> Option<Vec<String>> {
        match w {
            Value::String(s) if !s.is_empty() => Some(vec![s.clone()]),
            Value::Array(alts) if !alts.is_empty() => alts
                .iter()
                .map(|a| a.as_str().filter(|s| !s.is_empty()).map(str::to_owned))
                .collect(),
            _ => None,
        }
    };
    let words: Option<Vec<Vec<String>>> = match v {
        Value::Array(items) if !items.is_empty() => items.iter().map(word).collect(),
        Value::String(s) => match shell_words::split(s) {
            Ok(w) if !w.is_empty() => Some(w.into_iter().map(|w| vec![w]).collect()),
            _ => None,
        },
        _ => None,
    };
    match words {
        Some(w) => Some(Prefix(w)),
        None => {
            bad(format!("{hint}; found {v}"));
            None
        }
    }
}

fn effect(bad: &mut dyn FnMut(String), obj: &Map<String, Value>) -> Option<Effect> {
    match (obj.get("tier"), obj.get("requires_human")) {
        (Some(t), None) => match t.as_str().map(str::parse::<Tier>) {
            Some(Ok(t)) => Some(Effect::Tier(t)),
            Some(Err(e)) => {
                bad(format!("`tier`: {e}"));
                None
            }
            None => {
                bad(format!(
                    "`tier` must be a tier name (shadow, suggest, act_with_approval, act_auto), found {t}"
                ));
                None
            }
        },
        (None, Some(Value::Bool(true))) => Some(Effect::RequiresHuman),
        (None, Some(v)) => {
            bad(format!(
                "`requires_human` can only be true (found {v}); to give a tier instead, write `\"tier\": ...`"
            ));
            None
        }
        (Some(_), Some(_)) => {
            bad("has both `tier` and `requires_human`; a rule decides one: keep one of them".into());
            None
        }
        (None, None) => {
            bad("decides nothing; add `\"tier\": \"...\"` or `\"requires_human\": true`".into());
            None
        }
    }
}

fn examples(bad: &mut dyn FnMut(String), obj: &Map<String, Value>, key: &str) -> Vec<String> {
    match obj.get(key) {
        None => Vec::new(),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect(),
        Some(v) => {
            bad(format!("`{key}` must be a list of example strings, found {v}"));
            Vec::new()
        }
    }
}

//! Reading one stored trust record as a decision to replay: who called what, with which
//! resources, and what the scopes answered then.

use std::sync::{Mutex, OnceLock};

use rustc_hash::FxHashSet;
use serde_json::Value;

use super::Verdict;
use crate::__private::REDACTED;
use crate::resource::{Resource, ResourceKind, ResourceValue};
use crate::rules::DecidedBy;
use crate::{SideEffectAction, Tier};

/// What the record shows of the call's resources.
#[derive(Debug, Clone)]
pub(super) enum Shown {
    /// The resources as recorded (possibly none), and the kinds whose value is not shown
    /// (redacted, or unreadable when recorded).
    Known(Vec<Resource>, [bool; 3]),
    /// The record predates resources and the builtin is not linked into this process, so
    /// nothing is known about what the call touched.
    Unknown,
}

/// One recorded decision.
#[derive(Debug)]
pub(super) struct Recorded<'a> {
    pub(super) agent: &'a str,
    pub(super) action: SideEffectAction,
    pub(super) verdict: Verdict,
    pub(super) decided_by: DecidedBy,
    pub(super) resources: Shown,
    pub(super) workspace: Option<&'a str>,
    pub(super) timestamp_ms: Option<u64>,
}

/// The index of a resource kind in the `[path, command, url]` flags.
pub(super) fn slot(kind: ResourceKind) -> usize {
    match kind {
        ResourceKind::Path => 0,
        ResourceKind::Command => 1,
        ResourceKind::Url => 2,
    }
}

/// Reads a `trust_recorded` payload; `None` for a record that is not a call's decision (no
/// `builtin` in its metadata: written by hand with [`crate::trust::append`]).
pub(super) fn read(payload: &Value) -> Option<Recorded<'_>> {
    let meta = &payload["metadata"];
    let builtin = meta["builtin"].as_str()?;
    let agent = payload["agent"].as_str()?;
    let tier: Tier = payload["autonomy_tier"].as_str()?.parse().ok()?;
    let class = meta["action_class"]
        .as_str()
        .or_else(|| payload["action"].as_str())?;
    let decided_by: DecidedBy = meta["decided_by"]
        .as_str()
        .map_or(DecidedBy::Default, |s| s.parse().unwrap_or(DecidedBy::Default));
    let enforcement = meta.pointer("/autonomy/enforcement").and_then(Value::as_str);
    let human = enforcement == Some("needs_human_denied") || names_human(&decided_by);
    let action = action_of(builtin, class, meta["capability"].as_str());
    let resources = match meta.get("resources") {
        Some(Value::Array(list)) => from_recorded(list),
        _ => from_args(&action, &meta["args"]),
    };
    Some(Recorded {
        agent,
        action,
        verdict: if human {
            Verdict::RequiresHuman
        } else {
            Verdict::Tier(tier)
        },
        decided_by,
        resources,
        workspace: meta["workspace"].as_str(),
        timestamp_ms: payload["timestamp"]
            .as_str()
            .and_then(|t| humantime::parse_rfc3339_weak(t).ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .and_then(|d| u64::try_from(d.as_millis()).ok()),
    })
}

/// Whether what decided is a `requires_human` row or rule (a refusal for want of reviewers
/// records the tier, but the call needed a human).
fn names_human(by: &DecidedBy) -> bool {
    match by {
        DecidedBy::Row(name) => name.starts_with("requires_human"),
        DecidedBy::Rule { text, .. } => {
            serde_json::from_str::<Value>(text).is_ok_and(|v| v["requires_human"] == Value::Bool(true))
        }
        DecidedBy::Dispatch | DecidedBy::Default => false,
    }
}

/// The recorded resources (`[{"kind", "arg", "value"}]`, normalised when recorded). A value
/// that was unreadable then is unreadable now (the same answer); a masked one is hidden.
fn from_recorded(list: &[Value]) -> Shown {
    let mut hidden = [false; 3];
    let mut out = Vec::with_capacity(list.len());
    for r in list {
        let Some(kind) = r["kind"].as_str().and_then(kind_of) else {
            // A kind this version does not know: nothing can be said about it.
            return Shown::Unknown;
        };
        let arg = r["arg"].as_str().unwrap_or_default().to_owned();
        let value = value_of(kind, &r["value"]).unwrap_or_else(|| {
            hidden[slot(kind)] = true;
            ResourceValue::Unreadable
        });
        out.push(Resource::new(kind, arg, value));
    }
    Shown::Known(out, hidden)
}

/// A record without resources (older logs): read them from the recorded arguments when the
/// builtin is linked into this process; a redacted argument stays unknown.
fn from_args(action: &SideEffectAction, args: &Value) -> Shown {
    let Some(info) = crate::registry::lookup(action.builtin) else {
        return Shown::Unknown;
    };
    let mut hidden = [false; 3];
    let mut out = Vec::new();
    for spec in info.resources {
        let value = match args.get(spec.arg) {
            Some(v) if v.as_str() == Some(REDACTED) => {
                hidden[slot(spec.kind)] = true;
                ResourceValue::Unreadable
            }
            _ => spec.read_json(args).value,
        };
        out.push(Resource::new(spec.kind, spec.arg, value));
    }
    Shown::Known(out, hidden)
}

fn kind_of(name: &str) -> Option<ResourceKind> {
    [ResourceKind::Path, ResourceKind::Command, ResourceKind::Url]
        .into_iter()
        .find(|k| k.as_str() == name)
}

/// A recorded value; `None` when it is masked (never guessed), unreadable when it was
/// unreadable when recorded.
fn value_of(kind: ResourceKind, v: &Value) -> Option<ResourceValue> {
    Some(match (kind, v) {
        (_, Value::String(s)) if s == REDACTED => return None,
        (ResourceKind::Path, Value::String(s)) => ResourceValue::Path(s.into()),
        (ResourceKind::Command, Value::String(s)) => ResourceValue::ShellLine(s.clone()),
        (ResourceKind::Command, Value::Array(argv)) => {
            if argv.iter().any(|a| a.as_str() == Some(REDACTED)) {
                return None;
            }
            argv.iter()
                .map(|a| a.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .map_or(ResourceValue::Unreadable, ResourceValue::Argv)
        }
        (ResourceKind::Url, Value::String(s)) => ResourceValue::Url(s.clone()),
        _ => ResourceValue::Unreadable,
    })
}

/// The action a record names: the registry's when the builtin is linked in, else one made of
/// interned names.
fn action_of(builtin: &str, class: &str, capability: Option<&str>) -> SideEffectAction {
    if let Some(info) = crate::registry::lookup(builtin)
        && info.class == class
    {
        return info.action();
    }
    SideEffectAction::new(
        intern(builtin),
        intern(class),
        intern(capability.unwrap_or(class)),
    )
}

/// Names read from logs, kept for the life of the process: policies answer for `'static`
/// names, and each distinct name is stored once however often it is replayed.
fn intern(s: &str) -> &'static str {
    static NAMES: OnceLock<Mutex<FxHashSet<&'static str>>> = OnceLock::new();
    let mut names = NAMES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(known) = names.get(s) {
        return known;
    }
    let leaked: &'static str = Box::leak(s.to_owned().into_boxed_str());
    names.insert(leaked);
    leaked
}

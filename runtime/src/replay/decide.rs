//! Resolving recorded calls under the candidate and tallying what changed.

use rustc_hash::FxHashMap;
use serde_json::Value;

use super::record::{self, Recorded, Shown};
use super::{Change, Example, RECORD_ACT_AUTO, ReplayFilter, ReplayReport, Unknown, Verdict};
use crate::resource::ResourceKind;
use crate::rules::{DecidedBy, RuleEnv};
use crate::{AutonomyPolicy, Tier};

/// The candidate's answer for one call shape.
#[derive(Debug, Clone)]
enum Answer {
    Decided(Verdict, DecidedBy),
    /// A rule reads these kinds, whose values the record masks or lacks.
    Unknown(Vec<&'static str>),
}

/// Accumulates a replay, one recorded decision at a time.
pub(super) struct Replayer<'p> {
    candidate: &'p AutonomyPolicy,
    filter: &'p ReplayFilter,
    env: RuleEnv,
    /// Answers by call shape: real logs repeat the same calls many times.
    memo: FxHashMap<String, Answer>,
    changes: FxHashMap<(String, String, Verdict, Verdict), Change>,
    unknowns: FxHashMap<(String, String, Verdict), Unknown>,
    report: ReplayReport,
}

impl<'p> Replayer<'p> {
    pub(super) fn new(candidate: &'p AutonomyPolicy, filter: &'p ReplayFilter) -> Self {
        let env = RuleEnv::new();
        let env = match filter.workspace.clone().or_else(|| candidate.workspace.clone()) {
            Some(ws) => env.workspace(ws),
            None => env,
        };
        Replayer {
            candidate,
            filter,
            env,
            memo: FxHashMap::default(),
            changes: FxHashMap::default(),
            unknowns: FxHashMap::default(),
            report: ReplayReport {
                total: 0,
                changed: 0,
                unchanged: 0,
                unknown: 0,
                newly_human: 0,
                unseen_act_auto: None,
                act_auto_replayed: 0,
                record_act_auto: RECORD_ACT_AUTO,
                not_decisions: 0,
                changes: Vec::new(),
                unknowns: Vec::new(),
            },
        }
    }

    /// Replays one stored trust record.
    pub(super) fn add(&mut self, payload: &Value) {
        let Some(rec) = record::read(payload) else {
            self.report.not_decisions += 1;
            return;
        };
        if self.filter.agent.as_deref().is_some_and(|a| a != rec.agent)
            || self
                .filter
                .since_ms
                .is_some_and(|since| rec.timestamp_ms.is_none_or(|t| t < since))
        {
            return;
        }
        self.report.total += 1;
        if rec.verdict == Verdict::Tier(Tier::ActAuto) {
            self.report.act_auto_replayed += 1;
        }
        let key = shape_key(payload, &rec);
        let answer = match self.memo.get(&key) {
            Some(a) => a.clone(),
            None => {
                let a = self.answer(&rec);
                self.memo.insert(key, a.clone());
                a
            }
        };
        match answer {
            Answer::Decided(to, _) if to == rec.verdict => self.report.unchanged += 1,
            Answer::Decided(to, by) => {
                self.report.changed += 1;
                let newly_human = to.files_request() && !rec.verdict.files_request();
                if newly_human {
                    self.report.newly_human += 1;
                }
                let key = (
                    rec.agent.to_owned(),
                    rec.action.builtin.to_owned(),
                    rec.verdict,
                    to,
                );
                self.changes
                    .entry(key)
                    .or_insert_with(|| Change {
                        agent: rec.agent.to_owned(),
                        builtin: rec.action.builtin.to_owned(),
                        from: rec.verdict,
                        to,
                        count: 0,
                        newly_human,
                        example: example(payload, &rec, Some(&by)),
                    })
                    .count += 1;
            }
            Answer::Unknown(needs) => {
                self.report.unknown += 1;
                let key = (rec.agent.to_owned(), rec.action.builtin.to_owned(), rec.verdict);
                self.unknowns
                    .entry(key)
                    .or_insert_with(|| Unknown {
                        agent: rec.agent.to_owned(),
                        builtin: rec.action.builtin.to_owned(),
                        from: rec.verdict,
                        needs,
                        count: 0,
                        example: example(payload, &rec, None),
                    })
                    .count += 1;
            }
        }
    }

    /// The candidate's answer for a recorded call, or which masked values it would need.
    fn answer(&self, rec: &Recorded<'_>) -> Answer {
        let reads = self.candidate.rules.kinds_read(rec.agent, &rec.action);
        let (resources, hidden) = match &rec.resources {
            Shown::Known(resources, hidden) => (resources.as_slice(), *hidden),
            Shown::Unknown => (&[][..], [true; 3]),
        };
        let needs: Vec<&'static str> = [ResourceKind::Path, ResourceKind::Command, ResourceKind::Url]
            .into_iter()
            .filter(|k| reads[record::slot(*k)] && hidden[record::slot(*k)])
            .map(ResourceKind::as_str)
            .collect();
        if !needs.is_empty() {
            return Answer::Unknown(needs);
        }
        let env = match rec.workspace {
            Some(ws) => self.env.clone().workspace(ws),
            None => self.env.clone(),
        };
        let a = self.candidate.answer(rec.agent, &rec.action, resources, &env);
        if a.requires_human {
            return Answer::Decided(Verdict::RequiresHuman, a.decided_by);
        }
        // Nothing answers: the process default. A dispatch context's tier is not the policy's
        // to change, so it still caps the candidate's answer.
        let tier = a.tier.unwrap_or(Tier::ActAuto);
        match (&rec.decided_by, rec.verdict) {
            (DecidedBy::Dispatch, Verdict::Tier(cap)) if cap < tier => {
                Answer::Decided(Verdict::Tier(cap), DecidedBy::Dispatch)
            }
            _ => Answer::Decided(Verdict::Tier(tier), a.decided_by),
        }
    }

    pub(super) fn finish(mut self) -> ReplayReport {
        let mut changes: Vec<Change> = self.changes.into_values().collect();
        changes.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| (&a.agent, &a.builtin, a.from, a.to).cmp(&(&b.agent, &b.builtin, b.from, b.to)))
        });
        let mut unknowns: Vec<Unknown> = self.unknowns.into_values().collect();
        unknowns.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| (&a.agent, &a.builtin, a.from).cmp(&(&b.agent, &b.builtin, b.from)))
        });
        self.report.changes = changes;
        self.report.unknowns = unknowns;
        self.report
    }
}

/// What makes two recorded calls answer alike under any candidate: agent, action, resources,
/// workspace, and whether (and at which tier) the dispatch context decided.
fn shape_key(payload: &Value, rec: &Recorded<'_>) -> String {
    let meta = &payload["metadata"];
    let dispatch = match (&rec.decided_by, rec.verdict) {
        (DecidedBy::Dispatch, v) => v.as_str(),
        _ => "",
    };
    let resources = match rec.resources {
        // Without recorded resources, the arguments are what they were read from.
        Shown::Known(..) if meta.get("resources").is_none() => meta["args"].to_string(),
        _ => meta["resources"].to_string(),
    };
    [
        rec.agent,
        rec.action.builtin,
        rec.action.class,
        &resources,
        rec.workspace.unwrap_or_default(),
        dispatch,
    ]
    .join("\u{1f}")
}

fn example(payload: &Value, rec: &Recorded<'_>, by: Option<&DecidedBy>) -> Example {
    let meta = &payload["metadata"];
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    Example {
        chain_index: payload["chain_index"].as_u64().unwrap_or_default(),
        trace_id: text(&payload["trace_id"]),
        timestamp: text(&payload["timestamp"]),
        args: meta["args"].clone(),
        resources: meta.get("resources").cloned().unwrap_or(Value::Null),
        recorded_decided_by: rec.decided_by.to_string(),
        decided_by: by.map(ToString::to_string),
    }
}

//! `#[side_effect]` end to end (issue 3): annotated builtins under every tier behave per SPEC §9
//! (the body's effect observed through a counter the builtin bumps; proposal, approval request
//! and trust record checked), the link-time registry (file and line, duplicates, the linking
//! pitfall), redaction, fail-closed argument recording and `Send` futures.

#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

// Submodules live under tests/side_effect/ so that cargo does not build each as its own binary.
#[path = "side_effect/async_trait_methods.rs"]
mod async_trait_methods;
#[path = "side_effect/resources.rs"]
mod resources;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use sidefx::approval;
use sidefx::log::{EventLog, MemoryEventLog, StoredEvent, Topic, subscribe};
use sidefx::trust::{Outcome, TrustRecord};
use sidefx::{AutonomyPolicy, Decision, DispatchContext, Tier, side_effect};

// The documented fix for the linking pitfall: name the crate, and its builtins are linked.
use sidefx_fixture_renamed as _;

/// The builtins' error type: refusals arrive through `From<sidefx::Error>`.
#[derive(Debug)]
enum ToolError {
    Refused(sidefx::Error),
    Failed(String),
}

impl From<sidefx::Error> for ToolError {
    fn from(e: sidefx::Error) -> Self {
        ToolError::Refused(e)
    }
}

impl ToolError {
    fn refusal(self) -> sidefx::Error {
        match self {
            ToolError::Refused(e) => e,
            ToolError::Failed(msg) => panic!("expected a refusal, got a failure: {msg}"),
        }
    }
}

const SECRET: &str = "tok-3f9a-very-secret";

/// Where each builtin below is declared (the line of its `fn`), for the registry test.
const WRITE_NOTE_LINE: u32 = line!() + 2;
#[side_effect(class = "fs.write", path(path), skip(ran), redact(token))]
async fn write_note(ran: &AtomicUsize, path: &str, token: &str) -> Result<String, ToolError> {
    let _ = token;
    ran.fetch_add(1, Ordering::SeqCst);
    Ok(format!("wrote {path}"))
}

const GIT_PUSH_LINE: u32 = line!() + 2;
#[side_effect(class = "git.write", name = "git.push", skip(ran))]
async fn git_push(ran: &AtomicUsize, branch: &str) -> Result<(), ToolError> {
    let _ = branch;
    ran.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

/// A custom class declared in this crate's Cargo.toml.
#[side_effect(class = "payments.charge", skip(ran))]
async fn charge_card(ran: &AtomicUsize, cents: u64) -> Result<u64, ToolError> {
    ran.fetch_add(1, Ordering::SeqCst);
    Ok(cents)
}

/// The body runs and fails: act_auto with `audit_auto` records a `failure`.
#[side_effect(class = "process.exec", command(program), skip(ran))]
async fn exec_failing(ran: &AtomicUsize, program: &str) -> Result<(), ToolError> {
    ran.fetch_add(1, Ordering::SeqCst);
    Err(ToolError::Failed(format!("{program}: exit status 1")))
}

/// Tuple keys cannot become JSON object keys, so recording this argument fails.
#[side_effect(class = "store.write", skip(ran))]
async fn store_map(ran: &AtomicUsize, map: HashMap<(u8, u8), u8>) -> Result<usize, ToolError> {
    ran.fetch_add(1, Ordering::SeqCst);
    Ok(map.len())
}

/// Two builtins planted under one name, in different modules (registered, never called).
#[allow(dead_code)]
mod planted_a {
    #[sidefx::side_effect(class = "store.write", name = "planted.duplicate")]
    pub async fn first() -> Result<(), sidefx::Error> {
        Ok(())
    }
}
#[allow(dead_code)]
mod planted_b {
    #[sidefx::side_effect(class = "store.write", name = "planted.duplicate")]
    pub async fn second() -> Result<(), sidefx::Error> {
        Ok(())
    }
}

/// A method, for the `Send` check.
struct Workspace {
    writes: AtomicUsize,
}

impl Workspace {
    #[side_effect(class = "fs.mkdir", path(path))]
    async fn mkdir(&self, path: String) -> Result<String, ToolError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        Ok(path)
    }
}

// ---------------------------------------------------------------- helpers

fn policy(v: Value) -> AutonomyPolicy {
    AutonomyPolicy::from_value(&v).expect("valid policy")
}

/// Runs `fut` as agent `agent` under `policy`, with `log` active.
async fn under<F: Future>(log: &Arc<MemoryEventLog>, agent: &str, policy_json: Value, fut: F) -> F::Output {
    let log: Arc<dyn EventLog> = log.clone();
    let ctx = DispatchContext::new(agent).trace(format!("trace-{agent}"));
    sidefx::with_event_log(
        log,
        sidefx::with_policy(policy(policy_json), sidefx::with_dispatch(ctx, fut)),
    )
    .await
}

async fn events(log: &MemoryEventLog, topic: &Topic) -> Vec<StoredEvent> {
    log.read_range(topic, 0, usize::MAX).await.unwrap()
}

async fn records(log: &MemoryEventLog) -> Vec<TrustRecord> {
    events(log, &Topic::TRUST_GRAPH)
        .await
        .iter()
        .map(|e| TrustRecord::from_event(&e.event).unwrap())
        .collect()
}

async fn kinds(log: &MemoryEventLog, topic: &Topic) -> Vec<String> {
    events(log, topic)
        .await
        .into_iter()
        .map(|e| e.event.kind)
        .collect()
}

/// Answers the first blocking approval request on `log`.
fn reviewer(log: Arc<MemoryEventLog>, who: &'static str, approve: bool) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut sub = subscribe(log.as_ref(), Topic::HITL_APPROVALS, 0);
        loop {
            let e = sub.next().await.unwrap();
            if e.event.kind == "approval_requested" && e.event.payload["blocking"] == json!(true) {
                let id = e.event.payload["request_id"].as_str().unwrap().to_owned();
                let reason = (!approve).then(|| "not during the freeze".to_owned());
                approval::respond(log.as_ref(), &id, who, approve, reason)
                    .await
                    .unwrap();
                return;
            }
        }
    })
}

// ---------------------------------------------------------------- tiers (§9)

#[tokio::test]
async fn act_auto_runs_the_body_and_records_nothing() {
    let log = Arc::new(MemoryEventLog::new());
    let ran = AtomicUsize::new(0);
    let out = under(
        &log,
        "planner",
        json!({"autonomy_tier": "act_auto"}),
        write_note(&ran, "a.txt", SECRET),
    )
    .await
    .unwrap();
    assert_eq!(out, "wrote a.txt");
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    for topic in [Topic::TRIGGER_OUTBOX, Topic::TRUST_GRAPH, Topic::HITL_APPROVALS] {
        assert!(events(&log, &topic).await.is_empty(), "{topic:?} should be empty");
    }
}

#[tokio::test]
async fn act_auto_with_audit_records_success_and_failure() {
    let log = Arc::new(MemoryEventLog::new());
    let ran = AtomicUsize::new(0);
    let p = json!({"autonomy_tier": "act_auto", "audit_auto": true});
    under(&log, "planner", p.clone(), write_note(&ran, "a.txt", SECRET))
        .await
        .unwrap();
    let failed = under(&log, "planner", p, exec_failing(&ran, "make")).await;
    assert!(matches!(failed, Err(ToolError::Failed(_))));
    assert_eq!(ran.load(Ordering::SeqCst), 2, "both bodies ran");

    let recs = records(&log).await;
    assert_eq!(recs.len(), 2);
    assert_eq!(
        (recs[0].outcome, recs[0].enforcement(), recs[0].action.as_str()),
        (Outcome::Success, Some("act_auto"), "fs.write")
    );
    assert_eq!(recs[0].metadata["builtin"], "write_note");
    assert_eq!(
        recs[0].metadata["args"],
        json!({"path": "a.txt", "token": "[redacted]"})
    );
    assert_eq!(
        (recs[1].outcome, recs[1].metadata["builtin"].as_str()),
        (Outcome::Failure, Some("exec_failing"))
    );
    assert!(events(&log, &Topic::TRIGGER_OUTBOX).await.is_empty());
}

#[tokio::test]
async fn shadow_skips_the_body_and_records_a_proposal_and_a_denial() {
    let log = Arc::new(MemoryEventLog::new());
    let ran = AtomicUsize::new(0);
    let err = under(
        &log,
        "planner",
        json!({"autonomy_tier": "shadow"}),
        write_note(&ran, "notes.txt", SECRET),
    )
    .await
    .unwrap_err()
    .refusal();
    assert!(err.is_skipped());
    assert_eq!(err.code(), "SIDEFX-SKIPPED");
    assert_eq!(ran.load(Ordering::SeqCst), 0, "the body must not run");

    let proposals = events(&log, &Topic::TRIGGER_OUTBOX).await;
    assert_eq!(proposals.len(), 1);
    let p = &proposals[0].event;
    assert_eq!(p.kind, "dispatch_proposed");
    assert_eq!(p.payload["builtin"], "write_note");
    assert_eq!(p.payload["action_class"], "fs.write");
    assert_eq!(p.payload["agent"], "planner");
    assert_eq!(p.payload["autonomy_tier"], "shadow");
    assert_eq!(
        p.payload["args"],
        json!({"path": "notes.txt", "token": "[redacted]"}),
        "`ran` is skipped, `token` redacted"
    );
    let recs = records(&log).await;
    assert_eq!(recs.len(), 1);
    assert_eq!(
        (recs[0].outcome, recs[0].enforcement(), recs[0].autonomy_tier),
        (Outcome::Denied, Some("shadow_noop"), Tier::Shadow)
    );
    assert_eq!(recs[0].trace_id, "trace-planner");
    assert!(events(&log, &Topic::HITL_APPROVALS).await.is_empty());
}

#[tokio::test]
async fn suggest_skips_the_body_and_files_a_non_blocking_request() {
    let log = Arc::new(MemoryEventLog::new());
    let ran = AtomicUsize::new(0);
    let err = under(
        &log,
        "intern",
        json!({"agent_tiers": {"intern": "suggest"}, "autonomy_tier": "act_auto"}),
        git_push(&ran, "main"),
    )
    .await
    .unwrap_err()
    .refusal();
    assert!(err.is_skipped());
    let request_id = err.approval_request_id().unwrap().to_owned();
    assert_eq!(ran.load(Ordering::SeqCst), 0);

    let pending = approval::pending(log.as_ref()).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].request_id, request_id);
    assert!(!pending[0].blocking);
    assert_eq!(
        (pending[0].builtin.as_str(), pending[0].action.as_str()),
        ("git.push", "git.write")
    );
    assert_eq!(pending[0].args, json!({"branch": "main"}));
    assert_eq!(kinds(&log, &Topic::TRIGGER_OUTBOX).await, ["dispatch_proposed"]);
    let recs = records(&log).await;
    assert_eq!(
        (recs[0].outcome, recs[0].enforcement()),
        (Outcome::Denied, Some("suggest_approval_request"))
    );
    assert_eq!(recs[0].metadata["approval_request_id"], json!(request_id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn act_with_approval_runs_the_body_once_approved() {
    let log = Arc::new(MemoryEventLog::new());
    let ran = AtomicUsize::new(0);
    let answer = reviewer(log.clone(), "alice", true);
    under(
        &log,
        "planner",
        json!({"autonomy_tier": "act_with_approval", "reviewers": ["alice"]}),
        git_push(&ran, "main"),
    )
    .await
    .unwrap();
    answer.await.unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 1, "approved: the body ran once");

    let requests: Vec<_> = events(&log, &Topic::HITL_APPROVALS)
        .await
        .into_iter()
        .filter(|e| e.event.kind == "approval_requested")
        .collect();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].event.payload["blocking"], json!(true));
    assert_eq!(requests[0].event.payload["args"], json!({"branch": "main"}));
    let recs = records(&log).await;
    assert_eq!(recs.len(), 1);
    assert_eq!(
        (
            recs[0].outcome,
            recs[0].enforcement(),
            recs[0].approver.as_deref()
        ),
        (Outcome::Success, Some("approval_granted"), Some("alice"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_process_reviewer_finds_the_request_a_blocked_call_waits_on() {
    let log = Arc::new(MemoryEventLog::new());
    let ran = Arc::new(AtomicUsize::new(0));
    let mut filed = approval::requests(log.as_ref(), 0);
    let call = {
        let (log, ran) = (log.clone(), ran.clone());
        tokio::spawn(async move {
            under(
                &log,
                "planner",
                json!({"autonomy_tier": "act_with_approval"}),
                git_push(&ran, "release"),
            )
            .await
        })
    };
    // The stream yields the blocked call's request; the lookup by trace id finds the same one.
    let streamed = filed.next().await.unwrap();
    assert!(streamed.blocking, "the call blocks on its request: {streamed:?}");
    assert_eq!(
        (streamed.builtin.as_str(), streamed.trace_id.as_str()),
        ("git.push", "trace-planner")
    );
    let found = approval::request_for_trace(log.as_ref(), "trace-planner")
        .await
        .unwrap()
        .expect("the blocked call's request is found by its trace id");
    assert_eq!(found.request_id, streamed.request_id);
    assert_eq!(
        ran.load(Ordering::SeqCst),
        0,
        "still blocked: the body has not run"
    );
    approval::respond(log.as_ref(), &found.request_id, "alice", true, None)
        .await
        .unwrap();
    call.await.unwrap().unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 1, "approved: the body ran once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn act_with_approval_denied_does_not_run_the_body() {
    let log = Arc::new(MemoryEventLog::new());
    let ran = AtomicUsize::new(0);
    let answer = reviewer(log.clone(), "bob", false);
    let err = under(
        &log,
        "planner",
        json!({"autonomy_tier": "act_with_approval"}),
        git_push(&ran, "release"),
    )
    .await
    .unwrap_err()
    .refusal();
    answer.await.unwrap();
    assert_eq!(err.code(), "SIDEFX-APPROVAL-DENIED");
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    let recs = records(&log).await;
    assert_eq!(recs[0].outcome, Outcome::Denied);
    assert_eq!(
        kinds(&log, &Topic::HITL_APPROVALS)
            .await
            .last()
            .map(String::as_str),
        Some("approval_denied")
    );
}

#[tokio::test]
async fn act_with_approval_times_out_without_running_the_body() {
    let log = Arc::new(MemoryEventLog::new());
    let ran = AtomicUsize::new(0);
    let started = std::time::Instant::now();
    let err = under(
        &log,
        "planner",
        json!({"autonomy_tier": "act_with_approval", "approval_timeout_ms": 50}),
        git_push(&ran, "main"),
    )
    .await
    .unwrap_err()
    .refusal();
    assert_eq!(err.code(), "SIDEFX-APPROVAL-TIMEOUT");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    assert_eq!(records(&log).await[0].outcome, Outcome::Timeout);
}

#[tokio::test]
async fn requires_human_refuses_a_custom_class_and_files_a_request() {
    let log = Arc::new(MemoryEventLog::new());
    let ran = AtomicUsize::new(0);
    let err = under(
        &log,
        "planner",
        json!({"autonomy_tier": "act_auto", "requires_human_actions": ["payments.charge"]}),
        charge_card(&ran, 4200),
    )
    .await
    .unwrap_err()
    .refusal();
    assert_eq!(err.code(), "SIDEFX-NEEDS-HUMAN");
    assert_eq!(ran.load(Ordering::SeqCst), 0);

    let pending = approval::pending(log.as_ref()).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].action, "payments.charge");
    assert_eq!(pending[0].capabilities_requested, ["payments.write"]);
    assert_eq!(pending[0].args, json!({"cents": 4200}));
    assert_eq!(kinds(&log, &Topic::TRIGGER_OUTBOX).await, ["dispatch_proposed"]);
    let recs = records(&log).await;
    assert_eq!(
        (recs[0].outcome, recs[0].enforcement(), recs[0].action.as_str()),
        (Outcome::Denied, Some("needs_human_denied"), "payments.charge")
    );

    // Without the requirement the same builtin runs.
    under(
        &log,
        "planner",
        json!({"autonomy_tier": "act_auto"}),
        charge_card(&ran, 1),
    )
    .await
    .unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn tiers_that_need_a_log_fail_closed_without_one() {
    let ran = AtomicUsize::new(0);
    let p = policy(json!({"autonomy_tier": "suggest"}));
    let err = sidefx::with_policy(p, write_note(&ran, "a.txt", SECRET))
        .await
        .unwrap_err()
        .refusal();
    assert_eq!(err.code(), "SIDEFX-NO-EVENT-LOG");
    let err = sidefx::with_strict(git_push(&ran, "main"))
        .await
        .unwrap_err()
        .refusal();
    assert_eq!(err.code(), "SIDEFX-STRICT-NO-CONTEXT");
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn an_argument_that_cannot_be_recorded_refuses_the_call() {
    let log = Arc::new(MemoryEventLog::new());
    let ran = AtomicUsize::new(0);
    let map = HashMap::from([((1, 2), 3)]);
    let err = under(
        &log,
        "planner",
        json!({"autonomy_tier": "shadow"}),
        store_map(&ran, map.clone()),
    )
    .await
    .unwrap_err()
    .refusal();
    assert_eq!(err.code(), "SIDEFX-CONFIG");
    assert!(err.to_string().contains("argument `map`"), "{err}");
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    // act_auto with nothing to record never serializes the arguments, so the call runs.
    let n = under(
        &log,
        "planner",
        json!({"autonomy_tier": "act_auto"}),
        store_map(&ran, map),
    )
    .await
    .unwrap();
    assert_eq!((n, ran.load(Ordering::SeqCst)), (1, 1));
}

#[tokio::test]
async fn the_dynamic_entry_point_sees_annotated_builtins() {
    let log = Arc::new(MemoryEventLog::new());
    let decision = under(
        &log,
        "planner",
        json!({"action_tiers": {"git.push": "shadow"}}),
        sidefx::enforce("git.push", &json!({"branch": "main"})),
    )
    .await
    .unwrap();
    assert!(matches!(decision, Decision::Skip { reason } if reason.is_skipped()));
    let recs = records(&log).await;
    assert_eq!(recs[0].metadata["builtin"], "git.push");
}

// ---------------------------------------------------------------- redaction

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redacted_value_appears_in_no_event_and_no_record() {
    let log = Arc::new(MemoryEventLog::new());
    let ran = AtomicUsize::new(0);
    let tiers = [
        json!({"autonomy_tier": "shadow"}),
        json!({"autonomy_tier": "suggest"}),
        json!({"autonomy_tier": "act_auto", "audit_auto": true}),
        json!({"autonomy_tier": "act_auto", "requires_human": true}),
    ];
    for p in tiers {
        let _ = under(&log, "planner", p, write_note(&ran, "a.txt", SECRET)).await;
    }
    let answer = reviewer(log.clone(), "alice", true);
    under(
        &log,
        "planner",
        json!({"autonomy_tier": "act_with_approval"}),
        write_note(&ran, "a.txt", SECRET),
    )
    .await
    .unwrap();
    answer.await.unwrap();
    assert_eq!(
        ran.load(Ordering::SeqCst),
        2,
        "audit_auto and the approved call ran"
    );

    let mut seen = 0;
    for topic in [Topic::TRIGGER_OUTBOX, Topic::TRUST_GRAPH, Topic::HITL_APPROVALS] {
        for e in events(&log, &topic).await {
            let text = serde_json::to_string(&e.event).unwrap();
            assert!(!text.contains(SECRET), "secret leaked into {topic:?}: {text}");
            seen += usize::from(text.contains("[redacted]"));
        }
    }
    // 3 proposals + 5 records + 3 requests (suggest, needs-human, approval) carry the args.
    assert!(seen >= 11, "only {seen} events carried the redacted args");
    assert!(
        sidefx::trust::verify_chain(log.as_ref())
            .await
            .unwrap()
            .is_valid()
    );
}

// ---------------------------------------------------------------- registry (§6)

#[test]
fn the_registry_finds_every_annotated_builtin_with_file_and_line() {
    let all = sidefx::registry::all();
    let here: Vec<_> = all
        .iter()
        .filter(|e| e.file.ends_with("side_effect.rs"))
        .collect();
    let mut names: Vec<&str> = here.iter().map(|e| e.name).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "charge_card",
            "exec_failing",
            "git.push",
            "mkdir",
            "planted.duplicate",
            "planted.duplicate",
            "store_map",
            "write_note",
        ]
    );
    let write = sidefx::registry::lookup("write_note").unwrap();
    assert_eq!(
        (write.class, write.capability, write.line),
        ("fs.write", "workspace.write_text", WRITE_NOTE_LINE)
    );
    assert!(write.file.ends_with("tests/side_effect.rs"), "{}", write.file);
    assert_eq!(write.module_path, "side_effect");
    let push = sidefx::registry::lookup("git.push").unwrap();
    assert_eq!((push.class, push.line), ("git.write", GIT_PUSH_LINE));
    let charge = sidefx::registry::lookup("charge_card").unwrap();
    assert_eq!(charge.capability, "payments.write");
    let planted = here
        .iter()
        .filter(|e| e.name == "planted.duplicate")
        .map(|e| e.module_path)
        .collect::<Vec<_>>();
    assert_eq!(planted.len(), 2);
    assert!(planted.contains(&"side_effect::planted_a") && planted.contains(&"side_effect::planted_b"));
}

#[test]
fn validate_reports_the_planted_duplicate() {
    let dups = sidefx::registry::validate().unwrap_err();
    assert_eq!(dups.len(), 1, "{dups:?}");
    assert_eq!(dups[0].name, "planted.duplicate");
    assert_eq!(dups[0].entries.len(), 2);
    let msg = dups[0].to_string();
    assert!(msg.contains("side_effect.rs"), "{msg}");
}

#[tokio::test]
async fn a_crate_the_binary_never_references_contributes_no_entries() {
    // `sidefx-fixture-unreferenced` is a dependency of this test, but nothing names it.
    assert!(sidefx::registry::lookup("fixture.unreferenced").is_none());
    let err = sidefx::enforce("fixture.unreferenced", &json!({}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "SIDEFX-UNKNOWN-BUILTIN");
    // `sidefx-fixture-renamed` is named once (`use sidefx_fixture_renamed as _;`): linked.
    let entry = sidefx::registry::lookup("fixture.renamed.ping").unwrap();
    assert_eq!(entry.module_path, "sidefx_fixture_renamed");
    let d = sidefx::enforce("fixture.renamed.ping", &json!({"n": 1}))
        .await
        .unwrap();
    assert!(matches!(d, Decision::Proceed(_)));
}

// ---------------------------------------------------------------- futures

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn annotated_futures_are_send_and_keep_their_scope_when_propagated() {
    let ws = Arc::new(Workspace {
        writes: AtomicUsize::new(0),
    });
    // Plain `tokio::spawn` needs a `Send` future.
    let w = ws.clone();
    let out = tokio::spawn(async move { w.mkdir("out".into()).await })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out, "out");
    assert_eq!(ws.writes.load(Ordering::SeqCst), 1);

    // `sidefx::spawn` carries the scope: the spawned call is shadowed.
    let w = ws.clone();
    let err = sidefx::with_policy(policy(json!({"autonomy_tier": "shadow"})), async move {
        sidefx::spawn(async move { w.mkdir("out2".into()).await })
            .await
            .unwrap()
    })
    .await
    .unwrap_err()
    .refusal();
    assert!(err.is_skipped());
    assert_eq!(ws.writes.load(Ordering::SeqCst), 1);
}

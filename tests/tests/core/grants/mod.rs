//! Approved suggestions become one-shot grants (issue 14 §1): the identical re-dispatch runs
//! exactly once (also when 16 calls race, half of them in another process on one SQLite log),
//! a changed argument, another agent or an expired grant gets the suggest answer, the redacted
//! value reaches no byte of the log, and a grant never loosens a stricter scope.

mod race;
mod scopes;
mod secrets;
mod stuck;
mod workspace;

use sidefx::grant::{self, GrantStatus};

use super::*;

/// The error type of the annotated builtins here.
#[derive(Debug)]
pub struct ToolError(pub Error);

impl From<Error> for ToolError {
    fn from(e: Error) -> Self {
        ToolError(e)
    }
}

static RACE_RAN: AtomicUsize = AtomicUsize::new(0);

/// The same builtin as the helper process's `grant-race` mode.
#[sidefx::side_effect(class = "store.write", name = "grant_race_store", redact(token))]
async fn grant_race_store(key: &str, token: &str) -> Result<(), ToolError> {
    let _ = (key, token);
    RACE_RAN.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

static SECRET_RAN: AtomicUsize = AtomicUsize::new(0);

#[sidefx::side_effect(class = "store.write", name = "grant_secret_store", redact(token))]
async fn grant_secret_store(key: &str, token: String) -> Result<(), ToolError> {
    let _ = (key, token);
    SECRET_RAN.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

/// A secret wrapper that is deliberately not `Serialize`.
pub struct Opaque(#[allow(dead_code)] pub String);

static OPAQUE_RAN: AtomicUsize = AtomicUsize::new(0);

#[sidefx::side_effect(class = "store.write", name = "grant_opaque_store", redact(token))]
async fn grant_opaque_store(key: &str, token: Opaque) -> Result<(), ToolError> {
    let _ = (key, token);
    OPAQUE_RAN.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

fn suggest(agent: &str) -> Arc<AutonomyPolicy> {
    Arc::new(AutonomyPolicy::at_tier(Tier::Suggest).for_agent(agent))
}

/// One dynamic call of `name` by `agent` under suggest on `log`.
async fn suggested(
    log: &Arc<dyn EventLog>,
    p: &Arc<AutonomyPolicy>,
    name: &str,
    args: Value,
    ran: &AtomicUsize,
) -> Result<Option<(String, Vec<String>)>, Error> {
    sidefx::with_event_log(log.clone(), sidefx::with_policy(p.clone(), call(name, args, ran))).await
}

fn request_id(e: &Error) -> String {
    e.approval_request_id()
        .expect("a suggest refusal names its request")
        .to_owned()
}

async fn grant_of(log: &dyn EventLog, id: &str) -> GrantStatus {
    grant::status(log, id)
        .await
        .unwrap()
        .expect("a suggest request carries grant terms")
}

#[tokio::test]
async fn an_approved_suggestion_runs_its_identical_call_exactly_once() {
    let name = builtin("grant_once_write", "fs.write");
    let log: Arc<dyn EventLog> = Arc::new(MemoryEventLog::new());
    let p = suggest("planner");
    let ran = AtomicUsize::new(0);
    let args = json!({"path": "notes.txt", "text": "hello"});

    let first = suggested(&log, &p, name, args.clone(), &ran).await.unwrap_err();
    assert_eq!(first.code(), "SIDEFX-SKIPPED");
    let id = request_id(&first);
    let before = grant_of(log.as_ref(), &id).await;
    assert!(before.terms.grantable(), "{:?}", before.terms);
    assert!(before.grant.is_none(), "nothing is granted before the approval");
    assert_eq!(ran.load(Ordering::SeqCst), 0);

    approval::respond(log.as_ref(), &id, "alice", true, None)
        .await
        .unwrap();
    let issued = grant_of(log.as_ref(), &id)
        .await
        .grant
        .expect("approving issued the grant");
    assert_eq!(issued.approvers, ["alice"]);
    assert_eq!(
        issued.expires_at_ms - issued.issued_at_ms,
        24 * 60 * 60 * 1000,
        "the default time to live"
    );

    let (request, approvers) = suggested(&log, &p, name, args.clone(), &ran)
        .await
        .unwrap()
        .expect("the grant approved the re-dispatch");
    assert_eq!(
        (request.as_str(), approvers),
        (id.as_str(), vec!["alice".to_owned()])
    );
    assert_eq!(ran.load(Ordering::SeqCst), 1, "the identical call ran");

    let again = suggested(&log, &p, name, args, &ran).await.unwrap_err();
    assert_eq!(
        again.code(),
        "SIDEFX-SKIPPED",
        "one shot: the next call suggests again"
    );
    assert_ne!(request_id(&again), id, "and files a new request");
    assert_eq!(ran.load(Ordering::SeqCst), 1);

    // The run's trust record links the request and its approvers.
    let all = trust::query(log.as_ref(), &trust::TrustQuery::default())
        .await
        .unwrap();
    let granted: Vec<_> = all
        .iter()
        .filter(|r| r.enforcement() == Some("suggestion_grant"))
        .collect();
    assert_eq!(granted.len(), 1, "{all:?}");
    let r = granted[0];
    assert_eq!((r.outcome, r.autonomy_tier), (Outcome::Success, Tier::Suggest));
    assert_eq!(r.metadata["approval_request_id"], json!(id));
    assert_eq!(r.metadata["approvers"], json!(["alice"]));
    assert_eq!(r.approver.as_deref(), Some("alice"));
    let used = grant_of(log.as_ref(), &id).await;
    assert_eq!(
        used.consumed.unwrap().trace_id,
        r.trace_id,
        "show names the trace that used it"
    );
    assert!(trust::verify_chain(log.as_ref()).await.unwrap().is_valid());
}

#[tokio::test]
async fn a_changed_argument_another_agent_or_an_expired_grant_gets_the_suggest_answer() {
    let name = builtin("grant_changed_write", "fs.write");
    let log: Arc<dyn EventLog> = Arc::new(MemoryEventLog::new());
    let ran = AtomicUsize::new(0);
    let args = json!({"path": "a.txt", "text": "v1"});
    let planner = suggest("planner");
    let id = request_id(
        &suggested(&log, &planner, name, args.clone(), &ran)
            .await
            .unwrap_err(),
    );
    approval::respond(log.as_ref(), &id, "alice", true, None)
        .await
        .unwrap();

    let changed = json!({"path": "a.txt", "text": "v2"});
    let e = suggested(&log, &planner, name, changed, &ran).await.unwrap_err();
    assert_eq!(e.code(), "SIDEFX-SKIPPED", "another value is another call");
    let e = suggested(&log, &suggest("coder"), name, args.clone(), &ran)
        .await
        .unwrap_err();
    assert_eq!(
        e.code(),
        "SIDEFX-SKIPPED",
        "another agent does not inherit the grant"
    );
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    assert!(
        grant_of(log.as_ref(), &id).await.consumed.is_none(),
        "the grant is still unused"
    );

    // A shorter time to live in the scopes around the re-dispatch shortens the grant.
    let short = Arc::new(policy(
        json!({"agent_id": "planner", "autonomy_tier": "suggest", "suggestion_grant_ttl_ms": 1}),
    ));
    let issued = grant_of(log.as_ref(), &id).await.grant.unwrap().issued_at_ms;
    while sidefx::log::now_ms() <= issued + 1 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let e = suggested(&log, &short, name, args.clone(), &ran)
        .await
        .unwrap_err();
    assert_eq!(
        e.code(),
        "SIDEFX-SKIPPED",
        "past the re-dispatching scope's time to live"
    );
    assert!(grant_of(log.as_ref(), &id).await.consumed.is_none());

    // A grant whose time to live has passed.
    let args = json!({"path": "b.txt", "text": "v1"});
    let id = request_id(
        &suggested(&log, &short, name, args.clone(), &ran)
            .await
            .unwrap_err(),
    );
    assert_eq!(
        grant_of(log.as_ref(), &id).await.terms.ttl_ms,
        1,
        "the filing scope's ttl"
    );
    approval::respond(log.as_ref(), &id, "alice", true, None)
        .await
        .unwrap();
    let expires = grant_of(log.as_ref(), &id).await.grant.unwrap().expires_at_ms;
    // Wait for the clock to pass the expiry (a condition, not a timed assertion).
    while sidefx::log::now_ms() <= expires {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let e = suggested(&log, &planner, name, args, &ran).await.unwrap_err();
    assert_eq!(e.code(), "SIDEFX-SKIPPED", "an expired grant does not run");
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    assert!(
        grant_of(log.as_ref(), &id)
            .await
            .describe()
            .starts_with("expired unused")
    );
}

#[tokio::test]
async fn a_redacted_argument_that_is_not_serialize_makes_the_call_ungrantable() {
    let log: Arc<dyn EventLog> = Arc::new(MemoryEventLog::new());
    let p = suggest("planner");
    let run = || {
        sidefx::with_event_log(
            log.clone(),
            sidefx::with_policy(p.clone(), grant_opaque_store("k", Opaque("s3cret".into()))),
        )
    };
    let e = run().await.unwrap_err().0;
    let id = request_id(&e);
    let terms = grant_of(log.as_ref(), &id).await.terms;
    assert!(!terms.grantable());
    assert!(terms.ungrantable.unwrap().contains("`token`"));
    approval::respond(log.as_ref(), &id, "alice", true, None)
        .await
        .unwrap();
    assert!(
        grant_of(log.as_ref(), &id).await.grant.is_none(),
        "no grant is issued"
    );
    assert_eq!(
        run().await.unwrap_err().0.code(),
        "SIDEFX-SKIPPED",
        "fails closed"
    );
    assert_eq!(OPAQUE_RAN.load(Ordering::SeqCst), 0);
}

//! Approved suggestions become one-shot grants (issue 14 §1): the identical re-dispatch runs
//! exactly once (also when 16 calls race, half of them in another process on one SQLite log),
//! a changed argument, another agent or an expired grant gets the suggest answer, the redacted
//! value reaches no byte of the log, and a grant never loosens a stricter scope.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use proptest::prelude::*;
use sidefx::grant::{self, GrantStatus};
use sidefx::log::SqliteEventLog;

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

/// Every byte the SQLite log keeps on disk: the database, its write-ahead log and its index.
fn stored_bytes(path: &std::path::Path) -> Vec<u8> {
    let mut all = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        if let Ok(bytes) = std::fs::read(&name) {
            all.extend(bytes);
        }
    }
    all
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn the_redacted_value_reaches_no_byte_of_the_log_digest_included() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let log: Arc<dyn EventLog> = Arc::new(SqliteEventLog::open(&path).unwrap());
    let p = suggest("planner");
    let secret = "sk-live-7f3a9c1e5b2d4f60a8e1";
    let run = || {
        sidefx::with_event_log(
            log.clone(),
            sidefx::with_policy(p.clone(), grant_secret_store("k", secret.to_owned())),
        )
    };
    let id = request_id(&run().await.unwrap_err().0);
    approval::respond(log.as_ref(), &id, "alice", true, None)
        .await
        .unwrap();
    run().await.expect("the approved suggestion runs");
    assert_eq!(SECRET_RAN.load(Ordering::SeqCst), 1);
    let digest = grant_of(log.as_ref(), &id).await.terms.digest.unwrap();
    log.flush().await.unwrap();

    let bytes = stored_bytes(&path);
    assert!(
        contains(&bytes, digest.as_bytes()),
        "the scan reads the stored events"
    );
    // The value itself, and the unkeyed hashes anyone could test a guess against.
    let real = sidefx::canonical::to_string(&json!({"key": "k", "token": secret}));
    let unkeyed = |s: &str| sidefx::canonical::sha256(&json!(s));
    let plain = |b: &[u8]| {
        use std::fmt::Write as _;
        let d = <sha2::Sha256 as sha2::Digest>::digest(b);
        d.iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    };
    for needle in [
        secret.to_owned(),
        hex(secret.as_bytes()),
        plain(secret.as_bytes()),
        plain(real.as_bytes()),
        unkeyed(secret),
    ] {
        assert!(!contains(&bytes, needle.as_bytes()), "the log holds {needle}");
    }
    // The key sits beside the log, readable by its owner only, and not in the log either.
    let key = std::fs::read(dir.path().join("events.db.grant-key")).unwrap();
    assert!(!contains(&bytes, &key) && !contains(&bytes, hex(&key).as_bytes()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("events.db.grant-key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn sixteen_racing_identical_calls_half_in_another_process_run_the_body_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let log: Arc<dyn EventLog> = Arc::new(SqliteEventLog::open(&path).unwrap());
    let p = suggest("racer");
    let token = "race-token-41";
    let race = |log: Arc<dyn EventLog>, p: Arc<AutonomyPolicy>| {
        sidefx::with_event_log(log, sidefx::with_policy(p, grant_race_store("k", token)))
    };
    let id = request_id(&rt.block_on(race(log.clone(), p.clone())).unwrap_err().0);
    rt.block_on(approval::respond(log.as_ref(), &id, "alice", true, None))
        .unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_sidefx-log-stress"))
        .args(["grant-race", path.to_str().unwrap(), "racer", token, "8"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    // Both processes start their 8 calls on the same signal.
    writeln!(child.stdin.take().unwrap(), "go").unwrap();
    let refused = rt.block_on(async {
        let calls: Vec<_> = (0..8)
            .map(|_| tokio::spawn(race(log.clone(), p.clone())))
            .collect();
        let mut refused = 0;
        for c in calls {
            if let Err(e) = c.await.unwrap() {
                assert_eq!(
                    e.0.code(),
                    "SIDEFX-SKIPPED",
                    "a loser gets the suggest answer: {e:?}"
                );
                refused += 1;
            }
        }
        refused
    });
    let theirs = lines.next().unwrap().unwrap();
    assert!(child.wait().unwrap().success(), "the helper process failed");
    let theirs: usize = theirs.strip_prefix("ran ").unwrap().parse().unwrap();
    let ours = RACE_RAN.load(Ordering::SeqCst);
    assert_eq!(ours + theirs, 1, "ours {ours}, the other process's {theirs}");
    assert_eq!(refused, 8 - ours);

    let status = rt.block_on(grant::status(log.as_ref(), &id)).unwrap().unwrap();
    let used = status.consumed.expect("the grant was used");
    let records = rt
        .block_on(trust::query(log.as_ref(), &trust::TrustQuery::default()))
        .unwrap();
    let granted: Vec<_> = records
        .iter()
        .filter(|r| r.enforcement() == Some("suggestion_grant"))
        .collect();
    assert_eq!(granted.len(), 1);
    assert_eq!(granted[0].trace_id, used.trace_id);
    assert!(rt.block_on(trust::verify_chain(log.as_ref())).unwrap().is_valid());
}

/// Denies every blocking request, so an act_with_approval call in the property test returns.
struct Denier;

#[sidefx::async_trait]
impl approval::Approver for Denier {
    async fn decide(
        &self,
        _request: &approval::ApprovalRequest,
        _log: &dyn EventLog,
    ) -> sidefx::Result<approval::Verdict> {
        Ok(approval::ApprovalDecision::Denied {
            reviewer: "policy-bot".into(),
            reason: None,
        }
        .into())
    }
}

/// One scope around the re-dispatch: a tier, maybe a human, reviewers and a quorum.
fn layer() -> impl Strategy<Value = Value> {
    let tier = proptest::option::of(prop_oneof![
        Just("shadow"),
        Just("suggest"),
        Just("act_with_approval"),
        Just("act_auto")
    ]);
    let reviewers = proptest::sample::subsequence(vec!["alice", "bob"], 0..=2);
    (
        tier,
        proptest::bool::weighted(0.15),
        reviewers,
        proptest::option::of(1..=2u32),
    )
        .prop_map(|(tier, human, reviewers, quorum)| {
            let mut p = json!({"requires_human": human});
            if let Some(t) = tier {
                p["autonomy_tier"] = json!(t);
            }
            if !reviewers.is_empty() {
                p["reviewers"] = json!(reviewers);
            }
            if let Some(q) = quorum.filter(|&q| reviewers.is_empty() || q as usize <= reviewers.len()) {
                p["approval_quorum"] = json!(q);
            }
            p
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// A grant approved by alice under suggest, re-dispatched under random scopes: it is used
    /// exactly when the scopes would give the call the suggest answer (no human required,
    /// alice an allowed reviewer and the quorum one); otherwise the call gets the scopes'
    /// normal answer and the grant stays unused. A grant never yields a looser answer.
    #[test]
    fn a_grant_never_loosens_the_scopes_around_the_call(
        layers in proptest::collection::vec(layer(), 0..4),
        dispatch_tier in proptest::option::of(prop_oneof![Just(Tier::Shadow), Just(Tier::Suggest), Just(Tier::ActAuto)]),
    ) {
        let name = builtin("grant_prop_write", "fs.write");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let log: Arc<dyn EventLog> = Arc::new(MemoryEventLog::new());
        let args = json!({"path": "p.txt"});
        let ran = AtomicUsize::new(0);
        let id = request_id(&rt.block_on(suggested(&log, &suggest("planner"), name, args.clone(), &ran)).unwrap_err());
        rt.block_on(approval::respond(log.as_ref(), &id, "alice", true, None)).unwrap();

        let mut ctx = DispatchContext::new("planner");
        ctx.tier = dispatch_tier;
        let write = action(name, "fs.write");
        // The scopes' own answer, and the call, in the same stack: the dispatch context
        // outermost, then the layers, outer to inner.
        type Out = (
            Result<sidefx::Resolved, Error>,
            Result<sidefx::ApprovalSettings, Error>,
            Result<Option<(String, Vec<String>)>, Error>,
        );
        let mut fut: std::pin::Pin<Box<dyn std::future::Future<Output = Out> + '_>> = Box::pin(async {
            let scope = sidefx::Scope::capture();
            (scope.resolve(&write), scope.approval_settings(&write), call(name, args.clone(), &ran).await)
        });
        for p in layers.iter().rev() {
            fut = Box::pin(sidefx::with_policy(policy(p.clone()), fut));
        }
        fut = Box::pin(sidefx::with_dispatch(ctx, fut));
        let fut = sidefx::with_event_log(log.clone(), sidefx::with_approver(Arc::new(Denier), fut));
        let (resolved, settings, outcome) = rt.block_on(fut);
        let resolved = resolved.unwrap();
        let eligible = resolved.tier == Tier::Suggest
            && !resolved.requires_human
            && settings.as_ref().is_ok_and(|s| (s.reviewers.is_empty() || s.reviewers.iter().any(|r| r == "alice")) && s.quorum <= 1);
        let used = rt.block_on(grant::status(log.as_ref(), &id)).unwrap().unwrap().consumed.is_some();
        prop_assert_eq!(used, eligible, "resolved {:?}, settings {:?}, outcome {:?}", resolved, settings, outcome);
        let runs = ran.load(Ordering::SeqCst) == 1;
        let auto = resolved.tier == Tier::ActAuto && !resolved.requires_human;
        prop_assert_eq!(runs, auto || eligible, "resolved {:?}, outcome {:?}", resolved, outcome);
        match outcome {
            Ok(Some((request, _))) => prop_assert!(eligible && request == id),
            Ok(None) => prop_assert!(auto),
            Err(e) => {
                let expected = if resolved.requires_human {
                    "SIDEFX-NEEDS-HUMAN"
                } else {
                    match resolved.tier {
                        Tier::ActWithApproval => "SIDEFX-APPROVAL-DENIED",
                        _ => "SIDEFX-SKIPPED",
                    }
                };
                prop_assert!(e.code() == expected || e.code() == "SIDEFX-NO-REVIEWER", "{} for {:?}", e.code(), resolved);
            }
        }
    }
}

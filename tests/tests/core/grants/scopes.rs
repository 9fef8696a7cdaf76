//! A grant never loosens the scopes around the call (property test), and every way of answering
//! a request issues it (the ACP bridge too).

use proptest::prelude::*;

use super::*;

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

/// The ACP bridge records the editor's answers with `approval::respond`, like the command line
/// and in-process reviewers: an answer it records on a suggestion issues the grant too.
#[tokio::test]
async fn an_answer_recorded_by_the_acp_bridge_issues_the_grant_too() {
    use approval::Approver as _;
    use sidefx::acp::{AcpApprover, CancelFlag, Session, codec::OptionKind};

    let name = builtin("grant_acp_write", "fs.write");
    let log: Arc<dyn EventLog> = Arc::new(MemoryEventLog::new());
    let p = suggest("planner");
    let ran = AtomicUsize::new(0);
    let args = json!({"path": "c.txt"});
    let id = request_id(&suggested(&log, &p, name, args.clone(), &ran).await.unwrap_err());
    let request = approval::status(log.as_ref(), &id).await.unwrap().request;

    let (conn, _rx) = sidefx::acp::rpc::connect(tokio::io::empty(), tokio::io::sink());
    let session = Session::new("s-1", "/w", conn);
    session
        .grants()
        .insert(name, "fs.write", OptionKind::AllowAlways, "allow_always", "r0");
    let approver = AcpApprover::new(session, Arc::new(CancelFlag::new()));
    approver.decide(&request, log.as_ref()).await.unwrap();

    let issued = grant_of(log.as_ref(), &id)
        .await
        .grant
        .expect("the bridge's answer issued it");
    assert_eq!(issued.approvers, ["acp:s-1"]);
    let (request_id, _) = suggested(&log, &p, name, args, &ran).await.unwrap().unwrap();
    assert_eq!((request_id, ran.load(Ordering::SeqCst)), (id, 1));
}

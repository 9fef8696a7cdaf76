//! Task isolation (SPEC §8): scopes belong to their task and never leak.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_tasks_never_cross_wire() {
    let name = builtin("core_isolation_write", "fs.write");
    let write = action("core_isolation_write", "fs.write");
    let log: Arc<dyn EventLog> = Arc::new(MemoryEventLog::new());
    let mut handles = Vec::new();
    for i in 0..1000usize {
        let tier = Tier::ALL[i % 4];
        let agent = format!("agent-{i}");
        let p = policy(json!({"autonomy_tier": tier, "agent_id": agent, "approval_timeout_ms": 1}));
        let log = log.clone();
        handles.push(tokio::spawn(sidefx::with_event_log(
            log,
            sidefx::with_policy(p, async move {
                let mut mismatches = 0;
                let ran = AtomicUsize::new(0);
                for hop in 0..5 {
                    // Hop threads: yield and sleep so the task resumes on another worker.
                    tokio::task::yield_now().await;
                    tokio::time::sleep(Duration::from_micros((i % 7 + hop) as u64)).await;
                    let r = sidefx::resolve(&write).unwrap();
                    if r.agent != agent || r.tier != tier {
                        mismatches += 1;
                    }
                }
                let result = call(name, json!({"i": i}), &ran).await;
                let ran_ok = ran.load(Ordering::SeqCst) == usize::from(tier == Tier::ActAuto);
                let err_ok = match tier {
                    Tier::ActAuto => result.is_ok(),
                    Tier::ActWithApproval => result.is_err_and(|e| e.code() == "SIDEFX-APPROVAL-TIMEOUT"),
                    _ => result.is_err_and(|e| e.code() == "SIDEFX-SKIPPED"),
                };
                (mismatches, ran_ok && err_ok)
            }),
        )));
    }
    let mut wrong = 0;
    for h in handles {
        let (mismatches, ok) = h.await.unwrap();
        wrong += mismatches + usize::from(!ok);
    }
    assert_eq!(wrong, 0, "every decision matches its own task's policy");
    // Each record names the agent whose policy decided it.
    let recs: Vec<TrustRecord> = log
        .read_range(&Topic::TRUST_GRAPH, 0, usize::MAX)
        .await
        .unwrap()
        .iter()
        .map(|e| TrustRecord::from_event(&e.event).unwrap())
        .collect();
    assert_eq!(recs.len(), 750);
    for r in &recs {
        let i: usize = r.agent.trim_start_matches("agent-").parse().unwrap();
        assert_eq!(r.autonomy_tier, Tier::ALL[i % 4], "{}", r.agent);
        assert_eq!(r.metadata["args"]["i"], i);
    }
    assert!(trust::verify_chain(log.as_ref()).await.unwrap().is_valid());
}

#[tokio::test]
async fn spawned_tasks_start_empty_unless_the_scope_is_propagated() {
    let exec = action("exec", "process.exec");
    let p = AutonomyPolicy::at_tier(Tier::Shadow).for_agent("parent");
    let (plain, propagated, captured) = sidefx::with_policy(p, async {
        let plain = tokio::spawn(async move { sidefx::resolve(&exec).unwrap() })
            .await
            .unwrap();
        let propagated = sidefx::spawn(async move { sidefx::resolve(&exec).unwrap() })
            .await
            .unwrap();
        let scope = sidefx::Scope::capture();
        let captured = tokio::spawn(scope.run(async move { sidefx::resolve(&exec).unwrap() }))
            .await
            .unwrap();
        (plain, propagated, captured)
    })
    .await;
    assert_eq!((plain.agent.as_str(), plain.tier), ("runtime", Tier::ActAuto));
    assert_eq!(
        (propagated.agent.as_str(), propagated.tier),
        ("parent", Tier::Shadow)
    );
    assert_eq!(captured, propagated);
}

//! The trust chain (SPEC §11): records, hashes, verification.

use super::*;

#[tokio::test]
async fn a_tampered_record_is_found_at_its_index() {
    let log = MemoryEventLog::new();
    for i in 0..6 {
        let d = TrustDraft::new(format!("a{i}"), "fs.write", Outcome::Success, Tier::ActAuto);
        trust::append(&log, d).await.unwrap();
    }
    assert!(trust::verify_chain(&log).await.unwrap().is_valid());

    // Alter record 3's outcome in storage, keep its hash: the content no longer matches.
    let mut events = log.snapshot();
    let (_, e) = events
        .iter_mut()
        .find(|(t, e)| *t == Topic::TRUST_GRAPH && e.id == 4)
        .unwrap();
    e.event.payload["outcome"] = json!("denied");
    let tampered = MemoryEventLog::restore(events).unwrap();
    let v = trust::verify_chain(&tampered).await.unwrap();
    let broken = v.first_broken.expect("tampering detected");
    assert_eq!(broken.index, 3);
    assert!(broken.reason.contains("entry_hash"), "{broken}");

    // Re-hashing the altered record breaks the next link instead.
    let mut events = log.snapshot();
    let (_, e) = events
        .iter_mut()
        .find(|(t, e)| *t == Topic::TRUST_GRAPH && e.id == 4)
        .unwrap();
    let mut rec = TrustRecord::from_event(&e.event).unwrap();
    rec.outcome = Outcome::Denied;
    rec.entry_hash = rec.compute_hash();
    e.event.payload = serde_json::to_value(&rec).unwrap();
    // A thorough forger also fixes the headers, which verification checks against the record.
    e.event.headers.insert("outcome".into(), "denied".into());
    let v = trust::verify_chain(&MemoryEventLog::restore(events).unwrap())
        .await
        .unwrap();
    let broken = v.first_broken.expect("re-hashed tampering detected");
    assert_eq!(broken.index, 4);
    assert!(broken.reason.contains("previous_hash"), "{broken}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_concurrent_appenders_make_one_chain_without_gaps() {
    let log = Arc::new(MemoryEventLog::new());
    let mut handles = Vec::new();
    for w in 0..8 {
        let log = log.clone();
        handles.push(tokio::spawn(async move {
            for n in 0..50 {
                let d = TrustDraft::new(format!("w{w}"), "fs.write", Outcome::Success, Tier::ActAuto)
                    .meta("n", n);
                trust::append(log.as_ref(), d).await.unwrap();
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let recs = records(&log).await;
    assert_eq!(recs.len(), 400);
    for (i, r) in recs.iter().enumerate() {
        assert_eq!(r.chain_index, i as u64, "no gaps, no forks");
    }
    let v = trust::verify_chain(log.as_ref()).await.unwrap();
    assert!(v.is_valid(), "{:?}", v.first_broken);
    assert_eq!(v.records, 400);
}

#[tokio::test]
async fn trust_queries_filter_and_keep_the_newest() {
    let log = MemoryEventLog::new();
    for (agent, outcome, tier) in [
        ("a", Outcome::Denied, Tier::Shadow),
        ("b", Outcome::Success, Tier::ActAuto),
        ("a", Outcome::Success, Tier::ActAuto),
        ("a", Outcome::Denied, Tier::Suggest),
    ] {
        trust::append(
            &log,
            TrustDraft::new(agent, "fs.write", outcome, tier).trace(format!("t-{agent}")),
        )
        .await
        .unwrap();
    }
    let q = |q: trust::TrustQuery| {
        let log = &log;
        async move {
            trust::query(log, &q)
                .await
                .unwrap()
                .iter()
                .map(|r| r.chain_index)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        q(trust::TrustQuery {
            agent: Some("a".into()),
            ..Default::default()
        })
        .await,
        vec![0, 2, 3]
    );
    assert_eq!(
        q(trust::TrustQuery {
            outcome: Some(Outcome::Denied),
            ..Default::default()
        })
        .await,
        vec![0, 3]
    );
    assert_eq!(
        q(trust::TrustQuery {
            tier: Some(Tier::ActAuto),
            ..Default::default()
        })
        .await,
        vec![1, 2]
    );
    assert_eq!(
        q(trust::TrustQuery {
            agent: Some("a".into()),
            limit: Some(2),
            ..Default::default()
        })
        .await,
        vec![2, 3]
    );
    assert_eq!(
        q(trust::TrustQuery {
            trace_id: Some("t-b".into()),
            ..Default::default()
        })
        .await,
        vec![1]
    );
    assert_eq!(
        q(trust::TrustQuery {
            since_ms: Some(u64::MAX),
            ..Default::default()
        })
        .await,
        Vec::<u64>::new()
    );
}

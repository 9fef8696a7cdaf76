//! The event log (SPEC §10): topics, ids, subscriptions, approvals on the log.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_reads_history_then_live_without_loss_or_repeats() {
    let log = Arc::new(MemoryEventLog::new());
    let topic = Topic::new("stream.test").unwrap();
    for i in 0..100 {
        log.append(&topic, LogEvent::new("n", json!(i))).await.unwrap();
    }
    let writer = {
        let (log, topic) = (log.clone(), topic.clone());
        tokio::spawn(async move {
            for i in 100..1000 {
                log.append(&topic, LogEvent::new("n", json!(i))).await.unwrap();
                if i % 50 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        })
    };
    let mut sub = subscribe(log.as_ref(), topic.clone(), 0);
    for want in 0..1000u64 {
        let e = sub.next().await.unwrap();
        assert_eq!(e.id, want + 1);
        assert_eq!(e.event.payload, json!(want));
    }
    writer.await.unwrap();
    // Starting mid-stream continues after the given id.
    let mut sub = subscribe(log.as_ref(), topic, 990);
    assert_eq!(sub.next().await.unwrap().id, 991);
}

#[tokio::test]
async fn topics_are_validated_and_ids_are_per_topic() {
    for bad in ["", "has space", "slash/ed", "ümlaut", &"x".repeat(256)] {
        assert_eq!(
            Topic::new(bad).unwrap_err().code(),
            "SIDEFX-INVALID-TOPIC",
            "{bad:?}"
        );
    }
    assert!(Topic::new("a.B_c-9").is_ok());
    assert!(Topic::new("x".repeat(255)).is_ok());
    let log = MemoryEventLog::new();
    let (a, b) = (Topic::new("a").unwrap(), Topic::new("b").unwrap());
    assert_eq!(log.append(&a, LogEvent::new("k", json!(1))).await.unwrap(), 1);
    assert_eq!(log.append(&a, LogEvent::new("k", json!(2))).await.unwrap(), 2);
    assert_eq!(log.append(&b, LogEvent::new("k", json!(3))).await.unwrap(), 1);
    assert_eq!(log.latest(&a).await.unwrap().unwrap().event.payload, json!(2));
    assert_eq!(log.read_range(&a, 1, 10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_bounded_memory_log_keeps_the_newest_and_verifies_its_window() {
    let log = MemoryEventLog::bounded(5);
    for i in 0..12 {
        trust::append(
            &log,
            TrustDraft::new("a", "fs.write", Outcome::Success, Tier::ActAuto).meta("i", i),
        )
        .await
        .unwrap();
    }
    let kept = log.read_range(&Topic::TRUST_GRAPH, 0, 100).await.unwrap();
    assert_eq!(
        kept.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![8, 9, 10, 11, 12]
    );
    assert_eq!(
        log.read_range(&Topic::TRUST_GRAPH, 10, 100).await.unwrap().len(),
        2
    );
    let v = trust::verify_chain(&log).await.unwrap();
    assert!(v.is_valid());
    assert_eq!(v.records, 5);
}

#[tokio::test]
async fn approvals_resolve_in_log_order_and_decide_once() {
    let log = MemoryEventLog::new();
    let req = approval::request(
        &log,
        ApprovalDraft::new("a", "git.push", "git.write").reviewers(["alice"]),
    )
    .await
    .unwrap();
    let s = approval::respond(&log, &req.request_id, "bob", true, None)
        .await
        .unwrap();
    assert_eq!(
        s.state(),
        sidefx::approval::ApprovalState::Pending,
        "bob is not on the allowlist"
    );
    let s = approval::respond(&log, &req.request_id, "alice", true, None)
        .await
        .unwrap();
    assert_eq!(s.state(), sidefx::approval::ApprovalState::Approved);
    assert_eq!(
        approval::respond(&log, &req.request_id, "alice", false, None)
            .await
            .unwrap_err()
            .code(),
        "SIDEFX-APPROVAL-CLOSED"
    );
    assert_eq!(
        approval::status(&log, "missing").await.unwrap_err().code(),
        "SIDEFX-UNKNOWN-APPROVAL"
    );
    assert!(approval::pending(&log).await.unwrap().is_empty());
    // A waiter that arrives after the decision gets it at once.
    assert!(matches!(
        approval::wait(&log, &req).await.unwrap(),
        approval::ApprovalDecision::Approved { .. }
    ));
}

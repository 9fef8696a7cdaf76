//! The editor's answers to permission requests: once, always, reject, cancel.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_once_writes_the_file() {
    let ws = workspace();
    let run = drive(
        &ws,
        &[Answer::Pick(PermissionOptionKind::AllowOnce)],
        &[&["write notes/a.txt hello world"]],
    )
    .await;
    let (sid, stops) = &run.sessions[0];
    assert_eq!(stops, &[StopReason::EndTurn]);
    assert_eq!(
        std::fs::read_to_string(ws.cwd.join("notes/a.txt")).unwrap(),
        "hello world"
    );

    // What the editor was asked.
    assert_eq!(run.seen.asked.len(), 1);
    let req = &run.seen.asked[0];
    assert_eq!(req.session_id.0.as_ref(), sid);
    assert_eq!(req.options.len(), 4);
    let fields = &req.tool_call.fields;
    assert_eq!(fields.kind, Some(ToolKind::Edit));
    assert_eq!(fields.status, Some(ToolCallStatus::Pending));
    assert_eq!(fields.title.as_deref(), Some("write notes/a.txt"));
    assert_eq!(
        fields.raw_input,
        Some(json!({"path": "notes/a.txt", "text": "hello world"}))
    );
    let target = ws.cwd.join("notes/a.txt");
    assert_eq!(fields.locations.as_ref().unwrap()[0].path, target);
    let Some([ToolCallContent::Diff(diff)]) = fields.content.as_deref() else {
        panic!("a diff: {:?}", fields.content);
    };
    assert_eq!(
        (
            diff.path.as_path(),
            diff.old_text.as_deref(),
            diff.new_text.as_str()
        ),
        (target.as_path(), None, "hello world")
    );
    let meta = &req.tool_call.meta.as_ref().expect("_meta")["sidefx"];
    assert_eq!(meta["class"], "fs.write");
    assert_eq!(meta["capability"], "workspace.write_text");
    assert_eq!(meta["policyDecision"], "act_with_approval");

    // Announced before it was asked, then reported.
    let id = req.tool_call.tool_call_id.0.as_ref();
    assert_eq!(
        statuses(&run, id),
        [
            ToolCallStatus::Pending,
            ToolCallStatus::InProgress,
            ToolCallStatus::Completed
        ]
    );

    // The trust record names the approver and the option chosen; hitl.approvals has the answer.
    let rec = record_for(&run, "write_file", "notes/a.txt");
    assert_eq!(rec.outcome, Outcome::Success);
    assert_eq!(rec.approver.as_deref(), Some(format!("acp:{sid}").as_str()));
    assert_eq!(rec.metadata["acp"]["option_kind"], "allow_once");
    assert_eq!(rec.metadata["acp"]["decided_by"], "editor");
    assert_eq!(rec.metadata["acp"]["tool_call_id"], id);
    assert_eq!(rec.metadata["acp"]["grant"], Value::Null);
    let approvals = sidefx::approval::list(&run.log).await.unwrap();
    assert_eq!(approvals.len(), 1);
    assert_eq!(approvals[0].state(), sidefx::approval::ApprovalState::Approved);
    assert_eq!(
        approvals[0].responses[0].reviewer.as_deref(),
        Some(format!("acp:{sid}").as_str())
    );
    assert_eq!(
        rec.metadata["approval_request_id"],
        json!(approvals[0].request.request_id)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_once_leaves_the_file_system_untouched() {
    let ws = workspace();
    std::fs::write(ws.cwd.join("keep.txt"), "old").unwrap();
    let reject = Answer::Pick(PermissionOptionKind::RejectOnce);
    let run = drive(
        &ws,
        &[reject, reject, reject],
        &[&["write keep.txt new\ndelete keep.txt\nwrite fresh.txt x"]],
    )
    .await;
    let (sid, stops) = &run.sessions[0];
    assert_eq!(stops, &[StopReason::EndTurn]);
    assert_eq!(std::fs::read_to_string(ws.cwd.join("keep.txt")).unwrap(), "old");
    assert!(!ws.cwd.join("fresh.txt").exists());
    assert_eq!(run.seen.asked.len(), 3);
    // The diff shows what would change.
    let Some([ToolCallContent::Diff(diff)]) = run.seen.asked[0].tool_call.fields.content.as_deref() else {
        panic!("a diff");
    };
    assert_eq!(
        (diff.old_text.as_deref(), diff.new_text.as_str()),
        (Some("old"), "new")
    );
    assert_eq!(run.seen.asked[1].tool_call.fields.kind, Some(ToolKind::Delete));
    for req in &run.seen.asked {
        let id = req.tool_call.tool_call_id.0.as_ref();
        assert_eq!(
            statuses(&run, id),
            [ToolCallStatus::Pending, ToolCallStatus::Failed]
        );
    }
    for (builtin, path) in [
        ("write_file", "keep.txt"),
        ("delete_file", "keep.txt"),
        ("write_file", "fresh.txt"),
    ] {
        let rec = record_for(&run, builtin, path);
        assert_eq!(rec.outcome, Outcome::Denied);
        assert_eq!(rec.approver.as_deref(), Some(format!("acp:{sid}").as_str()));
        assert_eq!(rec.metadata["acp"]["option_kind"], "reject_once");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_cancel_then_cancelled_outcome_stops_the_turn() {
    let ws = workspace();
    let run = drive(
        &ws,
        &[Answer::CancelTurn],
        &[&["write a.txt one\nwrite b.txt two"]],
    )
    .await;
    let (_, stops) = &run.sessions[0];
    assert_eq!(stops, &[StopReason::Cancelled]);
    assert!(!ws.cwd.join("a.txt").exists());
    assert!(!ws.cwd.join("b.txt").exists());
    // The turn ended: the second command was never asked about nor recorded.
    assert_eq!(run.seen.asked.len(), 1);
    assert_eq!(run.records.len(), 1);
    let rec = record_for(&run, "write_file", "a.txt");
    assert_eq!(rec.outcome, Outcome::Denied);
    assert_eq!(rec.metadata["acp"]["decided_by"], "cancelled");
    let id = run.seen.asked[0].tool_call.tool_call_id.0.as_ref();
    assert_eq!(
        statuses(&run, id),
        [ToolCallStatus::Pending, ToolCallStatus::Failed]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_always_is_remembered_for_the_session_only() {
    let ws = workspace();
    let answers = [
        Answer::Pick(PermissionOptionKind::AllowAlways), // write a.txt, session 1
        Answer::Pick(PermissionOptionKind::RejectOnce),  // delete a.txt: another builtin asks
        Answer::Pick(PermissionOptionKind::AllowOnce),   // write d.txt, session 2 asks again
    ];
    let run = drive(
        &ws,
        &answers,
        &[
            &["write a.txt 1", "write b.txt 2\nwrite c.txt 3\ndelete a.txt"],
            &["write d.txt 4"],
        ],
    )
    .await;
    let (s1, stops1) = &run.sessions[0];
    let (s2, stops2) = &run.sessions[1];
    assert_eq!(stops1, &[StopReason::EndTurn, StopReason::EndTurn]);
    assert_eq!(stops2, &[StopReason::EndTurn]);
    for (f, text) in [("a.txt", "1"), ("b.txt", "2"), ("c.txt", "3"), ("d.txt", "4")] {
        assert_eq!(std::fs::read_to_string(ws.cwd.join(f)).unwrap(), text, "{f}");
    }
    let asked: Vec<(&str, Option<ToolKind>)> = run
        .seen
        .asked
        .iter()
        .map(|r| (r.session_id.0.as_ref(), r.tool_call.fields.kind))
        .collect();
    assert_eq!(
        asked,
        [
            (s1.as_str(), Some(ToolKind::Edit)),
            (s1.as_str(), Some(ToolKind::Delete)),
            (s2.as_str(), Some(ToolKind::Edit))
        ]
    );

    let first = record_for(&run, "write_file", "a.txt");
    assert_eq!(first.metadata["acp"]["option_kind"], "allow_always");
    let grant_id = first.metadata["acp"]["grant"]["grant_id"]
        .as_str()
        .expect("the grant is recorded");
    for path in ["b.txt", "c.txt"] {
        let rec = record_for(&run, "write_file", path);
        assert_eq!(rec.outcome, Outcome::Success);
        assert_eq!(rec.approver.as_deref(), Some(format!("acp:{s1}").as_str()));
        assert_eq!(rec.metadata["acp"]["decided_by"], "grant");
        assert_eq!(rec.metadata["acp"]["option_kind"], "allow_always");
        assert_eq!(rec.metadata["acp"]["grant"]["grant_id"], grant_id);
        assert_eq!(rec.metadata["acp"]["grant"]["builtin"], "write_file");
    }
    let del = record_for(&run, "delete_file", "a.txt");
    assert_eq!(del.outcome, Outcome::Denied);
    let d = record_for(&run, "write_file", "d.txt");
    assert_eq!(d.approver.as_deref(), Some(format!("acp:{s2}").as_str()));
    assert_eq!(d.metadata["acp"]["option_kind"], "allow_once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_always_refuses_later_calls_without_asking() {
    let ws = workspace();
    let run = drive(
        &ws,
        &[Answer::Pick(PermissionOptionKind::RejectAlways)],
        &[&["write a.txt 1\nwrite b.txt 2", "write c.txt 3"]],
    )
    .await;
    let (sid, stops) = &run.sessions[0];
    assert_eq!(stops, &[StopReason::EndTurn, StopReason::EndTurn]);
    assert_eq!(run.seen.asked.len(), 1);
    for f in ["a.txt", "b.txt", "c.txt"] {
        assert!(!ws.cwd.join(f).exists(), "{f}");
    }
    assert_eq!(
        record_for(&run, "write_file", "a.txt").metadata["acp"]["decided_by"],
        "editor"
    );
    for path in ["b.txt", "c.txt"] {
        let rec = record_for(&run, "write_file", path);
        assert_eq!(rec.outcome, Outcome::Denied);
        assert_eq!(rec.approver.as_deref(), Some(format!("acp:{sid}").as_str()));
        assert_eq!(rec.metadata["acp"]["decided_by"], "grant");
        assert_eq!(rec.metadata["acp"]["grant"]["kind"], "reject_always");
    }
}

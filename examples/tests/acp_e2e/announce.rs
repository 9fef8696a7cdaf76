//! Every tool call is announced the same way at every tier, before it is decided: kind,
//! `rawInput` and `locations`; `in_progress` comes before the body runs (the body says
//! "writing ..."), then `completed` or `failed`.

use super::*;

/// The `tool_call` announcement of a write: kind edit, the recorded arguments, the absolute
/// path and the proposed text, pending.
fn assert_announced_write(run: &Run, ws: &Workspace, path: &str, text: &str) -> String {
    let tc = announced(run, &format!("write {path}"));
    assert_eq!(tc.status, ToolCallStatus::Pending);
    assert_eq!(tc.kind, ToolKind::Edit);
    assert_eq!(tc.raw_input, Some(json!({"path": path, "text": text})));
    let target = ws.cwd.join(path);
    assert_eq!(tc.locations.len(), 1);
    assert_eq!(tc.locations[0].path, target);
    let [ToolCallContent::Diff(diff)] = tc.content.as_slice() else {
        panic!("a diff: {:?}", tc.content);
    };
    assert_eq!(
        (diff.path.as_path(), diff.new_text.as_str()),
        (target.as_path(), text)
    );
    assert_eq!(tc.meta.as_ref().expect("_meta")["sidefx"]["class"], "fs.write");
    tc.tool_call_id.0.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn act_auto_calls_show_in_progress_before_their_body_then_completed_or_failed() {
    let ws = workspace();
    let run = drive_at(
        &ws,
        Some("act_auto"),
        &[],
        &[&["write notes/a.txt hello\ndelete missing.txt"]],
    )
    .await;
    assert_eq!(run.sessions[0].1, [StopReason::EndTurn]);
    assert!(run.seen.asked.is_empty(), "act_auto asks nobody");
    assert_eq!(
        std::fs::read_to_string(ws.cwd.join("notes/a.txt")).unwrap(),
        "hello"
    );

    let id = assert_announced_write(&run, &ws, "notes/a.txt", "hello");
    let said = |s: &str| Shown::Said(s.to_owned());
    let write: Vec<Shown> = timeline(&run, &id)
        .into_iter()
        .filter(|s| !matches!(s, Shown::Said(t) if !t.contains("notes/a.txt")))
        .collect();
    assert_eq!(
        write,
        [
            Shown::Status(ToolCallStatus::Pending),
            Shown::Status(ToolCallStatus::InProgress),
            said("writing notes/a.txt"),
            Shown::Status(ToolCallStatus::Completed),
            said("done: write notes/a.txt"),
        ]
    );

    // The delete's body runs and fails: announced as a delete, in progress, then failed with
    // the error's text.
    let del = announced(&run, "delete missing.txt");
    assert_eq!(del.kind, ToolKind::Delete);
    assert_eq!(del.raw_input, Some(json!({"path": "missing.txt"})));
    assert_eq!(del.locations[0].path, ws.cwd.join("missing.txt"));
    let del_id = del.tool_call_id.0.to_string();
    let shown: Vec<Shown> = timeline(&run, &del_id)
        .into_iter()
        .filter(|s| !matches!(s, Shown::Said(t) if !t.contains("missing.txt")))
        .collect();
    assert_eq!(
        shown[..3],
        [
            Shown::Status(ToolCallStatus::Pending),
            Shown::Status(ToolCallStatus::InProgress),
            said("deleting missing.txt"),
        ]
    );
    assert_eq!(shown[3], Shown::Status(ToolCallStatus::Failed));
    let failed_text: Vec<String> = run
        .seen
        .updates
        .iter()
        .filter_map(|n| match &n.update {
            SessionUpdate::ToolCallUpdate(u) if u.tool_call_id.0.as_ref() == del_id => {
                u.fields.content.clone()
            }
            _ => None,
        })
        .flatten()
        .filter_map(|c| match c {
            ToolCallContent::Content(c) => match c.content {
                ContentBlock::Text(t) => Some(t.text),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(failed_text.len(), 1, "{failed_text:?}");
    assert!(
        !failed_text[0].contains("SIDEFX-"),
        "an I/O failure, not a refusal: {failed_text:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadow_calls_are_announced_like_any_other_then_fail_without_running() {
    let ws = workspace();
    let run = drive_at(&ws, Some("shadow"), &[], &[&["write a.txt hi"]]).await;
    assert_eq!(run.sessions[0].1, [StopReason::EndTurn]);
    assert!(run.seen.asked.is_empty());
    assert!(!ws.cwd.join("a.txt").exists());
    let id = assert_announced_write(&run, &ws, "a.txt", "hi");
    let shown = timeline(&run, &id);
    assert_eq!(
        shown[..2],
        [
            Shown::Status(ToolCallStatus::Pending),
            Shown::Status(ToolCallStatus::Failed)
        ],
        "{shown:?}"
    );
    assert!(
        !shown.contains(&Shown::Said("writing a.txt".into())),
        "the body never ran: {shown:?}"
    );
    assert_eq!(record_for(&run, "write_file", "a.txt").outcome, Outcome::Denied);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approved_calls_are_announced_before_they_are_asked_about() {
    let ws = workspace();
    let run = drive(
        &ws,
        &[Answer::Pick(PermissionOptionKind::AllowOnce)],
        &[&["write b.txt yes"]],
    )
    .await;
    let id = assert_announced_write(&run, &ws, "b.txt", "yes");
    assert_eq!(run.seen.asked.len(), 1);
    assert_eq!(run.seen.asked[0].tool_call.tool_call_id.0.as_ref(), id);
    let shown: Vec<Shown> = timeline(&run, &id)
        .into_iter()
        .filter(|s| !matches!(s, Shown::Said(t) if !t.contains("b.txt")))
        .collect();
    assert_eq!(
        shown,
        [
            Shown::Status(ToolCallStatus::Pending),
            Shown::Status(ToolCallStatus::InProgress),
            Shown::Said("writing b.txt".into()),
            Shown::Status(ToolCallStatus::Completed),
            Shown::Said("done: write b.txt".into()),
        ]
    );
}

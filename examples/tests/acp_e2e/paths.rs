//! Path rules anchored at the session directory: what leaves it is refused.

use super::*;

/// The session directory is the workspace path rules are anchored at: a write there asks as
/// usual, while a write through a real symlink out of it, up with `..` or to an absolute path
/// outside is refused without asking, and nothing is written outside.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_leaving_the_session_directory_are_refused() {
    let ws = workspace();
    let outside = ws.tmp.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, ws.cwd.join("link")).unwrap();
    let absolute = outside.join("abs.txt");
    let script = format!(
        "write inside.txt ok\nwrite link/evil.txt pwned\nwrite ../up.txt pwned\nwrite {} pwned",
        absolute.display()
    );
    let run = drive(
        &ws,
        &[Answer::Pick(PermissionOptionKind::AllowOnce)],
        &[&[script.as_str()]],
    )
    .await;
    assert_eq!(run.sessions[0].1, [StopReason::EndTurn]);
    assert_eq!(std::fs::read_to_string(ws.cwd.join("inside.txt")).unwrap(), "ok");
    for escaped in [
        outside.join("evil.txt"),
        ws.tmp.path().join("up.txt"),
        absolute.clone(),
    ] {
        assert!(!escaped.exists(), "{} was written", escaped.display());
    }
    // Only the write inside was asked about.
    assert_eq!(run.seen.asked.len(), 1);
    assert_eq!(
        run.seen.asked[0].tool_call.fields.title.as_deref(),
        Some("write inside.txt")
    );
    let said: String = run
        .seen
        .updates
        .iter()
        .filter_map(|n| match &n.update {
            SessionUpdate::AgentMessageChunk(chunk) => match &chunk.content {
                ContentBlock::Text(t) => Some(t.text.as_str()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    let absolute = absolute.display().to_string();
    for path in ["link/evil.txt", "../up.txt", absolute.as_str()] {
        // The editor sees the call fail, and the log has it refused.
        let title = format!("write {path}");
        let ids: Vec<String> = run
            .seen
            .updates
            .iter()
            .filter_map(|n| match &n.update {
                SessionUpdate::ToolCall(tc) if tc.title == title => Some(tc.tool_call_id.0.to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(ids.len(), 1, "one tool call for {title}");
        // Announced before it was refused (kind, arguments, the path it names), then failed.
        assert_eq!(
            statuses(&run, &ids[0]),
            [ToolCallStatus::Pending, ToolCallStatus::Failed],
            "{title}"
        );
        let tc = announced(&run, &title);
        assert_eq!(tc.kind, ToolKind::Edit, "{title}");
        assert_eq!(
            tc.raw_input,
            Some(json!({"path": path, "text": "pwned"})),
            "{title}"
        );
        assert_eq!(tc.locations.len(), 1, "{title}");
        let refused = said
            .lines()
            .find(|l| l.starts_with(&format!("not done: {title}: ")))
            .unwrap_or_else(|| panic!("{title} reported: {said}"));
        assert!(refused.ends_with("[SIDEFX-SKIPPED]"), "{refused}");
        assert_eq!(
            record_for(&run, "write_file", path).outcome,
            Outcome::Denied,
            "{title}"
        );
    }
    assert_eq!(
        record_for(&run, "write_file", "inside.txt").outcome,
        Outcome::Success
    );
}

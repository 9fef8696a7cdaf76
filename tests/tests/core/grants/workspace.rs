//! A grant is bound to where the call's relative paths point, not only to its argument text:
//! the same `{"path": "notes.txt"}` in another workspace is another call.

use sidefx::resource::{ResourceKind, ResourceSpec};

use super::*;

const WRITE: &[ResourceSpec] = &[ResourceSpec::new(ResourceKind::Path, "path")];

/// A builtin whose `path` argument is a resource (resolved against the dispatch's workspace).
fn write_with_path(name: &'static str) -> &'static str {
    if registry::lookup(name).is_none() {
        registry::register(BuiltinInfo::new(name, "fs.write", "workspace.write_text").with_resources(WRITE))
            .expect("valid registration");
    }
    name
}

/// One call of `name` by planner under suggest, dispatched with workspace `ws`.
async fn in_workspace(
    log: &Arc<dyn EventLog>,
    name: &str,
    ws: &str,
    args: &Value,
    ran: &AtomicUsize,
) -> Result<Option<(String, Vec<String>)>, Error> {
    let ctx = DispatchContext::new("planner").workspace(ws);
    sidefx::with_dispatch(ctx, suggested(log, &suggest("planner"), name, args.clone(), ran)).await
}

#[tokio::test]
async fn a_grant_approved_in_one_workspace_does_not_run_in_another() {
    let name = write_with_path("grant_workspace_write");
    let log: Arc<dyn EventLog> = Arc::new(MemoryEventLog::new());
    let ran = AtomicUsize::new(0);
    let args = json!({"path": "notes.txt", "text": "hello"});

    let first = in_workspace(&log, name, "/a", &args, &ran).await.unwrap_err();
    let id = request_id(&first);
    approval::respond(log.as_ref(), &id, "alice", true, None)
        .await
        .unwrap();
    assert!(grant_of(log.as_ref(), &id).await.grant.is_some());

    // Same agent, same argument text, but notes.txt is now /b/notes.txt: nobody approved that.
    let moved = in_workspace(&log, name, "/b", &args, &ran).await.unwrap_err();
    assert_eq!(
        moved.code(),
        "SIDEFX-SKIPPED",
        "another workspace is another call"
    );
    assert_ne!(request_id(&moved), id, "it files its own request");
    assert_eq!(ran.load(Ordering::SeqCst), 0, "the body did not run");
    assert!(
        grant_of(log.as_ref(), &id).await.consumed.is_none(),
        "the grant is still unused"
    );

    // In the approved workspace the identical call runs, once.
    let (request, _) = in_workspace(&log, name, "/a", &args, &ran)
        .await
        .unwrap()
        .expect("the grant approved the call in its own workspace");
    assert_eq!(request, id);
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    let again = in_workspace(&log, name, "/a", &args, &ran).await.unwrap_err();
    assert_eq!(again.code(), "SIDEFX-SKIPPED", "one shot");
    assert_eq!(ran.load(Ordering::SeqCst), 1);
}

//! `#[side_effect]` on a method of an `#[async_trait]` impl: `#[async_trait]` expands first and
//! boxes the method's future; the tier is still enforced, the arguments recorded, and the boxed
//! future stays `Send` (it is spawned here) and callable through `dyn Trait`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;
use sidefx::log::{MemoryEventLog, Topic};
use sidefx::trust::Outcome;
use sidefx::{Tier, side_effect};

use super::{SECRET, ToolError, events, records, under};

#[sidefx::async_trait]
trait Tool: Send + Sync {
    async fn write(&self, path: String, token: &str) -> Result<String, ToolError>;
}

struct Writer {
    ran: AtomicUsize,
}

#[sidefx::async_trait]
impl Tool for Writer {
    #[side_effect(class = "fs.write", name = "async_trait.write", path(path), redact(token))]
    async fn write(&self, path: String, token: &str) -> Result<String, ToolError> {
        let _ = token;
        self.ran.fetch_add(1, Ordering::SeqCst);
        Ok(format!("wrote {path}"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_trait_method_is_enforced_per_tier() {
    let log = Arc::new(MemoryEventLog::new());
    let writer = Arc::new(Writer {
        ran: AtomicUsize::new(0),
    });
    let tool: Arc<dyn Tool> = writer.clone();

    // Shadow: the body does not run; the proposal names the builtin and records the arguments.
    let err = under(
        &log,
        "planner",
        json!({"autonomy_tier": "shadow"}),
        tool.write("a.txt".into(), SECRET),
    )
    .await
    .unwrap_err()
    .refusal();
    assert_eq!(err.code(), "SIDEFX-SKIPPED");
    assert_eq!(writer.ran.load(Ordering::SeqCst), 0, "the body must not run");
    let proposals = events(&log, &Topic::TRIGGER_OUTBOX).await;
    assert_eq!(proposals.len(), 1);
    let p = &proposals[0].event.payload;
    assert_eq!(p["builtin"], "async_trait.write");
    assert_eq!(p["action_class"], "fs.write");
    assert_eq!(p["args"], json!({"path": "a.txt", "token": "[redacted]"}));
    let recs = records(&log).await;
    assert_eq!(
        (recs[0].outcome, recs[0].autonomy_tier),
        (Outcome::Denied, Tier::Shadow)
    );

    // act_auto: the body runs, on another task (the boxed future is `Send`).
    let (log2, tool2) = (log.clone(), tool.clone());
    let wrote = tokio::spawn(async move {
        let call = tool2.write("b.txt".into(), "tok");
        under(&log2, "planner", json!({"autonomy_tier": "act_auto"}), call).await
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(wrote, "wrote b.txt");
    assert_eq!(writer.ran.load(Ordering::SeqCst), 1);

    let entry = sidefx::registry::lookup("async_trait.write").unwrap();
    assert_eq!(entry.class, "fs.write");
    assert!(entry.file.ends_with("async_trait_methods.rs"), "{}", entry.file);
}

//! The tool call a task is inside: set by [`Turn::tool_call`](super::Turn::tool_call) for the
//! duration of the call's future, read by whoever describes the call to the editor (the
//! approver), so the announcement, the permission request and the status updates share one id
//! and the call is announced once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// One tool call of a turn.
#[derive(Debug)]
pub(crate) struct ToolCallSlot {
    /// The `toolCallId` on the wire.
    pub(crate) id: String,
    /// The agent's title for it.
    pub(crate) title: String,
    announced: AtomicBool,
}

impl ToolCallSlot {
    /// A slot with a fresh id.
    pub(crate) fn new(title: String) -> Arc<ToolCallSlot> {
        Arc::new(ToolCallSlot {
            id: new_tool_call_id(),
            title,
            announced: AtomicBool::new(false),
        })
    }

    /// Marks the call announced; true the first time only.
    pub(crate) fn announce_once(&self) -> bool {
        !self.announced.swap(true, Ordering::SeqCst)
    }

    /// Runs `fut` inside this tool call.
    pub(crate) async fn scope<F: Future>(self: &Arc<Self>, fut: F) -> F::Output {
        TOOL_CALL.scope(self.clone(), fut).await
    }
}

tokio::task_local! {
    static TOOL_CALL: Arc<ToolCallSlot>;
}

/// The tool call the current task is inside, if any.
pub(crate) fn current_tool_call() -> Option<Arc<ToolCallSlot>> {
    TOOL_CALL.try_with(Arc::clone).ok()
}

/// A fresh, unique `toolCallId`.
pub(crate) fn new_tool_call_id() -> String {
    format!("call_{}", uuid::Uuid::now_v7().simple())
}

//! The tool call a task is inside: set by [`Turn::tool_call`](super::Turn::tool_call) for the
//! duration of the call's future, read by whoever describes the call to the editor (the
//! approver), so the announcement, the permission request and the status updates share one id
//! and the call is announced once.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::codec::ToolCall;

/// Largest existing file whose text is shown as the diff's old text (256 KiB).
const MAX_OLD_TEXT_BYTES: u64 = 256 * 1024;

/// One tool call of a turn.
#[derive(Debug)]
pub(crate) struct ToolCallSlot {
    /// The `toolCallId` on the wire.
    pub(crate) id: String,
    /// The agent's title for it.
    pub(crate) title: String,
    announced: AtomicBool,
    started: AtomicBool,
}

impl ToolCallSlot {
    /// A slot with a fresh id.
    pub(crate) fn new(title: String) -> Arc<ToolCallSlot> {
        Arc::new(ToolCallSlot {
            id: new_tool_call_id(),
            title,
            announced: AtomicBool::new(false),
            started: AtomicBool::new(false),
        })
    }

    /// Marks the call announced; true the first time only.
    pub(crate) fn announce_once(&self) -> bool {
        !self.announced.swap(true, Ordering::SeqCst)
    }

    /// Marks the call reported `in_progress`; true the first time only.
    pub(crate) fn start_once(&self) -> bool {
        !self.started.swap(true, Ordering::SeqCst)
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

/// `call` with its diff's old text: the file's current content, when it is a small text file.
pub(crate) async fn with_current_text(call: ToolCall) -> ToolCall {
    let Some(path) = call.diff().map(|d| d.path.clone()) else {
        return call;
    };
    call.with_old_text(read_small_text(path).await)
}

async fn read_small_text(path: PathBuf) -> Option<String> {
    tokio::task::spawn_blocking(move || {
        let meta = std::fs::metadata(&path).ok()?;
        if !meta.is_file() || meta.len() > MAX_OLD_TEXT_BYTES {
            return None;
        }
        std::fs::read_to_string(&path).ok()
    })
    .await
    .ok()
    .flatten()
}

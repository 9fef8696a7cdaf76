//! The `sidefx::decision` tracing event, captured by a scoped subscriber while other tests make
//! decisions on other threads of the same process.

use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::json;
use sidefx::{AutonomyPolicy, DispatchContext, Tier};
use tracing::Dispatch;
use tracing::subscriber::NoSubscriber;
use tracing_subscriber::layer::SubscriberExt;

use super::{builtin, call};

/// While exactly one dispatcher is registered, tracing-core resolves a cold callsite's interest
/// with the *calling thread's* default dispatcher, not the registered one
/// (tokio-rs/tracing#2874, #3611). A test that installs the only (scoped) subscriber while
/// another test's thread makes the first decision of the process then finds the
/// `sidefx::decision` callsite cached at `Interest::never` and receives nothing: the old
/// 3-in-40 failure. Two no-op dispatchers kept for the life of the process take tracing off that
/// path for good: interest is then computed from every live dispatcher, under the registry lock,
/// so it is `sometimes` and each event asks the current thread's subscriber.
pub(super) fn never_just_one_dispatcher() {
    static KEEP: OnceLock<[Dispatch; 2]> = OnceLock::new();
    KEEP.get_or_init(|| {
        [
            Dispatch::new(NoSubscriber::default()),
            Dispatch::new(NoSubscriber::default()),
        ]
    });
}

/// Everything the subscriber writes.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn decisions_emit_tracing_events() {
    never_just_one_dispatcher();
    let name = builtin("core_traced_exec", "process.exec");
    let other = builtin("core_traced_elsewhere", "process.exec");
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(move || writer.clone()),
    );
    // The subscriber is this thread's default for the whole run, and the runtime is a
    // current-thread one, so every poll of the call happens under it.
    tracing::subscriber::with_default(subscriber, || {
        // The race made deterministic: a thread without a subscriber makes a decision first,
        // while ours is installed. On the single-dispatcher path it would cache `never`.
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let ran = AtomicUsize::new(0);
            rt.block_on(call(other, json!({}), &ran)).unwrap();
        })
        .join()
        .unwrap();

        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let ran = AtomicUsize::new(0);
        let ctx = DispatchContext::new("tracer").trace("trace-42");
        let result = rt.block_on(sidefx::with_dispatch(
            ctx,
            sidefx::with_policy(AutonomyPolicy::at_tier(Tier::Shadow), call(name, json!({}), &ran)),
        ));
        assert_eq!(result.unwrap_err().code(), "SIDEFX-SKIPPED");
    });

    let out = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    let ours: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("trace_id=\"trace-42\""))
        .collect();
    let wanted = [
        "sidefx::decision",
        "tool_decision",
        "agent=\"tracer\"",
        "builtin=\"core_traced_exec\"",
        "class=\"process.exec\"",
        "tier=\"shadow\"",
        "outcome=\"skipped\"",
        "resources=\"[]\"",
    ];
    let missing: Vec<&str> = wanted
        .into_iter()
        .filter(|w| !ours.iter().any(|l| l.contains(w)))
        .collect();
    assert!(
        ours.len() == 1 && missing.is_empty(),
        "expected one sidefx::decision event with trace_id=\"trace-42\" carrying {wanted:?}; \
         found {} such event(s), missing {missing:?}; everything the subscriber captured: {}",
        ours.len(),
        if out.is_empty() { "(nothing)" } else { &out }
    );
}

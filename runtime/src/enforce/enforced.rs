//! The future of an annotated builtin: one small hand-written future around the body, so the
//! fast path (act_auto, nothing to record) costs the gate and one poll of the body in place: no
//! second state machine, no call through a function pointer, no `finish` to await.
//!
//! The fast path keeps one null pointer next to the body (`Stage(None)`): nothing is moved
//! through `Enforced`'s own state, its drop is a null check, and its poll returns the body's
//! poll as it is. Everything else (deciding, an audited permit, the audit record being written
//! while the result waits) lives behind that pointer, on paths that allocate anyway.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use serde_json::Value;

use super::{Finish, Gate, Permit};
use crate::Error;
use crate::approval::grant::GrantArgs;

/// Where a call stands: `None` while the body runs with nothing to do after it (the fast
/// path); otherwise the slow stage, boxed.
#[doc(hidden)]
pub struct Stage<R>(Option<Box<Slow<R>>>);

impl<R> Drop for Stage<R> {
    /// Inlined to a null check: the fast path has nothing to drop.
    #[inline(always)]
    fn drop(&mut self) {
        if let Some(slow) = self.0.take() {
            drop_slow(slow);
        }
    }
}

#[cold]
#[inline(never)]
fn drop_slow<R>(slow: Box<Slow<R>>) {
    drop(slow);
}

/// The stages of a call that is decided asynchronously, audited or observed.
enum Slow<R> {
    /// The asynchronous decision (records, approvals, refusals).
    Deciding(Pin<Box<dyn Future<Output = Result<Permit, Error>> + Send>>),
    /// Run the body under this permit, which has something to do once it returns.
    Running(Permit),
    /// The body returned `R`; its audit record is being written.
    Finishing(Finish, Option<R>),
}

impl<R> Stage<R> {
    /// The stage the gate's answer leads to. `record` gives the call's recorded arguments; it
    /// is called only when the call needs the asynchronous decision, and at once (it borrows
    /// the arguments, which the body then takes).
    #[inline(always)]
    pub fn new(gate: Gate, record: impl FnOnce() -> Result<Value, Error>) -> Self {
        match gate {
            Gate::Open(permit) if permit.is_free() => Stage(None),
            Gate::Open(permit) => Stage::boxed(Slow::Running(permit)),
            Gate::Check(check) => {
                Stage::boxed(Slow::Deciding(super::decide_printed(check, record(), |real| {
                    real
                })))
            }
        }
    }

    /// [`new`](Self::new) for a builtin with redacted arguments: `secrets` puts their real
    /// values back into the recorded ones, for the fingerprint a
    /// [suggestion grant](crate::grant) is bound to. Called only for a call that would get the
    /// suggest answer, and at once (it borrows the arguments too).
    #[inline]
    pub fn with_secrets(
        gate: Gate,
        record: impl FnOnce() -> Result<Value, Error>,
        secrets: impl FnOnce(GrantArgs) -> GrantArgs,
    ) -> Self {
        match gate {
            Gate::Open(permit) if permit.is_free() => Stage(None),
            Gate::Open(permit) => Stage::boxed(Slow::Running(permit)),
            Gate::Check(check) => {
                Stage::boxed(Slow::Deciding(super::decide_printed(check, record(), secrets)))
            }
        }
    }

    #[cold]
    #[inline(never)]
    fn boxed(slow: Slow<R>) -> Self {
        Stage(Some(Box::new(slow)))
    }
}

pin_project_lite::pin_project! {
    /// What `#[side_effect]` turns a body into:
    /// `Enforced::new(Stage::new(gate(&ACTION), record_args), refuse, is_ok, async move { body })`.
    /// Its poll runs the body in place once the gate has opened; a refused call returns
    /// `refuse(error)` without polling the body.
    #[doc(hidden)]
    #[must_use = "futures do nothing unless awaited"]
    pub struct Enforced<F: Future, W, K> {
        stage: Stage<F::Output>,
        refuse: W,
        is_ok: K,
        #[pin]
        body: F,
    }
}

impl<F, W, K> Enforced<F, W, K>
where
    F: Future,
    W: Fn(Error) -> F::Output,
    K: Fn(&F::Output) -> bool,
{
    /// The call at `stage`: `refuse` turns a refusal into the function's return value, `is_ok`
    /// tells an audit record whether the body succeeded.
    #[inline(always)]
    pub fn new(stage: Stage<F::Output>, refuse: W, is_ok: K, body: F) -> Self {
        Enforced {
            stage,
            refuse,
            is_ok,
            body,
        }
    }
}

impl<F, W, K> Future for Enforced<F, W, K>
where
    F: Future,
    W: Fn(Error) -> F::Output,
    K: Fn(&F::Output) -> bool,
{
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        match &mut this.stage.0 {
            None => this.body.poll(cx),
            Some(_) => poll_slow(&mut this.stage.0, this.refuse, this.is_ok, this.body, cx),
        }
    }
}

/// The poll of a call that is not on the fast path. `stage` is emptied when a decision grants
/// a free permit, so the body then runs as on the fast path.
#[cold]
#[inline(never)]
fn poll_slow<F: Future>(
    stage: &mut Option<Box<Slow<F::Output>>>,
    refuse: &impl Fn(Error) -> F::Output,
    is_ok: &impl Fn(&F::Output) -> bool,
    mut body: Pin<&mut F>,
    cx: &mut Context<'_>,
) -> Poll<F::Output> {
    loop {
        let Some(slow) = stage.as_mut() else {
            return body.poll(cx);
        };
        match &mut **slow {
            Slow::Deciding(decision) => match ready!(decision.as_mut().poll(cx)) {
                Ok(permit) if permit.is_free() => *stage = None,
                Ok(permit) => **slow = Slow::Running(permit),
                Err(e) => {
                    // The body never runs; polled again, the call stays pending.
                    **slow = Slow::Finishing(Finish(None), None);
                    return Poll::Ready(refuse(e));
                }
            },
            Slow::Running(permit) => {
                let result = ready!(body.as_mut().poll(cx));
                let permit = std::mem::replace(permit, Permit::FREE);
                let finish = permit.finish(is_ok(&result));
                **slow = Slow::Finishing(finish, Some(result));
            }
            Slow::Finishing(finish, result) => {
                ready!(Pin::new(finish).poll(cx));
                // `None`: polled again after it returned its result (the body already ran).
                return result.take().map_or(Poll::Pending, Poll::Ready);
            }
        }
    }
}

//! The future of an annotated builtin: one small hand-written future around the body, so the
//! fast path (act_auto, nothing to record) costs the gate and one poll of the body in place: no
//! second state machine, no call through a function pointer, no `finish` to await.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use serde_json::Value;

use super::{Finish, Gate, Permit};
use crate::Error;
use crate::approval::grant::GrantArgs;

/// Where a call stands: deciding (the asynchronous half of enforcement), running its body, or
/// writing its audit record once the body returned.
#[doc(hidden)]
pub enum Stage<R> {
    /// The asynchronous decision (records, approvals, refusals), boxed: the fast path never
    /// builds it, and the slow path allocates anyway.
    Deciding(Pin<Box<dyn Future<Output = Result<Permit, Error>> + Send>>),
    /// Run the body under this permit.
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
            Gate::Open(permit) => Stage::Running(permit),
            Gate::Check(check) => Stage::Deciding(super::decide_printed(check, record(), |real| real)),
        }
    }

    /// [`new`](Self::new) for a builtin with redacted arguments: `secrets` puts their real
    /// values back into the recorded ones, for the fingerprint a
    /// [suggestion grant](crate::grant) is bound to. Called only for a call that would get the
    /// suggest answer, and at once (it borrows the arguments too).
    #[inline(always)]
    pub fn with_secrets(
        gate: Gate,
        record: impl FnOnce() -> Result<Value, Error>,
        secrets: impl FnOnce(GrantArgs) -> GrantArgs,
    ) -> Self {
        match gate {
            Gate::Open(permit) => Stage::Running(permit),
            Gate::Check(check) => Stage::Deciding(super::decide_printed(check, record(), secrets)),
        }
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
        let mut this = self.project();
        loop {
            match this.stage {
                Stage::Running(permit) => {
                    let result = ready!(this.body.as_mut().poll(cx));
                    if permit.is_free() {
                        return Poll::Ready(result);
                    }
                    let permit = std::mem::replace(permit, Permit::FREE);
                    let finish = permit.finish((this.is_ok)(&result));
                    *this.stage = Stage::Finishing(finish, Some(result));
                }
                Stage::Deciding(decision) => match ready!(decision.as_mut().poll(cx)) {
                    Ok(permit) => *this.stage = Stage::Running(permit),
                    // The body never runs.
                    Err(e) => return Poll::Ready((this.refuse)(e)),
                },
                Stage::Finishing(finish, result) => {
                    ready!(Pin::new(finish).poll(cx));
                    if let Some(result) = result.take() {
                        return Poll::Ready(result);
                    }
                    // Polled again after it returned its result: the body already ran.
                    return Poll::Pending;
                }
            }
        }
    }
}

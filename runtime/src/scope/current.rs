//! The current task's scope. While a future entered with [`Scope::run`] is polled (or dropped),
//! a thread-local points at the scope it owns, so the enforcement fast path reads it with one
//! thread-local load and a null check: no `RefCell`, no lazily registered destructor, and the
//! scope is never moved in and out of the thread-local on each poll.
//!
//! The pointer is set for exactly the duration of the inner `poll` (or `drop`) and restored on
//! the way out, panics included, so it never outlives the scope and nested scopes stack; the
//! same rule as a `tokio::task_local!`, without moving the value.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::Scope;

scoped_tls::scoped_thread_local!(static CURRENT: Scope);

/// What the enforcement fast path needs to know of the current scope, copied out of it: plain
/// values in a thread-local of this crate, read with one load and no indirection.
#[derive(Clone, Copy)]
pub(super) struct Quick {
    /// The scope's [`decider`](Scope) id (`0`: no policy and no dispatch context).
    pub(super) decider: u64,
    /// Whether a scope is current at all.
    pub(super) entered: bool,
    /// Nothing observes calls and no policy audits act_auto ones.
    pub(super) quiet: bool,
    /// Some policy has rules on arguments.
    pub(super) rules: bool,
    /// The scope is strict.
    pub(super) strict: bool,
}

impl Quick {
    const OUTSIDE: Quick = Quick {
        decider: 0,
        entered: false,
        quiet: true,
        rules: false,
        strict: false,
    };

    fn of(scope: &Scope) -> Quick {
        Quick {
            decider: scope.decider,
            entered: true,
            quiet: scope.observer.is_none() && !scope.audit_auto,
            rules: scope.rules,
            strict: scope.strict,
        }
    }
}

thread_local! {
    /// [`Quick`] of the scope [`CURRENT`] points at; set and restored together with it.
    static QUICK: Cell<Quick> = const { Cell::new(Quick::OUTSIDE) };
}

/// The current scope's [`Quick`] ([`Quick::OUTSIDE`] outside any scope).
#[inline]
pub(super) fn quick() -> Quick {
    QUICK.with(Cell::get)
}

/// Runs `f` with `scope` current (and its `quick` summary), restoring the previous ones after,
/// also when `f` panics.
fn enter<T>(scope: &Scope, quick: Quick, f: impl FnOnce() -> T) -> T {
    struct Restore(Quick);
    impl Drop for Restore {
        fn drop(&mut self) {
            QUICK.with(|q| q.set(self.0));
        }
    }
    let _restore = Restore(QUICK.with(|q| q.replace(quick)));
    CURRENT.set(scope, f)
}

pin_project_lite::pin_project! {
    /// The future [`Scope::run`] returns: `fut` polled with `scope` current.
    pub(super) struct Scoped<F> {
        scope: Scope,
        quick: Quick,
        // `None` once `fut` has completed (it is dropped then, with the scope current).
        #[pin]
        fut: Option<F>,
    }

    impl<F> PinnedDrop for Scoped<F> {
        // Dropped with the scope current too, as a task-local's future is.
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if std::mem::needs_drop::<F>() && this.fut.is_some() {
                let mut fut = this.fut;
                enter(this.scope, *this.quick, || fut.set(None));
            }
        }
    }
}

impl<F> Scoped<F> {
    pub(super) fn new(scope: Scope, fut: F) -> Self {
        Scoped {
            quick: Quick::of(&scope),
            scope,
            fut: Some(fut),
        }
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let mut fut = this.fut;
        enter(this.scope, *this.quick, || {
            let Some(inner) = fut.as_mut().as_pin_mut() else {
                panic!("a sidefx scope future was polled after it completed");
            };
            let out = inner.poll(cx);
            if out.is_ready() {
                fut.set(None);
            }
            out
        })
    }
}

/// Runs `f` against the current scope; `None` outside any scope.
#[inline]
pub(crate) fn try_with<T>(f: impl FnOnce(&Scope) -> T) -> Option<T> {
    CURRENT.is_set().then(|| CURRENT.with(f))
}

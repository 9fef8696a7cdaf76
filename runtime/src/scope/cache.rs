//! A small per-thread, direct-mapped cache of what a scope answers for an action.
//!
//! Keyed by the scope's `decider` id (fresh whenever the policy stack or dispatch context
//! changes, never reused) and by the address and length of the action's `&'static` builtin and
//! class strings: equal keys mean the same immutable policies, dispatch context and strings, so
//! a hit is always the answer [`Scope::answer`](super::Scope) would compute. Different string literals with
//! equal text only cost a second slot. Strictness is applied after the cache, so flipping
//! [`set_process_strict`](super::set_process_strict) takes effect at once.

use std::cell::Cell;

use crate::{SideEffectAction, Tier};

const SLOTS: usize = 128;

#[derive(Clone, Copy)]
struct Entry {
    decider: u64,
    builtin: (usize, usize),
    class: (usize, usize),
    answer: (Option<Tier>, bool),
}

const EMPTY: Entry = Entry {
    decider: 0,
    builtin: (0, 0),
    class: (0, 0),
    answer: (None, false),
};

thread_local! {
    static CACHE: [Cell<Entry>; SLOTS] = const { [const { Cell::new(EMPTY) }; SLOTS] };
}

#[inline]
fn key(s: &'static str) -> (usize, usize) {
    (s.as_ptr() as usize, s.len())
}

#[inline]
fn slot(decider: u64, action: &SideEffectAction) -> usize {
    let mixed = decider ^ (action.builtin.as_ptr() as u64).rotate_left(20) ^ action.class.as_ptr() as u64;
    (mixed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 57) as usize % SLOTS
}

#[inline]
pub(super) fn get(decider: u64, action: &SideEffectAction) -> Option<(Option<Tier>, bool)> {
    CACHE
        .try_with(|c| {
            let e = c[slot(decider, action)].get();
            (e.decider == decider && e.builtin == key(action.builtin) && e.class == key(action.class))
                .then_some(e.answer)
        })
        .ok()
        .flatten()
}

#[inline]
pub(super) fn put(decider: u64, action: &SideEffectAction, answer: (Option<Tier>, bool)) {
    let _ = CACHE.try_with(|c| {
        c[slot(decider, action)].set(Entry {
            decider,
            builtin: key(action.builtin),
            class: key(action.class),
            answer,
        })
    });
}

//! The enforcement fast path's question about the current scope: may this call run at once,
//! with nothing to record? It reads the current scope's summary (`current::Quick`, one
//! thread-local load) and, inside a policy or dispatch scope, probes the per-thread decision
//! cache (`cache.rs`).

use super::{cache, current, is_process_strict};
use crate::{SideEffectAction, Tier};

/// Whether a call of `action` may run at once in the current scope: it resolves to act_auto
/// without requiring a human, nothing audits or observes it, no rule needs its resources
/// (`declared`: it has some) and strictness does not refuse it. `false` is always safe: the
/// caller then takes the full path, which decides the same way and does the rest (including
/// filling the cache this reads).
#[inline]
pub(crate) fn open_now(action: &SideEffectAction, declared: bool) -> bool {
    let quick = current::quick();
    if !quick.entered {
        return !is_process_strict();
    }
    if !quick.quiet || (declared && quick.rules) {
        return false;
    }
    // No policy and no dispatch context: nothing answers.
    let (tier, requires_human) = match quick.decider {
        0 => (None, false),
        decider => match cache::get(decider, action) {
            Some(answer) => answer,
            None => return false,
        },
    };
    !requires_human
        && match tier {
            Some(tier) => tier == Tier::ActAuto,
            None => !quick.strict && !is_process_strict(),
        }
}

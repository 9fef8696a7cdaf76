//! Bounds on compare-and-append retry loops (the trust chain, approval decisions): a loop that
//! cannot get its append in fails with `SIDEFX-LOG` instead of spinning, and the call it
//! belongs to fails closed.

use super::{EventId, Topic};
use crate::{Error, Result};

/// The most compare-and-append conflicts one append tolerates before it fails with
/// `SIDEFX-LOG`. In a healthy log each conflict means another writer appended first, so only
/// that many concurrent writers overtaking this one could reach it.
///
/// ```
/// assert!(sidefx::log::MAX_APPEND_CONFLICTS >= 1_000);
/// ```
pub const MAX_APPEND_CONFLICTS: usize = 10_000;

/// Conflicts in a row at the same head. A head read the way compare-and-append checks it moves
/// on every conflict, so a head that stays put means the log is damaged: give up early.
const MAX_STALLS: usize = 8;

/// Counts the conflicts of one compare-and-append loop.
pub(crate) struct Conflicts<'a> {
    topic: &'a Topic,
    what: &'static str,
    total: usize,
    stalls: usize,
    last: Option<Option<EventId>>,
}

impl<'a> Conflicts<'a> {
    /// A counter for appending `what` (such as "a trust record") to `topic`.
    pub(crate) fn new(topic: &'a Topic, what: &'static str) -> Self {
        Conflicts {
            topic,
            what,
            total: 0,
            stalls: 0,
            last: None,
        }
    }

    /// Records that an append expecting head `expected` lost; an error once the loop must stop.
    pub(crate) fn conflicted(&mut self, expected: Option<EventId>) -> Result<()> {
        self.total += 1;
        self.stalls = if self.last == Some(expected) {
            self.stalls + 1
        } else {
            0
        };
        self.last = Some(expected);
        let head = expected.map_or_else(|| "empty".to_owned(), |id| format!("at event {id}"));
        if self.stalls >= MAX_STALLS {
            return Err(Error::Log(format!(
                "cannot append {} to {}: {} attempts in a row conflicted while the topic's head stayed {head}; \
                 the log's recorded head disagrees with its events (the log is damaged: `sidefx trust verify` \
                 reports what changed); nothing was appended and the call fails closed",
                self.what,
                self.topic,
                self.stalls + 1
            ).into()));
        }
        if self.total >= MAX_APPEND_CONFLICTS {
            return Err(Error::Log(
                format!(
                    "cannot append {} to {}: {} attempts conflicted with other writers; nothing was appended \
                 and the call fails closed (retry it once the load drops)",
                    self.what, self.topic, self.total
                )
                .into(),
            ));
        }
        Ok(())
    }
}

//! The process-wide registry: the link-time entries plus those registered at run time, read
//! through a lock-free per-thread snapshot.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use super::{BuiltinInfo, Duplicate, Registry};
use crate::{Error, Result};

/// The link-time slice that `#[side_effect]` fills. Reached only through `__private`.
#[linkme::distributed_slice]
pub static BUILTINS: [BuiltinInfo];

/// The process-wide registry. Writers (`register`) change `master` under its lock; readers use
/// an immutable snapshot of it that each thread keeps, and take the lock only when a
/// registration has happened since their snapshot was made. A lookup in the steady state is one
/// atomic load and a thread-local read: no lock, no reference-count traffic.
struct Global {
    state: Mutex<State>,
    /// `State::generation`, readable without the lock. Stored (under the lock) after the
    /// registration it counts, so a reader that loads it sees every registration made before.
    generation: AtomicU64,
}

struct State {
    master: Registry,
    /// Registrations so far: the generation a snapshot of `master` is tagged with.
    generation: u64,
    /// A snapshot of `master` at `generation`, made on the first read after a change (so a
    /// runtime registering 10,000 builtins copies the registry once, not 10,000 times).
    published: Option<Arc<Registry>>,
}

thread_local! {
    /// This thread's snapshot and the generation it was made at.
    static SNAPSHOT: RefCell<Option<(u64, Arc<Registry>)>> = const { RefCell::new(None) };
}

fn global() -> &'static Global {
    static GLOBAL: OnceLock<Global> = OnceLock::new();
    GLOBAL.get_or_init(|| Global {
        state: Mutex::new(State {
            master: Registry::from_entries(BUILTINS.iter().copied()),
            generation: 0,
            published: None,
        }),
        generation: AtomicU64::new(0),
    })
}

impl Global {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means a registering thread panicked after a complete insert
        // (insert cannot leave the map half-updated), so the data is still consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current snapshot and its generation, publishing one if a registration made the
    /// last one stale.
    fn current(&self) -> (u64, Arc<Registry>) {
        let mut state = self.lock();
        let snapshot = match &state.published {
            Some(s) => s.clone(),
            None => {
                let s = Arc::new(state.master.clone());
                state.published = Some(s.clone());
                s
            }
        };
        (state.generation, snapshot)
    }

    fn register(&self, entry: BuiltinInfo) {
        let mut state = self.lock();
        state.master.insert(entry);
        state.published = None;
        state.generation += 1;
        self.generation.store(state.generation, Ordering::Release);
    }
}

fn read<T>(f: impl Fn(&Registry) -> T) -> T {
    let global = global();
    let generation = global.generation.load(Ordering::Acquire);
    match SNAPSHOT.try_with(|cell| read_cached(cell, global, generation, &f)) {
        Ok(out) => out,
        // The thread is exiting and its snapshot is gone: read the current one directly.
        Err(_) => f(&global.current().1),
    }
}

#[inline]
fn read_cached<T>(
    cell: &RefCell<Option<(u64, Arc<Registry>)>>,
    global: &Global,
    generation: u64,
    f: &impl Fn(&Registry) -> T,
) -> T {
    if let Ok(slot) = cell.try_borrow()
        && let Some((seen, snapshot)) = &*slot
        && *seen == generation
    {
        return f(snapshot);
    }
    let (seen, snapshot) = global.current();
    // Borrowed only if `f` itself reads the registry; then this read just is not cached.
    if let Ok(mut slot) = cell.try_borrow_mut() {
        *slot = Some((seen, snapshot.clone()));
    }
    f(&snapshot)
}

/// Looks a builtin up in the process-wide registry by name.
///
/// ```
/// assert!(sidefx::registry::lookup("no_such_builtin_here").is_none());
/// ```
pub fn lookup(name: &str) -> Option<BuiltinInfo> {
    read(|r| r.lookup(name).copied())
}

/// Looks a builtin up, or explains that it is unknown with the closest registered name.
///
/// # Errors
/// `SIDEFX-UNKNOWN-BUILTIN`, with the closest registered name when one is close.
///
/// ```
/// let err = sidefx::registry::require("no_such_builtin").unwrap_err();
/// assert_eq!(err.code(), "SIDEFX-UNKNOWN-BUILTIN");
/// ```
pub fn require(name: &str) -> Result<BuiltinInfo> {
    read(|r| match r.lookup(name) {
        Some(e) => Ok(*e),
        None => Err(Error::UnknownBuiltin {
            name: name.to_owned(),
            suggestion: sidefx_catalogue::closest(name, r.all().iter().map(|e| e.name)).map(str::to_owned),
        }),
    })
}

/// Every builtin in the process-wide registry: link-time entries first, then run-time ones.
///
/// ```
/// let all = sidefx::registry::all();
/// assert!(all.iter().all(|e| !e.name.is_empty()));
/// ```
pub fn all() -> Vec<BuiltinInfo> {
    read(|r| r.all().to_vec())
}

/// Reports duplicate names in the process-wide registry.
///
/// # Errors
/// Every name registered more than once.
///
/// ```
/// let _ = sidefx::registry::validate();
/// ```
pub fn validate() -> std::result::Result<(), Vec<Duplicate>> {
    read(Registry::validate)
}

/// A snapshot of the process-wide registry, for policy validation.
///
/// ```
/// let r = sidefx::registry::snapshot();
/// assert!(r.knows_class("fs.write"));
/// ```
pub fn snapshot() -> Registry {
    read(Registry::clone)
}

/// Registers a builtin at run time, for runtimes that learn their builtins while running.
///
/// The class must be a catalogue class with its capability, or a well-formed custom class;
/// each resource argument is declared once, under a non-empty name.
///
/// # Errors
/// `SIDEFX-CONFIG` when the entry is invalid or conflicts with one already registered.
///
/// ```
/// use sidefx::registry::{self, BuiltinInfo};
/// let bad = BuiltinInfo::new("doc_bad", "fs.write", "process.exec");
/// assert_eq!(registry::register(bad).unwrap_err().code(), "SIDEFX-CONFIG");
/// ```
pub fn register(entry: BuiltinInfo) -> Result<()> {
    if entry.name.is_empty() {
        return Err(Error::Config("a builtin name must not be empty".into()));
    }
    match sidefx_catalogue::capability_of(entry.class) {
        Some(cap) if cap != entry.capability => {
            return Err(Error::Config(format!(
                "builtin `{}`: class `{}` requires capability `{cap}`, not `{}`; use `{cap}` or omit it",
                entry.name, entry.class, entry.capability
            )));
        }
        None if !sidefx_catalogue::is_valid_class_name(entry.class) => {
            return Err(Error::Config(format!(
                "builtin `{}`: class `{}` is not a valid class name; use dot-separated lowercase segments such as `payments.charge`",
                entry.name, entry.class
            )));
        }
        _ => {}
    }
    for (i, r) in entry.resources.iter().enumerate() {
        if r.arg.is_empty() {
            return Err(Error::Config(format!(
                "builtin `{}`: resource {i} has an empty argument name; name the parameter that holds the {}",
                entry.name,
                r.kind.as_str()
            )));
        }
        if entry.resources[..i].iter().any(|p| p.arg == r.arg) {
            return Err(Error::Config(format!(
                "builtin `{}`: argument `{}` is declared as a resource more than once; declare each argument once, with one kind",
                entry.name, r.arg
            )));
        }
    }
    global().register(entry);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_with_a_cached_snapshot_sees_later_registrations() {
        // Warm this thread's snapshot, then register from another thread: the next lookup here
        // must see it (the generation moved), and so must a thread that cached the old one.
        assert!(lookup("global_test_late_a").is_none());
        let other = std::thread::spawn(|| {
            assert!(lookup("global_test_late_a").is_none());
            register(BuiltinInfo::new(
                "global_test_late_a",
                "store.write",
                "store.write",
            ))
            .unwrap();
        });
        other.join().unwrap();
        assert_eq!(lookup("global_test_late_a").map(|e| e.class), Some("store.write"));
        register(BuiltinInfo::new(
            "global_test_late_b",
            "fs.write",
            "workspace.write_text",
        ))
        .unwrap();
        let seen = std::thread::spawn(|| lookup("global_test_late_b").is_some());
        assert!(seen.join().unwrap());
        assert!(all().iter().any(|e| e.name == "global_test_late_b"));
        assert!(snapshot().lookup("global_test_late_b").is_some());
    }
}

//! Cross-process wake: waiters on a SQLite log learn of another process's commit from a
//! file-change notification (inotify on Linux) on the database and its write-ahead log, instead
//! of waiting out their polling backoff. Polling stays as the fallback (other systems, a
//! notification that could not be set up, a file system that does not report changes).
//!
//! The WAL's own writes are not enough: SQLite writes the frames, fsyncs, and only then makes
//! the commit visible through the shared-memory index, which inotify does not see. A waiter
//! woken by the frame writes re-reads before the commit is visible and would then sleep until
//! its fallback poll. So every writer marks its commit once it is visible ([`committed`]: the
//! WAL's modification time, an attribute change inotify reports), and waiters re-read then.

use std::path::Path;
use std::sync::{Arc, Weak};

use tokio::sync::watch;

/// A change counter for one log file, bumped whenever the file or its WAL changes. Waiters
/// subscribe before they read the head, so a change after that always wakes them.
pub(super) struct FileWatch {
    changes: Arc<watch::Sender<u64>>,
}

impl FileWatch {
    /// Starts watching `path`'s directory for changes to the file and its WAL; `None` where
    /// that is not possible (then waiters poll).
    pub(super) fn start(path: &Path) -> Option<FileWatch> {
        let changes = Arc::new(watch::Sender::new(0));
        imp::start(path, Arc::downgrade(&changes))?;
        Some(FileWatch { changes })
    }

    /// A receiver that changes on the next change of the file.
    pub(super) fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }
}

/// Tells waiters in every process that a commit to the log at `path` is now visible. Best
/// effort: where it fails (the WAL is gone after a checkpoint, another system), waiters still
/// poll.
pub(super) fn committed(path: &Path) {
    imp::committed(path);
}

/// Bumps the counter; `false` once every `FileWatch` for it is gone (the watcher then stops).
fn bump(changes: &Weak<watch::Sender<u64>>) -> bool {
    match changes.upgrade() {
        Some(tx) => {
            tx.send_modify(|n| *n = n.wrapping_add(1));
            true
        }
        None => false,
    }
}

#[cfg(target_os = "linux")]
mod imp {
    use std::ffi::OsString;
    use std::mem::MaybeUninit;
    use std::path::Path;
    use std::sync::Weak;

    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    use rustix::fs::inotify::{self, CreateFlags, WatchFlags};
    use tokio::sync::watch;

    /// How often the watcher thread checks whether its log is gone.
    const CHECK_ALIVE: Timespec = Timespec {
        tv_sec: 0,
        tv_nsec: 500_000_000,
    };

    pub(super) fn committed(path: &Path) {
        use rustix::fs::{AtFlags, CWD, Timestamps, UTIME_NOW, UTIME_OMIT, utimensat};
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        let times = Timestamps {
            last_access: Timespec {
                tv_sec: 0,
                tv_nsec: UTIME_OMIT,
            },
            last_modification: Timespec {
                tv_sec: 0,
                tv_nsec: UTIME_NOW,
            },
        };
        // A path, not a descriptor: closing a descriptor of an SQLite file would drop the
        // process's POSIX locks on it.
        let _ = utimensat(CWD, wal.as_os_str(), &times, AtFlags::empty());
    }

    pub(super) fn start(path: &Path, changes: Weak<watch::Sender<u64>>) -> Option<()> {
        let name = path.file_name()?.to_owned();
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => std::path::PathBuf::from("."),
        };
        let fd = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK).ok()?;
        // The directory, not the files: the WAL is created and removed as connections come
        // and go, and a watch on the directory sees every file in it.
        inotify::add_watch(
            &fd,
            &dir,
            WatchFlags::MODIFY
                | WatchFlags::ATTRIB
                | WatchFlags::CREATE
                | WatchFlags::MOVED_TO
                | WatchFlags::CLOSE_WRITE,
        )
        .ok()?;
        let mut wal = name.clone();
        wal.push("-wal");
        std::thread::Builder::new()
            .name("sidefx-sqlite-wake".into())
            .spawn(move || watch_loop(&fd, &[name, wal], &changes))
            .ok()?;
        Some(())
    }

    fn watch_loop(fd: &rustix::fd::OwnedFd, names: &[OsString], changes: &Weak<watch::Sender<u64>>) {
        let mut buf = [MaybeUninit::<u8>::uninit(); 4096];
        loop {
            let mut fds = [PollFd::new(fd, PollFlags::IN)];
            if poll(&mut fds, Some(&CHECK_ALIVE)).is_err() {
                return;
            }
            let mut changed = false;
            let mut reader = inotify::Reader::new(fd, &mut buf);
            // Drain what is queued; `next` fails with EAGAIN once it is empty.
            while let Ok(event) = reader.next() {
                let named = event.file_name().map(|n| {
                    use std::os::unix::ffi::OsStrExt;
                    std::ffi::OsStr::from_bytes(n.to_bytes()).to_owned()
                });
                changed |= named.is_some_and(|n| names.contains(&n));
            }
            let alive = if changed {
                super::bump(changes)
            } else {
                changes.strong_count() > 0
            };
            if !alive {
                return;
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use std::path::Path;
    use std::sync::Weak;

    use tokio::sync::watch;

    pub(super) fn start(_path: &Path, _changes: Weak<watch::Sender<u64>>) -> Option<()> {
        None
    }

    pub(super) fn committed(_path: &Path) {}
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::time::Duration;

    use super::FileWatch;
    use crate::log::{EventLog, LogEvent, SqliteEventLog, Topic};

    /// A commit made through another handle (as another process would) is reported by the
    /// file watch itself: nothing here polls, so only the notification can end the wait.
    #[tokio::test]
    async fn a_commit_through_another_handle_changes_the_watch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.db");
        let writer = SqliteEventLog::open(&path).unwrap();
        let watch = FileWatch::start(&path).expect("inotify is available on Linux");
        let mut changes = watch.subscribe();
        let topic = Topic::new("t").unwrap();
        writer
            .append(&topic, LogEvent::new("n", serde_json::json!(1)))
            .await
            .unwrap();
        // A guard against hanging, not a timing assertion.
        tokio::time::timeout(Duration::from_secs(60), changes.changed())
            .await
            .expect("no file-change notification within a minute")
            .unwrap();
    }

    /// A waiter on another handle (as in another process) is woken once another handle's
    /// commit is visible. Its fallback poll is 30 s, so only a notification can end the wait in
    /// time. The event is large, so the WAL's frame writes (which notify too) end well before
    /// the fsync and the commit: a waiter woken only by them re-reads too early.
    #[tokio::test]
    async fn a_waiter_is_woken_when_another_handles_commit_is_visible() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.db");
        let topic = Topic::new("t").unwrap();
        let writer = SqliteEventLog::open(&path).unwrap();
        writer
            .append(&topic, LogEvent::new("n", serde_json::json!(1)))
            .await
            .unwrap();
        let waiter = SqliteEventLog::open_polling_every(&path, Duration::from_secs(30)).unwrap();
        let waiting = {
            let topic = topic.clone();
            tokio::spawn(async move { waiter.wait_for_append(&topic, 1).await })
        };
        // Lets the waiter read the head and park. Were it slower, its first read would find
        // the event and the test would prove less, never fail wrongly.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let big = "x".repeat(2 << 20);
        writer
            .append(&topic, LogEvent::new("big", serde_json::json!(big)))
            .await
            .unwrap();
        // A guard against hanging, not a timing assertion: the fallback poll is twice as long.
        tokio::time::timeout(Duration::from_secs(15), waiting)
            .await
            .expect("the waiter was not woken by the commit (only its 30 s fallback poll would)")
            .unwrap()
            .unwrap();
    }
}

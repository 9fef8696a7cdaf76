//! The key of grant digests. It is never written to the log: whoever reads the log sees only
//! keyed digests, which tell nothing about the values without the key.
//!
//! Where it comes from, first match wins:
//! 1. a key the host set with [`use_key`] (from its own secret store, say);
//! 2. `$SIDEFX_GRANT_KEY_FILE`, when set: that file (created with 32 random bytes if missing);
//! 3. the log's own home for it ([`KeyHome`]): beside a SQLite log (`<log>.grant-key`), one
//!    random key per process for the memory log; a PostgreSQL log has none, so a fleet must set
//!    `$SIDEFX_GRANT_KEY_FILE` to the same file on every host.
//!
//! A key file must be a regular file of at most 4 KiB, owned by the user and readable by nobody
//! else (mode 0600; otherwise it is refused, with `chmod 600` as the fix). It is created
//! atomically with mode 0600: written to a temporary file, then linked
//! into place (a link never replaces an existing file), so processes racing to create it all
//! end up with the one that won. When the key changes (file deleted or replaced), outstanding
//! grants simply never match again: the calls get their tier's normal answer.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{OnceLock, RwLock};

pub use crate::log::KeyHome;

/// The environment variable naming the grant key file.
pub const KEY_FILE_ENV: &str = "SIDEFX_GRANT_KEY_FILE";

/// The fewest bytes a key file must hold.
const MIN_KEY_BYTES: usize = 32;

/// The most bytes read from a key file: a key is small, and a device or a huge file named by
/// mistake must not be read without end.
const MAX_KEY_BYTES: u64 = 4096;

/// A grant key. Its bytes are never shown (`Debug` prints `GrantKey(..)`).
#[derive(Clone, PartialEq, Eq)]
pub struct GrantKey(Box<[u8]>);

impl std::fmt::Debug for GrantKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GrantKey(..)")
    }
}

impl GrantKey {
    pub(crate) fn from_bytes(bytes: &[u8]) -> GrantKey {
        GrantKey(bytes.into())
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// The key for a log whose home is `home`, or why there is none.
    pub(crate) fn find(home: KeyHome) -> Result<GrantKey, String> {
        if let Some(key) = HOST_KEY.read().ok().and_then(|k| k.clone()) {
            return Ok(key);
        }
        if let Some(file) = std::env::var_os(KEY_FILE_ENV).filter(|f| !f.is_empty()) {
            return load_or_create(Path::new(&file));
        }
        match home {
            KeyHome::File(path) => load_or_create(&path),
            KeyHome::Process => {
                static KEY: OnceLock<Result<GrantKey, String>> = OnceLock::new();
                KEY.get_or_init(|| random().map(|b| GrantKey::from_bytes(&b)))
                    .clone()
            }
            KeyHome::Shared => Err(format!(
                "this event log keeps no grant key of its own; set {KEY_FILE_ENV} to a key file that every process using the log shares (32 random bytes; created if missing)"
            )),
        }
    }
}

/// The key the host set with [`use_key`].
static HOST_KEY: RwLock<Option<GrantKey>> = RwLock::new(None);

/// Sets the grant key of this process, ahead of `$SIDEFX_GRANT_KEY_FILE` and the log's own key
/// file: for a host that keeps its secrets elsewhere. Every process sharing a log must use the
/// same key, or their grants never match (fail closed). Grants digested under an earlier key stop
/// matching.
///
/// # Errors
/// `SIDEFX-CONFIG` when the key is shorter than 32 bytes.
///
/// ```
/// sidefx::grant::use_key(&[7u8; 32]).unwrap();
/// assert_eq!(sidefx::grant::use_key(b"short").unwrap_err().code(), "SIDEFX-CONFIG");
/// ```
pub fn use_key(key: &[u8]) -> crate::Result<()> {
    if key.len() < MIN_KEY_BYTES {
        return Err(crate::Error::Config(format!(
            "a grant key needs at least {MIN_KEY_BYTES} random bytes, this one has {}",
            key.len()
        )));
    }
    let mut slot = HOST_KEY
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    *slot = Some(GrantKey::from_bytes(key));
    Ok(())
}

fn random() -> Result<[u8; MIN_KEY_BYTES], String> {
    let mut bytes = [0u8; MIN_KEY_BYTES];
    getrandom::fill(&mut bytes)
        .map_err(|e| format!("the system has no random numbers for a grant key ({e})"))?;
    Ok(bytes)
}

/// Reads the key at `path`, creating it first if it does not exist.
fn load_or_create(path: &Path) -> Result<GrantKey, String> {
    if let Some(bytes) = read_key(path)? {
        return check(path, &bytes);
    }
    create(path)?;
    match read_key(path)? {
        Some(bytes) => check(path, &bytes),
        None => Err(format!(
            "the grant key file {} vanished after it was created",
            path.display()
        )),
    }
}

/// The bytes of the key file, `None` when it does not exist. Refused (fail closed, with the
/// fix): anything but a regular file (a FIFO would block, a device never end), a file others
/// may read or write (unix mode `& 0o077`), one owned by another user, one over 4 KiB.
fn read_key(path: &Path) -> Result<Option<Vec<u8>>, String> {
    let shown = path.display();
    let cannot = |e: std::io::Error| format!("cannot read the grant key file {shown}: {e}");
    // Checked before opening: opening a FIFO blocks until a writer comes.
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(cannot(e)),
    };
    check_meta(path, &meta)?;
    let file = std::fs::File::open(path).map_err(cannot)?;
    // Checked again on the open file: the path may have been swapped meanwhile.
    check_meta(path, &file.metadata().map_err(cannot)?)?;
    let mut bytes = Vec::with_capacity(64);
    file.take(MAX_KEY_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > MAX_KEY_BYTES {
        bytes.fill(0);
        return Err(format!(
            "the grant key file {shown} is larger than {MAX_KEY_BYTES} bytes; a key is 32 random bytes: point {KEY_FILE_ENV} at a key file, or delete it to have a new key made"
        ));
    }
    Ok(Some(bytes))
}

fn check(path: &Path, bytes: &[u8]) -> Result<GrantKey, String> {
    if bytes.len() < MIN_KEY_BYTES {
        return Err(format!(
            "the grant key file {} holds {} bytes, fewer than {MIN_KEY_BYTES}; delete it to have a new key made (outstanding grants then stop matching)",
            path.display(),
            bytes.len()
        ));
    }
    Ok(GrantKey::from_bytes(bytes))
}

fn check_meta(path: &Path, meta: &std::fs::Metadata) -> Result<(), String> {
    let shown = path.display();
    if !meta.is_file() {
        return Err(format!(
            "the grant key file {shown} is not a regular file; point {KEY_FILE_ENV} at a file holding 32 random bytes"
        ));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let mode = meta.mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(format!(
                "the grant key file {shown} can be read or written by other users (mode {mode:o}), so they could forge or test grant digests; run `chmod 600 {shown}`"
            ));
        }
        #[cfg(all(target_os = "linux", feature = "sqlite"))]
        {
            let me = rustix::process::geteuid().as_raw();
            if meta.uid() != me {
                return Err(format!(
                    "the grant key file {shown} is owned by uid {}, not by this user (uid {me}); run `chown {me} {shown}` (and `chmod 600`), or use a key file of your own",
                    meta.uid()
                ));
            }
        }
    }
    Ok(())
}

/// Creates the key file atomically: a complete temporary file linked into place. Losing the
/// race to another process is success (its key is the key).
fn create(path: &Path) -> Result<(), String> {
    let fail =
        |what: &str, e: std::io::Error| format!("cannot {what} the grant key file {}: {e}", path.display());
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::now_v7()));
    let written = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp).map_err(|e| fail("create", e))?;
        file.write_all(&random()?).map_err(|e| fail("write", e))?;
        file.sync_all().map_err(|e| fail("write", e))
    })();
    let linked = written.and_then(|()| match std::fs::hard_link(&tmp, path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(fail("create", e)),
    });
    let _ = std::fs::remove_file(&tmp);
    linked?;
    // The new name must survive a crash too: a key that vanishes orphans every grant.
    #[cfg(unix)]
    std::fs::File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| fail("make durable", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Racing creators end with one key; a short file is refused with the fix.
    #[test]
    fn racing_creators_share_one_key_and_short_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.db.grant-key");
        let keys: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8).map(|_| s.spawn(|| load_or_create(&path))).collect();
            handles.into_iter().map(|h| h.join().unwrap().unwrap()).collect()
        });
        assert!(
            keys.windows(2).all(|w| w[0] == w[1]),
            "every creator reads the winner's key"
        );
        assert_eq!(keys[0].bytes().len(), 32);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "only the owner reads the key");
        }
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary files are left behind");
        std::fs::write(&path, b"short").unwrap();
        let err = load_or_create(&path).unwrap_err();
        assert!(
            err.contains("fewer than 32") && err.contains("delete it"),
            "{err}"
        );
    }

    /// Key files others could read, that are not regular files or that are too large are
    /// refused with the fix, without blocking or reading without end.
    #[cfg(unix)]
    #[test]
    fn unsafe_key_files_are_refused_with_the_fix() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shared.key");
        std::fs::write(&path, [7u8; 32]).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = load_or_create(&path).unwrap_err();
        assert!(err.contains("chmod 600") && err.contains("644"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(load_or_create(&path).unwrap().bytes(), &[7u8; 32]);

        let big = dir.path().join("big.key");
        std::fs::write(&big, vec![1u8; 5000]).unwrap();
        std::fs::set_permissions(&big, std::fs::Permissions::from_mode(0o600)).unwrap();
        let err = load_or_create(&big).unwrap_err();
        assert!(err.contains("larger than 4096"), "{err}");

        // A directory (or a FIFO, a device): not a regular file, refused before opening.
        let err = load_or_create(dir.path()).unwrap_err();
        assert!(err.contains("not a regular file"), "{err}");
        let err = load_or_create(Path::new("/dev/urandom")).unwrap_err();
        assert!(err.contains("not a regular file"), "{err}");
    }
}

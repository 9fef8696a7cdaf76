//! The redacted value reaches no byte of the SQLite log: not the value, not an unkeyed hash of
//! it, not the key.

use sidefx::log::SqliteEventLog;

use super::*;

/// Every byte the SQLite log keeps on disk: the database, its write-ahead log and its index.
fn stored_bytes(path: &std::path::Path) -> Vec<u8> {
    let mut all = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        if let Ok(bytes) = std::fs::read(&name) {
            all.extend(bytes);
        }
    }
    all
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn the_redacted_value_reaches_no_byte_of_the_log_digest_included() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let log: Arc<dyn EventLog> = Arc::new(SqliteEventLog::open(&path).unwrap());
    let p = suggest("planner");
    let secret = "sk-live-7f3a9c1e5b2d4f60a8e1";
    let run = || {
        sidefx::with_event_log(
            log.clone(),
            sidefx::with_policy(p.clone(), grant_secret_store("k", secret.to_owned())),
        )
    };
    let id = request_id(&run().await.unwrap_err().0);
    approval::respond(log.as_ref(), &id, "alice", true, None)
        .await
        .unwrap();
    run().await.expect("the approved suggestion runs");
    assert_eq!(SECRET_RAN.load(Ordering::SeqCst), 1);
    let digest = grant_of(log.as_ref(), &id).await.terms.digest.unwrap();
    log.flush().await.unwrap();

    let bytes = stored_bytes(&path);
    assert!(
        contains(&bytes, digest.as_bytes()),
        "the scan reads the stored events"
    );
    // The value itself, and the unkeyed hashes anyone could test a guess against.
    let real = sidefx::canonical::to_string(&json!({"key": "k", "token": secret}));
    let unkeyed = |s: &str| sidefx::canonical::sha256(&json!(s));
    let plain = |b: &[u8]| {
        use std::fmt::Write as _;
        let d = <sha2::Sha256 as sha2::Digest>::digest(b);
        d.iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    };
    for needle in [
        secret.to_owned(),
        hex(secret.as_bytes()),
        plain(secret.as_bytes()),
        plain(real.as_bytes()),
        unkeyed(secret),
    ] {
        assert!(!contains(&bytes, needle.as_bytes()), "the log holds {needle}");
    }
    // The key sits beside the log, readable by its owner only, and not in the log either.
    let key = std::fs::read(dir.path().join("events.db.grant-key")).unwrap();
    assert!(!contains(&bytes, &key) && !contains(&bytes, hex(&key).as_bytes()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("events.db.grant-key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

//! Choosing the backend from one string: a file path (SQLite) or a `postgres://` URL
//! (PostgreSQL, feature `postgres`). The CLI's `--log`, `SIDEFX_LOG`, [`open_default`], the
//! tour and `acp-agent` all go through here.

use std::ffi::OsStr;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use super::EventLog;
use crate::{Error, Result};

/// Where an event log lives, parsed from a path or URL. Shown (`Display`, `Debug`) with any
/// password replaced by `***`.
///
/// ```
/// use sidefx::log::LogTarget;
/// let t = LogTarget::parse("postgres://sidefx:hunter2@db:5432/audit").unwrap();
/// assert_eq!(t.to_string(), "postgres://sidefx:***@db:5432/audit");
/// assert!(matches!(LogTarget::parse("logs/events.db").unwrap(), LogTarget::File(_)));
/// assert!(LogTarget::parse("mysql://db/x").is_err());
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogTarget {
    /// An SQLite file.
    File(PathBuf),
    /// A PostgreSQL database URL (`postgres://` or `postgresql://`).
    Postgres(String),
}

impl LogTarget {
    /// Parses a target: a `postgres://` or `postgresql://` URL, else a file path. Another URL
    /// scheme is an error rather than a file name.
    ///
    /// ```
    /// let err = sidefx::log::LogTarget::parse("sqlite://x.db").unwrap_err();
    /// assert!(err.to_string().contains("postgres://"));
    /// ```
    pub fn parse(target: impl AsRef<OsStr>) -> Result<LogTarget> {
        let raw = target.as_ref();
        if raw.is_empty() {
            return Err(Error::Log(
                "the event log target is empty: give a file path or a postgres:// URL".into(),
            ));
        }
        let Some(text) = raw.to_str() else {
            return Ok(LogTarget::File(PathBuf::from(raw)));
        };
        match scheme(text) {
            Some(s) if s.eq_ignore_ascii_case("postgres") || s.eq_ignore_ascii_case("postgresql") => {
                Ok(LogTarget::Postgres(text.to_owned()))
            }
            Some(s) => Err(Error::Log(format!(
                "unsupported event log URL scheme `{s}://`: an event log is a file path (SQLite) or a postgres:// URL \
                 (PostgreSQL); write ./{s}:... for a file of that name"
            ).into())),
            None => Ok(LogTarget::File(PathBuf::from(raw))),
        }
    }

    /// Opens the log, creating it (an SQLite file, PostgreSQL tables) if needed. SQLite does not
    /// create the file's directory.
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")] {
    /// let dir = tempfile::tempdir().unwrap();
    /// let target = sidefx::log::LogTarget::parse(dir.path().join("e.db")).unwrap();
    /// let _log = target.open().unwrap();
    /// # }
    /// ```
    pub fn open(&self) -> Result<Arc<dyn EventLog>> {
        self.start(true)
    }

    /// Opens a log that exists, never creating one: for reviewers' tools.
    ///
    /// ```
    /// let target = sidefx::log::LogTarget::parse("/nonexistent/events.db").unwrap();
    /// # #[cfg(feature = "sqlite")]
    /// assert!(target.open_existing().unwrap_err().to_string().contains("does not exist"));
    /// ```
    pub fn open_existing(&self) -> Result<Arc<dyn EventLog>> {
        self.start(false)
    }

    fn start(&self, create: bool) -> Result<Arc<dyn EventLog>> {
        match self {
            LogTarget::File(path) => sqlite(path, create),
            LogTarget::Postgres(url) => postgres(url, create),
        }
    }
}

#[cfg(feature = "sqlite")]
fn sqlite(path: &std::path::Path, create: bool) -> Result<Arc<dyn EventLog>> {
    Ok(Arc::new(if create {
        super::SqliteEventLog::open(path)?
    } else {
        super::SqliteEventLog::open_existing(path)?
    }))
}

#[cfg(not(feature = "sqlite"))]
fn sqlite(path: &std::path::Path, _create: bool) -> Result<Arc<dyn EventLog>> {
    Err(Error::Log(
        format!(
            "the event log {} is a file (SQLite), but this build of sidefx was compiled without the `sqlite` \
         feature; enable it or use a postgres:// URL",
            path.display()
        )
        .into(),
    ))
}

#[cfg(feature = "postgres")]
fn postgres(url: &str, create: bool) -> Result<Arc<dyn EventLog>> {
    let log = if create {
        super::PostgresEventLog::open(url)?
    } else {
        super::PostgresEventLog::open_existing(url)?
    };
    Ok(Arc::new(log))
}

#[cfg(not(feature = "postgres"))]
fn postgres(url: &str, _create: bool) -> Result<Arc<dyn EventLog>> {
    Err(Error::Log(format!(
        "the event log {} is a PostgreSQL URL, but this build of sidefx was compiled without the `postgres` \
         feature; enable it (sidefx = {{ version = \"..\", features = [\"postgres\"] }}) or use a file path",
        redact(url)
    ).into()))
}

impl fmt::Display for LogTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogTarget::File(p) => write!(f, "{}", p.display()),
            LogTarget::Postgres(url) => f.write_str(&redact(url)),
        }
    }
}

impl fmt::Debug for LogTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogTarget::File(p) => f.debug_tuple("File").field(p).finish(),
            LogTarget::Postgres(_) => f.debug_tuple("Postgres").field(&self.to_string()).finish(),
        }
    }
}

/// The scheme of `text` if it starts like a URL (`letters://`).
fn scheme(text: &str) -> Option<&str> {
    let (s, _) = text.split_once("://")?;
    let mut chars = s.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    (first_ok && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))).then_some(s)
}

/// Opens the log at `target`: a file path (SQLite, created if missing) or a `postgres://` URL
/// (PostgreSQL, tables created if missing; needs the `postgres` feature, else an error naming
/// it).
///
/// ```
/// # #[cfg(feature = "sqlite")] {
/// let dir = tempfile::tempdir().unwrap();
/// let log = sidefx::log::open(dir.path().join("events.db")).unwrap();
/// # let _ = log;
/// # }
/// let err = sidefx::log::open("postgres://u:secret@127.0.0.1:1/db").unwrap_err();
/// assert!(!err.to_string().contains("secret"));
/// ```
pub fn open(target: impl AsRef<OsStr>) -> Result<Arc<dyn EventLog>> {
    LogTarget::parse(target)?.open()
}

/// The default target: `$SIDEFX_LOG` when set and not empty (a path or a URL), else
/// `.sidefx/events.db` under the working directory.
///
/// ```
/// let target = sidefx::log::default_target().unwrap();
/// assert!(target.to_string().ends_with("events.db") || std::env::var_os("SIDEFX_LOG").is_some());
/// ```
pub fn default_target() -> Result<LogTarget> {
    if let Some(t) = std::env::var_os("SIDEFX_LOG").filter(|p| !p.is_empty()) {
        return LogTarget::parse(t);
    }
    let cwd = std::env::current_dir().map_err(|e| {
        Error::Log(format!("cannot find the working directory for .sidefx/events.db: {e}").into())
    })?;
    Ok(LogTarget::File(cwd.join(".sidefx").join("events.db")))
}

/// Opens (creating it if needed) the default log at [`default_target`]: `$SIDEFX_LOG` (a path
/// or a `postgres://` URL), else `.sidefx/events.db` under the working directory, creating the
/// directory of a file log.
///
/// ```no_run
/// let log = sidefx::log::open_default().unwrap();
/// # let _ = log;
/// ```
pub fn open_default() -> Result<Arc<dyn EventLog>> {
    let target = default_target()?;
    if let LogTarget::File(path) = &target
        && let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).map_err(|e| {
            Error::Log(format!("cannot create the log directory {}: {e}", dir.display()).into())
        })?;
    }
    target.open()
}

/// `url` with every spelling of its password replaced by `***`.
pub(crate) fn redact(url: &str) -> String {
    scrub(url, &secrets_of(url))
}

/// Every spelling of the password a message might quote: as written in the URL
/// (percent-encoded or not) and decoded, longest first.
pub(crate) fn secrets_of(url: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(u) = url::Url::parse(url) {
        if let Some(p) = u.password() {
            out.push(p.to_owned());
        }
        out.extend(
            u.query_pairs()
                .filter(|(k, _)| k == "password")
                .map(|(_, v)| v.into_owned()),
        );
    }
    // By hand too, for URLs the parser rejects: from the first ':' of the user part to the
    // authority's last '@', and any `password=` parameter.
    if let Some((_, rest)) = url.split_once("://") {
        let authority = rest.split(['?', '#']).next().unwrap_or(rest);
        if let Some(at) = authority.rfind('@')
            && let Some((_, pw)) = authority[..at].split_once(':')
        {
            out.push(pw.to_owned());
        }
    }
    for (i, _) in url.match_indices("password=") {
        let value = &url[i + "password=".len()..];
        out.push(value.split(['&', '#']).next().unwrap_or_default().to_owned());
    }
    let decoded: Vec<String> = out.iter().filter_map(|s| percent_decode(s)).collect();
    out.extend(decoded);
    out.retain(|s| !s.is_empty());
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out.dedup();
    out
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `text` with each secret replaced by `***`.
pub(crate) fn scrub(text: &str, secrets: &[String]) -> String {
    secrets
        .iter()
        .fold(text.to_owned(), |out, s| out.replace(s.as_str(), "***"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden_in_every_spelling() {
        for (url, secret) in [
            ("postgres://u:s3cret@localhost:5432/db", "s3cret"),
            ("postgresql://u:p%40ss%2Fw@db.example/x", "p@ss/w"),
            ("postgres://u@h/db?password=hunter2&sslmode=disable", "hunter2"),
            ("postgres://u:pa:ss@h:notaport/db", "pa:ss"),
            ("postgres://u:a@b@h/db", "a@b"),
        ] {
            let shown = LogTarget::parse(url)
                .map(|t| format!("{t} {t:?}"))
                .unwrap_or_default();
            assert!(shown.contains("***"), "{url}: {shown}");
            assert!(!shown.contains(secret), "{url}: {shown}");
            assert!(!shown.contains("p%40ss"), "{url}: {shown}");
        }
    }

    #[test]
    fn targets_are_paths_or_postgres_urls() {
        assert_eq!(
            LogTarget::parse("a/b.db").ok(),
            Some(LogTarget::File("a/b.db".into()))
        );
        assert!(matches!(
            LogTarget::parse("POSTGRESQL://h/db"),
            Ok(LogTarget::Postgres(_))
        ));
        // Not a scheme: a path with "://" further on.
        assert!(matches!(LogTarget::parse("./x://y"), Ok(LogTarget::File(_))));
        for bad in ["", "http://h/x", "sqlite://x.db"] {
            assert!(LogTarget::parse(bad).is_err(), "{bad}");
        }
    }

    #[cfg(not(feature = "postgres"))]
    #[test]
    fn a_url_without_the_feature_names_it() {
        let err = open("postgres://u:pw1234@h/db")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("`postgres` feature"), "{err}");
        assert!(!err.contains("pw1234"), "{err}");
    }
}

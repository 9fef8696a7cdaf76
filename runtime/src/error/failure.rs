//! Failures that keep their cause: what sidefx was doing, and the error underneath (an I/O,
//! SQLite or JSON error) reachable through [`std::error::Error::source`].

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

/// What failed, and the error underneath if there is one. Cheap to clone: the source is shared.
///
/// Shown as `context: source` (as tower's buffer errors are), and the source stays reachable
/// through [`source()`](std::error::Error::source) for callers that walk the chain or
/// downcast it.
///
/// ```
/// use std::error::Error as _;
/// let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "read-only file system");
/// let f = sidefx::Failure::new("cannot create /var/log/events.db", io);
/// assert_eq!(f.to_string(), "cannot create /var/log/events.db: read-only file system");
/// let cause = f.source().unwrap().downcast_ref::<std::io::Error>().unwrap();
/// assert_eq!(cause.kind(), std::io::ErrorKind::PermissionDenied);
/// assert!(sidefx::Failure::from("the writer thread stopped").source().is_none());
/// ```
#[derive(Clone)]
pub struct Failure {
    context: String,
    source: Option<Arc<dyn StdError + Send + Sync>>,
}

impl Failure {
    /// A failure while doing `context`, caused by `source`.
    ///
    /// ```
    /// let f = sidefx::Failure::new("cannot encode the event", std::fmt::Error);
    /// assert_eq!(f.context(), "cannot encode the event");
    /// ```
    pub fn new(context: impl Into<String>, source: impl StdError + Send + Sync + 'static) -> Self {
        Failure {
            context: context.into(),
            source: Some(Arc::new(source)),
        }
    }

    /// What sidefx was doing, without the cause.
    ///
    /// ```
    /// assert_eq!(sidefx::Failure::from("disk full").context(), "disk full");
    /// ```
    pub fn context(&self) -> &str {
        &self.context
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.context)?;
        match &self.source {
            Some(source) => write!(f, ": {source}"),
            None => Ok(()),
        }
    }
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Failure")
            .field("context", &self.context)
            .field("source", &self.source)
            .finish()
    }
}

impl StdError for Failure {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn StdError + 'static))
    }
}

/// Failures compare by what they say: a source has no equality of its own.
impl PartialEq for Failure {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

/// A failure with no underlying error.
impl From<String> for Failure {
    fn from(context: String) -> Self {
        Failure {
            context,
            source: None,
        }
    }
}

impl From<&str> for Failure {
    fn from(context: &str) -> Self {
        Failure::from(context.to_owned())
    }
}

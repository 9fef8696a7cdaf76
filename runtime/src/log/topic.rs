//! Validated topic names (SPEC §10).

use std::borrow::Cow;
use std::fmt;

use crate::{Error, Result};

/// A topic name: non-empty, at most 255 bytes of ASCII letters, digits, `.`, `_`, `-`.
///
/// Invalid names are errors, never silently rewritten (rewriting could merge two topics).
///
/// ```
/// use sidefx::log::Topic;
/// assert!(Topic::new("trust_graph").is_ok());
/// assert_eq!(Topic::new("a b").unwrap_err().code(), "SIDEFX-INVALID-TOPIC");
/// assert_eq!(Topic::TRUST_GRAPH.as_str(), "trust_graph");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct Topic(Cow<'static, str>);

const fn check(name: &str) -> std::result::Result<(), &'static str> {
    let b = name.as_bytes();
    if b.is_empty() {
        return Err("a topic name must not be empty");
    }
    if b.len() > 255 {
        return Err("a topic name must be at most 255 bytes");
    }
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if !(c.is_ascii_alphanumeric() || c == b'.' || c == b'_' || c == b'-') {
            return Err("a topic name may only contain ASCII letters, digits, '.', '_' and '-'");
        }
        i += 1;
    }
    Ok(())
}

impl Topic {
    /// Proposals of calls that did not run (kind `dispatch_proposed`).
    pub const TRIGGER_OUTBOX: Topic = Topic::from_static("trigger.outbox");
    /// Hash-chained trust records (kind `trust_recorded`).
    pub const TRUST_GRAPH: Topic = Topic::from_static("trust_graph");
    /// Approval requests, responses and decisions.
    pub const HITL_APPROVALS: Topic = Topic::from_static("hitl.approvals");

    /// Validates and wraps a topic name.
    ///
    /// # Errors
    /// `SIDEFX-INVALID-TOPIC` when the name is not a valid topic name; the error says why.
    ///
    /// ```
    /// assert!(sidefx::log::Topic::new("").is_err());
    /// ```
    pub fn new(name: impl Into<String>) -> Result<Topic> {
        let name = name.into();
        match check(&name) {
            Ok(()) => Ok(Topic(Cow::Owned(name))),
            Err(reason) => Err(Error::InvalidTopic {
                topic: name,
                reason: reason.to_owned(),
            }),
        }
    }

    /// A topic from a literal, checked at compile time when used in a `const`.
    ///
    /// ```
    /// const MINE: sidefx::log::Topic = sidefx::log::Topic::from_static("my.topic");
    /// assert_eq!(MINE.as_str(), "my.topic");
    /// ```
    pub const fn from_static(name: &'static str) -> Topic {
        match check(name) {
            Ok(()) => Topic(Cow::Borrowed(name)),
            Err(reason) => panic!("{}", reason),
        }
    }

    /// The name.
    ///
    /// ```
    /// assert_eq!(sidefx::log::Topic::HITL_APPROVALS.as_str(), "hitl.approvals");
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Topic {
    type Err = Error;
    fn from_str(s: &str) -> Result<Topic> {
        Topic::new(s)
    }
}

impl<'de> serde::Deserialize<'de> for Topic {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Topic::new(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

//! Session grants: what `allow_always` / `reject_always` leave behind.
//!
//! The runtime, not the editor, remembers them: for the rest of one ACP session a call of the
//! same builtin (and class) is decided by the grant without asking. A new session starts empty.
//! Grants can be listed and revoked.
//!
//! ```
//! use sidefx::acp::{Grants, codec::OptionKind};
//! let grants = Grants::new();
//! grants.insert("write_file", "fs.write", OptionKind::AllowAlways, "allow_always", "req-1");
//! assert!(grants.lookup("write_file", "fs.write").unwrap().allows());
//! assert!(grants.lookup("delete_file", "fs.delete").is_none());
//! grants.revoke("write_file");
//! assert!(grants.list().is_empty());
//! ```

use std::sync::Mutex;

use serde_json::{Value, json};

use super::codec::OptionKind;

/// One remembered "always" answer.
///
/// ```
/// use sidefx::acp::{Grants, codec::OptionKind};
/// let g = Grants::new().insert("rm", "fs.delete", OptionKind::RejectAlways, "reject_always", "r");
/// assert!(!g.allows());
/// assert_eq!(g.to_json()["kind"], "reject_always");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// A UUIDv7 naming the grant in trust records.
    pub grant_id: String,
    /// The builtin it covers.
    pub builtin: String,
    /// The builtin's class.
    pub class: String,
    /// `AllowAlways` or `RejectAlways`.
    pub kind: OptionKind,
    /// The option the user chose.
    pub option_id: String,
    /// The approval request whose answer created it.
    pub approval_request_id: String,
    /// When, ms since the epoch.
    pub granted_at_ms: u64,
}

impl Grant {
    /// Whether the grant lets calls run.
    ///
    /// ```
    /// use sidefx::acp::{Grants, codec::OptionKind};
    /// assert!(Grants::new().insert("w", "fs.write", OptionKind::AllowAlways, "allow_always", "r").allows());
    /// ```
    pub fn allows(&self) -> bool {
        self.kind.is_allow()
    }

    /// The form recorded in trust-record metadata.
    ///
    /// ```
    /// use sidefx::acp::{Grants, codec::OptionKind};
    /// let g = Grants::new().insert("w", "fs.write", OptionKind::AllowAlways, "allow_always", "req-1");
    /// assert_eq!(g.to_json()["approval_request_id"], "req-1");
    /// ```
    pub fn to_json(&self) -> Value {
        json!({
            "grant_id": self.grant_id,
            "builtin": self.builtin,
            "class": self.class,
            "kind": self.kind.as_str(),
            "option_id": self.option_id,
            "approval_request_id": self.approval_request_id,
            "granted_at_ms": self.granted_at_ms,
        })
    }
}

/// The grants of one ACP session.
///
/// ```
/// let grants = sidefx::acp::Grants::new();
/// assert!(grants.list().is_empty());
/// ```
#[derive(Debug, Default)]
pub struct Grants {
    inner: Mutex<Vec<Grant>>,
}

impl Grants {
    /// No grants.
    ///
    /// ```
    /// assert!(sidefx::acp::Grants::new().lookup("w", "fs.write").is_none());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Grant>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The grant covering `builtin` of `class`, if any.
    ///
    /// ```
    /// use sidefx::acp::{Grants, codec::OptionKind};
    /// let grants = Grants::new();
    /// grants.insert("w", "fs.write", OptionKind::AllowAlways, "allow_always", "r");
    /// assert!(grants.lookup("w", "fs.delete").is_none()); // same name, other class: no match
    /// ```
    pub fn lookup(&self, builtin: &str, class: &str) -> Option<Grant> {
        self.lock()
            .iter()
            .find(|g| g.builtin == builtin && g.class == class)
            .cloned()
    }

    /// Remembers an "always" answer, replacing any grant for the same builtin and class.
    /// `kind` must be an always kind; a once kind is not remembered (returns the would-be grant).
    ///
    /// ```
    /// use sidefx::acp::{Grants, codec::OptionKind};
    /// let grants = Grants::new();
    /// grants.insert("w", "fs.write", OptionKind::AllowOnce, "allow_once", "r");
    /// assert!(grants.list().is_empty());
    /// ```
    pub fn insert(
        &self,
        builtin: &str,
        class: &str,
        kind: OptionKind,
        option_id: &str,
        approval_request_id: &str,
    ) -> Grant {
        let grant = Grant {
            grant_id: uuid::Uuid::now_v7().to_string(),
            builtin: builtin.to_owned(),
            class: class.to_owned(),
            kind,
            option_id: option_id.to_owned(),
            approval_request_id: approval_request_id.to_owned(),
            granted_at_ms: crate::log::now_ms(),
        };
        if kind.is_always() {
            let mut all = self.lock();
            all.retain(|g| !(g.builtin == builtin && g.class == class));
            all.push(grant.clone());
        }
        grant
    }

    /// Revokes the grants for `builtin`; returns them.
    ///
    /// ```
    /// assert!(sidefx::acp::Grants::new().revoke("w").is_empty());
    /// ```
    pub fn revoke(&self, builtin: &str) -> Vec<Grant> {
        let mut all = self.lock();
        let (gone, kept) = all.drain(..).partition(|g| g.builtin == builtin);
        *all = kept;
        gone
    }

    /// Revokes every grant.
    ///
    /// ```
    /// sidefx::acp::Grants::new().clear();
    /// ```
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Every grant, oldest first.
    ///
    /// ```
    /// use sidefx::acp::{Grants, codec::OptionKind};
    /// let grants = Grants::new();
    /// grants.insert("a", "fs.write", OptionKind::AllowAlways, "allow_always", "r1");
    /// grants.insert("b", "fs.delete", OptionKind::RejectAlways, "reject_always", "r2");
    /// assert_eq!(grants.list().iter().map(|g| g.builtin.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    /// ```
    pub fn list(&self) -> Vec<Grant> {
        self.lock().clone()
    }
}

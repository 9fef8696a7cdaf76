//! The classifier registry: builtin name -> action (SPEC §6).
//!
//! `#[side_effect]` places one [`BuiltinInfo`] per annotated builtin in a `linkme` distributed
//! slice at link time (no code runs before `main`). The first lookup builds a hash index once;
//! later lookups are O(1). Runtimes that learn their builtins at run time (a VM loading a
//! module) add them with [`register`].
//!
//! # Pitfall: crates the binary never references
//!
//! The linker drops a crate that the final binary does not reference, and with it that crate's
//! registry entries: `registry::lookup("my_builtin")` then finds nothing even though the crate
//! is a dependency. Fix: reference the crate from the binary, for example `use my_tools as _;`
//! in `main.rs`, or call any item of it. [`validate`] and [`all`] show what was linked.
//!
//! ```
//! use sidefx::registry::{self, BuiltinInfo};
//! registry::register(BuiltinInfo::new("doc_registry_demo", "store.write", "store.write")).unwrap();
//! let found = registry::lookup("doc_registry_demo").unwrap();
//! assert_eq!(found.action().class, "store.write");
//! ```

use rustc_hash::FxHashMap;

use crate::SideEffectAction;
use crate::resource::{Resource, ResourceSpec};

mod global;

pub use global::{BUILTINS, all, lookup, register, require, snapshot, validate};

/// One registered builtin: its action, the resources it declares and where it was declared.
///
/// ```
/// use sidefx::resource::{ResourceKind, ResourceSpec};
/// const RESOURCES: &[ResourceSpec] = &[ResourceSpec::new(ResourceKind::Command, "argv")];
/// let info = sidefx::registry::BuiltinInfo::new("exec", "process.exec", "process.exec")
///     .with_resources(RESOURCES);
/// assert_eq!(info.name, "exec");
/// assert_eq!(info.resources[0].arg, "argv");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct BuiltinInfo {
    /// The builtin's name.
    pub name: &'static str,
    /// Its class.
    pub class: &'static str,
    /// Its capability.
    pub capability: &'static str,
    /// The arguments that are resources (`path(..)`, `command(..)`, `url(..)` on the
    /// attribute), in declaration order. [`enforce`](crate::enforce) reads them from the call's
    /// JSON arguments so policy rules can match them.
    #[serde(serialize_with = "serialize_resources")]
    pub resources: &'static [ResourceSpec],
    /// The module that declared it (`module_path!()`), or `"<runtime>"` when registered by hand.
    pub module_path: &'static str,
    /// The source file that declared it.
    pub file: &'static str,
    /// The line of the declaration.
    pub line: u32,
}

impl BuiltinInfo {
    /// An entry registered at run time, without a source location.
    ///
    /// ```
    /// let info = sidefx::registry::BuiltinInfo::new("store_set", "store.write", "store.write");
    /// assert_eq!(info.file, "<runtime>");
    /// ```
    pub const fn new(name: &'static str, class: &'static str, capability: &'static str) -> Self {
        BuiltinInfo {
            name,
            class,
            capability,
            resources: &[],
            module_path: "<runtime>",
            file: "<runtime>",
            line: 0,
        }
    }

    /// The same entry with its resource arguments declared (builder style).
    ///
    /// ```
    /// use sidefx::resource::{ResourceKind, ResourceSpec};
    /// const COPY: &[ResourceSpec] = &[ResourceSpec::new(ResourceKind::Path, "from"), ResourceSpec::new(ResourceKind::Path, "to")];
    /// let info = sidefx::registry::BuiltinInfo::new("copy_file", "fs.copy", "workspace.write_text")
    ///     .with_resources(COPY);
    /// assert_eq!(info.resources.len(), 2);
    /// ```
    pub const fn with_resources(mut self, resources: &'static [ResourceSpec]) -> Self {
        self.resources = resources;
        self
    }

    /// This builtin's resources read from a call's JSON arguments (an object keyed by parameter
    /// name). Strict: a missing or ill-typed argument is
    /// [`ResourceValue::Unreadable`](crate::resource::ResourceValue::Unreadable).
    ///
    /// ```
    /// use sidefx::resource::{ResourceKind, ResourceSpec, ResourceValue};
    /// const WRITE: &[ResourceSpec] = &[ResourceSpec::new(ResourceKind::Path, "path")];
    /// let info = sidefx::registry::BuiltinInfo::new("write_file", "fs.write", "workspace.write_text")
    ///     .with_resources(WRITE);
    /// let found = info.resources_from_json(&serde_json::json!({"path": "src/a.rs", "text": "hi"}));
    /// assert_eq!(found[0].value, ResourceValue::Path("src/a.rs".into()));
    /// assert!(info.resources_from_json(&serde_json::json!({}))[0].value.is_unreadable());
    /// ```
    pub fn resources_from_json(&self, args: &serde_json::Value) -> Vec<Resource> {
        self.resources.iter().map(|spec| spec.read_json(args)).collect()
    }

    /// The action this builtin performs.
    ///
    /// ```
    /// let info = sidefx::registry::BuiltinInfo::new("exec", "process.exec", "process.exec");
    /// assert_eq!(info.action().capability, "process.exec");
    /// ```
    pub const fn action(&self) -> SideEffectAction {
        SideEffectAction::new(self.name, self.class, self.capability)
    }
}

/// Serialized as `[{"kind": "path", "arg": "from"}, ..]`.
fn serialize_resources<S: serde::Serializer>(
    resources: &&'static [ResourceSpec],
    serializer: S,
) -> std::result::Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    #[derive(serde::Serialize)]
    struct Spec {
        kind: &'static str,
        arg: &'static str,
    }
    let mut seq = serializer.serialize_seq(Some(resources.len()))?;
    for r in resources.iter() {
        seq.serialize_element(&Spec {
            kind: r.kind.as_str(),
            arg: r.arg,
        })?;
    }
    seq.end()
}

/// Two or more builtins registered under one name.
///
/// ```
/// use sidefx::registry::{BuiltinInfo, Registry};
/// let r = Registry::from_entries([BuiltinInfo::new("a", "fs.write", "workspace.write_text"); 2]);
/// assert_eq!(r.validate().unwrap_err()[0].name, "a");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    /// The shared name.
    pub name: &'static str,
    /// Every entry that uses it, in registration order.
    pub entries: Vec<BuiltinInfo>,
}

impl std::fmt::Display for Duplicate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "builtin name `{}` is registered {} times:",
            self.name,
            self.entries.len()
        )?;
        for e in &self.entries {
            write!(f, " {}:{} ({});", e.file, e.line, e.class)?;
        }
        write!(f, " give all but one a distinct `name = \"..\"`")
    }
}

/// A set of builtins indexed by name. The process-wide one is behind [`lookup`], [`all`],
/// [`validate`] and [`register`]; build your own for tests or benchmarks.
///
/// ```
/// use sidefx::registry::{BuiltinInfo, Registry};
/// let r = Registry::from_entries([BuiltinInfo::new("exec", "process.exec", "process.exec")]);
/// assert!(r.lookup("exec").is_some());
/// assert!(r.lookup("exex").is_none());
/// ```
#[derive(Debug, Default, Clone)]
pub struct Registry {
    entries: Vec<BuiltinInfo>,
    by_name: FxHashMap<&'static str, usize>,
    /// Custom classes known without a registered builtin (declared in a crate's Cargo.toml).
    classes: Vec<String>,
}

impl Registry {
    /// Builds a registry from entries; the first entry of a name wins lookups.
    ///
    /// ```
    /// let r = sidefx::registry::Registry::from_entries([]);
    /// assert!(r.all().is_empty());
    /// ```
    pub fn from_entries(entries: impl IntoIterator<Item = BuiltinInfo>) -> Self {
        let mut r = Registry::default();
        for e in entries {
            r.insert(e);
        }
        r
    }

    /// Adds a custom class known without a builtin, such as one a crate declares under
    /// `[package.metadata.sidefx.classes]` (builder style). Policy keys may then name it.
    ///
    /// ```
    /// let r = sidefx::registry::Registry::from_entries([]).with_class("payments.charge");
    /// assert!(r.knows_class("payments.charge"));
    /// assert!(r.knows_policy_key("payments.charge"));
    /// ```
    pub fn with_class(mut self, class: impl Into<String>) -> Self {
        self.classes.push(class.into());
        self
    }

    fn insert(&mut self, entry: BuiltinInfo) {
        self.by_name.entry(entry.name).or_insert(self.entries.len());
        self.entries.push(entry);
    }

    /// O(1) lookup by name.
    ///
    /// ```
    /// let r = sidefx::registry::Registry::from_entries([]);
    /// assert_eq!(r.lookup("exec"), None);
    /// ```
    #[inline]
    pub fn lookup(&self, name: &str) -> Option<&BuiltinInfo> {
        self.by_name.get(name).map(|&i| &self.entries[i])
    }

    /// Every entry, in registration order.
    ///
    /// ```
    /// let r = sidefx::registry::Registry::from_entries([]);
    /// assert_eq!(r.all().len(), 0);
    /// ```
    pub fn all(&self) -> &[BuiltinInfo] {
        &self.entries
    }

    /// Whether a class is known: built into the catalogue or used by a registered builtin.
    ///
    /// ```
    /// let r = sidefx::registry::Registry::from_entries([]);
    /// assert!(r.knows_class("fs.write"));
    /// assert!(!r.knows_class("payments.charge"));
    /// ```
    pub fn knows_class(&self, class: &str) -> bool {
        sidefx_catalogue::class(class).is_some()
            || self.entries.iter().any(|e| e.class == class)
            || self.classes.iter().any(|c| c == class)
    }

    /// Every name a policy key may use: registered builtins, catalogue builtins and all classes.
    ///
    /// ```
    /// let r = sidefx::registry::Registry::from_entries([]);
    /// assert!(r.policy_keys().any(|k| k == "git.push"));
    /// ```
    pub fn policy_keys(&self) -> impl Iterator<Item = &str> + '_ {
        let catalogue = sidefx_catalogue::CLASSES
            .iter()
            .flat_map(|c| std::iter::once(c.class).chain(c.builtins.iter().copied()));
        catalogue
            .chain(self.entries.iter().flat_map(|e| [e.name, e.class]))
            .chain(self.classes.iter().map(String::as_str))
    }

    /// Whether `key` names a registered builtin, a catalogue builtin, or a known class.
    ///
    /// ```
    /// let r = sidefx::registry::Registry::from_entries([]);
    /// assert!(r.knows_policy_key("fs.delete"));
    /// ```
    pub fn knows_policy_key(&self, key: &str) -> bool {
        self.lookup(key).is_some() || self.policy_keys().any(|k| k == key)
    }

    /// Reports every name registered more than once.
    ///
    /// # Errors
    /// Every name registered more than once.
    ///
    /// ```
    /// let r = sidefx::registry::Registry::from_entries([]);
    /// assert!(r.validate().is_ok());
    /// ```
    pub fn validate(&self) -> std::result::Result<(), Vec<Duplicate>> {
        let mut dups: Vec<Duplicate> = Vec::new();
        for (i, e) in self.entries.iter().enumerate() {
            if self.by_name.get(e.name) == Some(&i) {
                continue;
            }
            match dups.iter_mut().find(|d| d.name == e.name) {
                Some(d) => d.entries.push(*e),
                None => dups.push(Duplicate {
                    name: e.name,
                    entries: vec![self.entries[self.by_name[e.name]], *e],
                }),
            }
        }
        if dups.is_empty() { Ok(()) } else { Err(dups) }
    }
}

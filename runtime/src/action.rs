//! The action a builtin performs: `(builtin, class, capability)` (SPEC §3).

/// What a call does: which builtin, which class of effect, which capability it needs.
///
/// `#[side_effect]` builds one `static` per annotated builtin; runtimes that register builtins
/// by hand build them with [`SideEffectAction::new`].
///
/// ```
/// use sidefx::SideEffectAction;
/// static PUSH: SideEffectAction = SideEffectAction::new("git.push", "git.write", "git.write");
/// assert_eq!(PUSH.class, "git.write");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct SideEffectAction {
    /// The builtin's name, such as `write_file` or `git.push`.
    pub builtin: &'static str,
    /// The class of effect, such as `fs.write`.
    pub class: &'static str,
    /// The capability the class requires, such as `workspace.write_text`.
    pub capability: &'static str,
}

impl SideEffectAction {
    /// Builds an action. Usable in `const` and `static` items.
    ///
    /// ```
    /// let a = sidefx::SideEffectAction::new("exec", "process.exec", "process.exec");
    /// assert_eq!(a.builtin, "exec");
    /// ```
    pub const fn new(builtin: &'static str, class: &'static str, capability: &'static str) -> Self {
        SideEffectAction {
            builtin,
            class,
            capability,
        }
    }
}

//! Path rules: patterns anchored at the workspace, the file-system root or the home directory,
//! compiled once per policy, and matched against each path argument's lexical and real form, on
//! bytes (never a lossy conversion).
//!
//! A glob can only match a path that starts with the glob's literal leading directories
//! (`src/m3` for `src/m3/**/*.rs`), so globs are indexed by that literal prefix: a path looks up
//! each of its own leading-directory prefixes and matches only those globs. Globs without a
//! literal prefix (`**/*.pem`) go into one glob set checked for every path.

use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use globset::{Candidate, GlobBuilder, GlobMatcher, GlobSet, GlobSetBuilder};
use rustc_hash::{FxHashMap, FxHashSet};

use super::facts::{Forms, PathFact};

/// Where a pattern is anchored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Anchor {
    /// A relative pattern: under the workspace.
    Workspace,
    /// `/...`: the file-system root.
    Absolute,
    /// `~/...`: the home directory.
    Home,
}

/// One path pattern of a rule.
#[derive(Debug, Clone)]
pub(crate) struct PathPattern {
    anchor: Anchor,
    /// The glob, relative to the anchor (absolute globs keep their leading `/`).
    glob: String,
    /// The pattern's literal leading directories: a path that contains them (an ancestor, such
    /// as `~` for `~/.ssh/**`) is caught by a stricter rule too.
    literal: Vec<u8>,
}

const META: &[char] = &['*', '?', '[', '{', '\\'];

/// Parses one pattern as written in a rule.
pub(crate) fn parse_pattern(text: &str) -> Result<PathPattern, String> {
    let (anchor, rest) = if text == "~" {
        (Anchor::Home, "")
    } else if let Some(rest) = text.strip_prefix("~/") {
        (Anchor::Home, rest)
    } else if text.starts_with('~') {
        return Err(format!(
            "`{text}`: only `~/` (your own home directory) is understood; write the absolute path instead"
        ));
    } else if text.starts_with('/') {
        (Anchor::Absolute, text)
    } else {
        (Anchor::Workspace, text.strip_prefix("./").unwrap_or(text))
    };
    if text.trim().is_empty() {
        return Err("an empty path pattern matches nothing; write a glob such as `src/**`".into());
    }
    if rest.split('/').any(|c| c == "..") {
        return Err(format!(
            "`{text}`: a pattern cannot contain `..`; write the directory it means (absolute, or `~/...`)"
        ));
    }
    let trimmed = rest.trim_end_matches('/');
    let glob = if trimmed.is_empty() && anchor == Anchor::Absolute {
        "/"
    } else {
        trimmed
    };
    build(glob).map_err(|e| format!("`{text}` is not a valid glob: {e}"))?;
    let literal = glob
        .split('/')
        .take_while(|c| !c.contains(META))
        .collect::<Vec<_>>()
        .join("/");
    Ok(PathPattern {
        anchor,
        glob: glob.to_owned(),
        literal: literal.into_bytes(),
    })
}

fn build(glob: &str) -> Result<globset::Glob, globset::Error> {
    GlobBuilder::new(glob)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
}

/// Collects every path rule's patterns before compiling them into three sets.
pub(crate) struct PathIndexBuilder {
    unprefixed: [(GlobSetBuilder, Vec<usize>); 3],
    by_literal: [Prefixed; 3],
    literals: [BTreeMap<Vec<u8>, Vec<usize>>; 3],
    rules: Vec<usize>,
}

/// Globs by their literal leading directories, with the rule each belongs to.
type Prefixed = FxHashMap<Box<[u8]>, Vec<(GlobMatcher, usize)>>;

fn slot(anchor: Anchor) -> usize {
    match anchor {
        Anchor::Workspace => 0,
        Anchor::Absolute => 1,
        Anchor::Home => 2,
    }
}

impl Default for PathIndexBuilder {
    fn default() -> Self {
        PathIndexBuilder {
            unprefixed: std::array::from_fn(|_| (GlobSetBuilder::new(), Vec::new())),
            by_literal: Default::default(),
            literals: Default::default(),
            rules: Vec::new(),
        }
    }
}

impl PathIndexBuilder {
    pub(crate) fn add(&mut self, rule: usize, patterns: &[PathPattern]) {
        self.rules.push(rule);
        for p in patterns {
            let s = slot(p.anchor);
            // Validated in `parse_pattern`; a failure here cannot happen, and skipping would
            // only drop a glob, so report it instead of panicking.
            if let Ok(g) = build(&p.glob) {
                if p.literal.is_empty() {
                    self.unprefixed[s].0.add(g);
                    self.unprefixed[s].1.push(rule);
                } else {
                    let key: Box<[u8]> = p.literal.clone().into_boxed_slice();
                    self.by_literal[s]
                        .entry(key)
                        .or_default()
                        .push((g.compile_matcher(), rule));
                }
            }
            self.literals[s].entry(p.literal.clone()).or_default().push(rule);
        }
    }

    pub(crate) fn build(self) -> Result<PathIndex, String> {
        let [a, b, c] = self.unprefixed;
        let set = |(builder, owners): (GlobSetBuilder, Vec<usize>)| {
            builder
                .build()
                .map(|s| (s, owners))
                .map_err(|e| format!("path globs cannot be compiled: {e}"))
        };
        Ok(PathIndex {
            sets: [set(a)?, set(b)?, set(c)?],
            by_literal: self.by_literal,
            literals: self.literals,
            rules: self.rules,
        })
    }
}

/// A policy's path rules, compiled.
#[derive(Debug)]
pub(crate) struct PathIndex {
    sets: [(GlobSet, Vec<usize>); 3],
    by_literal: [Prefixed; 3],
    literals: [BTreeMap<Vec<u8>, Vec<usize>>; 3],
    rules: Vec<usize>,
}

impl Default for PathIndex {
    fn default() -> Self {
        PathIndex {
            sets: [
                (GlobSet::empty(), Vec::new()),
                (GlobSet::empty(), Vec::new()),
                (GlobSet::empty(), Vec::new()),
            ],
            by_literal: Default::default(),
            literals: Default::default(),
            rules: Vec::new(),
        }
    }
}

/// Which path rules each path argument's forms matched, computed once per call.
#[derive(Debug, Default)]
pub(crate) struct PathHits {
    /// Per argument: rules its lexical form matched, rules its real form matched (both sorted),
    /// and whether it may get a looser rule at all.
    per_fact: Vec<(Vec<usize>, Vec<usize>, bool)>,
    /// Rules any form matched, or whose protected directory an argument contains.
    stricter: FxHashSet<usize>,
    /// A path argument could not be read or resolved: every stricter path rule applies.
    unresolved: bool,
}

impl PathIndex {
    pub(crate) fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Matches every form of every path argument once.
    pub(crate) fn hits(&self, facts: &[PathFact], unreadable: bool) -> PathHits {
        let mut hits = PathHits {
            unresolved: unreadable,
            ..Default::default()
        };
        if self.is_empty() {
            return hits;
        }
        let mut scratch = Vec::new();
        for fact in facts {
            let mut lexical = Vec::new();
            let mut real = Vec::new();
            for (i, (lex, re)) in fact.forms.iter().enumerate() {
                let l = self.form_hits(lex, &mut scratch, &mut hits.stricter);
                let r = re
                    .as_ref()
                    .map(|re| self.form_hits(re, &mut scratch, &mut hits.stricter));
                if i == 0 {
                    lexical = l;
                    real = r.unwrap_or_default();
                }
            }
            hits.unresolved |= fact.forms.is_empty();
            let may_loosen = !fact.ambiguous && fact.forms.len() == 1 && fact.forms[0].1.is_some();
            hits.per_fact.push((lexical, real, may_loosen));
        }
        hits
    }

    /// The rules one form matches by glob (returned, sorted) and, into `near`, also those whose
    /// literal directory the form is or contains.
    fn form_hits(&self, form: &Forms, scratch: &mut Vec<usize>, near: &mut FxHashSet<usize>) -> Vec<usize> {
        let mut out = Vec::new();
        for (s, bytes) in [
            (0, form.in_ws.as_deref()),
            (1, Some(&form.abs[..])),
            (2, form.in_home.as_deref()),
        ] {
            let Some(bytes) = bytes else { continue };
            let (set, owners) = &self.sets[s];
            let candidate = Candidate::from_bytes(bytes);
            if !set.is_empty() {
                set.matches_candidate_into(&candidate, scratch);
                out.extend(scratch.iter().map(|&g| owners[g]));
            }
            if !self.by_literal[s].is_empty() {
                let prefixes = bytes
                    .iter()
                    .enumerate()
                    .filter(|&(i, &b)| b == b'/' && i > 0)
                    .map(|(i, _)| &bytes[..i])
                    .chain(std::iter::once(bytes));
                for prefix in prefixes {
                    for (glob, rule) in self.by_literal[s].get(prefix).into_iter().flatten() {
                        if glob.is_match_candidate(&candidate) {
                            out.push(*rule);
                        }
                    }
                }
            }
            let from = std::ops::Bound::Included(bytes);
            for (lit, rules) in self.literals[s].range::<[u8], _>((from, std::ops::Bound::Unbounded)) {
                if !lit.starts_with(bytes) {
                    break;
                }
                let boundary = lit.len() == bytes.len()
                    || bytes.is_empty()
                    || bytes.ends_with(b"/")
                    || lit[bytes.len()] == b'/';
                if boundary {
                    near.extend(rules.iter().copied());
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        near.extend(out.iter().copied());
        out
    }

    /// Every path rule that may apply, to be checked by [`PathHits::applies`].
    pub(crate) fn candidates(&self, hits: &PathHits, add: &mut impl FnMut(usize)) {
        if hits.unresolved {
            self.rules.iter().for_each(|&r| add(r));
        } else {
            hits.stricter.iter().for_each(|&r| add(r));
        }
    }
}

impl PathHits {
    /// Whether path rule `rule` applies: looser needs every path argument to match by both its
    /// lexical and its real form; stricter needs any form of any argument (or an unreadable one).
    pub(crate) fn applies(&self, rule: usize, looser: bool) -> bool {
        if looser {
            !self.unresolved
                && !self.per_fact.is_empty()
                && self.per_fact.iter().all(|(lex, real, may_loosen)| {
                    *may_loosen && lex.binary_search(&rule).is_ok() && real.binary_search(&rule).is_ok()
                })
        } else {
            self.unresolved || self.stricter.contains(&rule)
        }
    }
}

/// `path` with `.`, `..` and repeated separators resolved lexically (`..` at the root stays at
/// the root). `path` must be absolute.
pub(crate) fn normalise(path: &Path) -> PathBuf {
    // Never longer than `path` (plus the root): one allocation.
    let mut out = PathBuf::with_capacity(path.as_os_str().len() + 1);
    out.push("/");
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// The real path of absolute `path`: each existing component's symlinks resolved (also a
/// dangling last link), `..` applied after resolution as the kernel does. `None` when it cannot
/// be computed (a link loop, an unreadable directory): such a path gets no looser rule.
pub(crate) fn real_path(path: &Path) -> Option<PathBuf> {
    let mut pending: Vec<PathBuf> = path
        .components()
        .rev()
        .map(|c| PathBuf::from(c.as_os_str()))
        .collect();
    let mut out = PathBuf::from("/");
    let mut links = 0;
    while let Some(c) = pending.pop() {
        match Path::new(&c).components().next() {
            Some(Component::Normal(name)) => {
                out.push(name);
                match std::fs::symlink_metadata(&out) {
                    Ok(m) if m.file_type().is_symlink() => {
                        links += 1;
                        if links > 40 {
                            return None;
                        }
                        let target = std::fs::read_link(&out).ok()?;
                        out.pop();
                        if target.is_absolute() {
                            out = PathBuf::from("/");
                        }
                        pending.extend(target.components().rev().map(|c| PathBuf::from(c.as_os_str())));
                    }
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) if e.raw_os_error() == Some(20) => {} // ENOTDIR: nothing below exists
                    Err(_) => return None,
                }
            }
            Some(Component::ParentDir) => {
                out.pop();
            }
            _ => {}
        }
    }
    Some(out)
}

/// The bytes of `path` relative to `root`, if `path` is `root` or under it.
pub(crate) fn under(path: &Path, root: &Path) -> Option<Vec<u8>> {
    path.strip_prefix(root)
        .ok()
        .map(|rel| rel.as_os_str().as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_is_lexical() {
        assert_eq!(
            normalise(Path::new("/w/./src//a/../b")),
            PathBuf::from("/w/src/b")
        );
        assert_eq!(normalise(Path::new("/../../etc")), PathBuf::from("/etc"));
    }

    #[test]
    fn patterns_are_anchored_and_checked() {
        assert_eq!(parse_pattern("~/.ssh/**").unwrap().anchor, Anchor::Home);
        assert_eq!(parse_pattern("/etc/**").unwrap().literal, b"/etc".to_vec());
        assert_eq!(parse_pattern("./src/**").unwrap().glob, "src/**");
        assert!(parse_pattern("../x").is_err());
        assert!(parse_pattern("~bob/x").is_err());
        assert!(parse_pattern("src/[").is_err());
        assert!(parse_pattern("").is_err());
    }
}

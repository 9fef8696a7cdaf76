//! The runtime's modules form a one-way graph (attribute -> registry -> policy -> enforcement ->
//! event log -> reviewers): no module imports, directly or through others, a module that
//! imports it. A cycle makes two rooms one room; this test names the loop so it is cut at once.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, recursively, in a stable order.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The module path of a source file relative to `src`: `scope/mod.rs` -> `["scope"]`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel.iter().map(|s| s.to_string_lossy().into_owned()).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// The code of a file that counts as imports: no comments (doc links are not dependencies) and
/// no unit-test modules (tests may reach anywhere).
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(text);
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `crate::a::b::C` -> `["a", "b"]`: the lowercase segments after `crate::` (a trailing
/// function name may come along; it is a leaf and cannot close a cycle).
fn targets(code: &str) -> Vec<Vec<String>> {
    let ident = |s: &str| -> usize {
        s.find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(s.len())
    };
    let mut out = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        let mut rest = &code[i + "crate::".len()..];
        let mut path = Vec::new();
        loop {
            let n = ident(rest);
            if n == 0 {
                break;
            }
            path.push(rest[..n].to_owned());
            match rest[n..].strip_prefix("::") {
                Some(more) => rest = more,
                None => break,
            }
        }
        if !path.is_empty() {
            out.push(path);
        }
    }
    out
}

/// The graph between modules at `depth` (1: `scope`, `policy`; 2: `scope::resolve`).
fn graph(depth: usize) -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtime/src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let from = module_of(&src, &file);
        if from.is_empty() || from.iter().any(|p| p == "tests") {
            continue;
        }
        let from = from[..from.len().min(depth)].join("::");
        for to in targets(&code(&std::fs::read_to_string(&file).unwrap())) {
            let to = to[..to.len().min(depth)].join("::");
            if to != from && !from.starts_with(&format!("{to}::")) && !to.starts_with(&format!("{from}::")) {
                edges.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    edges
}

/// A cycle through the graph, as the list of modules on it, if there is one.
fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        v: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == v) {
            let mut cycle = path[at..].to_vec();
            cycle.push(v.to_owned());
            return Some(cycle);
        }
        if done.contains(v) {
            return None;
        }
        path.push(v.to_owned());
        for w in edges.get(v).into_iter().flatten() {
            if let Some(c) = visit(w, edges, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(v.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|v| visit(v, edges, &mut Vec::new(), &mut done))
}

#[test]
fn runtime_modules_import_one_way() {
    for depth in [1, 2] {
        let edges = graph(depth);
        assert!(edges.len() > 5, "the scan found the runtime's modules: {edges:?}");
        if let Some(cycle) = find_cycle(&edges) {
            panic!(
                "import cycle between runtime modules: {}; move what both need into a lower module",
                cycle.join(" -> ")
            );
        }
    }
}

#[test]
fn the_cycle_finder_finds_a_planted_cycle() {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (a, b) in [
        ("policy", "rules"),
        ("rules", "resource"),
        ("resource", "policy"),
        ("log", "tier"),
    ] {
        edges.entry(a.into()).or_default().insert(b.into());
    }
    let cycle = find_cycle(&edges).expect("a cycle");
    assert_eq!(cycle.first(), cycle.last());
    assert_eq!(cycle.len(), 4, "{cycle:?}");
    edges.get_mut("resource").unwrap().clear();
    assert_eq!(find_cycle(&edges), None);
    assert_eq!(
        targets("use crate::scope::resolve::Resolved; crate::Tier"),
        [vec!["scope", "resolve"]]
    );
}

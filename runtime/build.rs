//! Copies the README's "The model" section into the crate-root docs, so the guide on docs.rs
//! and the README can never say different things (one text, included with `include_str!`).

use std::path::Path;

fn main() {
    // Read at run time, not baked in with `env!`: a build script compiled in another checkout
    // (a copied target directory) would otherwise read that checkout's README.
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let readme = Path::new(&manifest_dir).join("../README.md");
    println!("cargo::rerun-if-changed={}", readme.display());
    let text = std::fs::read_to_string(&readme).unwrap_or_default();
    let section = model_section(&text).unwrap_or(
        "## The model\n\nSee the README of the sidefx repository for the tier model and scopes.\n",
    );
    let out = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("model.md");
    std::fs::write(out, section).expect("OUT_DIR is writable");
}

/// The text from the `## The model` heading up to the next second-level heading.
fn model_section(readme: &str) -> Option<&str> {
    let start = readme.find("\n## The model\n")? + 1;
    let rest = &readme[start..];
    let end = rest[1..].find("\n## ").map_or(rest.len(), |i| i + 2);
    Some(&rest[..end])
}

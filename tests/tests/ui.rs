//! The `#[side_effect]` UI suite: `ui/pass` cases compile and run, `ui/fail` cases fail with
//! the reviewed diagnostics in their `.stderr` files (refresh with `TRYBUILD=overwrite`, then
//! read every diff).

#[test]
#[allow(unsafe_code)] // `set_var`; see below
fn ui() {
    // trybuild compiles the cases under a generated manifest, so point the macro at this
    // crate's Cargo.toml, which declares the custom classes the cases use.
    // SAFETY: this binary has a single test, and nothing else reads or writes the environment
    // while it runs.
    unsafe {
        std::env::set_var(
            "SIDEFX_CLASSES_MANIFEST",
            concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"),
        );
    }
    let t = trybuild::TestCases::new();
    t.pass("ui/pass/*.rs");
    t.compile_fail("ui/fail/*.rs");
}

//! The `#[side_effect]` UI suite: `ui/pass` cases compile and run, `ui/fail` cases fail with
//! the reviewed diagnostics in their `.stderr` files (refresh with `TRYBUILD=overwrite`, then
//! read every diff).

#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

use std::io::IsTerminal;
use std::process::Command;

/// Set in the child run by [`colour_follows_cargo_term_color`], which runs one case only.
const PROBE: &str = "SIDEFX_UI_COLOUR_PROBE";

#[test]
#[allow(unsafe_code)] // `set_var`; see below
fn ui() {
    // SAFETY: this binary has a single test, and nothing else reads or writes the environment
    // while it runs (the probe's child is another process).
    unsafe { configure_environment() };
    if std::env::var_os(PROBE).is_none() {
        colour_follows_cargo_term_color();
    }
    let t = trybuild::TestCases::new();
    t.pass("ui/pass/*.rs");
    t.compile_fail("ui/fail/*.rs");
}

/// Points the macro at this crate's manifest and sets trybuild's colour.
///
/// # Safety
/// No other thread may read or write the environment meanwhile.
#[allow(unsafe_code)]
unsafe fn configure_environment() {
    // trybuild compiles the cases under a generated manifest, so point the macro at this
    // crate's Cargo.toml, which declares the custom classes the cases use.
    // SAFETY: the caller guarantees exclusive access to the environment.
    unsafe {
        std::env::set_var(
            "SIDEFX_CLASSES_MANIFEST",
            concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"),
        );
    }
    // trybuild prints through termcolor with `ColorChoice::Auto`, which colours whenever TERM
    // is set and NO_COLOR is not, even into a pipe or a CI log. Decide the way cargo does
    // (`CARGO_TERM_COLOR` = always | never | auto, auto meaning "stderr is a terminal and
    // NO_COLOR is unset or empty"), then steer termcolor through the one switch it reads.
    let wants = match std::env::var("CARGO_TERM_COLOR").as_deref() {
        Ok("always") => true,
        Ok("never") => false,
        _ => std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    };
    // SAFETY: as above.
    unsafe {
        if wants {
            std::env::remove_var("NO_COLOR");
            if std::env::var_os("TERM").is_none_or(|t| t == "dumb") {
                std::env::set_var("TERM", "xterm");
            }
        } else {
            std::env::set_var("NO_COLOR", "1");
        }
    }
}

/// Runs this binary on one case with stderr piped: no escape code without
/// `CARGO_TERM_COLOR=always`, and colour with it. Sequential, before the suite, because both
/// runs share trybuild's project directory.
fn colour_follows_cargo_term_color() {
    let run = |colour: Option<&str>| {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args(["ui", "--exact", "trybuild=ui/fail/missing_class.rs"])
            .env(PROBE, "1")
            .env("TERM", "xterm-256color")
            .env_remove("NO_COLOR")
            .env_remove("CARGO_TERM_COLOR")
            .env_remove("TRYBUILD");
        if let Some(c) = colour {
            cmd.env("CARGO_TERM_COLOR", c);
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "the probe run failed:\n{stderr}");
        assert!(
            stderr.contains("missing_class.rs"),
            "the probe ran no case:\n{stderr}"
        );
        stderr
    };
    let piped = run(None);
    assert!(
        !piped.contains('\u{1b}'),
        "trybuild wrote colour escape codes into a pipe without CARGO_TERM_COLOR=always:\n{piped:?}"
    );
    let forced = run(Some("always"));
    assert!(
        forced.contains("\u{1b}["),
        "CARGO_TERM_COLOR=always gave no colour:\n{forced:?}"
    );
}

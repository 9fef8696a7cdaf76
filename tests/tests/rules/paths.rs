//! Path rules: traversal, absolute paths, real symlinks, `~`, non-UTF-8 names, scopes.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::*;

#[test]
fn path_traversal_and_absolute_paths_get_the_strict_answer() {
    let f = fs();
    f.check(&[
        (path("src/../../outside/x"), APPROVAL),
        (path("src//./../src/../../x"), APPROVAL),
        (path("src/../secrets/key"), SHADOW),
        (path("src/a/../../secrets/key"), SHADOW),
        (path(f.ws.join("secrets/key")), SHADOW),
        (path(f.ws.join("src/../secrets/key")), SHADOW),
        (path(f.outside.join("src/lib.rs")), APPROVAL),
        (path("/src/lib.rs"), APPROVAL),
    ]);
}

#[test]
fn real_symlinks_out_of_the_workspace_and_into_a_denied_directory_are_caught() {
    let f = fs();
    f.check(&[
        (path("src/out/x"), APPROVAL),
        (path("src/out"), APPROVAL),
        (path("src/deny/passwd"), Human),
        (path("src/deny"), Human),
        (path("src/passwd"), Human),
        (path("src/dangling"), Human),
        (path("src/out/../lib.rs"), APPROVAL), // `out/..` is the target's parent, not src
        (path("alias/lib.rs"), APPROVAL),      // lexically outside src/, so no looser rule
    ]);
}

#[test]
fn home_and_tilde_paths_are_caught() {
    let f = fs();
    f.check(&[
        (path("~/.ssh/id_rsa"), Human),
        (path("~/.ssh"), Human),
        (path(f.home.join(".ssh/id_rsa")), Human),
        (path(f.home.join(".ssh")), Human),
        (path(&f.home), Human), // contains ~/.ssh
        (path(f.home.join("x/../.ssh/config")), Human),
        (path("~/src/lib.rs"), APPROVAL), // ambiguous: never looser
    ]);
}

#[test]
fn non_utf8_names_are_matched_on_their_bytes() {
    let f = fs();
    let name = |dir: &str, tail: &[u8]| {
        let mut bytes = dir.as_bytes().to_vec();
        bytes.extend_from_slice(tail);
        PathBuf::from(OsStr::from_bytes(&bytes))
    };
    f.check(&[
        (path(name("secrets/", b"\xff\xfe")), SHADOW),
        (path(name("src/../secrets/", b"k\xff")), SHADOW),
        (path(name("src/", b"\xff.rs")), AUTO),
        (path(name("src/", b"\xff/../../x")), APPROVAL),
    ]);
}

#[test]
fn every_path_of_a_call_must_match_a_looser_rule() {
    let (f, cases) = (
        fs(),
        [("src/a.rs", "src/b.rs", AUTO), ("src/a.rs", "/tmp/x", APPROVAL)],
    );
    let (policy, env) = (f.policy(), f.env());
    for (from, to, want) in cases {
        assert_eq!(
            got(&policy, &WRITE, &[path(from), path(to)], &env),
            want,
            "{from} -> {to}"
        );
    }
    assert_eq!(
        got(&policy, &WRITE, &[path("src/a.rs"), path("secrets/k")], &env),
        SHADOW
    );
    let unreadable = Resource::new(ResourceKind::Path, "to", ResourceValue::Unreadable);
    assert_eq!(got(&policy, &WRITE, &[path("src/a.rs"), unreadable], &env), Human);
}

#[test]
fn looser_path_rules_apply_where_they_should() {
    let f = fs();
    f.check(&[
        (path("src/lib.rs"), AUTO),
        (path("src/new/dir/file.rs"), AUTO),
        (path(f.ws.join("src/x.rs")), AUTO),
    ]);
    // The workspace reached through a symlink is still the workspace.
    let env = RuleEnv::new()
        .workspace(f.ws.parent().unwrap().join("ws-link"))
        .home(&f.home);
    assert_eq!(got(&f.policy(), &WRITE, &[path("src/lib.rs")], &env), AUTO);
    // The rule is for fs.write only; other classes keep the rows' answer.
    let delete = SideEffectAction::new("rm", "fs.delete", "workspace.delete");
    assert_eq!(
        got(&f.policy(), &delete, &[path("src/lib.rs")], &f.env()),
        APPROVAL
    );
}

#[test]
fn a_path_that_does_not_exist_yet_is_matched_lexically_and_really() {
    let f = fs();
    let fresh = Path::new("src/new/deeper/file.rs");
    f.check(&[
        (path(fresh), AUTO),
        (path(Path::new("src/new/../../secrets/x")), SHADOW),
    ]);
}

#[test]
fn scopes_anchor_paths_at_the_dispatch_workspace_and_only_tighten() {
    let f = fs();
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let outer = AutonomyPolicy::at_tier(Tier::ActAuto);
    let (ws, policy) = (f.ws.clone(), f.policy());
    let (lib, out) = (path("src/lib.rs"), path("src/out/x"));
    let resolved = rt.block_on(sidefx::with_dispatch(
        sidefx::DispatchContext::new("planner").workspace(&ws),
        // An inner context without a workspace keeps the outer one.
        sidefx::with_dispatch(
            sidefx::DispatchContext::default().trace("t"),
            sidefx::with_policy(
                outer,
                sidefx::with_policy(policy, async {
                    let scope = sidefx::Scope::capture();
                    assert!(scope.has_rules());
                    (
                        scope.resolve_call(&WRITE, &[lib]).unwrap(),
                        scope.resolve_call(&WRITE, &[out]).unwrap(),
                    )
                }),
            ),
        ),
    ));
    assert_eq!(resolved.0.tier, Tier::ActAuto);
    assert!(
        resolved.0.decided_by.to_string().starts_with("rules[0] "),
        "{}",
        resolved.0.decided_by
    );
    assert_eq!(resolved.1.tier, Tier::ActWithApproval);
    assert_eq!(resolved.1.decided_by.to_string(), "autonomy_tier");
}

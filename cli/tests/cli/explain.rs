//! `sidefx policy explain` (issue 10): the decision for a hypothetical call, in text and JSON,
//! through the real binary; `policy check` runs the rules' examples.

use serde_json::{Value, json};

use super::{cmd, exec, fails, ok};

/// The issue's example policy, with the denied directory made absolute in a temp dir.
const POLICY: &str = r#"{
  "autonomy_tier": "act_with_approval",
  "rules": [
    { "agent": "planner", "class": "fs.write", "path": "src/**", "tier": "act_auto" },
    { "path": ["~/.ssh/**", "/etc/**"], "requires_human": true },
    { "class": "process.exec", "command": ["cargo", ["test", "build", "check"]], "tier": "act_auto",
      "match": ["cargo test -p sidefx"], "not_match": ["cargo publish", "cargo test && rm -rf /"] },
    { "builtin": "http_post", "url": "https://api.github.com/repos/acme/**", "tier": "suggest" }
  ]
}"#;

fn explain(file: &str, extra: &[&str]) -> Value {
    let mut args = vec!["policy", "explain", file, "--json"];
    args.extend(extra);
    let text = ok(exec(cmd(&args)));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
fn explain_prints_the_decision_what_decided_and_every_matching_rule() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(ws.join("src")).unwrap();
    std::os::unix::fs::symlink("/etc", ws.join("src/etc")).unwrap();
    let file = dir.path().join("policy.json");
    std::fs::write(&file, POLICY).unwrap();
    let (file, ws) = (file.to_str().unwrap(), ws.to_str().unwrap());
    let write = [
        "--agent",
        "planner",
        "--builtin",
        "write_file",
        "--class",
        "fs.write",
        "--workspace",
        ws,
    ];

    let mut args = write.to_vec();
    args.extend(["--path", "src/lib.rs"]);
    let v = explain(file, &args);
    assert_eq!(v["tier"], "act_auto");
    assert_eq!(v["requires_human"], false);
    let rule0 = r#"rules[0] {"agent":"planner","class":"fs.write","path":"src/**","tier":"act_auto"}"#;
    assert_eq!(v["decided_by"], rule0);
    assert_eq!(v["matched"], json!([rule0]));

    // A symlink from src/ into /etc: the looser rule needs the real path too, the stricter one
    // matches it.
    let mut args = write.to_vec();
    args.extend(["--path", "src/etc/passwd"]);
    let v = explain(file, &args);
    assert_eq!(v["requires_human"], true, "{v}");
    assert_eq!(
        v["matched"],
        json!([r#"rules[1] {"path":["~/.ssh/**","/etc/**"],"requires_human":true}"#])
    );

    let exec_args = |line: &'static str| {
        vec![
            "--agent",
            "ci",
            "--builtin",
            "exec",
            "--class",
            "process.exec",
            "--command",
            line,
        ]
    };
    let v = explain(file, &exec_args("cargo test -p sidefx"));
    assert_eq!(
        (v["tier"].as_str(), v["requires_human"].as_bool()),
        (Some("act_auto"), Some(false))
    );
    let v = explain(file, &exec_args("cargo test && rm -rf /"));
    assert_eq!(v["tier"], "act_with_approval");
    assert_eq!(v["decided_by"], "autonomy_tier");
    assert_eq!(v["matched"], json!([]));

    let v = explain(
        file,
        &[
            "--agent",
            "a",
            "--builtin",
            "http_post",
            "--class",
            "network.http",
            "--url",
            "https://API.github.com./repos/acme/x",
        ],
    );
    assert_eq!(v["tier"], "suggest");
    assert_eq!(v["resources"][0]["value"], "https://api.github.com/repos/acme/x");

    // Text output: the same facts, one per line.
    let mut args = vec!["policy", "explain", file];
    args.extend(exec_args("cargo test || git push"));
    let text = ok(exec(cmd(&args)));
    assert!(text.contains("tier            act_with_approval"), "{text}");
    assert!(text.contains("requires_human  no"), "{text}");
    assert!(text.contains("decided_by      autonomy_tier"), "{text}");
    assert!(text.contains("matched         no rule"), "{text}");
    let mut args = vec!["policy", "explain", file];
    args.extend(write);
    args.extend(["--path", "src/main.rs"]);
    let text = ok(exec(cmd(&args)));
    assert!(text.contains("tier            act_auto\n"), "{text}");
    assert!(text.contains(&format!("decided_by      {rule0}")), "{text}");
    assert!(
        text.contains(&format!("path            {ws}/src/main.rs")),
        "{text}"
    );

    fails(
        exec(cmd(&[
            "policy",
            "explain",
            file,
            "--agent",
            "a",
            "--builtin",
            "mystery",
        ])),
        "pass --class",
    );
}

#[test]
fn policy_check_runs_the_rules_examples() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_owned()
    };
    let good = write("good.json", POLICY);
    assert!(
        ok(exec(cmd(&[
            "policy",
            "check",
            &good,
            "--builtin",
            "http_post=network.http"
        ])))
        .contains("is valid")
    );
    let bad = write(
        "bad.json",
        r#"{"autonomy_tier": "suggest", "rules": [{"command": ["cargo", "test"], "tier": "act_auto", "not_match": ["cargo test; curl x | sh"], "match": ["cargo build"]}]}"#,
    );
    fails(
        exec(cmd(&["policy", "check", &bad])),
        "its `match` example \"cargo build\" does not match",
    );
    fails(
        exec(cmd(&[
            "policy",
            "explain",
            &bad,
            "--agent",
            "a",
            "--builtin",
            "b",
            "--class",
            "process.exec",
        ])),
        "rules[0]",
    );
    let two = write(
        "two.json",
        r#"{"rules": [{"path": "src/**", "command": ["ls"], "tier": "shadow"}]}"#,
    );
    fails(exec(cmd(&["policy", "check", &two])), "at most one");
    let typo = write(
        "typo.json",
        r#"{"rules": [{"class": "fs.wirte", "tier": "shadow"}]}"#,
    );
    fails(exec(cmd(&["policy", "check", &typo])), "did you mean `fs.write`");
}

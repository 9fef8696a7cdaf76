//! URL rules (userinfo, host case, trailing dot, IDNA, default ports, encoded paths), what
//! decided, and malformed rules.

use super::commands::exec_policy;
use super::*;

fn url_policy() -> AutonomyPolicy {
    AutonomyPolicy::from_value(&json!({
        "autonomy_tier": "suggest",
        "rules": [
            { "builtin": "http_post", "url": "https://api.github.com/repos/acme/**", "tier": "act_auto" },
            { "url": "https://evil.example/**", "tier": "shadow" },
            { "url": "https://münchen.example/**", "requires_human": true }
        ]
    }))
    .unwrap()
}

#[test]
fn url_tricks_get_the_strict_answer() {
    let (policy, env) = (url_policy(), RuleEnv::new());
    for (u, want) in [
        ("https://api.github.com@evil.example/repos/acme/x", SHADOW),
        ("https://user:pw@api.github.com/repos/acme/x", SUGGEST),
        ("https://EVIL.example/x", SHADOW),
        ("https://evil.example./x", SHADOW),
        ("https://evil.example:443/x", SHADOW),
        ("https://ｅｖｉｌ.example/x", SHADOW),
        ("https://xn--mnchen-3ya.example/x", Human),
        ("https://MÜNCHEN.example/x", Human),
        ("https://api.github.com/repos/acme/../other/x", SUGGEST),
        ("https://api.github.com/repos/acme/%2e%2e/other", SUGGEST),
        ("https://api.github.com/repos/acme/x%2F..%2F..%2Fother", SUGGEST),
        ("http://api.github.com/repos/acme/x", SUGGEST),
        ("https://api.github.com:8443/repos/acme/x", SUGGEST),
        ("not a url", Human),
    ] {
        assert_eq!(got(&policy, &POST, &[url(u)], &env), want, "{u}");
    }
    let unreadable = Resource::new(ResourceKind::Url, "url", ResourceValue::Unreadable);
    assert_eq!(got(&policy, &POST, &[unreadable], &env), Human);
}

#[test]
fn looser_url_rules_apply_where_they_should() {
    let (policy, env) = (url_policy(), RuleEnv::new());
    for u in [
        "https://api.github.com/repos/acme/sidefx/issues",
        "https://API.GitHub.com./repos/acme/x",
        "https://api.github.com:443/repos/acme/x",
    ] {
        assert_eq!(got(&policy, &POST, &[url(u)], &env), AUTO, "{u}");
    }
    let get = SideEffectAction::new("http_get", "network.http", "network.http");
    assert_eq!(
        got(&policy, &get, &[url("https://api.github.com/repos/acme/x")], &env),
        SUGGEST
    );
}

#[test]
fn requires_human_lists_override_every_rule_and_decided_by_names_what_decided() {
    let policy = exec_policy();
    let env = RuleEnv::new();
    let a = policy.answer("planner", &EXEC, &[line("cargo test")], &env);
    assert!(
        a.decided_by.to_string().starts_with("rules[0] {"),
        "{}",
        a.decided_by
    );
    let a = policy.answer("planner", &EXEC, &[line("cargo publish")], &env);
    assert_eq!(a.decided_by.to_string(), "autonomy_tier");
    let mut v = serde_json::to_value(&policy).unwrap();
    v["requires_human_agents"] = json!(["planner"]);
    let policy = AutonomyPolicy::from_value(&v).unwrap();
    let a = policy.answer("planner", &EXEC, &[line("cargo test")], &env);
    assert!(a.requires_human);
    assert_eq!(a.decided_by.to_string(), "requires_human_agents[planner]");
}

#[test]
fn failing_examples_and_malformed_rules_are_policy_errors() {
    let err = |v: serde_json::Value| AutonomyPolicy::from_value(&v).unwrap_err().to_string();
    let e = err(
        json!({"rules": [{"command": ["cargo", "test"], "tier": "act_auto", "not_match": ["cargo test; ls"], "match": ["cargo build"]}]}),
    );
    assert!(
        e.contains("rules[0]") && e.contains("\"cargo build\"") && e.contains("`match`"),
        "{e}"
    );
    let e = err(json!({"rules": [{"path": "src/**", "url": "https://x.example/", "tier": "shadow"}]}));
    assert!(e.contains("at most one"), "{e}");
    let e = err(json!({"rules": [{"path": [], "tier": "shadow"}]}));
    assert!(e.contains("non-empty list"), "{e}");
    let e = err(json!({"rules": [{"comand": ["ls"], "tier": "shadow"}]}));
    assert!(e.contains("did you mean `command`"), "{e}");
    let e = err(json!({"rules": [{"path": "src/[", "tier": "shadow"}]}));
    assert!(e.contains("not a valid glob"), "{e}");
    let e = err(json!({"rules": [{"url": "https://user@x.example/", "tier": "shadow"}]}));
    assert!(e.contains("userinfo"), "{e}");
    let e = err(json!({"rules": [{"url": "https://x.example/", "tier": "act_autoo"}]}));
    assert!(e.contains("did you mean `act_auto`"), "{e}");
}

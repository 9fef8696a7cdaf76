// A dotted builtin name via `name = ".."`, with the optional `capability` stated.
use sidefx::side_effect;

#[side_effect(class = "git.write", capability = "git.write", name = "git.push")]
async fn git_push(branch: &str) -> Result<String, sidefx::Error> {
    Ok(format!("pushed {branch}"))
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    assert_eq!(rt.block_on(git_push("main")).unwrap(), "pushed main");
    let entry = sidefx::registry::lookup("git.push").unwrap();
    assert_eq!((entry.class, entry.capability), ("git.write", "git.write"));
    assert!(sidefx::registry::lookup("git_push").is_none());
}

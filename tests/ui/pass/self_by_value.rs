// `self` by value and `self: Box<Self>` receivers, and a `Self` in the return type.
use sidefx::side_effect;

struct Worktree(String);

impl Worktree {
    #[side_effect(class = "git.write", name = "git.worktree.remove")]
    async fn remove(self) -> Result<String, sidefx::Error> {
        Ok(self.0)
    }

    #[side_effect(class = "git.write", name = "git.worktree.create")]
    async fn create(self: Box<Self>, path: &str) -> Result<Self, sidefx::Error> {
        Ok(Worktree(format!("{}/{path}", self.0)))
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let wt = rt.block_on(Box::new(Worktree("repo".into())).create("wt")).unwrap();
    assert_eq!(rt.block_on(wt.remove()).unwrap(), "repo/wt");
}

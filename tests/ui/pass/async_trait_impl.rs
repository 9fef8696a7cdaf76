// `#[side_effect]` on methods of an `#[async_trait]` impl (the re-export `sidefx::async_trait`).
// `#[async_trait]` is on the impl, so it expands first and boxes each method's future; the
// attribute then wraps the boxed `async move` block. The method stays callable through
// `dyn Trait` and its future stays `Send`.
use sidefx::{async_trait, side_effect};

#[derive(Debug)]
enum ToolError {
    Refused(sidefx::Error),
}

impl From<sidefx::Error> for ToolError {
    fn from(e: sidefx::Error) -> Self {
        ToolError::Refused(e)
    }
}

#[async_trait]
trait Tool: Send + Sync {
    async fn run(&self, label: String, tries: &u8) -> Result<String, ToolError>;
    async fn reset(&mut self) -> Result<(), ToolError>;
}

struct Agent {
    runs: u32,
}

#[async_trait]
impl Tool for Agent {
    #[side_effect(class = "checkpoint.write")]
    async fn run(&self, label: String, tries: &u8) -> Result<String, ToolError> {
        Ok(format!("{label} after {tries} tries, run {}", self.runs))
    }

    /// Documented, and the attribute below another attribute.
    #[allow(clippy::unused_async)]
    #[side_effect(class = "fs.delete", name = "agent.reset", no_resource)]
    async fn reset(&mut self) -> Result<(), ToolError> {
        self.runs = 0;
        Ok(())
    }
}

fn assert_send<T: Send>(t: T) -> T {
    t
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let mut agent = Agent { runs: 3 };
    let tool: &dyn Tool = &agent;
    let out = rt.block_on(assert_send(tool.run("v1".into(), &2))).unwrap();
    assert_eq!(out, "v1 after 2 tries, run 3");

    let shadow = sidefx::AutonomyPolicy::at_tier(sidefx::Tier::Shadow);
    let err = rt
        .block_on(sidefx::with_policy(shadow.clone(), tool.run("v2".into(), &1)))
        .unwrap_err();
    let ToolError::Refused(e) = err;
    assert!(e.is_skipped());

    let err = rt
        .block_on(sidefx::with_policy(shadow, agent.reset()))
        .unwrap_err();
    let ToolError::Refused(e) = err;
    assert!(e.is_skipped());
    assert_eq!(agent.runs, 3, "the shadowed reset did not run");
    rt.block_on(agent.reset()).unwrap();
    assert_eq!(agent.runs, 0);
    assert_eq!(sidefx::registry::lookup("agent.reset").unwrap().class, "fs.delete");
}

// A trait-impl method (async fn in a trait), with a custom error type that converts from
// `sidefx::Error`.
use sidefx::side_effect;

#[derive(Debug)]
enum ToolError {
    Refused(sidefx::Error),
}

impl From<sidefx::Error> for ToolError {
    fn from(e: sidefx::Error) -> Self {
        ToolError::Refused(e)
    }
}

trait Checkpoints {
    async fn checkpoint(&self, label: &str) -> Result<String, ToolError>;
}

struct Agent;

impl Checkpoints for Agent {
    #[side_effect(class = "checkpoint.write")]
    async fn checkpoint(&self, label: &str) -> Result<String, ToolError> {
        Ok(format!("saved {label}"))
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    assert_eq!(rt.block_on(Agent.checkpoint("v1")).unwrap(), "saved v1");
    let shadow = sidefx::AutonomyPolicy::at_tier(sidefx::Tier::Shadow);
    let err = rt
        .block_on(sidefx::with_policy(shadow, Agent.checkpoint("v2")))
        .unwrap_err();
    let ToolError::Refused(e) = err;
    assert!(e.is_skipped());
}

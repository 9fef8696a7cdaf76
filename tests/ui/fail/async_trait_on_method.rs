// `#[async_trait]` belongs on the impl block; stacked on the method, the error says so.
use sidefx::side_effect;

trait Tool {
    async fn run(&self) -> Result<(), sidefx::Error>;
}

struct Agent;

impl Tool for Agent {
    #[side_effect(class = "fs.write", no_resource)]
    #[sidefx::async_trait]
    async fn run(&self) -> Result<(), sidefx::Error> {
        Ok(())
    }
}

fn main() {}

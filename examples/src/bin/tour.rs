//! The sidefx tour: real `#[side_effect]` builtins called by two agents under the policy in
//! `examples/tour-policy.json`, each call decided by its tier, then the trust chain verified.
//!
//! Run it with `cargo run --release -p sidefx-examples --bin tour`. The logic lives in
//! `sidefx_examples::tour` (this binary referencing that crate is also what links its
//! builtins into the registry).

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let log: Arc<dyn sidefx::log::EventLog> = Arc::new(sidefx::log::MemoryEventLog::new());
    let report = sidefx_examples::tour::run(log, &mut std::io::stdout()).await?;
    if !report.chain.is_valid() {
        return Err("the trust chain did not verify".into());
    }
    Ok(())
}

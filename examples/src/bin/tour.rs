//! The sidefx tour: real `#[side_effect]` builtins called by two agents under the policy in
//! `examples/tour-policy.json`, each call decided by its tier, then the trust chain verified.
//!
//! Run it with `cargo run --release -p sidefx-examples --bin tour`. The logic lives in
//! `sidefx_examples::tour` (this binary referencing that crate is also what links its
//! builtins into the registry).

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The durable default: $SIDEFX_LOG, else .sidefx/events.db under the working directory, so
    // `sidefx approvals list` / `sidefx trust verify` can inspect the run afterwards.
    let log = sidefx::log::open_default()?;
    eprintln!("event log: {}", sidefx::log::default_path()?.display());
    let report = sidefx_examples::tour::run(log, &mut std::io::stdout()).await?;
    if !report.chain.is_valid() {
        return Err("the trust chain did not verify".into());
    }
    Ok(())
}

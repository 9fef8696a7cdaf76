//! The sidefx tour: real `#[side_effect]` builtins called by two agents under the policy in
//! `examples/tour-policy.json`, each call decided by its tier, then the trust chain verified.
//!
//! Run it with `cargo run --release -p sidefx-examples --bin tour`. The logic lives in
//! `sidefx_examples::tour` (this binary referencing that crate is also what links its
//! builtins into the registry).

use sidefx_examples::tour::Reviewers;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The durable default: $SIDEFX_LOG (a file or a postgres:// URL), else .sidefx/events.db
    // under the working directory, so `sidefx approvals list` / `sidefx trust verify` can
    // inspect the run afterwards.
    let log = sidefx::log::open_default()?;
    eprintln!("event log: {}", sidefx::log::default_target()?);
    // `--external-reviewer`: answer the approvals yourself with the `sidefx` CLI.
    let reviewers = if std::env::args().any(|a| a == "--external-reviewer") {
        Reviewers::External
    } else {
        Reviewers::Scripted
    };
    let report = sidefx_examples::tour::run_with(log, &mut std::io::stdout(), reviewers).await?;
    if !report.chain.is_valid() {
        return Err("the trust chain did not verify".into());
    }
    Ok(())
}

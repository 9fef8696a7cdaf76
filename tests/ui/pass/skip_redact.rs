// `skip` and `redact` together: the handle is left out, the token is masked.
use std::sync::Arc;

use sidefx::log::{EventLog, MemoryEventLog, Topic};
use sidefx::side_effect;

struct Client;

#[side_effect(class = "mcp.release", skip(client), redact(token))]
async fn mcp_release(client: &Client, server: &str, token: String) -> Result<(), sidefx::Error> {
    let _ = (client, server, token);
    Ok(())
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let log = Arc::new(MemoryEventLog::new());
    let shadow = sidefx::AutonomyPolicy::at_tier(sidefx::Tier::Shadow);
    let call = mcp_release(&Client, "files", "s3cr3t".into());
    let err = rt
        .block_on(sidefx::with_event_log(log.clone(), sidefx::with_policy(shadow, call)))
        .unwrap_err();
    assert!(err.is_skipped());
    let proposals = rt
        .block_on(log.read_range(&Topic::TRIGGER_OUTBOX, 0, 10))
        .unwrap();
    let args = &proposals[0].event.payload["args"];
    assert_eq!(args, &serde_json::json!({"server": "files", "token": "[redacted]"}));
}

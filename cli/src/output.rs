//! What the CLI prints: stdout writes that end quietly on a closed pipe, JSON, and times.

use std::io::Write;
use std::time::{Duration, UNIX_EPOCH};

use crate::Res;

/// Writes to stdout; a closed pipe (`| head`) ends the program quietly.
pub fn out(text: &str) -> Res {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => Err(format!("cannot write to stdout: {e}")),
    }
}

/// Writes `value` as pretty JSON, exactly (no escaping: scripts get the stored strings).
pub fn out_json(value: &impl serde::Serialize) -> Res {
    let text = serde_json::to_string_pretty(value).map_err(|e| format!("cannot encode JSON: {e}"))?;
    out(&format!("{text}\n"))
}

/// A stored millisecond time as RFC 3339.
pub fn rfc3339(ms: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

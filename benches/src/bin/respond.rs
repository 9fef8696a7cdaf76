//! Helper of the cross-process approval-wake benchmark: opens the log at `PATH` (a file or a
//! `postgres://` URL), reads
//! the wall clock, answers request `ID` as an approval, and prints the clock reading (ns since
//! the Unix epoch) taken just before `respond`, so the waiting process can compute the latency.
//!
//! Usage: `sidefx-bench-respond PATH ID`

use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(path), Some(id)) = (args.next(), args.next()) else {
        eprintln!("usage: sidefx-bench-respond PATH ID");
        std::process::exit(2);
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(&e));
    let log = sidefx::log::LogTarget::parse(&path)
        .and_then(|t| t.open_existing())
        .unwrap_or_else(|e| fail(&e));
    let started = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_else(|e| fail(&e))
        .as_nanos();
    rt.block_on(sidefx::approval::respond(
        log.as_ref(),
        &id,
        "bench-reviewer",
        true,
        None,
    ))
    .unwrap_or_else(|e| fail(&e));
    println!("{started}");
}

fn fail(e: &dyn std::fmt::Display) -> ! {
    eprintln!("sidefx-bench-respond: {e}");
    std::process::exit(1);
}

//! The command groups, one module each: clap arguments and what the command does.

pub mod approvals;
pub mod explain;
pub mod log;
pub mod policy;
pub mod replay;
pub mod trust;

//! The ACP (Agent Client Protocol v1) permission bridge (SPEC §13).
//!
//! Editors such as Zed approve an agent's tool calls through `session/request_permission`.
//! This module speaks that protocol:
//!
//! - [`codec`]: builds the request params from a call and parses the client's answer fail-closed;
//! - [`rpc`]: newline-delimited JSON-RPC 2.0 over stdio, with a read loop that keeps serving while
//!   a permission request is outstanding.
pub mod codec;
pub mod rpc;

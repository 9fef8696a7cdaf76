//! The event log on every backend (issue 13): the `EventLog` conformance suite run against the
//! memory, SQLite and PostgreSQL logs, and the PostgreSQL backend against a real server:
//! schema creation by processes starting at once, connection errors that hide the password,
//! and faults with real processes (two writers, an approval answered by the CLI from another
//! process, a server restart during appends, a client killed mid-transaction).
//!
//! The PostgreSQL tests need `SIDEFX_TEST_POSTGRES` (see `fixtures.rs`): run them with
//! `scripts/with-postgres cargo test -p sidefx-tests --test eventlog`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a test failure

mod conformance;
mod faults;
mod fixtures;
mod postgres;
mod procs;

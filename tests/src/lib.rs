//! Integration tests of sidefx live in `tests/`; this crate has no library code.

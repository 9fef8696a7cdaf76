//! Runnable sidefx examples. The tour's logic lives here, in [`tour`], so the `tour` binary
//! and tests can both run it.
//!
//! ```
//! assert!(sidefx_examples::tour::policy_path().ends_with("tour-policy.json"));
//! ```

pub mod tour;

//! "Did you mean" suggestions: the catalogue crate holds the one rule the macro shares.

pub(crate) use sidefx_catalogue::closest;

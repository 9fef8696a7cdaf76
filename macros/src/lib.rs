//! `#[side_effect]` for sidefx (work in progress: see the macro issue).

//! "Did you mean" suggestions for misspelled names.

/// The candidate closest to `input`, if it is close enough to be a plausible typo.
pub(crate) fn closest<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(input, c), c))
        .filter(|(d, c)| *d <= (c.len().max(input.len()) / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn finds_a_typo_and_ignores_strangers() {
        assert_eq!(closest("fs.wrte", ["fs.write", "fs.delete"]), Some("fs.write"));
        assert_eq!(closest("network", ["fs.write", "fs.delete"]), None);
    }
}

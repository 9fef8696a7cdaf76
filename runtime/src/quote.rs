//! Bounded quoting of user input in error messages: a hostile 200 KB key or value must not
//! come back as a 200 KB error line.

/// How many characters of an input an error message quotes.
pub(crate) const EXCERPT_CHARS: usize = 80;

/// At most [`EXCERPT_CHARS`] characters of `s`, then `… (N bytes)` when it was longer; control
/// characters are escaped so a message stays on one line.
pub(crate) fn excerpt(s: &str) -> String {
    cut(s, EXCERPT_CHARS)
}

/// How many characters one problem message keeps when it embeds input it did not excerpt
/// itself (an error from a pattern parser that quotes the pattern).
pub(crate) const MESSAGE_CHARS: usize = 400;

/// A whole problem message cut like [`excerpt`], at [`MESSAGE_CHARS`].
pub(crate) fn bounded(msg: &str) -> String {
    cut(msg, MESSAGE_CHARS)
}

fn cut(s: &str, chars: usize) -> String {
    let mut out = String::with_capacity(s.len().min(chars + 24));
    for (i, c) in s.chars().enumerate() {
        if i == chars {
            out.push_str(&format!("… ({} bytes)", s.len()));
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// A list of names for a message, as `[a, b, c]`, bounded like [`excerpt`].
pub(crate) fn excerpt_list(names: &[String]) -> String {
    excerpt(&format!("[{}]", names.join(", ")))
}

/// How many problems one error lists before it says how many more there are.
const MAX_PROBLEMS: usize = 20;

/// Problems joined with `; `, at most [`MAX_PROBLEMS`] of them: a file with ten thousand bad
/// keys gets a readable error, not a megabyte.
pub(crate) fn problems(mut list: Vec<String>) -> String {
    let more = list.len().saturating_sub(MAX_PROBLEMS);
    list.truncate(MAX_PROBLEMS);
    let mut out = list.join("; ");
    if more > 0 {
        out.push_str(&format!("; and {more} more problem(s)"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_input_is_cut_and_control_characters_are_escaped() {
        assert_eq!(excerpt("short"), "short");
        let long = "é".repeat(10_000);
        let e = excerpt(&long);
        assert!(e.ends_with("… (20000 bytes)") && e.chars().count() < 120, "{e}");
        assert_eq!(excerpt("a\nb\u{1b}[2K"), "a\\nb\\u{1b}[2K");
        assert_eq!(excerpt_list(&["alice".into(), "bob".into()]), "[alice, bob]");
    }
}

//! Splitting a shell line into command segments, quote-aware, marking every segment whose
//! meaning a prefix cannot capture as opaque.
//!
//! The splitter only has to be *safe*, not a full shell parser: it splits on every unquoted
//! `&&`, `||`, `;`, `|`, `|&`, `&` and newline, and marks a segment opaque when it contains
//! anything unquoted that makes the words it runs differ from the words written (redirection,
//! `$`, backticks, parentheses, braces, a line continuation) or an unterminated quote. A
//! wrongly split opaque segment is harmless: opaque segments never get a looser rule.

/// One segment of a shell line, before tokenising.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawSegment {
    /// The segment's text, comments removed.
    pub(crate) text: String,
    /// Something in it is not plain words.
    pub(crate) opaque: bool,
}

/// Splits `line` into segments (empty ones dropped).
pub(crate) fn split(line: &str) -> Vec<RawSegment> {
    let mut out = Vec::new();
    let mut cur = RawSegment {
        text: String::new(),
        opaque: false,
    };
    let mut chars = line.chars().peekable();
    // Whether the next character starts a word (for `#` comments).
    let mut word_start = true;
    let flush = |cur: &mut RawSegment, out: &mut Vec<RawSegment>| {
        if !cur.text.trim().is_empty() || cur.opaque {
            out.push(std::mem::replace(
                cur,
                RawSegment {
                    text: String::new(),
                    opaque: false,
                },
            ));
        } else {
            cur.text.clear();
        }
    };
    while let Some(c) = chars.next() {
        let starts_word = word_start;
        word_start = false;
        match c {
            '\\' => match chars.next() {
                Some('\n') | None => cur.opaque = true,
                Some(n) => {
                    cur.text.push('\\');
                    cur.text.push(n);
                }
            },
            '\'' => {
                cur.text.push('\'');
                let mut closed = false;
                for n in chars.by_ref() {
                    cur.text.push(n);
                    if n == '\'' {
                        closed = true;
                        break;
                    }
                }
                cur.opaque |= !closed;
            }
            '"' => {
                cur.text.push('"');
                let mut closed = false;
                while let Some(n) = chars.next() {
                    cur.text.push(n);
                    match n {
                        '"' => {
                            closed = true;
                            break;
                        }
                        '\\' => match chars.next() {
                            Some(e) => cur.text.push(e),
                            None => break,
                        },
                        '$' | '`' => cur.opaque = true,
                        _ => {}
                    }
                }
                cur.opaque |= !closed;
            }
            '#' if starts_word => {
                // A comment runs to the end of the line; the newline still separates.
                while chars.peek().is_some_and(|&n| n != '\n') {
                    chars.next();
                }
                word_start = true;
            }
            ';' | '\n' => {
                flush(&mut cur, &mut out);
                word_start = true;
            }
            '|' => {
                if matches!(chars.peek(), Some('|') | Some('&')) {
                    chars.next();
                }
                flush(&mut cur, &mut out);
                word_start = true;
            }
            '&' => {
                if chars.peek() == Some(&'&') {
                    chars.next();
                    flush(&mut cur, &mut out);
                } else if chars.peek() == Some(&'>') || cur.text.ends_with(['>', '<']) {
                    // `&>` / `>&`: a redirection, not a separator.
                    cur.text.push('&');
                    cur.opaque = true;
                } else {
                    flush(&mut cur, &mut out);
                }
                word_start = true;
            }
            '<' | '>' | '(' | ')' | '$' | '`' => {
                cur.text.push(c);
                cur.opaque = true;
                word_start = matches!(c, '<' | '>' | '(' | ')');
            }
            '{' | '}' => {
                // `{}` (find's placeholder) is a plain word; groups and brace expansion are not.
                if c == '{' && chars.peek() == Some(&'}') {
                    chars.next();
                    cur.text.push_str("{}");
                } else {
                    cur.text.push(c);
                    cur.opaque = true;
                }
            }
            c if c.is_whitespace() => {
                cur.text.push(c);
                word_start = true;
            }
            c => cur.text.push(c),
        }
    }
    flush(&mut cur, &mut out);
    out
}

/// Words of an opaque segment, split leniently on everything that is not part of a word (quotes,
/// operators, `=`): used only to find stricter rules, which may over-match.
pub(crate) fn lenient_words(text: &str) -> Vec<String> {
    let mut words: Vec<String> = text
        .split(|c: char| !(c.is_alphanumeric() || "-_./+@:,%~^!".contains(c) || !c.is_ascii()))
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect();
    let names: Vec<String> = words
        .iter()
        .filter_map(|w| w.rsplit_once('/').map(|(_, b)| b.to_owned()))
        .filter(|b| !b.is_empty())
        .collect();
    words.extend(names);
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(line: &str) -> Vec<(String, bool)> {
        split(line)
            .into_iter()
            .map(|s| (s.text.trim().to_owned(), s.opaque))
            .collect()
    }

    #[test]
    fn splits_on_every_separator_outside_quotes() {
        assert_eq!(
            texts("a && b || c; d | e |& f & g\nh"),
            ["a", "b", "c", "d", "e", "f", "g", "h"].map(|s| (s.to_owned(), false))
        );
        assert_eq!(
            texts("echo 'a && b' \"c;d\""),
            [("echo 'a && b' \"c;d\"".to_owned(), false)]
        );
        assert_eq!(
            texts(r"find . -exec rm {} \;"),
            [(r"find . -exec rm {} \;".to_owned(), false)]
        );
    }

    #[test]
    fn marks_non_plain_segments_opaque() {
        for line in [
            "a > f",
            "a 2>&1",
            "a &> f",
            "a < f",
            "a $(b)",
            "a `b`",
            "a ${X}",
            "a \"$X\"",
            "(a)",
            "{ a; }",
            "a <<EOF",
            "a 'unterminated",
            "a \\\nb",
        ] {
            assert!(split(line).iter().any(|s| s.opaque), "{line}");
        }
        assert!(!split("a '$(b)' \"x\"").iter().any(|s| s.opaque));
    }

    #[test]
    fn comments_end_at_the_newline() {
        assert_eq!(
            texts("cargo test #'\nrm -rf / #'"),
            [("cargo test".to_owned(), false), ("rm -rf /".to_owned(), false)]
        );
        assert_eq!(texts("a#b"), [("a#b".to_owned(), false)]);
    }
}

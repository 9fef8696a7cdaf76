//! Command rules: an argv prefix whose elements may list alternatives, matched token by token
//! against an argv or against every segment of a shell line.

use rustc_hash::FxHashMap;

use super::facts::CallFacts;
use super::shell;

/// An argv prefix: element `i` lists the words accepted at position `i`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Prefix(pub(crate) Vec<Vec<String>>);

impl Prefix {
    /// Whether `words` starts with this prefix.
    fn matches(&self, words: &[String]) -> bool {
        words.len() >= self.0.len()
            && self
                .0
                .iter()
                .zip(words)
                .all(|(alts, w)| alts.iter().any(|a| a == w))
    }

    /// Whether the prefix's first element accepts `word`.
    fn first_accepts(&self, word: &str) -> bool {
        self.0.first().is_some_and(|alts| alts.iter().any(|a| a == word))
    }
}

/// One command segment of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    /// Plain words: what runs is exactly these words.
    Plain(Vec<String>),
    /// Not plain (redirection, substitution, assignment prefix, wrapper, ...): only stricter
    /// rules apply, found through these leniently split words.
    Opaque(Vec<String>),
}

/// Commands that run another command or change how it runs: a prefix cannot see what they run.
const WRAPPERS: &[&str] = &[
    "sh", "bash", "zsh", "dash", "ksh", "mksh", "fish", "csh", "tcsh", "busybox", "env", "xargs", "sudo",
    "doas", "su", "runuser", "eval", "exec", "nohup", "timeout", "time", "nice", "ionice", "stdbuf",
    "setsid", "command", "builtin", "chroot", "nsenter", "unshare", "flock", "watch", "script", "parallel",
    "source", ".", "if", "then", "else", "elif", "fi", "for", "while", "until", "do", "done", "case", "esac",
    "function", "select", "coproc", "!", "[[", "]]", "{", "}",
];

fn basename(word: &str) -> &str {
    word.rsplit('/').next().unwrap_or(word)
}

fn is_assignment(word: &str) -> bool {
    let Some((name, _)) = word.split_once('=') else {
        return false;
    };
    let name = name.strip_suffix('+').unwrap_or(name);
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Classifies tokenised words: plain unless the first word is an assignment or a wrapper.
fn classify(words: Vec<String>, raw: &str) -> Segment {
    match words.first() {
        Some(first) if is_assignment(first) || WRAPPERS.contains(&basename(first)) => {
            Segment::Opaque(shell::lenient_words(raw))
        }
        _ => Segment::Plain(words),
    }
}

/// The segments of a shell line (empty when there is nothing to run: no looser rule then).
pub(crate) fn line_segments(line: &str) -> Vec<Segment> {
    shell::split(line)
        .into_iter()
        .map(|seg| {
            if seg.opaque {
                return Segment::Opaque(shell::lenient_words(&seg.text));
            }
            match shell_words::split(&seg.text) {
                Ok(words) if !words.is_empty() => classify(words, &seg.text),
                _ => Segment::Opaque(shell::lenient_words(&seg.text)),
            }
        })
        .collect()
}

/// The one segment of an argv (empty argv: nothing to match, no looser rule).
pub(crate) fn argv_segments(argv: &[String]) -> Vec<Segment> {
    if argv.is_empty() {
        return Vec::new();
    }
    vec![classify(argv.to_vec(), &argv.join(" "))]
}

/// Command rules indexed by the words their prefix may start with.
#[derive(Debug, Default)]
pub(crate) struct CommandIndex {
    by_first: FxHashMap<String, Vec<usize>>,
    all: Vec<usize>,
}

impl CommandIndex {
    pub(crate) fn add(&mut self, rule: usize, prefix: &Prefix) {
        self.all.push(rule);
        for word in prefix.0.first().into_iter().flatten() {
            self.by_first.entry(word.clone()).or_default().push(rule);
        }
    }

    /// Every command rule that may apply to the call.
    pub(crate) fn candidates(&self, facts: &CallFacts, add: &mut impl FnMut(usize)) {
        if self.all.is_empty() {
            return;
        }
        if facts.unreadable(crate::resource::ResourceKind::Command)
            || facts.commands.iter().any(Vec::is_empty)
        {
            self.all.iter().for_each(|&r| add(r));
            return;
        }
        let mut look = |w: &str| {
            if let Some(rules) = self.by_first.get(w) {
                rules.iter().for_each(|&r| add(r));
            }
        };
        for seg in facts.commands.iter().flatten() {
            match seg {
                Segment::Plain(words) => {
                    if let Some(first) = words.first() {
                        look(first);
                        look(basename(first));
                    }
                }
                Segment::Opaque(words) => words.iter().for_each(|w| look(w)),
            }
        }
    }
}

/// Whether a command rule applies: looser needs every segment of every command to be plain and
/// start with the prefix; stricter needs any plain segment to (its program also by base name),
/// any opaque segment to contain a word the prefix starts with, or an unreadable command.
pub(crate) fn applies(prefix: &Prefix, looser: bool, facts: &CallFacts) -> bool {
    let unreadable =
        facts.unreadable(crate::resource::ResourceKind::Command) || facts.commands.iter().any(Vec::is_empty);
    let mut segments = facts.commands.iter().flatten();
    if looser {
        !unreadable
            && !facts.commands.is_empty()
            && segments.all(|s| matches!(s, Segment::Plain(words) if prefix.matches(words)))
    } else {
        unreadable
            || segments.any(|s| match s {
                Segment::Plain(words) => {
                    prefix.matches(words)
                        || words.first().is_some_and(|first| {
                            let mut by_name = words.clone();
                            by_name[0] = basename(first).to_owned();
                            prefix.matches(&by_name)
                        })
                }
                Segment::Opaque(words) => words.iter().any(|w| prefix.first_accepts(w)),
            })
    }
}

/// Whether `example` (a shell line) matches the prefix, in the looser or stricter sense.
pub(crate) fn example_matches(prefix: &Prefix, looser: bool, example: &str) -> bool {
    let facts = CallFacts {
        commands: vec![line_segments(example)],
        ..Default::default()
    };
    applies(prefix, looser, &facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix(words: &[&[&str]]) -> Prefix {
        Prefix(
            words
                .iter()
                .map(|alts| alts.iter().map(|s| s.to_string()).collect())
                .collect(),
        )
    }

    #[test]
    fn looser_needs_every_segment_plain_and_matching() {
        let p = prefix(&[&["cargo"], &["test", "build"]]);
        assert!(example_matches(&p, true, "cargo test -p x"));
        assert!(example_matches(&p, true, "cargo test && cargo build"));
        for line in [
            "cargo test && rm -rf /",
            "cargo test > /etc/passwd",
            "FOO=1 cargo test",
            "bash -c 'cargo test'",
            "cargo test $(rm -rf /)",
            "cargo publish",
            "",
            ";",
        ] {
            assert!(!example_matches(&p, true, line), "{line}");
        }
    }

    proptest::proptest! {
        /// Quoted words survive the quote-aware splitter whatever they contain (separators,
        /// quotes, `#`, newlines): segments come back exactly as written.
        #[test]
        fn quoted_words_round_trip_through_the_splitter(
            segments in proptest::collection::vec(
                ("[a-z]{1,6}", proptest::collection::vec("[ -~\n]{0,8}", 0..4)),
                1..4,
            ),
            sep in proptest::sample::select(vec![" && ", " || ", "; ", " | ", " & ", "\n", " |& "]),
        ) {
            let line = segments
                .iter()
                .map(|(prog, args)| {
                    let mut words = vec![prog.clone()];
                    words.extend(args.iter().map(|a| format!("'{}'", a.replace('\'', r"'\''"))));
                    words.join(" ")
                })
                .collect::<Vec<_>>()
                .join(sep);
            let want: Vec<Segment> = segments
                .iter()
                .map(|(prog, args)| {
                    let mut words = vec![prog.clone()];
                    words.extend(args.iter().cloned());
                    if WRAPPERS.contains(&prog.as_str()) { Segment::Opaque(Vec::new()) } else { Segment::Plain(words) }
                })
                .collect();
            let got: Vec<Segment> = line_segments(&line)
                .into_iter()
                .map(|s| match s { Segment::Opaque(_) => Segment::Opaque(Vec::new()), p => p })
                .collect();
            proptest::prop_assert_eq!(got, want, "{:?}", line);
        }
    }

    #[test]
    fn stricter_sees_through_wrappers_and_paths() {
        let p = prefix(&[&["rm"]]);
        for line in [
            "sudo rm -rf /",
            "FOO=1 rm x",
            "bash -lc 'rm -rf ~'",
            "/bin/rm x",
            "ls; rm x",
            "x=$(rm y)",
        ] {
            assert!(example_matches(&p, false, line), "{line}");
        }
        assert!(!example_matches(&p, false, "ls -la"));
    }
}

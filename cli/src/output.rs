//! What the CLI prints: text with every control character escaped, exact JSON, and times.
//!
//! Text output shows strings other people wrote (agent names, reviewers, reasons, stored
//! events). A terminal obeys escape sequences and line breaks inside them, so a hostile value
//! could rewrite what a reviewer sees. Every value interpolated into text goes through
//! [`escape`]; [`out_text`] escapes each line once more as a safety net. JSON output is exact.

use std::borrow::Cow;
use std::io::Write;

use anyhow::anyhow;

use crate::Res;

/// `s` with each character a terminal could act on written as a visible escape: C0 and C1
/// controls and DEL (`\n`, `\t`, `\r`, else `\u{1b}`) and the bidirectional overrides that
/// reorder what is displayed (`\u{202e}`). Everything else, including backslashes, is kept.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut text = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => text.push_str("\\n"),
            '\t' => text.push_str("\\t"),
            '\r' => text.push_str("\\r"),
            c if needs_escape(c) => text.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => text.push(c),
        }
    }
    Cow::Owned(text)
}

fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Writes text for a person: each line (split at `\n`) is escaped with [`escape`], so only
/// the line breaks the CLI writes itself reach the terminal.
pub fn out_text(text: &str) -> Res {
    let lines: Vec<Cow<'_, str>> = text.split('\n').map(escape).collect();
    out(&lines.join("\n"))
}

/// Writes `value` as pretty JSON, exactly (no escaping: scripts get the stored strings).
pub fn out_json(value: &impl serde::Serialize) -> Res {
    let text = serde_json::to_string_pretty(value).map_err(|e| anyhow!("cannot encode JSON: {e}"))?;
    out(&format!("{text}\n"))
}

/// Writes to stdout as is; a closed pipe (`| head`) ends the program quietly. Only for JSON
/// and text already escaped.
pub fn out(text: &str) -> Res {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => Err(anyhow!("cannot write to stdout: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_bidi_overrides_are_escaped_and_the_rest_is_kept() {
        assert_eq!(escape("alice"), Cow::Borrowed("alice"));
        assert_eq!(
            escape("a\u{1b}[2K\nb\tc\u{7f}\u{9b}\u{202e}é\\"),
            r"a\u{1b}[2K\nb\tc\u{7f}\u{9b}\u{202e}é\"
        );
        // Escaping is idempotent: the escaped form has nothing left to escape.
        let once = escape("x\u{1b}y").into_owned();
        assert_eq!(escape(&once), once);
    }
}

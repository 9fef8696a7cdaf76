//! URL rules: scheme, host (lower-cased, IDNA, trailing dot removed) and port (the scheme's
//! default when absent) match exactly, then the path glob.

use globset::{GlobBuilder, GlobMatcher};
use rustc_hash::FxHashMap;

use super::facts::CallFacts;
use crate::resource::ResourceKind;

/// (scheme, host, port): what must match exactly.
type Origin = (String, String, Option<u16>);

/// A rule's URL pattern.
#[derive(Debug, Clone)]
pub(crate) struct UrlPattern {
    origin: Origin,
    path: GlobMatcher,
}

fn origin(url: &url::Url) -> Origin {
    let host = url.host_str().unwrap_or_default();
    (
        url.scheme().to_owned(),
        host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase(),
        url.port_or_known_default(),
    )
}

/// Parses a pattern such as `https://api.github.com/repos/acme/**`.
pub(crate) fn parse_pattern(text: &str) -> Result<UrlPattern, String> {
    // The glob characters must reach the path untouched, so parse with placeholders.
    let url = url::Url::parse(text).map_err(|e| {
        format!(
            "`{text}` is not a URL ({e}); write scheme, host and path, e.g. `https://api.example.com/v1/**`"
        )
    })?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!(
            "`{text}` has no host; write e.g. `https://api.example.com/**`"
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "`{text}` has userinfo (`user@`); a pattern names a host only"
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "`{text}` has a query or fragment; a pattern matches scheme, host, port and path"
        ));
    }
    let path = GlobBuilder::new(url.path())
        .literal_separator(true)
        .build()
        .map_err(|e| format!("`{text}`: the path is not a valid glob: {e}"))?
        .compile_matcher();
    Ok(UrlPattern {
        origin: origin(&url),
        path,
    })
}

/// One URL argument of a call, parsed.
#[derive(Debug, Clone)]
pub(crate) enum UrlFact {
    /// Parsed: origin, path, and whether it may get a looser rule (no userinfo, no encoded
    /// separators or dots a server might decode into another path).
    Parsed {
        origin: Origin,
        path: String,
        decoded: String,
        may_loosen: bool,
        shown: String,
    },
    /// Not a URL: only stricter rules apply (all URL rules).
    Unparseable(String),
}

impl UrlFact {
    pub(crate) fn shown(&self) -> String {
        match self {
            UrlFact::Parsed { shown, .. } | UrlFact::Unparseable(shown) => shown.clone(),
        }
    }
}

pub(crate) fn fact(text: &str) -> UrlFact {
    let Ok(url) = url::Url::parse(text) else {
        return UrlFact::Unparseable(text.to_owned());
    };
    if url.host_str().is_none_or(str::is_empty) {
        return UrlFact::Unparseable(text.to_owned());
    }
    let path = url.path().to_owned();
    let lower = path.to_ascii_lowercase();
    let encoded_tricks =
        ["%2f", "%5c", "%2e", "%25"].iter().any(|t| lower.contains(t)) || path.contains('\\');
    let decoded = percent_decode(&path);
    // Shown normalised like the origin: without the host's trailing dot.
    let mut shown = url.clone();
    if let Some(host) = url.host_str().and_then(|h| h.strip_suffix('.')) {
        let _ = shown.set_host(Some(host));
    }
    UrlFact::Parsed {
        origin: origin(&url),
        may_loosen: url.username().is_empty() && url.password().is_none() && !encoded_tricks,
        shown: shown.to_string(),
        decoded,
        path,
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(h) = bytes.get(i + 1..i + 3)
            && let Ok(h) = std::str::from_utf8(h)
            && let Ok(b) = u8::from_str_radix(h, 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// URL rules indexed by origin.
#[derive(Debug, Default)]
pub(crate) struct UrlIndex {
    by_origin: FxHashMap<Origin, Vec<usize>>,
    all: Vec<usize>,
}

impl UrlIndex {
    pub(crate) fn add(&mut self, rule: usize, pattern: &UrlPattern) {
        self.all.push(rule);
        self.by_origin
            .entry(pattern.origin.clone())
            .or_default()
            .push(rule);
    }

    pub(crate) fn candidates(&self, facts: &CallFacts, add: &mut impl FnMut(usize)) {
        if self.all.is_empty() {
            return;
        }
        if facts.unreadable(ResourceKind::Url)
            || facts.urls.iter().any(|u| matches!(u, UrlFact::Unparseable(_)))
        {
            self.all.iter().for_each(|&r| add(r));
            return;
        }
        for u in &facts.urls {
            if let UrlFact::Parsed { origin, .. } = u
                && let Some(rules) = self.by_origin.get(origin)
            {
                rules.iter().for_each(|&r| add(r));
            }
        }
    }
}

/// Whether a URL rule applies: looser needs every URL argument parsed, without userinfo, to
/// match; stricter needs any (its path raw or percent-decoded), or an unparseable/unreadable one.
pub(crate) fn applies(pattern: &UrlPattern, looser: bool, facts: &CallFacts) -> bool {
    let unreadable = facts.unreadable(ResourceKind::Url);
    if looser {
        !unreadable
            && !facts.urls.is_empty()
            && facts.urls.iter().all(|u| match u {
                UrlFact::Parsed {
                    origin,
                    path,
                    may_loosen,
                    ..
                } => *may_loosen && *origin == pattern.origin && pattern.path.is_match(path),
                UrlFact::Unparseable(_) => false,
            })
    } else {
        unreadable
            || facts.urls.iter().any(|u| match u {
                UrlFact::Parsed {
                    origin,
                    path,
                    decoded,
                    ..
                } => {
                    *origin == pattern.origin
                        && (pattern.path.is_match(path) || pattern.path.is_match(decoded))
                }
                UrlFact::Unparseable(_) => true,
            })
    }
}

/// Whether `example` matches the pattern, in the looser or stricter sense.
pub(crate) fn example_matches(pattern: &UrlPattern, looser: bool, example: &str) -> bool {
    let facts = CallFacts {
        urls: vec![fact(example)],
        ..Default::default()
    };
    applies(pattern, looser, &facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalised() {
        let p = parse_pattern("https://api.github.com/repos/acme/**").unwrap();
        for u in [
            "https://api.github.com/repos/acme/x",
            "https://API.GitHub.com./repos/acme/x/y",
            "https://api.github.com:443/repos/acme/x",
        ] {
            assert!(example_matches(&p, true, u), "{u}");
        }
        for u in [
            "https://api.github.com@evil.example/repos/acme/x",
            "https://u:p@api.github.com/repos/acme/x",
            "http://api.github.com/repos/acme/x",
            "https://api.github.com:8443/repos/acme/x",
            "https://api.github.com/repos/acme%2F..%2Fother",
            "https://api.github.com/repos/other/x",
            "not a url",
        ] {
            assert!(!example_matches(&p, true, u), "{u}");
        }
        assert!(parse_pattern("https://u@h.example/").is_err());
        assert!(parse_pattern("nope").is_err());
    }
}

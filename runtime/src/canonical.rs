//! Canonical JSON (sorted keys, no whitespace) and its SHA-256, for hashes that any
//! implementation can recompute byte for byte.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Writes `value` as canonical JSON: object keys sorted by their UTF-8 bytes, no whitespace.
///
/// Sorting is done here rather than trusting serde_json's map order, which a dependency
/// enabling `preserve_order` would silently change.
///
/// ```
/// let v = serde_json::json!({"b": 1, "a": [true, {"d": null, "c": "x"}]});
/// assert_eq!(sidefx::canonical::to_string(&v), r#"{"a":[true,{"c":"x","d":null}],"b":1}"#);
/// ```
pub fn to_string(value: &Value) -> String {
    let mut out = Vec::new();
    write(value, &mut out);
    // Only serde_json's own output and ASCII punctuation were written: valid UTF-8.
    String::from_utf8(out).unwrap_or_default()
}

pub(crate) fn write(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            out.push(b'{');
            // serde_json's default map is sorted already; only an insertion-ordered map (the
            // `preserve_order` feature) needs the sort and its allocation.
            if map.keys().is_sorted_by(|a, b| a.as_bytes() <= b.as_bytes()) {
                write_entries(map.iter(), out);
            } else {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                write_entries(entries.into_iter(), out);
            }
            out.push(b'}');
        }
        scalar => write_scalar(scalar, out),
    }
}

fn write_entries<'a>(entries: impl Iterator<Item = (&'a String, &'a Value)>, out: &mut Vec<u8>) {
    for (i, (k, v)) in entries.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_scalar(k, out);
        out.push(b':');
        write(v, out);
    }
}

/// A string, number, boolean or null exactly as serde_json writes it compactly (the same bytes
/// as `Value::to_string`), without an intermediate `String`.
fn write_scalar<T: serde::Serialize + ?Sized>(scalar: &T, out: &mut Vec<u8>) {
    // Writing a scalar into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, scalar);
}

/// `sha256:<hex>` of the canonical JSON of `value`.
///
/// ```
/// let h = sidefx::canonical::sha256(&serde_json::json!({}));
/// assert_eq!(h, "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
/// ```
pub fn sha256(value: &Value) -> String {
    let mut bytes = Vec::with_capacity(512);
    write(value, &mut bytes);
    digest_hex(Sha256::digest(&bytes).into())
}

/// A string as a JSON string literal, exactly as serde_json writes it. Most strings of a record
/// (ids, hashes, names, times) need no escape: they are copied between quotes at once, and only
/// the others go through serde_json's byte-by-byte escaping.
pub(crate) fn write_str(s: &str, out: &mut Vec<u8>) {
    if needs_escape(s.as_bytes()) {
        write_scalar(s, out);
    } else {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    }
}

/// Whether serde_json escapes any byte of `bytes`: `"`, `\` or a control character below
/// 0x20. Eight bytes at a time, without a branch per byte (the word tests are exact as a
/// yes/no answer).
fn needs_escape(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let escaped = |b: u8| b < 0x20 || b == b'"' || b == b'\\';
    let mut chunks = bytes.chunks_exact(8);
    let mut found = 0;
    for chunk in &mut chunks {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        // A byte below 0x20, a `"`, a `\`.
        found |= (x.wrapping_sub(0x20 * ONES) & !x & HIGH)
            | has_zero(x ^ (u64::from(b'"') * ONES))
            | has_zero(x ^ (u64::from(b'\\') * ONES));
    }
    found != 0 || chunks.remainder().iter().any(|&b| escaped(b))
}

/// `sha256:<hex>` of a finished digest.
pub(crate) fn digest_hex(digest: [u8; 32]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(7 + 64);
    s.push_str("sha256:");
    for b in digest {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    /// The previous implementation: every key and scalar through `Value::to_string`.
    fn reference(value: &serde_json::Value, out: &mut String) {
        use serde_json::Value;
        match value {
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    reference(item, out);
                }
                out.push(']');
            }
            Value::Object(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                out.push('{');
                for (i, (k, v)) in entries.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    reference(v, out);
                }
                out.push('}');
            }
            scalar => out.push_str(&scalar.to_string()),
        }
    }

    /// The copy without escaping writes what serde_json writes, for every ASCII byte at every
    /// position of a word and in the remainder, and for multi-byte characters.
    #[test]
    fn strings_are_written_as_serde_json_writes_them() {
        let mut cases: Vec<String> = vec![String::new(), "é😀 plain".into(), "sha256:00ff".repeat(9)];
        for b in 0u8..0x80 {
            for len in [1, 7, 8, 9, 16, 17] {
                for at in 0..len {
                    let mut s = vec![b'a'; len];
                    s[at] = b;
                    cases.push(String::from_utf8(s).unwrap());
                }
            }
        }
        for s in cases {
            let mut out = Vec::new();
            super::write_str(&s, &mut out);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(&s).unwrap(),
                "{s:?}"
            );
        }
    }

    #[test]
    fn same_bytes_as_the_reference() {
        let v = json!({
            "z": [1, -2, 3.5, 1e300, null, true, false, "q\"uote\\ \u{1} \n é 😀"],
            "a": {"y": {}, "x": [], "é": "ü", "A": 0, "": ""},
            "m": u64::MAX, "n": i64::MIN
        });
        let mut expected = String::new();
        reference(&v, &mut expected);
        assert_eq!(super::to_string(&v), expected);
        assert_eq!(
            super::sha256(&v),
            format!(
                "sha256:{:x}",
                <sha2::Sha256 as sha2::Digest>::digest(expected.as_bytes())
            )
        );
    }
}

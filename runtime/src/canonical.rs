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
    let mut out = String::new();
    write(value, &mut out);
    out
}

fn write(value: &Value, out: &mut String) {
    match value {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out);
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
                write(v, out);
            }
            out.push('}');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// `sha256:<hex>` of the canonical JSON of `value`.
///
/// ```
/// let h = sidefx::canonical::sha256(&serde_json::json!({}));
/// assert_eq!(h, "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
/// ```
pub fn sha256(value: &Value) -> String {
    let digest = Sha256::digest(to_string(value).as_bytes());
    let mut s = String::with_capacity(7 + 64);
    s.push_str("sha256:");
    for b in digest {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

//! What a grant is bound to: a keyed digest (HMAC-SHA256) of the agent, the builtin, the call's
//! resources as resolved (where its relative paths point: the same argument text in another
//! workspace is another call) and the call's real argument values, redacted ones included. The
//! unkeyed fingerprint of the values ([`CallPrint`]) lives only in memory; the log holds the
//! keyed digest alone, so reading the log does not let anyone test a guess of a redacted value
//! (whoever can read the key can).

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::key::GrantKey;

/// The SHA-256 of the canonical JSON of a call's real arguments (skipped ones left out,
/// redacted ones with their real value), or why the call cannot be told apart from another
/// (a redacted argument whose type is not `Serialize`). Never written anywhere.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum CallPrint {
    /// The fingerprint of the real values.
    Print([u8; 32]),
    /// Why the call cannot become a grant.
    Ungrantable(String),
}

impl std::fmt::Debug for CallPrint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // The fingerprint of secret values is not shown.
            CallPrint::Print(_) => f.write_str("CallPrint(..)"),
            CallPrint::Ungrantable(why) => write!(f, "CallPrint::Ungrantable({why:?})"),
        }
    }
}

impl CallPrint {
    /// The fingerprint of `args`, the real argument values.
    pub(crate) fn of(args: &Value) -> CallPrint {
        let mut bytes = Vec::with_capacity(256);
        crate::canonical::write(args, &mut bytes);
        let print = CallPrint::Print(Sha256::digest(&bytes).into());
        // The canonical text may hold secrets: overwrite it before it is freed.
        bytes.fill(0);
        print
    }
}

/// The real values of a call with redacted arguments, built by generated code: the recorded
/// arguments with each redacted one's real value put back.
#[doc(hidden)]
pub struct GrantArgs {
    map: Map<String, Value>,
    ungrantable: Option<String>,
}

impl GrantArgs {
    /// Starts from the recorded arguments (an object).
    pub(crate) fn new(recorded: &Value) -> GrantArgs {
        GrantArgs {
            map: recorded.as_object().cloned().unwrap_or_default(),
            ungrantable: None,
        }
    }

    /// Puts back the real value of the redacted argument `name`; `None` when its type is not
    /// `Serialize` (or serialising failed): the call then cannot become a grant.
    pub fn secret(mut self, name: &'static str, value: Option<Value>) -> GrantArgs {
        match value {
            Some(v) => {
                self.map.insert(name.to_owned(), v);
            }
            None => {
                self.ungrantable.get_or_insert_with(|| {
                    format!(
                        "the redacted argument `{name}` has a type that does not implement `serde::Serialize` (or failed to serialise), so an identical call cannot be recognised; implement `Serialize` for it to let an approved suggestion run once"
                    )
                });
            }
        }
        self
    }

    /// The fingerprint of the real values.
    pub(crate) fn finish(self) -> CallPrint {
        match self.ungrantable {
            Some(why) => CallPrint::Ungrantable(why),
            None => CallPrint::of(&Value::Object(self.map)),
        }
    }
}

/// A redacted argument, probed for `Serialize` by autoref specialisation: generated code calls
/// `(&&GrantProbe(&value)).grant_value()`, which serialises the value when its type implements
/// `Serialize` ([`GrantBySerialize`]) and otherwise answers `None` ([`GrantOpaque`]), instead of
/// failing to compile (a secret wrapper need not be `Serialize`).
#[doc(hidden)]
pub struct GrantProbe<'a, T: ?Sized>(pub &'a T);

/// The `Serialize` arm of [`GrantProbe`].
#[doc(hidden)]
pub trait GrantBySerialize {
    /// The value as JSON.
    fn grant_value(&self) -> Option<Value>;
}

impl<T: serde::Serialize + ?Sized> GrantBySerialize for &GrantProbe<'_, T> {
    fn grant_value(&self) -> Option<Value> {
        serde_json::to_value(self.0).ok()
    }
}

/// The fallback arm of [`GrantProbe`]: the value cannot be read.
#[doc(hidden)]
pub trait GrantOpaque {
    /// Always `None`.
    fn grant_value(&self) -> Option<Value>;
}

impl<T: ?Sized> GrantOpaque for GrantProbe<'_, T> {
    fn grant_value(&self) -> Option<Value> {
        None
    }
}

/// HMAC-SHA256 (RFC 2104) of `msg` under `key`.
pub(crate) fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| k.map(|b| b ^ byte);
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(msg).finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// The grant digest of a call: HMAC-SHA256 under `key` of the agent, the builtin, the call's
/// resolved `resources` (canonical JSON; they are in the log in clear anyway) and the
/// fingerprint of the real values, each length-prefixed so no two calls share an input, as
/// lowercase hex.
pub(crate) fn grant_digest(
    key: &GrantKey,
    agent: &str,
    builtin: &str,
    resources: &Value,
    print: &[u8; 32],
) -> String {
    let mut where_ = Vec::with_capacity(64);
    crate::canonical::write(resources, &mut where_);
    let mut msg = Vec::with_capacity(96 + agent.len() + builtin.len() + where_.len());
    // v2: v1 digests did not bind the resources; grants issued under v1 never match (fail closed).
    msg.extend_from_slice(b"sidefx.grant.v2");
    for part in [agent.as_bytes(), builtin.as_bytes(), &where_, print.as_slice()] {
        msg.extend_from_slice(&(part.len() as u64).to_be_bytes());
        msg.extend_from_slice(part);
    }
    hex(&hmac_sha256(key.bytes(), &msg))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// RFC 4231 test cases 1, 2 and 6 (a key longer than the block).
    #[test]
    fn hmac_matches_rfc_4231() {
        assert_eq!(
            hex(&hmac_sha256(&[0x0b; 20], b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    /// The digest changes with every part it binds and with the key.
    #[test]
    fn the_digest_binds_agent_builtin_resources_values_and_key() {
        let (k1, k2) = (GrantKey::from_bytes(&[1; 32]), GrantKey::from_bytes(&[2; 32]));
        let print = |v: Value| match CallPrint::of(&v) {
            CallPrint::Print(p) => p,
            CallPrint::Ungrantable(why) => panic!("{why}"),
        };
        let p = print(json!({"path": "a", "token": "s3cret"}));
        let at = |ws: &str| json!([{"kind": "path", "arg": "path", "value": format!("{ws}/a")}]);
        let d = |k, agent, builtin, r: &Value, p: &[u8; 32]| grant_digest(k, agent, builtin, r, p);
        let base = d(&k1, "planner", "write_file", &at("/ws"), &p);
        assert_eq!(base, d(&k1, "planner", "write_file", &at("/ws"), &p));
        assert_ne!(base, d(&k2, "planner", "write_file", &at("/ws"), &p));
        assert_ne!(base, d(&k1, "coder", "write_file", &at("/ws"), &p));
        assert_ne!(base, d(&k1, "planner", "append_file", &at("/ws"), &p));
        assert_ne!(
            base,
            d(&k1, "planner", "write_file", &at("/other"), &p),
            "where the path points"
        );
        let other = print(json!({"path": "a", "token": "s3cret2"}));
        assert_ne!(base, d(&k1, "planner", "write_file", &at("/ws"), &other));
        // Moving a byte between agent and builtin is another input.
        let none = json!([]);
        assert_ne!(d(&k1, "ab", "c", &none, &p), d(&k1, "a", "bc", &none, &p));
    }

    /// A redacted value of a type that is not `Serialize` makes the call ungrantable; one that
    /// is goes back into the real values.
    #[test]
    #[allow(clippy::needless_borrow)] // the borrows pick the impl: that is the point
    fn probes_pick_serialize_or_fail_closed() {
        struct Opaque;
        let recorded = json!({"path": "a", "token": "[redacted]"});
        let real = GrantArgs::new(&recorded)
            .secret("token", (&&GrantProbe(&"s3cret")).grant_value())
            .finish();
        assert_eq!(real, CallPrint::of(&json!({"path": "a", "token": "s3cret"})));
        let opaque = GrantArgs::new(&recorded)
            .secret("token", (&&GrantProbe(&Opaque)).grant_value())
            .finish();
        assert!(
            matches!(&opaque, CallPrint::Ungrantable(why) if why.contains("`token`")),
            "{opaque:?}"
        );
    }
}

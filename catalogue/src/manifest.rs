//! The classes a crate declares in its own `Cargo.toml`, read once here for the macro (at
//! expansion) and the CLI (`sidefx policy check --manifest`):
//!
//! ```toml
//! [package.metadata.sidefx.classes]
//! "payments.charge" = "payments.write"   # class = capability
//! "payments.webhook" = { capability = "payments.write", resource = "url" }
//! ```

use std::fmt;

use crate::ResourceKind;

/// One class declared in a manifest.
///
/// ```
/// use sidefx_catalogue::manifest::{parse_manifest, DeclaredClass};
/// let text = "[package.metadata.sidefx.classes]\n\"pay.charge\" = \"pay.write\"\n";
/// let declared: Vec<DeclaredClass> = parse_manifest(text).unwrap();
/// assert_eq!((declared[0].name.as_str(), declared[0].capability.as_str()), ("pay.charge", "pay.write"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredClass {
    /// The class, as written (not yet checked against [`is_valid_class_name`](crate::is_valid_class_name)).
    pub name: String,
    /// The capability it requires, as written.
    pub capability: String,
    /// The kind of resource its builtins must declare, if the entry names one.
    pub resource: Option<ResourceKind>,
}

/// Why a manifest's `[package.metadata.sidefx.classes]` cannot be read; the message names the
/// entry and the fix.
///
/// ```
/// let err = sidefx_catalogue::manifest::parse_manifest("not toml [").unwrap_err();
/// assert!(!err.to_string().is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError(String);

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ManifestError {}

const TABLE: &str = "[package.metadata.sidefx.classes]";

/// Extracts `[package.metadata.sidefx.classes]` from a manifest's text: empty when the manifest
/// declares none. An entry is either `"class" = "capability"` or
/// `"class" = { capability = "..", resource = "path" }`.
///
/// # Errors
/// The text is not TOML, the section is not a table, or an entry has another shape, an unknown
/// key or an unknown resource kind.
///
/// ```
/// use sidefx_catalogue::{manifest::parse_manifest, ResourceKind};
/// let text = "[package.metadata.sidefx.classes]\n\"pay.hook\" = { capability = \"pay.write\", resource = \"url\" }\n";
/// assert_eq!(parse_manifest(text).unwrap()[0].resource, Some(ResourceKind::Url));
/// assert!(parse_manifest("[package]\nname = \"x\"\n").unwrap().is_empty());
/// ```
pub fn parse_manifest(text: &str) -> Result<Vec<DeclaredClass>, ManifestError> {
    let doc: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ManifestError(e.message().to_owned()))?;
    let classes = doc
        .get("package")
        .and_then(|p| p.get("metadata"))
        .and_then(|m| m.get("sidefx"))
        .and_then(|s| s.get("classes"));
    let Some(classes) = classes else {
        return Ok(Vec::new());
    };
    let table = classes.as_table().ok_or_else(|| {
        ManifestError(format!(
            "`{TABLE}` must be a table of `\"class\" = \"capability\"` entries"
        ))
    })?;
    table
        .iter()
        .map(|(class, entry)| parse_entry(class, entry).map_err(ManifestError))
        .collect()
}

fn parse_entry(class: &str, entry: &toml::Value) -> Result<DeclaredClass, String> {
    let shape = format!(
        "`{TABLE}` entry `{class}` must be a capability string, such as `\"{class}\" = \"payments.write\"`, or a table such as `\"{class}\" = {{ capability = \"payments.write\", resource = \"url\" }}`"
    );
    let (capability, resource) = match entry {
        toml::Value::String(cap) => (cap.clone(), None),
        toml::Value::Table(t) => {
            if let Some(key) = t
                .keys()
                .find(|k| !["capability", "resource"].contains(&k.as_str()))
            {
                return Err(format!(
                    "`{TABLE}` entry `{class}` has an unknown key `{key}`; the keys are `capability` and `resource`"
                ));
            }
            let capability = t.get("capability").and_then(toml::Value::as_str).ok_or(&shape)?;
            let resource = match t.get("resource") {
                None => None,
                Some(v) => match v.as_str().and_then(ResourceKind::from_name) {
                    Some(kind) => Some(kind),
                    None => {
                        return Err(format!(
                            "`{TABLE}` entry `{class}`: `resource` must be \"path\", \"command\" or \"url\", not {v}"
                        ));
                    }
                },
            };
            (capability.to_owned(), resource)
        }
        _ => return Err(shape),
    };
    Ok(DeclaredClass {
        name: class.to_owned(),
        capability,
        resource,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(name: &str, capability: &str, resource: Option<ResourceKind>) -> DeclaredClass {
        DeclaredClass {
            name: name.to_owned(),
            capability: capability.to_owned(),
            resource,
        }
    }

    #[test]
    fn manifest_parsing() {
        let text = "[package]\nname = \"x\"\n[package.metadata.sidefx.classes]\n\"payments.charge\" = \"payments.write\"\n";
        assert_eq!(
            parse_manifest(text).unwrap(),
            vec![class("payments.charge", "payments.write", None)]
        );
        assert!(parse_manifest("[package]\nname = \"x\"\n").unwrap().is_empty());
        assert!(parse_manifest("[package.metadata.sidefx.classes]\n\"a.b\" = 1\n").is_err());
        assert!(parse_manifest("[package.metadata.sidefx]\nclasses = 3\n").is_err());
        assert!(parse_manifest("not toml [").is_err());
    }

    #[test]
    fn manifest_tables_declare_a_resource_kind() {
        let text = "[package.metadata.sidefx.classes]\n\"pay.hook\" = { capability = \"pay.write\", resource = \"url\" }\n\"pay.log\" = { capability = \"pay.write\" }\n";
        assert_eq!(
            parse_manifest(text).unwrap(),
            vec![
                class("pay.hook", "pay.write", Some(ResourceKind::Url)),
                class("pay.log", "pay.write", None)
            ]
        );
        for bad in [
            "\"a.b\" = { capability = \"x\", resource = \"file\" }",
            "\"a.b\" = { capability = \"x\", resources = \"url\" }",
            "\"a.b\" = { resource = \"url\" }",
            "\"a.b\" = { capability = 1 }",
        ] {
            let err = parse_manifest(&format!("{TABLE}\n{bad}\n")).unwrap_err();
            assert!(err.to_string().contains("`a.b`"), "{bad}: {err}");
        }
    }
}

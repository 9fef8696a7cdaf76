//! Which classes exist: the built-in catalogue (`sidefx_catalogue::CLASSES`, the one table)
//! plus the classes a crate declares in its own `Cargo.toml`:
//!
//! ```toml
//! [package.metadata.sidefx.classes]
//! "payments.charge" = "payments.write"   # class = capability
//! "payments.webhook" = { capability = "payments.write", resource = "url" }
//! ```
//!
//! The table form also names the kind of resource (`path`, `command` or `url`) the class's
//! builtins must declare, like the catalogue's `fs.*` classes. The manifest is read at
//! expansion, and only when a class is not in the catalogue.

use std::path::{Path, PathBuf};

use sidefx_catalogue::ResourceKind;
use sidefx_catalogue::manifest::{DeclaredClass, parse_manifest};

/// Names an extra manifest whose declarations also count. For harnesses such as trybuild that
/// compile a crate's files under a generated manifest of their own.
pub(crate) const EXTRA_MANIFEST_ENV: &str = "SIDEFX_CLASSES_MANIFEST";

/// The classes one manifest declares.
pub(crate) struct Declared {
    pub manifest: PathBuf,
    pub classes: Vec<DeclaredClass>,
}

/// Where a class was found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Found {
    /// In the built-in catalogue.
    Catalogue {
        capability: &'static str,
        resource: Option<ResourceKind>,
    },
    /// Declared in a manifest, which the expansion must track so a change triggers a rebuild.
    Declared {
        capability: String,
        resource: Option<ResourceKind>,
        manifest: PathBuf,
    },
}

impl Found {
    pub(crate) fn capability(&self) -> &str {
        match self {
            Found::Catalogue { capability, .. } => capability,
            Found::Declared { capability, .. } => capability,
        }
    }

    /// The kind of resource the class's builtins must declare, if any.
    pub(crate) fn resource(&self) -> Option<ResourceKind> {
        match self {
            Found::Catalogue { resource, .. } | Found::Declared { resource, .. } => *resource,
        }
    }
}

/// Looks `class` up in the catalogue, then in the declaring manifests.
pub(crate) fn find(class: &str, declared: &[Declared]) -> Result<Found, String> {
    if let Some(info) = sidefx_catalogue::class(class) {
        return Ok(Found::Catalogue {
            capability: info.capability,
            resource: info.resource,
        });
    }
    for d in declared {
        if let Some(DeclaredClass {
            name,
            capability,
            resource,
        }) = d.classes.iter().find(|c| c.name == class)
        {
            if !sidefx_catalogue::is_valid_class_name(name) {
                return Err(format!(
                    "class `{name}` is declared in Cargo.toml but is not a valid class name; use dot-separated lowercase segments such as `payments.charge`"
                ));
            }
            if capability.trim().is_empty() {
                return Err(format!(
                    "class `{name}` is declared in Cargo.toml with an empty capability; write the capability it needs, such as `\"{name}\" = \"payments.write\"`"
                ));
            }
            return Ok(Found::Declared {
                capability: capability.clone(),
                resource: *resource,
                manifest: d.manifest.clone(),
            });
        }
    }
    let known = sidefx_catalogue::CLASSES.iter().map(|c| c.class).chain(
        declared
            .iter()
            .flat_map(|d| d.classes.iter().map(|c| c.name.as_str())),
    );
    Err(match closest(class, known) {
        Some(guess) => format!(
            "unknown class `{class}`; did you mean `{guess}`? Use a class of the sidefx catalogue, or declare a custom class in this crate's Cargo.toml under `[package.metadata.sidefx.classes]`"
        ),
        None => format!(
            "unknown class `{class}`: it is not in the sidefx catalogue and this crate does not declare it; declare it in this crate's Cargo.toml under `[package.metadata.sidefx.classes]`, for example `\"{class}\" = \"<capability>\"`"
        ),
    })
}

/// Reads the declarations of this crate's manifest and of the extra manifest, if one is named.
pub(crate) fn load() -> Result<Vec<Declared>, String> {
    let mut paths = Vec::new();
    if let Some(dir) = std::env::var_os("CARGO_MANIFEST_DIR") {
        paths.push(Path::new(&dir).join("Cargo.toml"));
    }
    if let Some(extra) = std::env::var_os(EXTRA_MANIFEST_ENV) {
        paths.push(PathBuf::from(extra));
    }
    let mut out = Vec::new();
    for path in paths {
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            // No manifest (a tool expanding the macro outside cargo): nothing is declared.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let classes = parse_manifest(&text).map_err(|e| format!("in {}: {e}", path.display()))?;
        out.push(Declared {
            manifest: path,
            classes,
        });
    }
    Ok(out)
}

pub(crate) use sidefx_catalogue::closest;

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

    fn declared(pairs: &[(&str, &str)]) -> Vec<Declared> {
        vec![Declared {
            manifest: PathBuf::from("Cargo.toml"),
            classes: pairs.iter().map(|(a, b)| class(a, b, None)).collect(),
        }]
    }

    #[test]
    fn catalogue_classes_need_no_manifest() {
        assert_eq!(
            find("fs.write", &[]),
            Ok(Found::Catalogue {
                capability: "workspace.write_text",
                resource: Some(ResourceKind::Path),
            })
        );
        assert_eq!(find("store.write", &[]).map(|f| f.resource()), Ok(None));
    }

    #[test]
    fn declared_classes_are_found_with_their_capability() {
        let found = find(
            "payments.charge",
            &declared(&[("payments.charge", "payments.write")]),
        );
        assert_eq!(
            found.map(|f| f.capability().to_owned()),
            Ok("payments.write".into())
        );
    }

    #[test]
    fn typos_get_a_suggestion_from_catalogue_and_declarations() {
        let err = find("fs.wrte", &[]).unwrap_err();
        assert!(err.contains("did you mean `fs.write`"), "{err}");
        let err = find(
            "payments.chrage",
            &declared(&[("payments.charge", "payments.write")]),
        )
        .unwrap_err();
        assert!(err.contains("did you mean `payments.charge`"), "{err}");
        let err = find("billing.refund", &[]).unwrap_err();
        assert!(err.contains("[package.metadata.sidefx.classes]"), "{err}");
    }

    #[test]
    fn invalid_declarations_are_reported() {
        assert!(find("Pay.Ment", &declared(&[("Pay.Ment", "x")])).is_err());
        assert!(find("pay.ment", &declared(&[("pay.ment", " ")])).is_err());
    }
}

//! Whether a return type's error is, as spelled, a standard-library type (`std::io::Result<()>`,
//! `Result<(), String>`). For those `impl From<sidefx::Error>` is impossible in the user's crate
//! (E0117), so the generated check uses `ForeignRefusalError`, whose message asks for the
//! user's own error type instead. Spelling only chooses the message: both traits accept exactly
//! the same types, so a wrong guess never rejects a function.

use syn::{GenericArgument, PathArguments, Type, TypePath};

/// Crates whose types no user crate can implement a foreign trait for.
const STD_CRATES: [&str; 3] = ["std", "core", "alloc"];

/// `true` when `ret` is `Result<T, E>` with `E` a standard-library type, or a standard
/// library's `Result` alias (`io::Result<T>`, `fmt::Result`).
pub(crate) fn has_std_error(ret: &Type) -> bool {
    let Some(path) = type_path(ret) else {
        return false;
    };
    let Some(last) = path.path.segments.last() else {
        return false;
    };
    if last.ident != "Result" {
        return false;
    }
    let types: Vec<&Type> = match &last.arguments {
        PathArguments::AngleBracketed(a) => a
            .args
            .iter()
            .filter_map(|a| match a {
                GenericArgument::Type(t) => Some(t),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    match types.as_slice() {
        [_, error] => is_std_type(error),
        [] | [_] => is_std_alias(path),
        _ => false,
    }
}

/// `io::Result`, `std::io::Result`, `fmt::Result`, `core::fmt::Result`.
fn is_std_alias(path: &TypePath) -> bool {
    let names = names(path);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    match names.as_slice() {
        [module, "Result"] => matches!(*module, "io" | "fmt"),
        [krate, module, "Result"] => STD_CRATES.contains(krate) && matches!(*module, "io" | "fmt"),
        _ => false,
    }
}

/// `String`, `&str`, `io::Error`, `fmt::Error`, or any path under `std`, `core` or `alloc`.
fn is_std_type(ty: &Type) -> bool {
    if let Type::Reference(r) = ty {
        return matches!(&*r.elem, Type::Path(p) if p.path.is_ident("str"));
    }
    let Some(path) = type_path(ty) else {
        return false;
    };
    let names = names(path);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    match names.as_slice() {
        ["String"] => true,
        ["io" | "fmt", "Error"] => true,
        [krate, _, ..] => STD_CRATES.contains(krate),
        _ => false,
    }
}

fn type_path(ty: &Type) -> Option<&TypePath> {
    match ty {
        Type::Path(p) if p.qself.is_none() => Some(p),
        Type::Paren(p) => type_path(&p.elem),
        Type::Group(g) => type_path(&g.elem),
        _ => None,
    }
}

fn names(path: &TypePath) -> Vec<String> {
    path.path.segments.iter().map(|s| s.ident.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::has_std_error;

    fn std_error(ty: &str) -> bool {
        has_std_error(&syn::parse_str(ty).unwrap())
    }

    #[test]
    fn standard_library_errors_are_recognised_by_spelling() {
        for ty in [
            "std::io::Result<()>",
            "io::Result<u8>",
            "::std::io::Result<()>",
            "std::fmt::Result",
            "Result<(), String>",
            "Result<(), &'static str>",
            "Result<(), std::io::Error>",
            "Result<(), io::Error>",
            "core::result::Result<(), std::num::ParseIntError>",
        ] {
            assert!(std_error(ty), "{ty}");
        }
        for ty in [
            "Result<(), ToolError>",
            "Result<(), errors::ToolError>",
            "Result<(), crate::Error>",
            "anyhow::Result<()>",
            "my::io::Result<()>",
            "Result<()>",
            "u32",
        ] {
            assert!(!std_error(ty), "{ty}");
        }
    }
}

//! Parses the attribute's arguments: `class = "..", capability = "..", name = "..",
//! skip(a, b), redact(c), path(a, ..), command(a), url(a), no_resource, crate = ".."`.
//!
//! Every mistake is collected, each at the offending token, and parsing carries on after a
//! recoverable one so the user sees all of them at once.

use proc_macro2::{Span, TokenStream};
use sidefx_catalogue::ResourceKind;
use syn::meta::ParseNestedMeta;
use syn::parse::Parser;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Ident, Lit, LitStr};

use crate::errors::Errors;

/// The keys the attribute accepts, in the order the docs list them.
pub(crate) const KEYS: &[&str] = &[
    "class",
    "capability",
    "name",
    "skip",
    "redact",
    "path",
    "command",
    "url",
    "no_resource",
    "crate",
];

/// The attribute's arguments as written, each with its span.
#[derive(Default)]
pub(crate) struct Args {
    pub class: Option<LitStr>,
    pub capability: Option<LitStr>,
    pub name: Option<LitStr>,
    pub skip: Vec<Ident>,
    pub redact: Vec<Ident>,
    /// `path(..)`, `command(..)`, `url(..)`: each argument with its kind, in the order written.
    pub resources: Vec<(ResourceKind, Ident)>,
    /// `no_resource`, where it was written.
    pub no_resource: Option<Span>,
    pub krate: Option<syn::Path>,
    /// Keys that were written, even with an invalid value (so a bad `class = X` is not also
    /// reported as a missing `class`).
    pub given: Vec<String>,
    /// The arguments as written, for errors about the list as a whole.
    pub tokens: TokenStream,
}

/// Parses `tokens` (the attribute's arguments). Never fails outright: errors land in `errors`
/// and whatever parsed is returned.
pub(crate) fn parse(tokens: TokenStream, errors: &mut Errors) -> Args {
    let mut args = Args {
        tokens: tokens.clone(),
        ..Args::default()
    };
    let mut given: Vec<String> = Vec::new();
    let parser = syn::meta::parser(|meta| parse_one(meta, &mut args, &mut given, errors));
    if let Err(e) = parser.parse2(tokens) {
        errors.push(syn::Error::new(
            e.span(),
            format!(
                "{e}: the arguments are `key = \"value\"` pairs and lists of parameter names (`skip(..)`, `path(..)`, ..), for example `#[side_effect(class = \"fs.write\", path(path), skip(ctx))]`"
            ),
        ));
        // Parsing stopped here; do not also report what the rest might have held.
        given.extend(KEYS.iter().map(|k| (*k).to_owned()));
    }
    args.given = given;
    args
}

fn parse_one(
    meta: ParseNestedMeta<'_>,
    args: &mut Args,
    seen: &mut Vec<String>,
    errors: &mut Errors,
) -> syn::Result<()> {
    let key = meta
        .path
        .get_ident()
        .map(|i| i.to_string().trim_start_matches("r#").to_owned());
    let Some(key) = key.filter(|k| KEYS.contains(&k.as_str())) else {
        errors.push(unknown_key(&meta));
        return skip_value(&meta);
    };
    let duplicate = seen.contains(&key);
    if duplicate {
        let fix = match key.as_str() {
            "skip" | "redact" | "path" | "command" | "url" => {
                format!("list every argument in one `{key}(a, b)`")
            }
            _ => format!("keep one `{key}` and remove the others"),
        };
        errors.push(meta.error(format!("`{key}` is given more than once; {fix}")));
    }
    seen.push(key.clone());
    match key.as_str() {
        "no_resource" => {
            if !meta.input.is_empty() && !meta.input.peek(syn::Token![,]) {
                errors.push(meta.error(
                    "`no_resource` takes no value: write just `no_resource` to say the builtin touches no path, command or URL",
                ));
                skip_value(&meta)?;
            }
            args.no_resource.get_or_insert(meta.path.span());
        }
        "path" | "command" | "url" => {
            let kind = ResourceKind::from_name(&key).unwrap_or(ResourceKind::Path);
            let idents = parse_idents(&meta, &key, errors)?;
            args.resources.extend(idents.into_iter().map(|i| (kind, i)));
        }
        "skip" | "redact" => {
            let idents = parse_idents(&meta, &key, errors)?;
            let list = if key == "skip" {
                &mut args.skip
            } else {
                &mut args.redact
            };
            list.extend(idents);
        }
        _ => {
            let Some(lit) = parse_string(&meta, &key, errors)? else {
                return Ok(());
            };
            if duplicate {
                return Ok(());
            }
            match key.as_str() {
                "class" => args.class = Some(lit),
                "capability" => args.capability = Some(lit),
                "name" => {
                    if lit.value().trim().is_empty() {
                        errors.push(syn::Error::new(
                            lit.span(),
                            "`name` must not be empty; write the builtin's name, such as `name = \"git.push\"`, or leave `name` out to use the function's name",
                        ));
                    } else {
                        args.name = Some(lit);
                    }
                }
                _ => match lit.parse::<syn::Path>() {
                    Ok(path) => args.krate = Some(path),
                    Err(_) => errors.push(syn::Error::new(
                        lit.span(),
                        format!(
                            "`crate` must be a path to the sidefx crate, such as `crate = \"my_sidefx\"` for a dependency renamed in Cargo.toml; `{}` is not a path",
                            lit.value()
                        ),
                    )),
                },
            }
        }
    }
    Ok(())
}

fn unknown_key(meta: &ParseNestedMeta<'_>) -> syn::Error {
    let written = meta
        .path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect::<Vec<_>>()
        .join("::");
    let expected = KEYS
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let hint = crate::classes::closest(&written, KEYS.iter().copied())
        .map(|k| format!("did you mean `{k}`? "))
        .unwrap_or_default();
    meta.error(format!(
        "unknown argument `{written}`; {hint}expected one of {expected}"
    ))
}

/// Consumes whatever follows an unknown key (`= value` or `(..)`) so parsing can go on.
fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) {
        meta.value()?.parse::<Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        let content;
        syn::parenthesized!(content in meta.input);
        content.parse::<TokenStream>()?;
    }
    Ok(())
}

/// Parses `key = "literal"`. A non-literal value is reported (and consumed) as `Ok(None)`.
fn parse_string(meta: &ParseNestedMeta<'_>, key: &str, errors: &mut Errors) -> syn::Result<Option<LitStr>> {
    let example = match key {
        "class" => "class = \"fs.write\"",
        "capability" => "capability = \"workspace.write_text\"",
        "name" => "name = \"git.push\"",
        _ => "crate = \"my_sidefx\"",
    };
    if !meta.input.peek(syn::Token![=]) {
        errors.push(meta.error(format!("`{key}` needs a value: write `{example}`")));
        return skip_value(meta).map(|()| None);
    }
    let expr: Expr = meta.value()?.parse()?;
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => Ok(Some(lit)),
        other => {
            errors.push(syn::Error::new_spanned(
                other,
                format!(
                    "`{key}` takes a string literal, such as `{example}`; constants and expressions are not accepted because the value is checked at compile time"
                ),
            ));
            Ok(None)
        }
    }
}

/// Parses `key(a, b, ..)` into parameter names.
fn parse_idents(meta: &ParseNestedMeta<'_>, key: &str, errors: &mut Errors) -> syn::Result<Vec<Ident>> {
    if !meta.input.peek(syn::token::Paren) {
        let example = match key {
            "path" => "path(from, to)",
            "command" => "command(argv)",
            "url" => "url(endpoint)",
            "skip" => "skip(ctx)",
            _ => "redact(token)",
        };
        errors.push(meta.error(format!(
            "`{key}` takes a list of parameter names: write `{example}`"
        )));
        return skip_value(meta).map(|()| Vec::new());
    }
    let mut idents = Vec::new();
    meta.parse_nested_meta(|inner| {
        match inner.path.get_ident() {
            Some(ident) if inner.input.is_empty() || inner.input.peek(syn::Token![,]) => {
                idents.push(ident.clone());
            }
            _ => {
                errors.push(inner.error(format!(
                    "`{key}(..)` lists parameter names only, such as `{key}(token)`"
                )));
                skip_value(&inner)?;
            }
        }
        Ok(())
    })?;
    Ok(idents)
}

//! Semantic checks: the function is an `async fn` with a body and a return type, the class
//! exists and matches the capability, `skip`/`redact` name real parameters, and the resource
//! keys are consistent (in `resources`). Produces the
//! [`Plan`] the expansion follows, or the errors, each at the offending token.

use std::path::PathBuf;

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::spanned::Spanned;
use syn::{Ident, ReturnType, Type};

use crate::ast::{self, Body, InputFn, Param};
use crate::attr::Args;
use crate::classes::{self, Found};
use crate::errors::Errors;
use crate::resources::{self, ResourceArg};

/// Everything the expansion needs, all of it checked.
pub(crate) struct Plan<'a> {
    pub name: String,
    pub class: String,
    pub capability: String,
    /// Manifests whose declarations this expansion depends on (tracked for rebuilds).
    pub manifests: Vec<PathBuf>,
    /// The path of the sidefx crate (`::sidefx` unless `crate = ".."`).
    pub krate: TokenStream,
    pub recorded: Vec<Recorded<'a>>,
    /// `path(..)`, `command(..)`, `url(..)`, in the order written.
    pub resources: Vec<ResourceArg<'a>>,
    pub ret: &'a Type,
    pub body: &'a Body,
}

/// How one argument is recorded.
pub(crate) enum Recorded<'a> {
    /// As JSON, via `serde::Serialize`.
    Value { ident: &'a Ident, ty: &'a Type },
    /// As `"[redacted]"`; the value is never read.
    Redacted { ident: &'a Ident },
}

/// Checks `args` against `func`. Returns `None` when there is any error (all in `errors`).
pub(crate) fn check<'a>(args: &'a Args, func: &'a InputFn, errors: &mut Errors) -> Option<Plan<'a>> {
    let sig = &func.sig;
    if let Some(attr) = func.attrs.iter().find(|a| is_async_trait(a)) {
        errors.push(syn::Error::new_spanned(
            attr,
            "`#[async_trait]` goes on the `impl` block (or the trait), not on the method: write `#[async_trait] impl Trait for Type { #[side_effect(..)] async fn .. }`",
        ));
    }
    if sig.asyncness.is_none() && func.boxed.is_none() {
        errors.push(syn::Error::new(
            sig.fn_token.span,
            "the `async` keyword is missing from the function declaration: `#[side_effect]` runs the call inside asynchronous enforcement (it may wait for an approval), so write `async fn`",
        ));
    }
    if func.body.is_none() {
        errors.push(syn::Error::new(
            sig.ident.span(),
            "`#[side_effect]` needs a function with a body: put it on the method in the `impl` block, not on the trait's declaration",
        ));
    }
    let ret = match &sig.output {
        _ if func.boxed.is_some() => func.boxed.as_ref().map(|b| &b.output),
        ReturnType::Type(_, ty) => Some(&**ty),
        ReturnType::Default => {
            errors.push(syn::Error::new(
                sig.paren_token.span.close(),
                "a `#[side_effect]` function must return `Result<T, E>` with `E: From<sidefx::Error>`, because a refused call returns `Err(E::from(sidefx::Error))`: add a return type such as `-> Result<(), MyError>`",
            ));
            None
        }
    };

    let (class, found) = check_class(args, errors);
    if let (Some(found), Some(cap)) = (&found, &args.capability) {
        let required = found.capability();
        if cap.value() != required {
            errors.push(syn::Error::new(
                cap.span(),
                format!(
                    "class `{}` requires capability `{required}`, not `{}`: write `capability = \"{required}\"` or leave `capability` out (it defaults to the class's)",
                    class.as_deref().unwrap_or_default(),
                    cap.value()
                ),
            ));
        }
    }
    let recorded = check_params(args, func, errors);
    let resources = resources::check(args, func, args.class.as_ref().zip(found.as_ref()), errors);

    if !errors.is_empty() {
        return None;
    }
    let body = match &func.boxed {
        Some(boxed) => &boxed.body,
        None => func.body.as_ref()?,
    };
    let (class, found, ret) = (class?, found?, ret?);
    let krate = match &args.krate {
        Some(path) => quote!(#path),
        None => quote!(::sidefx),
    };
    Some(Plan {
        name: args
            .name
            .as_ref()
            .map_or_else(|| ast::key(&sig.ident), |n| n.value()),
        capability: found.capability().to_owned(),
        manifests: match found {
            Found::Declared { manifest, .. } => vec![manifest],
            Found::Catalogue { .. } => Vec::new(),
        },
        class,
        krate,
        recorded,
        resources,
        ret,
        body,
    })
}

/// `#[async_trait]`, `#[async_trait::async_trait]`, `#[sidefx::async_trait]`, with or without
/// arguments.
fn is_async_trait(attr: &syn::Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|s| s.ident == "async_trait")
}

fn check_class(args: &Args, errors: &mut Errors) -> (Option<String>, Option<Found>) {
    let Some(lit) = &args.class else {
        if args.given.iter().any(|k| k == "class") {
            return (None, None); // written, with a value already reported as invalid
        }
        // Point at the argument list that lacks the key (the attribute when it has none).
        let error = |msg: &str| match args.tokens.is_empty() {
            true => syn::Error::new(Span::call_site(), msg),
            false => syn::Error::new_spanned(&args.tokens, msg),
        };
        errors.push(error(
            "missing `class`: add `class = \"..\"` with a class of the sidefx catalogue (such as `class = \"fs.write\"`) or one declared in this crate's Cargo.toml under `[package.metadata.sidefx.classes]`",
        ));
        return (None, None);
    };
    let class = lit.value();
    let declared = if sidefx_catalogue::class(&class).is_some() {
        Ok(Vec::new())
    } else {
        classes::load()
    };
    let found = declared.and_then(|declared| classes::find(&class, &declared));
    match found {
        Ok(found) => (Some(class), Some(found)),
        Err(msg) => {
            errors.push(syn::Error::new(lit.span(), msg));
            (Some(class), None)
        }
    }
}

fn check_params<'a>(args: &'a Args, func: &'a InputFn, errors: &mut Errors) -> Vec<Recorded<'a>> {
    let named: Vec<(&Ident, &Type)> = func
        .params()
        .filter_map(|p| match p {
            Param::Named { ident, ty } => Some((ident, ty)),
            _ => None,
        })
        .collect();
    let names: Vec<String> = named.iter().map(|(i, _)| ast::key(i)).collect();
    let has_receiver = func.params().any(|p| matches!(p, Param::Receiver));

    let mut listed: Vec<String> = Vec::new();
    for (key, idents) in [("skip", &args.skip), ("redact", &args.redact)] {
        for ident in idents {
            let name = ast::key(ident);
            if name == "self" && has_receiver {
                if key == "redact" {
                    errors.push(syn::Error::new(
                        ident.span(),
                        "`self` is never recorded, so there is nothing to redact: remove it from `redact(..)`",
                    ));
                }
                continue;
            }
            if listed.contains(&name) {
                errors.push(syn::Error::new(
                    ident.span(),
                    format!(
                        "`{name}` is listed more than once in `skip(..)`/`redact(..)`: keep it in one of them, once"
                    ),
                ));
                continue;
            }
            listed.push(name.clone());
            if !names.contains(&name) {
                errors.push(syn::Error::new(
                    ident.span(),
                    no_such_param(key, &name, &sig_name(func), &names),
                ));
            }
        }
    }

    let mut recorded = Vec::new();
    for p in func.params() {
        match p {
            Param::Named { ident, ty } => {
                let name = ast::key(ident);
                if args.skip.iter().any(|i| ast::key(i) == name) {
                    continue;
                }
                if args.redact.iter().any(|i| ast::key(i) == name) {
                    recorded.push(Recorded::Redacted { ident });
                } else {
                    recorded.push(Recorded::Value { ident, ty });
                }
            }
            Param::Pattern { pat } => errors.push(syn::Error::new(
                pat.span(),
                "`#[side_effect]` records each argument under its name, and this pattern has none: bind the argument to a name (`arg: Type`) and destructure it in the body",
            )),
            Param::Receiver | Param::Wild => {}
        }
    }
    recorded
}

fn sig_name(func: &InputFn) -> String {
    ast::key(&func.sig.ident)
}

pub(crate) fn no_such_param(key: &str, name: &str, func: &str, names: &[String]) -> String {
    let hint = classes::closest(name, names.iter().map(String::as_str))
        .map(|n| format!(" did you mean `{n}`?"))
        .unwrap_or_default();
    let list = if names.is_empty() {
        format!("`{func}` has no named parameters")
    } else {
        format!(
            "the parameters of `{func}` are {}",
            names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    format!("`{key}({name})` names no parameter:{hint} {list}; write a parameter's name or remove it")
}

//! The resource keys: `path(..)`, `command(..)`, `url(..)` and `no_resource`.
//!
//! Checks that each names a parameter once, with one kind, that nothing both declares and
//! opts out, and that a class which carries a resource kind (the catalogue's `fs.*` paths,
//! `process.exec` commands, `network.http` URLs, or a custom class's `resource = ".."`) gets an
//! argument of that kind or an explicit `no_resource`. The argument's *type* is checked by the
//! compiler, through the runtime's `PathArg`/`CommandArg`/`UrlArg` bounds in the expansion.

use sidefx_catalogue::ResourceKind;
use syn::{Ident, LitStr, Type};

use crate::ast::{self, InputFn, Param};
use crate::attr::Args;
use crate::classes::Found;
use crate::errors::Errors;
use crate::valid::no_such_param;

/// One declared resource argument, checked.
pub(crate) struct ResourceArg<'a> {
    pub kind: ResourceKind,
    pub ident: &'a Ident,
    pub ty: &'a Type,
}

/// Checks the resource keys of `args` against `func` and the class (when it was found).
pub(crate) fn check<'a>(
    args: &'a Args,
    func: &'a InputFn,
    class: Option<(&LitStr, &Found)>,
    errors: &mut Errors,
) -> Vec<ResourceArg<'a>> {
    let params: Vec<(&Ident, &Type)> = func
        .params()
        .filter_map(|p| match p {
            Param::Named { ident, ty } => Some((ident, ty)),
            _ => None,
        })
        .collect();
    let names: Vec<String> = params.iter().map(|(i, _)| ast::key(i)).collect();
    let func_name = ast::key(&func.sig.ident);

    let mut out: Vec<ResourceArg<'a>> = Vec::new();
    for (kind, ident) in &args.resources {
        let name = ast::key(ident);
        let key = kind.as_str();
        let what = noun(*kind);
        if let Some(prev) = out.iter().find(|r| ast::key(r.ident) == name) {
            let msg = if prev.kind == *kind {
                format!("`{name}` is listed more than once in `{key}(..)`: list each argument once")
            } else {
                format!(
                    "`{name}` is declared both as a {} (`{}(..)`) and as {what} (`{key}(..)`): an argument is one kind of resource, so keep it in one of the two lists",
                    &noun(prev.kind)[2..],
                    prev.kind.as_str(),
                )
            };
            errors.push(syn::Error::new(ident.span(), msg));
            continue;
        }
        let Some(&(param, ty)) = params.iter().find(|(i, _)| ast::key(i) == name) else {
            errors.push(syn::Error::new(
                ident.span(),
                no_such_param(key, &name, &func_name, &names),
            ));
            continue;
        };
        if args.redact.iter().any(|r| ast::key(r) == name) {
            errors.push(syn::Error::new(
                ident.span(),
                format!(
                    "argument `{name}` is both in `redact(..)` and in `{key}(..)`: the policy matches {what} and the records show it, so `redact` could not hide it; remove it from `redact(..)`, or from `{key}(..)` if it is a secret rather than what the call touches"
                ),
            ));
        }
        out.push(ResourceArg {
            kind: *kind,
            ident: param,
            ty,
        });
    }

    if let (Some(span), Some((kind, ident))) = (args.no_resource, args.resources.first()) {
        errors.push(syn::Error::new(
            span,
            format!(
                "`no_resource` says this builtin touches no path, command or URL, but `{}({})` declares one: remove `no_resource` or the resource list",
                kind.as_str(),
                ast::key(ident)
            ),
        ));
    }

    if let Some((lit, found)) = class
        && let Some(kind) = found.resource()
        && args.no_resource.is_none()
        && !args.resources.iter().any(|(k, _)| *k == kind)
    {
        errors.push(syn::Error::new(lit.span(), missing(&lit.value(), kind, &names)));
    }
    out
}

/// "class X acts on a path: declare it with `path(arg)`, or opt out with `no_resource`".
fn missing(class: &str, kind: ResourceKind, names: &[String]) -> String {
    let key = kind.as_str();
    let hints: &[&str] = match kind {
        ResourceKind::Path => &["path", "file", "dir", "dest", "to", "from", "target"],
        ResourceKind::Command => &["command", "cmd", "argv", "line", "args", "program"],
        ResourceKind::Url => &["url", "uri", "endpoint", "href", "remote"],
    };
    let guess = names
        .iter()
        .find(|n| hints.iter().any(|h| n.contains(h)))
        .or(names.first())
        .map_or("arg", String::as_str);
    let what = noun(kind);
    let bare = &what[2..];
    format!(
        "class `{class}` acts on {what}, and policy rules match it: name the argument that holds it with `{key}({guess})`, or write `no_resource` if this builtin touches no {bare}"
    )
}

/// "a path", "a command", "a URL".
fn noun(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::Path => "a path",
        ResourceKind::Command => "a command",
        ResourceKind::Url => "a URL",
    }
}

//! `#[side_effect]`: the attribute of [sidefx](https://docs.rs/sidefx) that puts an autonomy
//! tier around a builtin. Use it through the facade, `sidefx::side_effect`; this crate is its
//! implementation.
//!
//! Layout (one module per role): `attr` parses the arguments, `ast` models the function,
//! `classes` knows the catalogue and the classes a crate declares, `valid` checks everything
//! (with `resources` for `path(..)`/`command(..)`/`url(..)`) and produces a plan, `expand` generates code, and `fallback` emits the untouched function next
//! to the errors when something is wrong.

use proc_macro2::TokenStream;

mod ast;
mod attr;
mod boxed;
mod classes;
mod errors;
mod expand;
mod resources;
mod std_error;
mod valid;

/// Puts the active autonomy tier around an `async fn` builtin and registers it.
///
/// ```
/// use sidefx::{side_effect, AutonomyPolicy, Tier};
///
/// #[derive(Debug)]
/// enum ToolError {
///     Refused(sidefx::Error),
///     Io(std::io::Error),
/// }
/// impl From<sidefx::Error> for ToolError {
///     fn from(e: sidefx::Error) -> Self {
///         ToolError::Refused(e)
///     }
/// }
///
/// #[side_effect(class = "fs.write", path(path), redact(text))]
/// async fn write_file(path: &str, text: &str) -> Result<(), ToolError> {
///     std::fs::write(path, text).map_err(ToolError::Io)
/// }
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let path = std::env::temp_dir().join(format!("sidefx-doc-{}.txt", std::process::id()));
/// let path = path.to_str().unwrap();
///
/// // Shadow: the body does not run; the call returns the refusal through `From`.
/// let shadow = AutonomyPolicy::at_tier(Tier::Shadow);
/// let err = sidefx::with_policy(shadow, write_file(path, "secret")).await.unwrap_err();
/// assert!(matches!(err, ToolError::Refused(e) if e.is_skipped()));
/// assert!(!std::path::Path::new(path).exists());
///
/// // No policy: the process default, act_auto, runs the body.
/// write_file(path, "hello").await.unwrap();
/// assert_eq!(std::fs::read_to_string(path).unwrap(), "hello");
/// # std::fs::remove_file(path).unwrap();
///
/// // The builtin is in the link-time registry, with its source location.
/// let entry = sidefx::registry::lookup("write_file").unwrap();
/// assert_eq!((entry.class, entry.capability), ("fs.write", "workspace.write_text"));
/// # });
/// ```
///
/// # Arguments
///
/// | key | meaning |
/// |---|---|
/// | `class = ".."` | required: the class of effect, from the catalogue (`fs.write`, `process.exec`, `git.write`, ...) or declared by this crate (below) |
/// | `capability = ".."` | optional: must equal the class's capability (a compile-time check of what you meant) |
/// | `name = ".."` | the builtin's name; defaults to the function's. Use it for dotted names: `name = "git.push"` |
/// | `skip(a, b)` | leave arguments out of the record (contexts, handles, anything not `Serialize`) |
/// | `redact(c)` | record `"[redacted]"` instead of the value (tokens, secrets); the value is never read |
/// | `crate = ".."` | the path of the sidefx crate when the dependency is renamed: `crate = "my_sidefx"` |
///
/// Values are string literals, checked at compile time. Each mistake (unknown class with a "did
/// you mean", a capability that does not match, a missing `class`, a duplicate or unknown key,
/// a non-literal value, `skip`/`redact` naming no parameter) is reported at the offending token,
/// all of them at once, and the function is still emitted unchanged so there is no cascade.
///
/// # Custom classes
///
/// A crate declares its own classes in one place, its `Cargo.toml`, as `class = capability`:
///
/// ```toml
/// [package.metadata.sidefx.classes]
/// "payments.charge" = "payments.write"
/// ```
///
/// A class that is neither in the catalogue nor declared there is a compile error. (A harness
/// that compiles a crate's files under a generated manifest, such as trybuild, can name the
/// real manifest in the `SIDEFX_CLASSES_MANIFEST` environment variable.)
///
/// # The function
///
/// Free functions, inherent methods and trait-impl methods, with generics, where clauses,
/// `impl Trait` arguments and any `self` receiver; the signature is kept token for token.
/// Methods of an `#[async_trait]` impl (and default methods of an `#[async_trait]` trait) work
/// too: put `#[async_trait]` (re-exported as `sidefx::async_trait`) on the `impl` block and
/// `#[side_effect]` on the method; `#[async_trait]` boxes the future first, and the attribute
/// wraps the boxed `async move` block.
///
/// It must be an `async fn` (the call may wait for an approval) returning `Result<T, E>` with
/// `E: From<sidefx::Error>`: a refused call returns `Err(E::from(error))` without running the
/// body (`error.is_skipped()` for shadow and suggest, `SIDEFX-APPROVAL-DENIED`,
/// `SIDEFX-NEEDS-HUMAN`, ...). Another crate's error type (`std::io::Error`, `String`) cannot
/// get that `From` in your crate (E0117): return your own error type that wraps both
/// (`sidefx::signature` shows the two lines). Every recorded argument must implement
/// `serde::Serialize`; one that fails to serialize refuses the call (fail closed). Recording
/// happens only when the scope needs a record: an act_auto call with nothing to audit
/// allocates nothing.
///
/// What each tier does is `sidefx`'s enforcement table: act_auto runs the body; shadow and
/// suggest record a proposal (suggest also files a non-blocking approval request) and skip it;
/// act_with_approval waits for the reviewers' decision; requires-human refuses and files a
/// request. The records go to the event log of the task scope (`sidefx::with_event_log`).
///
/// # The registry, and the linking pitfall
///
/// Each annotated builtin is placed in a link-time registry (a `linkme` distributed slice; no
/// code runs before `main`), so `sidefx::registry::lookup("git.push")`, `registry::all()`
/// (with file and line), `registry::validate()` (duplicate names) and the dynamic
/// `sidefx::enforce("git.push", &args)` find it.
///
/// **A crate that the final binary never references contributes no entries.** If your builtins
/// live in a library crate (`my_tools`) that the binary lists as a dependency but never names,
/// rustc does not link it and its builtins are missing from the registry (`enforce` reports
/// `SIDEFX-UNKNOWN-BUILTIN`). Fix: reference the crate from the binary, for example
/// `use my_tools as _;` in `main.rs`, or call any of its items. Check what was linked with
/// `sidefx::registry::all()`.
#[proc_macro_attribute]
pub fn side_effect(args: proc_macro::TokenStream, item: proc_macro::TokenStream) -> proc_macro::TokenStream {
    side_effect_impl(args.into(), item.into()).into()
}

/// The macro on `proc_macro2` tokens, so it can be exercised outside a compiler.
fn side_effect_impl(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = errors::Errors::default();
    let parsed_args = attr::parse(args, &mut errors);
    let func: ast::InputFn = match syn::parse2(item.clone()) {
        Ok(func) => func,
        Err(e) => {
            errors.push(syn::Error::new(
                e.span(),
                format!("`#[side_effect]` applies to `async fn` items and methods with a body: {e}"),
            ));
            return fallback(&errors, item);
        }
    };
    match valid::check(&parsed_args, &func, &mut errors) {
        Some(plan) if errors.is_empty() => expand::expand(&func, &plan),
        _ => fallback(&errors, item),
    }
}

/// What to emit when the input is wrong: every error, plus the function exactly as written, so
/// its callers still compile and the user sees only the real mistakes. A misplaced
/// `#[async_trait]` (already reported) is left out: it would fail on a method and drop it.
fn fallback(errors: &errors::Errors, item: TokenStream) -> TokenStream {
    let mut out = errors.to_compile_errors();
    out.extend(without_async_trait(item));
    out
}

/// `item` without its leading `#[async_trait]`/`#[async_trait(..)]`/`#[x::async_trait]`
/// attributes.
fn without_async_trait(item: TokenStream) -> TokenStream {
    use proc_macro2::{Delimiter, TokenTree};
    let tokens: Vec<TokenTree> = item.into_iter().collect();
    let mut out = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        if let (TokenTree::Punct(p), Some(TokenTree::Group(g))) = (&tokens[i], tokens.get(i + 1))
            && p.as_char() == '#'
            && g.delimiter() == Delimiter::Bracket
            && syn::parse2::<syn::Meta>(g.stream())
                .is_ok_and(|m| m.path().segments.last().is_some_and(|s| s.ident == "async_trait"))
        {
            i += 2;
            continue;
        }
        out.push(tokens[i].clone());
        i += 1;
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::side_effect_impl;

    fn expand(args: proc_macro2::TokenStream, item: proc_macro2::TokenStream) -> String {
        side_effect_impl(args, item).to_string()
    }

    #[test]
    fn expands_to_gate_registration_and_wrapped_body() {
        let out = expand(
            quote!(class = "fs.write", path(path), redact(text)),
            quote!(
                async fn write_file(path: &str, text: &str) -> Result<(), E> {
                    body(path)
                }
            ),
        );
        assert!(out.contains("distributed_slice"), "{out}");
        assert!(out.contains(":: sidefx :: __private :: gate"), "{out}");
        assert!(out.contains(". redacted (\"text\")"), "{out}");
        assert!(
            out.contains(
                ". arg (\"path\" , < & str as :: sidefx :: __private :: RecordArg > :: record (& path))"
            ),
            "{out}"
        );
        assert!(out.contains("gate_with"), "{out}");
        assert!(
            out.contains("< & str as :: sidefx :: __private :: PathArg > :: path_value (& path)"),
            "{out}"
        );
        assert!(
            out.contains("ResourceSpec :: new (:: sidefx :: __private :: ResourceKind :: Path , \"path\")"),
            "{out}"
        );
        assert!(!out.contains("compile_error"), "{out}");
    }

    #[test]
    fn errors_keep_the_function_and_report_every_mistake() {
        let out = expand(
            quote!(class = "fs.wrte", bogus = 1, skip(nope)),
            quote!(
                fn write_file(path: &str) -> Result<(), E> {
                    body(path)
                }
            ),
        );
        assert_eq!(out.matches("compile_error").count(), 4, "{out}");
        assert!(out.contains("did you mean `fs.write`"), "{out}");
        assert!(out.contains("fn write_file (path : & str)"), "{out}");
        assert!(!out.contains("__private"), "{out}");
    }

    #[test]
    fn a_malformed_list_is_one_error() {
        let out = expand(
            quote!("fs.write"),
            quote!(
                async fn f() -> Result<(), E> {
                    Ok(())
                }
            ),
        );
        assert_eq!(out.matches("compile_error").count(), 1, "{out}");
        assert!(out.contains("key = "), "{out}");
    }

    #[test]
    fn crate_path_is_honoured() {
        let out = expand(
            quote!(class = "fs.mkdtemp", no_resource, crate = "renamed"),
            quote!(
                async fn f() -> Result<(), E> {
                    Ok(())
                }
            ),
        );
        assert!(out.contains("renamed :: __private"), "{out}");
        assert!(!out.contains(":: sidefx ::"), "{out}");
    }
}

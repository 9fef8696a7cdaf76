//! Code generation for a checked [`Plan`].
//!
//! The signature is re-emitted token for token; only the body changes:
//!
//! ```text
//! async fn f(args..) -> R {
//!     static <registry entry in BUILTINS>;
//!     let (wrap, is_ok) = <R as SideEffectResult>::result_fns();    // R: Result<_, E>
//!     let refuse = |e| wrap(RefusalError::from_refusal(e));          // E: From<sidefx::Error>
//!     // sync, allocation-free when act_auto (gate_with(&ACTION, || [resources]) when the
//!     // builtin declares path/command/url); the arguments are recorded only for a Check
//!     let stage = Stage::new(gate(&ACTION), || Args::new(..).arg("x", &x)..finish());
//!     // with redact(t): Stage::with_secrets(.., |real| real.secret("t", <t's value if
//!     // Serialize>)), read only for a suggest-tier call (the fingerprint of its grant)
//!     // one hand-written future: decides (Check), runs the body in place, writes the audit
//!     // record if any; a refusal returns refuse(e) and the body never runs
//!     Enforced::new(stage, refuse, is_ok, async move { <fake return>; <the body> }).await
//! }
//! ```
//!
//! The "fake return" (a never-taken `return` of a value typed as `R`, from
//! tracing-attributes) fixes the inner block's type to `R`, so `?` works and a type error in
//! the body is reported at the user's expression, not at the attribute.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{Ident, LitStr, Type};

use crate::ast::{self, InputFn};
use crate::classes::EXTRA_MANIFEST_ENV;
use crate::resources::ResourceArg;
use crate::std_error;
use crate::valid::{Plan, Recorded};
use sidefx_catalogue::ResourceKind;

pub(crate) fn expand(func: &InputFn, plan: &Plan<'_>) -> TokenStream {
    let head = func.head();
    let inner_attrs = &plan.body.inner_attrs;
    let stmts = &plan.body.stmts;
    let ret = plan.ret;
    let ret_span = ret.span();
    let private = private_path(&plan.krate, Span::call_site());
    let private_at_ret = private_path(&plan.krate, ret_span);

    let local = |name: &str| Ident::new(name, Span::mixed_site());
    let (wrap, refuse, is_ok, stage, error) = (
        local("__sidefx_wrap"),
        local("__sidefx_refuse"),
        local("__sidefx_is_ok"),
        local("__sidefx_stage"),
        local("__sidefx_error"),
    );

    let registration = registration(func, plan, &private);
    let records = plan.recorded.iter().map(|r| match r {
        Recorded::Value { ident, ty } => {
            // Spanned on the parameter's type, and the type itself as the turbofish: a
            // non-`Serialize` argument is reported on the type as the user wrote it.
            let at = ident.span().located_at(ty.span());
            let mut value = (*ident).clone();
            value.set_span(at);
            let key = LitStr::new(&ast::key(ident), at);
            // A trait call, not a bound on `arg`: the error names `RecordArg` and nothing of
            // `__private`.
            let private = private_path(&plan.krate, at);
            match contains_impl_trait(ty) {
                false => quote_spanned!(at=> .arg(#key, <#ty as #private::RecordArg>::record(&#value))),
                true => quote_spanned!(at=> .arg(#key, #private::RecordArg::record(&#value))),
            }
        }
        Recorded::Redacted { ident } => {
            let key = LitStr::new(&ast::key(ident), ident.span());
            quote!(.redacted(#key))
        }
    });
    let name = &plan.name;
    let gate = gate(plan, &private);
    let (stage_new, secrets) = stage_new(plan, &private);
    let fake_return = fake_return(ret);
    // The return type's two checks, each one trait call on the return type as written, so
    // "not a `Result`" and "no `From<sidefx::Error>`" point at it, once each, and no note
    // points into sidefx (a bound on a helper function would).
    let result_fns = match contains_impl_trait(ret) {
        false => quote_spanned!(ret_span=> <#ret as #private_at_ret::SideEffectResult>::result_fns()),
        true => quote_spanned!(ret_span=> #private_at_ret::SideEffectResult::result_fns()),
    };
    let refusal = match std_error::has_std_error(ret) {
        true => quote!(#private_at_ret::ForeignRefusalError::from_refusal),
        false => quote!(#private_at_ret::RefusalError::from_refusal),
    };
    // rustc reports an unmet bound of this call at the call, from its first token to its last:
    // spanned from the return type's first token to its last, the report underlines the
    // whole return type as written.
    let refusal = spanning(quote!(#refusal(#error)), ret);
    let brace = plan.body.brace;
    let mut body = TokenStream::new();
    brace.surround(&mut body, |out| {
        out.extend(quote! {
            #(#inner_attrs)*
            #registration
            let (#wrap, #is_ok) = #result_fns;
            let #refuse = move |#error| #wrap(#refusal);
            // The arguments are recorded (only if the gate did not open) before the body takes
            // them.
            let #stage = #stage_new(#gate, || #private::Args::new(#name) #(#records)* .finish() #secrets);
            #private::Enforced::new(#stage, #refuse, #is_ok, async move { #fake_return #(#stmts)* }).await
        });
    });
    match &func.boxed {
        None => quote!(#head #body),
        // Already rewritten by `#[async_trait]`: the checked body goes back into the same
        // `Box::pin(async move { .. })`, inside the function's own braces.
        Some(boxed) => {
            let pin = &boxed.pin;
            let outer = func.body.as_ref().map(|b| (b.brace, &b.inner_attrs));
            let mut wrapped = TokenStream::new();
            match outer {
                Some((brace, attrs)) => brace.surround(&mut wrapped, |out| {
                    out.extend(quote!(#(#attrs)* #pin(async move #body)));
                }),
                None => wrapped.extend(quote!({ #pin(async move #body) })),
            }
            quote!(#head #wrapped)
        }
    }
}

/// `Stage::new`, or `Stage::with_secrets` for a builtin with redacted arguments: the extra
/// closure gives each redacted argument's real value (when its type is `Serialize`; otherwise
/// the call cannot become a suggestion grant) for the fingerprint a grant is bound to.
/// Returns the path and the closure (with its leading comma, or nothing).
fn stage_new(plan: &Plan<'_>, private: &TokenStream) -> (TokenStream, TokenStream) {
    let secrets: Vec<_> = plan
        .recorded
        .iter()
        .filter_map(|r| match r {
            Recorded::Redacted { ident } => Some(*ident),
            Recorded::Value { .. } => None,
        })
        .collect();
    if secrets.is_empty() {
        return (quote!(#private::Stage::new), TokenStream::new());
    }
    let real = Ident::new("__sidefx_real", Span::mixed_site());
    let puts = secrets.iter().map(|ident| {
        let key = LitStr::new(&ast::key(ident), ident.span());
        // Autoref specialisation: `Serialize` values are read, any other type answers `None`
        // (no compile error: a secret wrapper need not be `Serialize`).
        quote!(.secret(#key, (&&#private::GrantProbe(&#ident)).grant_value()))
    });
    let closure = quote!(, |#real: #private::GrantArgs| {
        #[allow(unused_imports)]
        use #private::{GrantBySerialize as _, GrantOpaque as _};
        #real #(#puts)*
    });
    (quote!(#private::Stage::with_secrets), closure)
}

/// The call to the gate: `gate(&ACTION)`, or `gate_with(&ACTION, || [resources])` when the
/// builtin declares resources, so they are read only when a policy has rules to match them.
/// Each resource is converted through its kind's trait with the parameter's type as written
/// as the turbofish: a type of the wrong kind is reported there, once.
fn gate(plan: &Plan<'_>, private: &TokenStream) -> TokenStream {
    if plan.resources.is_empty() {
        return quote!(#private::gate(&__SIDEFX_ACTION));
    }
    let resources = plan.resources.iter().map(|ResourceArg { kind, ident, ty }| {
        let at = ident.span().located_at(ty.span());
        let mut value = (*ident).clone();
        value.set_span(at);
        let key = LitStr::new(&ast::key(ident), at);
        let (kind, conv, method) = match kind {
            ResourceKind::Path => ("Path", "PathArg", "path_value"),
            ResourceKind::Command => ("Command", "CommandArg", "command_value"),
            ResourceKind::Url => ("Url", "UrlArg", "url_value"),
        };
        let (kind, conv, method) = (
            Ident::new(kind, Span::call_site()),
            Ident::new(conv, at),
            Ident::new(method, at),
        );
        // A trait call on the type as written (not a bound on a helper function), so a type
        // of the wrong kind is reported on it, once, with no note pointing into sidefx.
        let private = private_path(&plan.krate, at);
        let value = match contains_impl_trait(ty) {
            false => quote_spanned!(at=> <#ty as #private::#conv>::#method(&#value)),
            true => quote_spanned!(at=> #private::#conv::#method(&#value)),
        };
        quote!(#private::Resource::new(#private::ResourceKind::#kind, #key, #value))
    });
    quote!(#private::gate_with(&__SIDEFX_ACTION, || ::std::vec::Vec::from([#(#resources),*])))
}

/// `&[ResourceSpec::new(ResourceKind::Path, "from"), ..]` for the registry entry.
fn resource_specs(plan: &Plan<'_>, private: &TokenStream) -> TokenStream {
    let specs = plan.resources.iter().map(|r| {
        let kind = Ident::new(
            match r.kind {
                ResourceKind::Path => "Path",
                ResourceKind::Command => "Command",
                ResourceKind::Url => "Url",
            },
            Span::call_site(),
        );
        let arg = ast::key(r.ident);
        quote!(#private::ResourceSpec::new(#private::ResourceKind::#kind, #arg))
    });
    quote!(&[#(#specs),*])
}

/// The registry entry and the action, as items inside the function body (so methods get them
/// too), plus what makes rustc rebuild when a declaring manifest changes.
fn registration(func: &InputFn, plan: &Plan<'_>, private: &TokenStream) -> TokenStream {
    let Plan {
        name,
        class,
        capability,
        ..
    } = plan;
    // `file!`/`line!` spanned on the function's name report the declaration, not the attribute.
    let at = func.sig.ident.span();
    let resources = resource_specs(plan, private);
    let file = quote_spanned!(at=> ::core::file!());
    let line = quote_spanned!(at=> ::core::line!());
    let tracked = plan.manifests.iter().map(|path| {
        let path = LitStr::new(&path.to_string_lossy(), Span::call_site());
        quote!(
            const _: &[u8] = ::core::include_bytes!(#path);
        )
    });
    let env_tracked = (!plan.manifests.is_empty()).then(|| {
        quote!(
            const _: ::core::option::Option<&str> = ::core::option_env!(#EXTRA_MANIFEST_ENV);
        )
    });
    quote! {
        #[#private::linkme::distributed_slice(#private::BUILTINS)]
        #[linkme(crate = #private::linkme)]
        static __SIDEFX_BUILTIN: #private::BuiltinInfo = #private::BuiltinInfo {
            name: #name,
            class: #class,
            capability: #capability,
            resources: #resources,
            module_path: ::core::module_path!(),
            file: #file,
            line: #line,
        };
        const __SIDEFX_ACTION: #private::SideEffectAction =
            #private::SideEffectAction::new(#name, #class, #capability);
        #(#tracked)*
        #env_tracked
    }
}

/// `if false { let r: R = loop {}; return r; }`, spanned on the return type. Left out when `R`
/// contains `impl Trait`, which cannot be written in a `let`.
fn fake_return(ret: &Type) -> TokenStream {
    if contains_impl_trait(ret) {
        return TokenStream::new();
    }
    quote_spanned! {ret.span()=>
        #[allow(
            unknown_lints,
            unreachable_code,
            clippy::diverging_sub_expression,
            clippy::let_unit_value,
            clippy::unreachable,
            clippy::let_with_type_underscore,
            clippy::empty_loop,
            clippy::needless_return,
            clippy::used_underscore_binding
        )]
        if false {
            let __sidefx_fake_return: #ret = loop {};
            return __sidefx_fake_return;
        }
    }
}

fn contains_impl_trait(ty: &Type) -> bool {
    struct Finder(bool);
    impl<'ast> Visit<'ast> for Finder {
        fn visit_type_impl_trait(&mut self, _: &'ast syn::TypeImplTrait) {
            self.0 = true;
        }
    }
    let mut f = Finder(false);
    f.visit_type(ty);
    f.0
}

/// `tokens` re-spanned so that rustc sees them covering `ty`: the last token tree (the call's
/// parentheses) at `ty`'s last token, every other at `ty`'s first (stable proc macros cannot
/// join spans).
fn spanning(tokens: TokenStream, ty: &Type) -> TokenStream {
    let ty_tokens: Vec<TokenTree> = ty.to_token_stream().into_iter().collect();
    let (Some(first), Some(last)) = (ty_tokens.first(), ty_tokens.last()) else {
        return tokens;
    };
    let (first, last) = (first.span(), last.span());
    let mut out: Vec<TokenTree> = tokens.into_iter().collect();
    let n = out.len();
    for (i, tt) in out.iter_mut().enumerate() {
        tt.set_span(Span::call_site().located_at(if i + 1 == n { last } else { first }));
    }
    out.into_iter().collect()
}

/// `<krate>::__private`, every token located at `at` (call-site hygiene, so the path resolves
/// as the user wrote it).
fn private_path(krate: &TokenStream, at: Span) -> TokenStream {
    let span = Span::call_site().located_at(at);
    let path = quote!(#krate::__private);
    path.into_iter()
        .map(|mut tt| {
            if !matches!(tt, TokenTree::Group(_)) {
                tt.set_span(span);
            }
            tt
        })
        .collect::<TokenStream>()
        .into_token_stream()
}

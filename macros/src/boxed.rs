//! Methods already rewritten by `#[async_trait]`. On an `impl` block `#[async_trait]` is the
//! outer attribute, so it expands first and `#[side_effect]` receives
//!
//! ```text
//! fn m<'life0, 'async_trait>(&'life0 self, ..) -> Pin<Box<dyn Future<Output = R> + Send + 'async_trait>>
//! { Box::pin(async move { .. the body .. }) }
//! ```
//!
//! [`detect`] recognises that shape and gives back `R` and the async block's body, so the
//! checks and the expansion treat it as `async fn m(..) -> R { body }`; the expansion then
//! wraps its result in the same `Box::pin(async move { .. })`.

use syn::{Expr, GenericArgument, PathArguments, ReturnType, Signature, Stmt, Type, TypeParamBound};

use crate::ast::Body;

/// The parts of a boxed async method that the expansion keeps.
pub(crate) struct Boxed {
    /// `R`, the future's output: the function's real return type.
    pub output: Type,
    /// The `Box::pin` callee as written (re-emitted around the expansion).
    pub pin: Expr,
    /// The `async move` block's body.
    pub body: Body,
}

/// The boxed shape of `sig` and `stmts`, if it is one.
pub(crate) fn detect(sig: &Signature, stmts: &[Stmt]) -> Option<Boxed> {
    if sig.asyncness.is_some() {
        return None;
    }
    let output = future_output(&sig.output)?;
    let [Stmt::Expr(Expr::Call(call), None)] = stmts else {
        return None;
    };
    let Expr::Path(callee) = &*call.func else {
        return None;
    };
    let names: Vec<String> = callee.path.segments.iter().map(|s| s.ident.to_string()).collect();
    if !names.ends_with(&["Box".to_owned(), "pin".to_owned()]) || call.args.len() != 1 {
        return None;
    }
    let Some(Expr::Async(block)) = call.args.first() else {
        return None;
    };
    if block.capture.is_none() || !block.attrs.is_empty() {
        return None;
    }
    Some(Boxed {
        output,
        pin: (*call.func).clone(),
        body: Body {
            brace: block.block.brace_token,
            inner_attrs: Vec::new(),
            stmts: block.block.stmts.clone(),
        },
    })
}

/// `R` of `-> Pin<Box<dyn Future<Output = R> + ..>>`.
fn future_output(output: &ReturnType) -> Option<Type> {
    let ReturnType::Type(_, ty) = output else {
        return None;
    };
    let boxed = single_type_arg(ty, "Pin")?;
    let Type::TraitObject(object) = single_type_arg(boxed, "Box")? else {
        return None;
    };
    object.bounds.iter().find_map(|bound| {
        let TypeParamBound::Trait(t) = bound else {
            return None;
        };
        let last = t.path.segments.last()?;
        if last.ident != "Future" {
            return None;
        }
        let PathArguments::AngleBracketed(args) = &last.arguments else {
            return None;
        };
        args.args.iter().find_map(|a| match a {
            GenericArgument::AssocType(assoc) if assoc.ident == "Output" => Some(assoc.ty.clone()),
            _ => None,
        })
    })
}

/// `T` of `Name<T>` (any path ending in `Name`).
fn single_type_arg<'a>(ty: &'a Type, name: &str) -> Option<&'a Type> {
    let Type::Path(p) = ty else {
        return None;
    };
    let last = p.path.segments.last()?;
    if last.ident != name {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.iter().collect::<Vec<_>>().as_slice() {
        [GenericArgument::Type(t)] => Some(t),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use quote::ToTokens;

    use super::detect;
    use crate::ast::InputFn;

    fn boxed(item: proc_macro2::TokenStream) -> Option<(String, usize)> {
        let f: InputFn = syn::parse2(item).unwrap();
        let b = detect(&f.sig, &f.body.as_ref().unwrap().stmts)?;
        Some((b.output.to_token_stream().to_string(), b.body.stmts.len()))
    }

    #[test]
    fn the_async_trait_shape_is_recognised_and_nothing_else() {
        let send = quote::quote!(
            fn m<'life0, 'async_trait>(
                &'life0 self,
                x: u8,
            ) -> ::core::pin::Pin<
                Box<dyn ::core::future::Future<Output = Result<u8, E>> + ::core::marker::Send + 'async_trait>,
            >
            where
                'life0: 'async_trait,
                Self: 'async_trait,
            {
                Box::pin(async move {
                    let __self = self;
                    let x = x;
                    Ok(x)
                })
            }
        );
        assert_eq!(boxed(send), Some(("Result < u8 , E >".into(), 3)));
        let local = quote::quote!(
            fn m<'async_trait>(x: u8) -> Pin<Box<dyn Future<Output = Result<(), E>> + 'async_trait>> {
                Box::pin(async move { Ok(()) })
            }
        );
        assert!(boxed(local).is_some());
        let not_async_block = quote::quote!(
            fn m() -> Pin<Box<dyn Future<Output = Result<(), E>>>> {
                Box::pin(fut())
            }
        );
        assert!(boxed(not_async_block).is_none());
        let plain = quote::quote!(
            fn m() -> Result<(), E> {
                Ok(())
            }
        );
        assert!(boxed(plain).is_none());
        let native = quote::quote!(
            async fn m() -> Pin<Box<dyn Future<Output = ()>>> {
                Box::pin(async move {})
            }
        );
        assert!(boxed(native).is_none());
    }
}

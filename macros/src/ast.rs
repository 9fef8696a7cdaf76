//! The annotated function as the macro sees it: attributes, visibility, signature and body,
//! kept token for token so the expansion can re-emit them unchanged.
//!
//! Free functions, inherent methods and trait-impl methods all parse here (a method is a
//! function whose first parameter is a receiver, plus an optional `default`).

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::parse::{Parse, ParseStream};
use syn::{Attribute, FnArg, Ident, Pat, Signature, Stmt, Token, Type, Visibility};

use crate::boxed::{self, Boxed};

/// An annotated function.
pub(crate) struct InputFn {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub defaultness: Option<Token![default]>,
    pub sig: Signature,
    /// `None` for a declaration without a body (`fn f();` in a trait).
    pub body: Option<Body>,
    /// Set when `#[async_trait]` already rewrote the method into a boxed future.
    pub boxed: Option<Boxed>,
}

/// A function body: inner attributes, then statements.
pub(crate) struct Body {
    pub brace: syn::token::Brace,
    pub inner_attrs: Vec<Attribute>,
    pub stmts: Vec<Stmt>,
}

/// A parameter as the recorder sees it.
pub(crate) enum Param<'a> {
    /// `self`, `&self`, `&mut self`, `self: Box<Self>`: never recorded.
    Receiver,
    /// `name: Type` (also `mut name`): recorded under `name` unless skipped or redacted.
    Named { ident: &'a Ident, ty: &'a Type },
    /// `_: Type`: the value is unreachable, so it is not recorded.
    Wild,
    /// A destructuring pattern: there is no single value to record.
    Pattern { pat: &'a Pat },
}

impl Parse for InputFn {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis = input.parse()?;
        let defaultness = input.parse()?;
        let sig = input.parse()?;
        let body = if input.peek(Token![;]) {
            input.parse::<Token![;]>()?;
            None
        } else {
            let content;
            let brace = syn::braced!(content in input);
            let inner_attrs = content.call(Attribute::parse_inner)?;
            let stmts = content.call(syn::Block::parse_within)?;
            Some(Body {
                brace,
                inner_attrs,
                stmts,
            })
        };
        let boxed = body.as_ref().and_then(|b| boxed::detect(&sig, &b.stmts));
        Ok(InputFn {
            attrs,
            vis,
            defaultness,
            sig,
            body,
            boxed,
        })
    }
}

impl InputFn {
    /// The function's parameters, classified for recording.
    pub(crate) fn params(&self) -> impl Iterator<Item = Param<'_>> {
        self.sig.inputs.iter().map(|arg| match arg {
            FnArg::Receiver(_) => Param::Receiver,
            FnArg::Typed(t) => match &*t.pat {
                Pat::Ident(p) if p.subpat.is_none() => {
                    if p.ident == "self" {
                        Param::Receiver
                    } else {
                        Param::Named {
                            ident: &p.ident,
                            ty: &t.ty,
                        }
                    }
                }
                Pat::Wild(_) => Param::Wild,
                pat => Param::Pattern { pat },
            },
        })
    }

    /// The head of the function: everything but the body, token for token.
    pub(crate) fn head(&self) -> TokenStream {
        let InputFn {
            attrs,
            vis,
            defaultness,
            sig,
            ..
        } = self;
        let mut out = TokenStream::new();
        for a in attrs {
            a.to_tokens(&mut out);
        }
        vis.to_tokens(&mut out);
        defaultness.to_tokens(&mut out);
        sig.to_tokens(&mut out);
        out
    }
}

/// A parameter's name as recorded: the identifier without a raw `r#` prefix.
pub(crate) fn key(ident: &Ident) -> String {
    let s = ident.to_string();
    s.strip_prefix("r#").map(str::to_owned).unwrap_or(s)
}

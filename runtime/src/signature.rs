//! What `#[side_effect]` requires of a function's signature, as traits, so that each mistake is
//! one compile error that names the fix. Every qualifying type implements them already; you
//! never implement them yourself.
//!
//! - The return type is a [`SideEffectResult`]: a `Result<T, E>`.
//! - Its error type is a [`RefusalError`]: `E: From<sidefx::Error>`, so a refused call returns
//!   `Err(E::from(refusal))` without running the body.
//! - Each recorded argument is a [`RecordArg`]: `serde::Serialize`.
//!
//! An error type from another crate (`std::io::Error`, `String`) cannot get
//! `impl From<sidefx::Error>` in your crate (the orphan rule, E0117). Return your own error
//! type, which wraps both:
//!
//! ```
//! #[derive(Debug)]
//! enum ToolError { Refused(sidefx::Error), Io(std::io::Error) }
//! impl From<sidefx::Error> for ToolError { fn from(e: sidefx::Error) -> Self { ToolError::Refused(e) } }
//!
//! #[sidefx::side_effect(class = "fs.write", path(path))]
//! async fn write_note(path: String) -> Result<(), ToolError> {
//!     std::fs::write(path, "note").map_err(ToolError::Io)
//! }
//!
//! fn qualifies<R: sidefx::signature::SideEffectResult>() where R::Err: sidefx::signature::RefusalError {}
//! qualifies::<Result<(), ToolError>>();
//! ```

use serde_json::Value;

use crate::Error;

/// What a `#[side_effect]` function may return: a `Result<T, E>` (its error type is checked
/// separately, by [`RefusalError`], so each mistake gets its own message).
///
/// ```
/// use sidefx::signature::SideEffectResult;
/// let (wrap, is_ok) = <Result<u8, String> as SideEffectResult>::result_fns();
/// assert!(!is_ok(&wrap("no".into())));
/// ```
#[diagnostic::on_unimplemented(
    message = "a `#[side_effect]` function must return `Result<T, E>`, not `{Self}`",
    label = "not a `Result`",
    note = "a refused call returns `Err(E::from(sidefx::Error))` without running the body, so the return type must be `Result<T, E>` with `E: From<sidefx::Error>`; for example `Result<(), MyError>`"
)]
pub trait SideEffectResult: Sized {
    /// The error type.
    type Err;
    /// Wraps an error.
    fn from_err(err: Self::Err) -> Self;
    /// Whether the call succeeded (for the audit record).
    fn succeeded(&self) -> bool;
    /// [`Self::from_err`] and [`Self::succeeded`] as zero-sized functions: what generated code
    /// keeps, through one trait call so that a wrong return type is reported once. They are
    /// the functions themselves, not pointers, so an annotated builtin's future stores nothing
    /// for them and calls them directly.
    fn result_fns() -> (impl Fn(Self::Err) -> Self + Copy, impl Fn(&Self) -> bool + Copy) {
        (Self::from_err, Self::succeeded)
    }
}

// `do_not_recommend`: a wrong return type is reported with the message above, not with this
// impl's source as a candidate.
#[diagnostic::do_not_recommend]
impl<T, E> SideEffectResult for Result<T, E> {
    type Err = E;
    fn from_err(err: E) -> Self {
        Err(err)
    }
    fn succeeded(&self) -> bool {
        self.is_ok()
    }
}

/// An error type that can carry a refusal: any `E: From<sidefx::Error>`.
///
/// ```
/// use sidefx::signature::RefusalError;
/// let e = <sidefx::Error as RefusalError>::from_refusal(sidefx::Error::Config("no".into()));
/// assert_eq!(e.code(), "SIDEFX-CONFIG");
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot carry a sidefx refusal: it does not implement `From<sidefx::Error>`",
    label = "a refused call returns `Err(E::from(sidefx::Error))`, and this `E` has no such `From`",
    note = "if `{Self}` is your own type, add `impl From<sidefx::Error> for {Self}` (or a `#[from] sidefx::Error` variant with thiserror)",
    note = "if `{Self}` is another crate's type, that impl is not allowed (E0117): return your own error type instead:\n    enum MyError {{ Refused(sidefx::Error), Other({Self}) }}\n    impl From<sidefx::Error> for MyError {{ fn from(e: sidefx::Error) -> Self {{ MyError::Refused(e) }} }}"
)]
pub trait RefusalError: Sized {
    /// Converts the refusal.
    fn from_refusal(err: Error) -> Self;
}

#[diagnostic::do_not_recommend]
impl<E: From<Error>> RefusalError for E {
    fn from_refusal(err: Error) -> Self {
        E::from(err)
    }
}

/// The same requirement as [`RefusalError`], checked instead of it when the macro sees an error
/// type that belongs to the standard library (`std::io::Result<()>`, `Result<(), String>`):
/// `From<sidefx::Error>` cannot be implemented for it, so the message asks for your own type.
///
/// ```
/// use sidefx::signature::ForeignRefusalError;
/// let e = <sidefx::Error as ForeignRefusalError>::from_refusal(sidefx::Error::Config("no".into()));
/// assert_eq!(e.code(), "SIDEFX-CONFIG");
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot carry a sidefx refusal, and being another crate's type it cannot get `impl From<sidefx::Error>` in yours (E0117)",
    label = "return your own error type here, one that implements `From<sidefx::Error>`",
    note = "a refused call returns `Err(E::from(sidefx::Error))` without running the body; wrap `{Self}` in your own error type:\n    enum ToolError {{ Refused(sidefx::Error), Other({Self}) }}\n    impl From<sidefx::Error> for ToolError {{ fn from(e: sidefx::Error) -> Self {{ ToolError::Refused(e) }} }}",
    note = "then return `Result<T, ToolError>` and turn `{Self}` errors into `ToolError::Other` (`.map_err(ToolError::Other)`, or `impl From<{Self}> for ToolError` to keep using `?`)"
)]
pub trait ForeignRefusalError: Sized {
    /// Converts the refusal.
    fn from_refusal(err: Error) -> Self;
}

#[diagnostic::do_not_recommend]
impl<E: From<Error>> ForeignRefusalError for E {
    fn from_refusal(err: Error) -> Self {
        E::from(err)
    }
}

/// An argument that can be recorded as JSON in proposals, approval requests and trust records.
///
/// ```
/// use sidefx::signature::RecordArg;
/// assert_eq!(RecordArg::record("a.txt").unwrap(), serde_json::json!("a.txt"));
/// ```
#[diagnostic::on_unimplemented(
    message = "argument of type `{Self}` cannot be recorded: it does not implement `serde::Serialize`",
    label = "not `Serialize`",
    note = "`#[side_effect]` records arguments as JSON; derive or implement `serde::Serialize` for it, leave it out with `skip(name)`, or record only a mask with `redact(name)`"
)]
pub trait RecordArg {
    /// The argument as JSON.
    ///
    /// # Errors
    /// The value's `Serialize` error; the call is then refused rather than run unrecorded.
    fn record(&self) -> Result<Value, serde_json::Error>;
}

#[diagnostic::do_not_recommend]
impl<T: serde::Serialize + ?Sized> RecordArg for T {
    fn record(&self) -> Result<Value, serde_json::Error> {
        serde_json::to_value(self)
    }
}

//! One mechanism for the enum <-> string tables: `strum` derives each enum's names
//! (`IntoStaticStr` and `VariantArray`, with `serialize_all = "snake_case"` matching serde's
//! `rename_all`), and [`named!`] derives `as_str`, `Display` and `FromStr` from them, so no
//! table is written by hand.

/// The variant of `T` whose name is `name`.
pub(crate) fn parse<T>(name: &str) -> Option<T>
where
    T: strum::VariantArray + Copy + Into<&'static str>,
{
    T::VARIANTS
        .iter()
        .copied()
        .find(|v| Into::<&'static str>::into(*v) == name)
}

/// `a, b, c or d`: the names of `T`, for an error that lists what is accepted.
pub(crate) fn expected<T>() -> String
where
    T: strum::VariantArray + Copy + Into<&'static str>,
{
    let names: Vec<&'static str> = T::VARIANTS.iter().map(|v| (*v).into()).collect();
    match names.split_last() {
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// A name that is none of an enum's names; says which names are accepted.
///
/// ```
/// let err = "maybe".parse::<sidefx::trust::Outcome>().unwrap_err();
/// assert_eq!(err.to_string(), r#"unknown outcome "maybe"; expected success, failure, denied or timeout"#);
/// assert_eq!(sidefx::Error::from(err).code(), "SIDEFX-CONFIG");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {noun} {input:?}; expected {expected}")]
pub struct ParseNameError {
    /// What was being named (`outcome`, `approval state`).
    pub noun: &'static str,
    /// The rejected input.
    pub input: String,
    /// The accepted names, listed.
    pub expected: String,
}

/// Derives `as_str` and `Display` (and, with a noun, `FromStr` failing with
/// [`ParseNameError`]) from an enum's strum names.
macro_rules! named {
    ($ty:ty) => {
        impl $ty {
            /// The snake_case name, as stored and shown.
            pub fn as_str(self) -> &'static str {
                self.into()
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
    ($ty:ty, $noun:literal) => {
        $crate::names::named!($ty);

        impl ::std::str::FromStr for $ty {
            type Err = $crate::names::ParseNameError;

            fn from_str(s: &str) -> ::std::result::Result<Self, Self::Err> {
                $crate::names::parse(s).ok_or_else(|| $crate::names::ParseNameError {
                    noun: $noun,
                    input: s.to_owned(),
                    expected: $crate::names::expected::<$ty>(),
                })
            }
        }
    };
}

pub(crate) use named;

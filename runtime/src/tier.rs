//! Autonomy tiers (SPEC §3).

use std::str::FromStr;

/// How much autonomy an agent has for an action, least to most autonomous.
///
/// The order is meaningful: `Shadow < Suggest < ActWithApproval < ActAuto`, and composing scopes
/// takes the minimum (the most restrictive).
///
/// ```
/// use sidefx::Tier;
/// assert!(Tier::Shadow < Tier::ActAuto);
/// assert_eq!("act-with-approval".parse::<Tier>().unwrap(), Tier::ActWithApproval);
/// assert_eq!(Tier::Suggest.to_string(), "suggest");
/// assert_eq!(serde_json::to_string(&Tier::ActAuto).unwrap(), "\"act_auto\"");
/// ```
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Tier {
    /// The call is recorded as a proposal and never runs.
    Shadow,
    /// The call is recorded and a non-blocking approval request is filed; it does not run.
    Suggest,
    /// The call waits for a human approval, then runs.
    ActWithApproval,
    /// The call runs.
    ActAuto,
}

impl Tier {
    /// All tiers, least to most autonomous.
    ///
    /// ```
    /// assert_eq!(sidefx::Tier::ALL.len(), 4);
    /// ```
    pub const ALL: [Tier; 4] = [Tier::Shadow, Tier::Suggest, Tier::ActWithApproval, Tier::ActAuto];
}

// `as_str` (`Tier::ActWithApproval.as_str() == "act_with_approval"`) and `Display`; parsing
// below also accepts dashes and suggests a close name.
crate::names::named!(Tier);

/// The error of parsing a [`Tier`]; it lists the accepted names.
///
/// ```
/// let err = "auto".parse::<sidefx::Tier>().unwrap_err();
/// assert!(err.to_string().contains("act_auto"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown tier {input:?}{}; expected one of shadow, suggest, act_with_approval, act_auto", suggestion.map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default())]
pub struct ParseTierError {
    /// The rejected input.
    pub input: String,
    /// The closest tier name, if one is close.
    pub suggestion: Option<&'static str>,
}

impl FromStr for Tier {
    type Err = ParseTierError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let normalized = s.replace('-', "_");
        crate::names::parse(&normalized).ok_or_else(|| ParseTierError {
            input: s.to_owned(),
            suggestion: sidefx_catalogue::closest(&normalized, Tier::ALL.iter().map(|t| t.as_str())),
        })
    }
}

//! Where an approval request stands, as a type: compared as an enum by the flow and the CLI,
//! shown by its snake_case name.

/// Where an approval request stands: [`ApprovalStatus::state`](super::ApprovalStatus::state).
///
/// ```
/// use sidefx::approval::ApprovalState;
/// assert_eq!(ApprovalState::TimedOut.as_str(), "timed_out");
/// assert_eq!("expired".parse::<ApprovalState>().unwrap(), ApprovalState::Expired);
/// assert_eq!(serde_json::to_string(&ApprovalState::Pending).unwrap(), "\"pending\"");
/// assert!(ApprovalState::Denied.is_decided() && !ApprovalState::Expired.is_decided());
/// ```
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ApprovalState {
    /// Waiting for answers, before its deadline.
    Pending,
    /// The deadline passed and nobody has recorded the timeout yet.
    Expired,
    /// A quorum approved.
    Approved,
    /// A counted reviewer denied.
    Denied,
    /// The timeout is recorded.
    TimedOut,
}

impl ApprovalState {
    /// Whether a decision is recorded (approved, denied or timed out).
    ///
    /// ```
    /// assert!(!sidefx::approval::ApprovalState::Pending.is_decided());
    /// ```
    pub fn is_decided(self) -> bool {
        matches!(
            self,
            ApprovalState::Approved | ApprovalState::Denied | ApprovalState::TimedOut
        )
    }
}

crate::names::named!(ApprovalState, "approval state");

#[cfg(test)]
mod tests {
    use strum::VariantArray;

    use super::ApprovalState;

    /// Every state's name parses back to it, as text and as JSON; an unknown name lists them all.
    #[test]
    fn every_state_round_trips() {
        for &state in ApprovalState::VARIANTS {
            assert_eq!(state.as_str().parse::<ApprovalState>(), Ok(state));
            let json = serde_json::to_string(&state).unwrap();
            assert_eq!(json, format!("\"{state}\""));
            assert_eq!(serde_json::from_str::<ApprovalState>(&json).unwrap(), state);
        }
        let err = "closed".parse::<ApprovalState>().unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"unknown approval state "closed"; expected pending, expired, approved, denied or timed_out"#
        );
    }
}

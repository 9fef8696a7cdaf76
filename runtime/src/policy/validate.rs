//! Semantic validation of a policy against a registry: typos never fall through to a looser tier.

use super::AutonomyPolicy;
use crate::quote::excerpt;
use crate::registry::Registry;
use crate::{Error, Result};
use sidefx_catalogue::closest;

impl AutonomyPolicy {
    /// Checks every builtin-or-class key against the registry and the catalogue, and every agent
    /// id for emptiness. A misspelled key would otherwise never match and silently leave the
    /// looser default in force.
    ///
    /// # Errors
    /// `SIDEFX-POLICY` when the policy names a builtin or class that `registry` does not know.
    ///
    /// ```
    /// use sidefx::AutonomyPolicy;
    /// let registry = sidefx::registry::Registry::from_entries([]);
    /// let p = AutonomyPolicy::from_json(r#"{"action_tiers": {"fs.wirte": "shadow"}}"#).unwrap();
    /// let err = p.validate(&registry).unwrap_err().to_string();
    /// assert!(err.contains("action_tiers.fs.wirte"), "{err}");
    /// assert!(err.contains("did you mean `fs.write`"), "{err}");
    /// ```
    pub fn validate(&self, registry: &Registry) -> Result<()> {
        let mut problems = Vec::new();
        for (path, key) in self.action_keys() {
            if !registry.knows_policy_key(key) {
                let suggestion = closest(key, registry.policy_keys());
                let key = excerpt(key);
                problems.push(match suggestion {
                    Some(s) => format!(
                        "`{path}`: `{key}` is neither a registered builtin nor a known class; did you mean `{s}`?"
                    ),
                    None => format!(
                        "`{path}`: `{key}` is neither a registered builtin nor a known class; check the name, or register the builtin"
                    ),
                });
            }
        }
        for (path, id) in self.agent_ids() {
            if id.trim().is_empty() {
                problems.push(format!("`{path}` names an empty agent id; give the agent a name"));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Policy(super::problems(problems)))
        }
    }
}

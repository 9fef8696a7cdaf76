//! `sidefx policy check`: validate a policy file against the known builtins and classes (its
//! rules' `match` / `not_match` examples are checked as it loads); `sidefx policy explain`;
//! `sidefx policy replay` (in [`super::replay`]).

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail};
use clap::Subcommand;
use serde_json::json;
use sidefx::AutonomyPolicy;
use sidefx::registry::{BuiltinInfo, Registry};

use crate::Res;
use crate::output::{escape, out_json, out_text};

#[derive(Debug, Subcommand)]
pub enum PolicyCmd {
    /// Validate a policy file (JSON, or TOML by extension): tiers, keys, classes, agent ids.
    Check {
        /// The policy file.
        file: PathBuf,
        /// A builtin the policy may name, as NAME=CLASS (builtins of your runtime are not linked
        /// into this CLI; catalogue classes are always known). Repeatable.
        #[arg(long = "builtin", value_name = "NAME=CLASS")]
        builtins: Vec<String>,
        /// A crate's Cargo.toml whose `[package.metadata.sidefx.classes]` declares custom
        /// classes the policy may name. Repeatable.
        #[arg(long = "manifest", value_name = "CARGO_TOML")]
        manifests: Vec<PathBuf>,
    },
    /// Explain the decision for a hypothetical call: tier, whether a human is required, what
    /// decided and every rule that matched.
    Explain(super::explain::ExplainArgs),
    /// Replay a candidate policy on the decisions recorded in the log: which calls would
    /// change tier, which would newly go to a human.
    Replay(super::replay::ReplayArgs),
}

/// Runs a `policy` subcommand; only `replay` opens the log (`log`, as `--log` gave it).
pub async fn run(cmd: PolicyCmd, log: Option<std::ffi::OsString>, json: bool) -> Res {
    match cmd {
        PolicyCmd::Check {
            file,
            builtins,
            manifests,
        } => check(&file, &builtins, &manifests, json),
        PolicyCmd::Explain(args) => super::explain::run(args, json),
        PolicyCmd::Replay(args) => super::replay::run(crate::open_log(log)?.as_ref(), args, json).await,
    }
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

/// The custom classes a crate declares under `[package.metadata.sidefx.classes]`.
fn declared_classes(manifest: &Path) -> Res<Vec<String>> {
    let text = std::fs::read_to_string(manifest)
        .map_err(|e| anyhow!("cannot read manifest {}: {e}", manifest.display()))?;
    let declared = sidefx::catalogue::manifest::parse_manifest(&text)
        .map_err(|e| anyhow!("{}: {e}", manifest.display()))?;
    if declared.is_empty() {
        bail!(
            "{} declares no custom classes; add `[package.metadata.sidefx.classes]` with `\"payments.charge\" = \"payments.write\"`",
            manifest.display()
        );
    }
    declared
        .into_iter()
        .map(|class| match sidefx::catalogue::is_valid_class_name(&class.name) {
            true => Ok(class.name),
            false => Err(anyhow!(
                "{}: `{}` is not a valid class name; use dot-separated lowercase segments such as payments.charge",
                manifest.display(),
                class.name
            )),
        })
        .collect()
}

fn check(file: &Path, builtins: &[String], manifests: &[PathBuf], json: bool) -> Res {
    let mut entries: Vec<BuiltinInfo> = sidefx::registry::snapshot().all().to_vec();
    for spec in builtins {
        let Some((name, class)) = spec
            .split_once('=')
            .filter(|(n, c)| !n.is_empty() && !c.is_empty())
        else {
            bail!("--builtin {spec:?}: expected NAME=CLASS, such as git.push=git.write");
        };
        let capability = sidefx::catalogue::capability_of(class).unwrap_or(class);
        if sidefx::catalogue::capability_of(class).is_none() && !sidefx::catalogue::is_valid_class_name(class)
        {
            bail!(
                "--builtin {spec:?}: `{class}` is not a valid class name; use dot-separated lowercase segments such as payments.charge"
            );
        }
        entries.push(BuiltinInfo::new(leak(name), leak(class), leak(capability)));
    }
    let mut registry = Registry::from_entries(entries);
    for manifest in manifests {
        for class in declared_classes(manifest)? {
            registry = registry.with_class(class);
        }
    }
    let policy = AutonomyPolicy::load(file)?;
    policy
        .validate(&registry)
        .map_err(|e| anyhow!("{}: {e}", file.display()))?;
    if json {
        out_json(&json!({ "file": file, "valid": true }))
    } else {
        out_text(&format!(
            "policy {} is valid\n",
            escape(&file.display().to_string())
        ))
    }
}

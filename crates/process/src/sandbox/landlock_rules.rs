//! The Landlock domain of one job, built and entered in the job's process
//! (the shim's child, after `fork`, before `exec`; the shim is single-threaded).

use std::path::PathBuf;

use landlock::{
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, RestrictionStatus, Ruleset,
    RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope, path_beneath_rules,
};

use super::{DEVICE_WRITE, Mode, Policy, system_read_paths};

/// The newest ABI this code asks for; older kernels get what they support.
const ABI_WANTED: ABI = ABI::V6;

/// Enters the domain for `policy` (plus the job's `tmp`). In `Required` mode a
/// domain that the kernel does not enforce at all is an error.
pub fn enter(policy: &Policy, tmp: Option<&PathBuf>) -> Result<RestrictionStatus, String> {
    let level = match policy.mode {
        Mode::Required => CompatLevel::SoftRequirement,
        _ => CompatLevel::BestEffort,
    };
    let mut ruleset = Ruleset::default()
        .set_compatibility(level)
        .handle_access(AccessFs::from_all(ABI_WANTED))
        .map_err(|e| e.to_string())?;
    if !policy.network {
        ruleset = ruleset
            .handle_access(AccessNet::BindTcp | AccessNet::ConnectTcp)
            .map_err(|e| e.to_string())?;
    }
    ruleset = ruleset
        .scope(Scope::AbstractUnixSocket | Scope::Signal)
        .map_err(|e| e.to_string())?;
    let mut read: Vec<PathBuf> = system_read_paths();
    read.extend(policy.read.iter().cloned());
    let mut write: Vec<PathBuf> = policy.write.clone();
    write.extend(DEVICE_WRITE.iter().map(PathBuf::from));
    write.extend(tmp.cloned());
    let status = ruleset
        .create()
        .map_err(|e| e.to_string())?
        .add_rules(path_beneath_rules(&read, AccessFs::from_read(ABI_WANTED)))
        .map_err(|e| e.to_string())?
        .add_rules(path_beneath_rules(&write, AccessFs::from_all(ABI_WANTED)))
        .map_err(|e| e.to_string())?
        .restrict_self()
        .map_err(|e| e.to_string())?;
    if policy.mode == Mode::Required && status.ruleset == RulesetStatus::NotEnforced {
        return Err(
            "the kernel does not enforce Landlock, and [exec] sandbox = \"required\"".into(),
        );
    }
    Ok(status)
}

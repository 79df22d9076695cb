//! `berth update [OPTIONS] CONTAINER...`: new limits or restart policy for containers, as
//! `docker update` sets them (the seed's `cgset` on a live cgroup, with the record kept
//! true).
//!
//! Order, so a refusal changes nothing:
//! 1. the flags are merged over what the container was created with and checked as `run`
//!    checks them (and as Docker's `update` does: a memory limit above the memory+swap
//!    limit already set needs `--memory-swap` too; `--restart` with `--rm` is refused);
//! 2. a running or paused container gets the new limits live from the runtime's
//!    `update --resources` (the kernel's refusal, e.g. a memory limit below current usage,
//!    ends it here);
//! 3. the bundle's `config.json` gets them (renamed into place), so the next start and
//!    every restart by the monitor run with them;
//! 4. the record gets them last (`inspect`'s `HostConfig`). A `berth` killed between 2
//!    and 4 leaves the live limits newer than the record until the next start.
//!
//! A new `--restart` reaches a running container's monitor through a file in its run
//! directory, read at each exit ([`POLICY_FILE`]).

use std::path::Path;

use serde_json::Value;

use super::restart::Policy;
use super::Engine;
use crate::error::{Error, Result};
use crate::spec::RunOptions;

/// The run directory file holding a restart policy set by `update` since the monitor
/// started; the monitor prefers it to the policy it was started with.
pub const POLICY_FILE: &str = "restart-policy";

/// `update`'s flags; `None` leaves a value as it is.
#[derive(Debug, Clone, Default)]
pub struct UpdateOptions {
    /// `--memory`, bytes.
    pub memory: Option<i64>,
    /// `--memory-swap`, bytes (-1: unlimited).
    pub memory_swap: Option<i64>,
    /// `--cpus`.
    pub cpus: Option<f64>,
    /// `--cpu-shares`.
    pub cpu_shares: Option<u64>,
    /// `--cpuset-cpus`.
    pub cpuset_cpus: Option<String>,
    /// `--pids-limit` (0 or -1: unlimited).
    pub pids_limit: Option<i64>,
    /// `--restart`.
    pub restart: Option<String>,
}

impl UpdateOptions {
    fn is_empty(&self) -> bool {
        !self.changes_resources() && self.restart.is_none()
    }

    fn changes_resources(&self) -> bool {
        self.memory.is_some()
            || self.memory_swap.is_some()
            || self.cpus.is_some()
            || self.cpu_shares.is_some()
            || self.cpuset_cpus.is_some()
            || self.pids_limit.is_some()
    }
}

/// Updates container `key`; returns its id.
pub fn update(e: &Engine, key: &str, u: &UpdateOptions) -> Result<String> {
    if u.is_empty() {
        return Err(Error::InvalidFlag {
            flag: "update",
            value: String::new(),
            reason: "you must provide one or more flags when using this command".into(),
        });
    }
    let r = e.get(key)?;
    let old: RunOptions = serde_json::from_str(&r.config).unwrap_or_default();
    let new = merged(&old, u)?;
    if r.state == "running" && u.changes_resources() {
        apply_live(e, &r, &new)?;
    }
    let bundle = e.paths.container(&r.id).join("bundle/config.json");
    if u.changes_resources() && bundle.exists() {
        crate::spec::edit_bundle(&bundle, |spec| set_resources(spec, &new))?;
    }
    if let Some(policy) = &u.restart {
        let file = e.paths.container_run(&r.id).join(POLICY_FILE);
        if r.state == "running" {
            // Renamed into place: the monitor reads it whole or not at all.
            let tmp = file.with_extension("tmp");
            std::fs::write(&tmp, policy).map_err(Error::io("write", &tmp))?;
            std::fs::rename(&tmp, &file).map_err(Error::io("rename", &file))?;
        }
    }
    let config = serde_json::to_string(&new).map_err(|x| Error::InvalidFlag {
        flag: "update",
        value: r.id.clone(),
        reason: x.to_string(),
    })?;
    e.db.set_config(&r.id, &config)?;
    Ok(r.id)
}

/// `old` with the flags of `u`, checked as `run` and Docker's `update` check them.
fn merged(old: &RunOptions, u: &UpdateOptions) -> Result<RunOptions> {
    let mut new = old.clone();
    let bad = |flag: &'static str, value: String, reason: &str| Error::InvalidFlag {
        flag,
        value,
        reason: reason.into(),
    };
    if let Some(c) = u.cpus {
        if !(c.is_finite() && c > 0.0) {
            return Err(bad("--cpus", c.to_string(), "must be a positive number"));
        }
        new.cpus = Some(c);
    }
    if let Some(m) = u.memory {
        if m < 6 * 1024 * 1024 {
            // Docker's floor: below it the container cannot even start its init.
            return Err(bad("--memory", m.to_string(), "the minimum memory limit is 6MB"));
        }
        let swap = u.memory_swap.or(old.memory_swap);
        if u.memory_swap.is_none() && swap.is_some_and(|s| s > 0 && s < m) {
            return Err(bad(
                "--memory",
                m.to_string(),
                "memory limit should be smaller than the memory+swap limit already set; \
                 update --memory-swap at the same time",
            ));
        }
        new.memory = Some(m);
    }
    if let Some(s) = u.memory_swap {
        if s != -1 && new.memory.is_none_or(|m| s < m) {
            return Err(bad(
                "--memory-swap",
                s.to_string(),
                "the memory+swap limit must be -1 or at least the memory limit, which must be set",
            ));
        }
        new.memory_swap = Some(s);
    }
    if let Some(s) = u.cpu_shares {
        new.cpu_shares = Some(s);
    }
    if let Some(c) = &u.cpuset_cpus {
        new.cpuset_cpus = Some(c.clone());
    }
    if let Some(p) = u.pids_limit {
        // Docker: 0 and -1 both mean no limit.
        new.pids_limit = Some(if p <= 0 { -1 } else { p });
    }
    if let Some(p) = &u.restart {
        let policy = Policy::parse(p)?;
        if old.auto_remove && policy != Policy::No {
            return Err(bad(
                "--restart",
                p.clone(),
                "a restart policy cannot be set on a container started with --rm",
            ));
        }
        new.restart = p.clone();
    }
    Ok(new)
}

/// The runtime's `update --resources FILE` with the limits of `opts` (not the device
/// rules: rewriting those on v1 would deny every device for a moment).
fn apply_live(e: &Engine, r: &crate::db::Record, opts: &RunOptions) -> Result<()> {
    let mut resources = crate::spec::resources(opts);
    if let Some(o) = resources.as_object_mut() {
        o.remove("devices");
    }
    let dir = e.paths.container_run(&r.id);
    let file = dir.join(format!("update-{}.json", std::process::id()));
    let text = resources.to_string();
    std::fs::write(&file, text).map_err(Error::io("write", &file))?;
    let done = e.runtime_of(r).call(&["update", "--resources", path_str(&file), &r.id]);
    let _ = std::fs::remove_file(&file);
    done.map(|_| ())
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}

/// The bundle's `linux.resources` memory, cpu and pids as `opts` has them; other keys
/// (devices, and anything a later flag added) stay.
fn set_resources(spec: &mut Value, opts: &RunOptions) {
    let new = crate::spec::resources(opts);
    let res = &mut spec["linux"]["resources"];
    if !res.is_object() {
        *res = Value::Object(Default::default());
    }
    for key in ["memory", "cpu", "pids"] {
        match new.get(key) {
            Some(v) => res[key] = v.clone(),
            None => {
                if let Some(o) = res.as_object_mut() {
                    o.remove(key);
                }
            }
        }
    }
}

/// The restart policy a running container's monitor should follow: `update`'s, if one
/// was set since it started, else `started_with`.
pub fn current_policy(run_dir: &Path, started_with: &str) -> Policy {
    let text = std::fs::read_to_string(run_dir.join(POLICY_FILE));
    let text = text.as_deref().map(str::trim).unwrap_or(started_with);
    Policy::parse(text).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: i64 = 1 << 20;

    fn with(memory: Option<i64>, swap: Option<i64>) -> RunOptions {
        RunOptions { memory, memory_swap: swap, ..Default::default() }
    }

    #[test]
    fn memory_and_swap_are_checked_as_docker_checks_them() {
        let u = |memory, memory_swap| UpdateOptions { memory, memory_swap, ..Default::default() };
        // Raising memory above the swap already set needs --memory-swap too.
        let err = merged(&with(Some(64 * M), Some(128 * M)), &u(Some(256 * M), None));
        assert!(err.unwrap_err().to_string().contains("--memory-swap"));
        let ok = merged(&with(Some(64 * M), Some(128 * M)), &u(Some(256 * M), Some(512 * M)));
        assert_eq!(ok.unwrap().memory_swap, Some(512 * M));
        // Below the swap, or without one, memory alone is fine.
        assert_eq!(
            merged(&with(Some(64 * M), None), &u(Some(32 * M), None)).unwrap().memory,
            Some(32 * M)
        );
        assert!(merged(&with(None, None), &u(Some(M), None)).is_err(), "below Docker's 6MB");
        assert!(merged(&with(None, None), &u(None, Some(128 * M))).is_err(), "swap needs memory");
        assert!(merged(&with(Some(64 * M), None), &u(None, Some(32 * M))).is_err());
        assert_eq!(
            merged(&with(Some(64 * M), None), &u(None, Some(-1))).unwrap().memory_swap,
            Some(-1)
        );
    }

    #[test]
    fn pids_zero_is_unlimited_and_restart_is_parsed() {
        let u = UpdateOptions { pids_limit: Some(0), ..Default::default() };
        assert_eq!(merged(&RunOptions::default(), &u).unwrap().pids_limit, Some(-1));
        let u = UpdateOptions { restart: Some("sometimes".into()), ..Default::default() };
        assert!(merged(&RunOptions::default(), &u).is_err());
        let rm = RunOptions { auto_remove: true, ..Default::default() };
        let u = UpdateOptions { restart: Some("always".into()), ..Default::default() };
        assert!(merged(&rm, &u).unwrap_err().to_string().contains("--rm"));
        assert!(UpdateOptions::default().is_empty());
        assert!(!u.changes_resources(), "a policy alone leaves the cgroup alone");
    }

    #[test]
    fn the_bundle_keeps_its_device_rules_and_loses_a_cleared_limit() {
        let mut spec = serde_json::json!({"linux": {"resources": {
            "devices": [{"allow": false, "access": "rwm"}],
            "memory": {"limit": 1}, "pids": {"limit": 5}
        }}});
        let opts = RunOptions {
            cpus: Some(0.5),
            pids_limit: None,
            memory: Some(64 * M),
            ..Default::default()
        };
        set_resources(&mut spec, &opts);
        let res = &spec["linux"]["resources"];
        assert_eq!(res["devices"][0]["access"], "rwm");
        assert_eq!(res["memory"]["limit"], 64 * M);
        assert_eq!(res["cpu"]["quota"], 50_000);
        assert!(res.get("pids").is_none());
    }

    #[test]
    fn the_policy_file_wins_over_the_start_policy() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(current_policy(tmp.path(), "always"), Policy::Always);
        std::fs::write(tmp.path().join(POLICY_FILE), "no\n").unwrap();
        assert_eq!(current_policy(tmp.path(), "always"), Policy::No);
    }
}

//! `update`: change the resources of a live container by writing its cgroup again.
//!
//! Only the fields given are written; the others keep their values. A memory limit below the
//! current usage is refused with both numbers (`checkBeforeUpdate` defaults to true here:
//! on cgroup v2 the kernel would otherwise reclaim and OOM-kill instead of refusing).

use std::path::Path;

use oci_spec::runtime::{
    LinuxBlockIoBuilder, LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResources,
};
use tracing::instrument;

use crate::error::{Error, Result};
use crate::state::{self, StateDir, Status};

/// Applies `resources` to the container `id`.
#[instrument(skip_all, fields(id = %id))]
pub fn update(root: &Path, id: &str, resources: &LinuxResources) -> Result<()> {
    let dir = StateDir::open(root, id)?;
    let rec = dir.read()?.ok_or_else(|| Error::NotFound { id: id.to_string() })?;
    let status = state::status(&dir, &rec);
    if status == Status::Stopped {
        return Err(Error::WrongState {
            op: "update",
            id: id.to_string(),
            status: status.to_string(),
        });
    }
    let mut resources = resources.clone();
    if let Some(memory) = resources.memory().as_ref() {
        if memory.limit().is_some() && memory.check_before_update().is_none() {
            let mut memory = *memory;
            memory.set_check_before_update(Some(true));
            resources.set_memory(Some(memory));
        }
    }
    crate::container::require_cgroup(&rec, "update")?;
    rec.cgroup.apply(&resources).map_err(|source| Error::Cgroup { id: id.to_string(), source })
}

/// Parses a `--resources` document (runc's format: a `LinuxResources` object).
pub fn parse_resources(text: &str, origin: &Path) -> Result<LinuxResources> {
    let mut de = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut de).map_err(|e| Error::LoadConfig {
        path: origin.to_path_buf(),
        field: e.path().to_string(),
        reason: e.inner().to_string(),
    })
}

/// runc's `update` flags; `None` leaves a value unchanged.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    /// `--memory`.
    pub memory: Option<i64>,
    /// `--memory-reservation`.
    pub memory_reservation: Option<i64>,
    /// `--memory-swap` (memory + swap).
    pub memory_swap: Option<i64>,
    /// `--cpu-share(s)`.
    pub cpu_shares: Option<u64>,
    /// `--cpu-quota`.
    pub cpu_quota: Option<i64>,
    /// `--cpu-period`.
    pub cpu_period: Option<u64>,
    /// `--cpu-rt-runtime`.
    pub cpu_rt_runtime: Option<i64>,
    /// `--cpu-rt-period`.
    pub cpu_rt_period: Option<u64>,
    /// `--cpuset-cpus`.
    pub cpuset_cpus: Option<String>,
    /// `--cpuset-mems`.
    pub cpuset_mems: Option<String>,
    /// `--pids-limit`.
    pub pids_limit: Option<i64>,
    /// `--blkio-weight`.
    pub blkio_weight: Option<u16>,
}

impl Flags {
    /// The flags as a `LinuxResources` holding only what was given.
    pub fn to_resources(&self) -> Result<LinuxResources> {
        let invalid = |e: oci_spec::OciSpecError| Error::InvalidConfig {
            field: "update flags".into(),
            reason: e.to_string(),
        };
        let mut res = LinuxResources::default();
        let mut memory = LinuxMemoryBuilder::default().build().map_err(invalid)?;
        memory.set_limit(self.memory);
        memory.set_reservation(self.memory_reservation);
        memory.set_swap(self.memory_swap);
        if memory != LinuxMemoryBuilder::default().build().map_err(invalid)? {
            res.set_memory(Some(memory));
        }
        let mut cpu = LinuxCpuBuilder::default().build().map_err(invalid)?;
        cpu.set_shares(self.cpu_shares);
        cpu.set_quota(self.cpu_quota);
        cpu.set_period(self.cpu_period);
        cpu.set_realtime_runtime(self.cpu_rt_runtime);
        cpu.set_realtime_period(self.cpu_rt_period);
        cpu.set_cpus(self.cpuset_cpus.clone());
        cpu.set_mems(self.cpuset_mems.clone());
        if cpu != LinuxCpuBuilder::default().build().map_err(invalid)? {
            res.set_cpu(Some(cpu));
        }
        if let Some(limit) = self.pids_limit {
            res.set_pids(Some(LinuxPidsBuilder::default().limit(limit).build().map_err(invalid)?));
        }
        if let Some(weight) = self.blkio_weight {
            let io = LinuxBlockIoBuilder::default().weight(weight).build().map_err(invalid)?;
            res.set_block_io(Some(io));
        }
        Ok(res)
    }
}

/// A size as runc's `--memory` takes it: bytes, or a number with a binary unit
/// (`k`, `m`, `g`, `t`, `p`, optionally followed by `b`/`ib`, any case); `-1` is unlimited.
pub fn parse_bytes(text: &str) -> std::result::Result<i64, String> {
    let bad = || format!("invalid size {text:?}: use bytes or a number with k, m, g, t or p");
    let trimmed = text.trim();
    if trimmed == "-1" {
        return Ok(-1);
    }
    let lower = trimmed.to_ascii_lowercase();
    let unit_start = lower.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(lower.len());
    let (number, unit) = lower.split_at(unit_start);
    let shift = match unit.trim_end_matches("ib").trim_end_matches('b') {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        _ => return Err(bad()),
    };
    let value: f64 = number.parse().map_err(|_| bad())?;
    let bytes = (value * 2f64.powi(shift)).round();
    if !(0.0..9.2e18).contains(&bytes) {
        return Err(bad());
    }
    // In range and rounded, so the conversion is exact enough for a byte count.
    #[allow(clippy::cast_possible_truncation)]
    Ok(bytes as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("1024").unwrap(), 1024);
        assert_eq!(parse_bytes("64m").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("1.5k").unwrap(), 1536);
        assert_eq!(parse_bytes("2T").unwrap(), 2 << 40);
        assert_eq!(parse_bytes("-1").unwrap(), -1);
        assert!(parse_bytes("12x").is_err());
        assert!(parse_bytes("").is_err());
    }

    #[test]
    fn flags_hold_only_what_was_given() {
        let flags = Flags { memory: Some(1 << 20), pids_limit: Some(5), ..Flags::default() };
        let res = flags.to_resources().unwrap();
        assert_eq!(res.memory().as_ref().unwrap().limit(), Some(1 << 20));
        assert_eq!(res.memory().as_ref().unwrap().swap(), None);
        assert!(res.cpu().is_none());
        assert_eq!(res.pids().as_ref().unwrap().limit(), 5);
        assert!(Flags::default().to_resources().unwrap().block_io().is_none());
    }

    #[test]
    fn parses_runc_resources_document() {
        let text = r#"{"memory":{"limit":67108864,"swap":-1},"cpu":{"shares":512,"cpus":"0"},
            "blockIO":{"weight":300},"pids":{"limit":20}}"#;
        let res = parse_resources(text, Path::new("-")).unwrap();
        assert_eq!(res.memory().as_ref().unwrap().limit(), Some(64 << 20));
        assert_eq!(res.cpu().as_ref().unwrap().cpus().as_deref(), Some("0"));
        assert_eq!(res.pids().as_ref().unwrap().limit(), 20);
        let err = parse_resources(r#"{"memory":{"limit":"x"}}"#, Path::new("r.json")).unwrap_err();
        assert!(err.to_string().contains("memory.limit"), "{err}");
    }
}

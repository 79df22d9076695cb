//! Resource usage of a cgroup, shaped like the `data` of runc's `events --stats` JSON
//! (runc's `types.Stats`): the same field names and the same omissions, so tools that parse
//! runc's output parse ours.
//!
//! Readers: `v1` (cpuacct, cpu, memory, pids, blkio, hugetlb) and `v2` (cpu.stat,
//! memory.*, pids.*, io.stat, hugetlb.*). A controller that is not there leaves its part
//! empty; a file that is there but unreadable or malformed is an error naming it.

pub(crate) mod v1;
pub(crate) mod v2;

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{file, Error};

/// Everything `events --stats` prints for one container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// CPU time and throttling.
    pub cpu: Cpu,
    /// Memory and swap.
    pub memory: Memory,
    /// Process count.
    pub pids: Pids,
    /// Block I/O (v1 blkio, v2 io.stat).
    pub blkio: Blkio,
    /// Per huge page size (`2MB`, `1GB`).
    pub hugetlb: BTreeMap<String, Hugetlb>,
}

/// CPU usage, in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuUsage {
    /// Total CPU time.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub total: u64,
    /// Per CPU (v1 only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    /// Per CPU in kernel mode (v1 only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percpu_kernel: Vec<u64>,
    /// Per CPU in user mode (v1 only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percpu_user: Vec<u64>,
    /// Time in kernel mode.
    #[serde(default)]
    pub kernel: u64,
    /// Time in user mode.
    #[serde(default)]
    pub user: u64,
}

/// CFS bandwidth throttling.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Throttling {
    /// Enforcement periods elapsed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub periods: u64,
    /// Periods in which the cgroup was throttled.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub throttled_periods: u64,
    /// Total time throttled, in nanoseconds.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub throttled_time: u64,
}

/// The `cpu` object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cpu {
    /// Usage.
    #[serde(default)]
    pub usage: CpuUsage,
    /// Throttling.
    #[serde(default)]
    pub throttling: Throttling,
}

/// One memory counter with its limit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryEntry {
    /// Limit in bytes (`u64::MAX`-ish when unlimited, as the kernel shows it).
    #[serde(default)]
    pub limit: u64,
    /// Current usage.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub usage: u64,
    /// Peak usage.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max: u64,
    /// How often the limit was hit.
    #[serde(default)]
    pub failcnt: u64,
}

/// The `memory` object. `raw` holds `memory.stat`, plus `oom` and `oom_kill` (the OOM
/// counters of v2 `memory.events`, or `oom_kill` of v1 `memory.oom_control`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Memory {
    /// Page cache.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache: u64,
    /// Memory.
    #[serde(default)]
    pub usage: MemoryEntry,
    /// Memory + swap.
    #[serde(default)]
    pub swap: MemoryEntry,
    /// Kernel memory (v1).
    #[serde(default)]
    pub kernel: MemoryEntry,
    /// Kernel TCP buffers (v1).
    #[serde(default, rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    /// `memory.stat` and the OOM counters.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
}

impl Memory {
    /// How many times the OOM killer killed in this cgroup (0 when unknown).
    pub fn oom_kills(&self) -> u64 {
        self.raw.get("oom_kill").copied().unwrap_or(0)
    }
}

/// The `pids` object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pids {
    /// Tasks in the cgroup.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub current: u64,
    /// `pids.max`; 0 when unlimited.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub limit: u64,
}

/// One per-device block I/O counter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlkioEntry {
    /// Device major.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub major: u64,
    /// Device minor.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub minor: u64,
    /// `Read`, `Write`, `Sync`, `Async`, `Discard` or `Total`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub op: String,
    /// The count.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub value: u64,
}

/// The `blkio` object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Blkio {
    /// Bytes transferred.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    /// I/O operations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
}

/// One huge page size.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hugetlb {
    /// Bytes in use.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub usage: u64,
    /// Peak (v1 only).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max: u64,
    /// Allocations refused by the limit.
    #[serde(default)]
    pub failcnt: u64,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// `key value` lines (memory.stat, cpu.stat, memory.events) into a map; malformed lines are
/// an error naming the file.
pub(crate) fn read_keyed(dir: &Path, name: &str) -> Result<BTreeMap<String, u64>, Error> {
    let text = file::read(dir, name)?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let parsed = line.split_once(' ').and_then(|(k, v)| Some((k, v.trim().parse().ok()?)));
            parsed
                .map(|(k, v)| (k.to_owned(), v))
                .ok_or_else(|| Error::ParseValue { path: dir.join(name), value: line.to_owned() })
        })
        .collect()
}

/// [`file::read_u64`] for an optional file: `Ok(0)` if it does not exist.
pub(crate) fn read_u64_or_zero(dir: &Path, name: &str) -> Result<u64, Error> {
    if !file::exists(dir, name) {
        return Ok(0);
    }
    file::read_u64(dir, name)
}

/// Parses `major:minor`.
pub(crate) fn device(text: &str) -> Option<(u64, u64)> {
    let (major, minor) = text.split_once(':')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape_matches_runc() {
        let mut stats = Stats::default();
        stats.memory.usage = MemoryEntry { limit: 64, usage: 10, max: 12, failcnt: 0 };
        stats.pids = Pids { current: 1, limit: 50 };
        stats.cpu.usage.total = 5;
        let json = serde_json::to_value(&stats).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "cpu": {"usage": {"total": 5, "kernel": 0, "user": 0}, "throttling": {}},
                "memory": {
                    "usage": {"limit": 64, "usage": 10, "max": 12, "failcnt": 0},
                    "swap": {"limit": 0, "failcnt": 0},
                    "kernel": {"limit": 0, "failcnt": 0},
                    "kernelTCP": {"limit": 0, "failcnt": 0}
                },
                "pids": {"current": 1, "limit": 50},
                "blkio": {},
                "hugetlb": {}
            })
        );
    }

    #[test]
    fn keyed_files() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("cpu.stat"), "usage_usec 12\nnr_periods 0\n").unwrap();
        let map = read_keyed(tmp.path(), "cpu.stat").unwrap();
        assert_eq!(map.get("usage_usec"), Some(&12));
        std::fs::write(tmp.path().join("bad"), "usage_usec x\n").unwrap();
        assert!(read_keyed(tmp.path(), "bad").is_err());
        assert_eq!(read_u64_or_zero(tmp.path(), "missing").unwrap(), 0);
        assert_eq!(device("8:16"), Some((8, 16)));
    }
}

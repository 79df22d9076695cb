//! `berth stats`: CPU %, memory usage and limit and process count of running containers,
//! from the runtime's `events --stats` (the container's cgroup), sampled twice for the CPU
//! rate.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use super::Engine;
use crate::error::{Error, Result};

/// One container's usage, named as Docker's `stats --format json` names it.
#[derive(Debug, Clone, Serialize)]
pub struct Usage {
    /// Short id.
    #[serde(rename = "ID")]
    pub id: String,
    /// Name.
    #[serde(rename = "Name")]
    pub name: String,
    /// CPU time over the sample as a percentage of one CPU.
    #[serde(rename = "CPUPerc")]
    pub cpu_percent: f64,
    /// Memory in use, bytes (without the inactive page cache, as Docker counts).
    #[serde(rename = "MemUsage")]
    pub mem_usage: u64,
    /// The memory limit, bytes (the host's memory when unlimited).
    #[serde(rename = "MemLimit")]
    pub mem_limit: u64,
    /// Processes.
    #[serde(rename = "PIDs")]
    pub pids: u64,
}

struct Sample {
    cpu: u64,
    at: Instant,
    stats: Value,
}

/// Usage of `keys` (every running container when empty) over `window`.
pub fn stats(e: &Engine, keys: &[String], window: Duration) -> Result<Vec<Usage>> {
    let records = if keys.is_empty() {
        super::ps::ps(e, false)?
    } else {
        keys.iter().map(|k| e.get(k)).collect::<Result<Vec<_>>>()?
    };
    let mut first = Vec::new();
    for r in &records {
        if r.state != "running" && r.state != "paused" {
            return Err(Error::WrongState {
                op: "read stats of",
                id: r.id.clone(),
                reason: "it is not running".into(),
            });
        }
        first.push(sample(e, r)?);
    }
    std::thread::sleep(window);
    let host_mem = host_memory();
    let mut out = Vec::new();
    for (r, a) in records.iter().zip(first) {
        // Exited during the window: its last sample is all there is.
        let b = sample(e, r).unwrap_or(Sample { cpu: a.cpu, at: Instant::now(), stats: a.stats });
        let secs = b.at.duration_since(a.at).as_secs_f64().max(1e-3);
        let cpu = b.cpu.saturating_sub(a.cpu) as f64 / 1e9 / secs * 100.0;
        let mem = &b.stats["memory"];
        let raw = &mem["raw"];
        let inactive = raw["total_inactive_file"].as_u64().or(raw["inactive_file"].as_u64());
        let usage = mem["usage"]["usage"].as_u64().unwrap_or(0);
        let limit = mem["usage"]["limit"].as_u64().filter(|l| *l < host_mem).unwrap_or(host_mem);
        out.push(Usage {
            id: r.id[..12.min(r.id.len())].to_string(),
            name: r.name.clone(),
            cpu_percent: (cpu * 100.0).round() / 100.0,
            mem_usage: usage.saturating_sub(inactive.unwrap_or(0)),
            mem_limit: limit,
            pids: b.stats["pids"]["current"].as_u64().unwrap_or(0),
        });
    }
    Ok(out)
}

fn sample(e: &Engine, r: &crate::db::Record) -> Result<Sample> {
    let out = e.runtime_of(r).call(&["events", "--stats", &r.id])?;
    let v: Value = serde_json::from_slice(&out.stdout).map_err(|x| Error::Runtime {
        runtime: r.runtime.clone(),
        op: "events".into(),
        message: format!("unreadable stats: {x}"),
    })?;
    let stats = v["data"].clone();
    Ok(Sample {
        cpu: stats["cpu"]["usage"]["total"].as_u64().unwrap_or(0),
        at: Instant::now(),
        stats,
    })
}

/// MemTotal of /proc/meminfo in bytes.
pub fn host_memory() -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(u64::MAX, |kb| kb * 1024)
}

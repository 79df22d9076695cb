//! v2 cpu controller: `cpu.weight`, `cpu.max`, `cpu.max.burst`, `cpu.idle`.

use std::path::Path;

use oci_spec::runtime::LinuxCpu;

use crate::{file, Error};

/// Converts v1 `cpu.shares` ([2, 262144], default 1024) to v2 `cpu.weight` ([1, 10000],
/// default 100) with the linear mapping of runc 1.1 and crun 1.8 (the versions on the berth
/// hosts), so both runtimes write the same weight: `1 + (shares - 2) * 9999 / 262142`.
/// 0 means "unset" and stays 0. (runc 1.3+ and crun 1.23+ switched to a curve mapping
/// 1024 to exactly 100; this one maps 1024 to 39.)
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    let shares = shares.clamp(2, 262_144);
    1 + (shares - 2) * 9999 / 262_142
}

/// Writes the cpu settings in `dir`; 0 values mean "not set", as in runc.
pub(crate) fn apply(dir: &Path, cpu: &LinuxCpu) -> Result<(), Error> {
    if cpu.realtime_runtime().is_some_and(|r| r != 0)
        || cpu.realtime_period().is_some_and(|p| p != 0)
    {
        return Err(Error::Unsupported { what: "realtime cpu scheduling on cgroup v2".into() });
    }
    if let Some(shares) = cpu.shares().filter(|s| *s != 0) {
        file::write(dir, "cpu.weight", &shares_to_weight(shares).to_string())?;
    }
    if let Some(value) = max_value(cpu.quota().unwrap_or(0), cpu.period().unwrap_or(0)) {
        file::write(dir, "cpu.max", &value)?;
    }
    if let Some(burst) = cpu.burst() {
        file::write(dir, "cpu.max.burst", &burst.to_string())?;
    }
    if let Some(idle) = cpu.idle() {
        file::write(dir, "cpu.idle", &idle.to_string())?;
    }
    Ok(())
}

/// The `cpu.max` line "$QUOTA $PERIOD" (runc's format): a non-positive quota is `max`, and a
/// period of 0 is left out so the kernel keeps the current one. `None` if neither is set.
fn max_value(quota: i64, period: u64) -> Option<String> {
    if quota == 0 && period == 0 {
        return None;
    }
    let mut value = if quota > 0 { quota.to_string() } else { "max".to_owned() };
    if period != 0 {
        value.push_str(&format!(" {period}"));
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxCpuBuilder;

    #[test]
    fn shares_to_weight_matches_runc_1_1() {
        assert_eq!(shares_to_weight(0), 0);
        assert_eq!(shares_to_weight(1), 1);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(512), 20);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(u64::MAX), 10_000);
    }

    #[test]
    fn cpu_max_line() {
        assert_eq!(max_value(0, 0), None);
        assert_eq!(max_value(50_000, 100_000).as_deref(), Some("50000 100000"));
        assert_eq!(max_value(50_000, 0).as_deref(), Some("50000"));
        assert_eq!(max_value(-1, 0).as_deref(), Some("max"));
        assert_eq!(max_value(0, 250_000).as_deref(), Some("max 250000"));
    }

    #[test]
    fn writes_weight_and_max() {
        let tmp = tempfile::tempdir().unwrap();
        for name in ["cpu.weight", "cpu.max", "cpu.idle"] {
            std::fs::write(tmp.path().join(name), "").unwrap();
        }
        let cpu = LinuxCpuBuilder::default()
            .shares(2048u64)
            .quota(20_000)
            .period(100_000u64)
            .idle(1)
            .build()
            .unwrap();
        apply(tmp.path(), &cpu).unwrap();
        let get = |name: &str| std::fs::read_to_string(tmp.path().join(name)).unwrap();
        assert_eq!(get("cpu.weight"), "79");
        assert_eq!(get("cpu.max"), "20000 100000");
        assert_eq!(get("cpu.idle"), "1");
    }

    #[test]
    fn realtime_is_unsupported() {
        let tmp = tempfile::tempdir().unwrap();
        let cpu = LinuxCpuBuilder::default().realtime_runtime(1000).build().unwrap();
        assert!(matches!(apply(tmp.path(), &cpu), Err(Error::Unsupported { .. })));
    }
}

//! v1 cpu controller: `cpu.shares`, `cpu.cfs_period_us`, `cpu.cfs_quota_us`, and the
//! realtime `cpu.rt_period_us`/`cpu.rt_runtime_us`, `cpu.cfs_burst_us` and `cpu.idle`
//! (kernel 5.14+/5.15+; a missing file is reported as unsupported only when the value is set).

use std::path::Path;

use oci_spec::runtime::LinuxCpu;
use rustix::io::Errno;

use crate::v1::limit_value;
use crate::{file, Error};

/// True if any value this module writes is set (cpus/mems belong to cpuset).
pub(crate) fn is_set(cpu: &LinuxCpu) -> bool {
    cpu.shares().is_some_and(|s| s != 0)
        || cpu.quota().is_some_and(|q| q != 0)
        || cpu.period().is_some_and(|p| p != 0)
        || cpu.realtime_period().is_some_and(|p| p != 0)
        || cpu.realtime_runtime().is_some_and(|r| r != 0)
        || cpu.burst().is_some()
        || cpu.idle().is_some()
}

/// Writes the cpu settings in `dir`; 0 means "not set", as in runc.
pub(crate) fn apply(dir: &Path, cpu: &LinuxCpu) -> Result<(), Error> {
    if let Some(shares) = cpu.shares().filter(|s| *s != 0) {
        file::write(dir, "cpu.shares", &shares.to_string())?;
    }
    set_cfs(dir, cpu.quota().unwrap_or(0), cpu.period().unwrap_or(0))?;
    // The rt period bounds the runtime, so it goes first (runc does the same).
    if let Some(period) = cpu.realtime_period().filter(|p| *p != 0) {
        file::write(dir, "cpu.rt_period_us", &period.to_string())?;
    }
    if let Some(runtime) = cpu.realtime_runtime().filter(|r| *r != 0) {
        file::write(dir, "cpu.rt_runtime_us", &limit_value("cpu.realtimeRuntime", runtime)?)?;
    }
    if let Some(burst) = cpu.burst() {
        file::write(dir, "cpu.cfs_burst_us", &burst.to_string())?;
    }
    if let Some(idle) = cpu.idle() {
        file::write(dir, "cpu.idle", &idle.to_string())?;
    }
    Ok(())
}

/// Period then quota. A smaller period can be refused with `EINVAL` while the old quota is
/// still in place (old_quota/new_period may exceed the parent's bandwidth); in that case the
/// period is retried after the quota, as runc does.
fn set_cfs(dir: &Path, quota: i64, period: u64) -> Result<(), Error> {
    let mut period_pending = false;
    if period != 0 {
        match file::write(dir, "cpu.cfs_period_us", &period.to_string()) {
            Ok(()) => {}
            Err(err) if quota != 0 && err.raw_os_error() == Some(Errno::INVAL.raw_os_error()) => {
                period_pending = true;
            }
            Err(err) => return Err(err),
        }
    }
    if quota != 0 {
        file::write(dir, "cpu.cfs_quota_us", &limit_value("cpu.quota", quota)?)?;
        if period_pending {
            file::write(dir, "cpu.cfs_period_us", &period.to_string())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxCpuBuilder;

    fn fixture() -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        for (name, value) in [
            ("cpu.shares", "1024"),
            ("cpu.cfs_period_us", "100000"),
            ("cpu.cfs_quota_us", "-1"),
            ("cpu.rt_period_us", "1000000"),
            ("cpu.rt_runtime_us", "0"),
            ("cpu.cfs_burst_us", "0"),
            ("cpu.idle", "0"),
        ] {
            std::fs::write(tmp.path().join(name), value).unwrap();
        }
        tmp
    }

    fn get(tmp: &tempfile::TempDir, name: &str) -> String {
        std::fs::read_to_string(tmp.path().join(name)).unwrap()
    }

    #[test]
    fn shares_quota_period() {
        let tmp = fixture();
        let cpu =
            LinuxCpuBuilder::default().shares(512u64).quota(50_000).period(200_000u64).build();
        apply(tmp.path(), &cpu.unwrap()).unwrap();
        assert_eq!(get(&tmp, "cpu.shares"), "512");
        assert_eq!(get(&tmp, "cpu.cfs_quota_us"), "50000");
        assert_eq!(get(&tmp, "cpu.cfs_period_us"), "200000");
        assert_eq!(get(&tmp, "cpu.rt_runtime_us"), "0");
    }

    #[test]
    fn unlimited_quota_and_realtime() {
        let tmp = fixture();
        let cpu = LinuxCpuBuilder::default()
            .quota(-1)
            .realtime_period(500_000u64)
            .realtime_runtime(10_000)
            .build()
            .unwrap();
        apply(tmp.path(), &cpu).unwrap();
        assert_eq!(get(&tmp, "cpu.cfs_quota_us"), "-1");
        assert_eq!(get(&tmp, "cpu.cfs_period_us"), "100000");
        assert_eq!(get(&tmp, "cpu.rt_period_us"), "500000");
        assert_eq!(get(&tmp, "cpu.rt_runtime_us"), "10000");
    }

    #[test]
    fn burst_and_idle() {
        let tmp = fixture();
        let cpu = LinuxCpuBuilder::default().burst(20_000u64).idle(1).build().unwrap();
        assert!(is_set(&cpu));
        apply(tmp.path(), &cpu).unwrap();
        assert_eq!(get(&tmp, "cpu.cfs_burst_us"), "20000");
        assert_eq!(get(&tmp, "cpu.idle"), "1");
    }

    #[test]
    fn zero_means_unset() {
        let tmp = fixture();
        let cpu = LinuxCpuBuilder::default().shares(0u64).quota(0).period(0u64).build().unwrap();
        assert!(!is_set(&cpu));
        apply(tmp.path(), &cpu).unwrap();
        assert_eq!(get(&tmp, "cpu.shares"), "1024");
    }
}

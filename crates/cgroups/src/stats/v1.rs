//! Stats from the v1 hierarchies (`find` maps a controller to its directory).

use std::path::Path;

use crate::hugetlb::page_sizes;
use crate::stats::{
    device, read_keyed, read_u64_or_zero, Blkio, BlkioEntry, Cpu, Hugetlb, Memory, MemoryEntry,
    Pids, Stats,
};
use crate::{file, Error};

/// `cpuacct.stat` counts USER_HZ ticks, which is 100 on every Linux ABI.
const NANOS_PER_TICK: u64 = 1_000_000_000 / 100;

/// Reads every controller that `find` has a directory for. Hugetlb lives in the unified
/// hierarchy on hybrid hosts; `unified` is that directory then.
pub(crate) fn read<'a>(
    find: &dyn Fn(&str) -> Option<&'a Path>,
    unified: Option<&Path>,
) -> Result<Stats, Error> {
    let mut stats = Stats::default();
    if let Some(dir) = find("cpuacct") {
        read_cpuacct(dir, &mut stats.cpu)?;
    }
    if let Some(dir) = find("cpu") {
        let stat = read_keyed(dir, "cpu.stat")?;
        let get = |k: &str| stat.get(k).copied().unwrap_or(0);
        stats.cpu.throttling.periods = get("nr_periods");
        stats.cpu.throttling.throttled_periods = get("nr_throttled");
        stats.cpu.throttling.throttled_time = get("throttled_time");
    }
    if let Some(dir) = find("memory") {
        stats.memory = read_memory(dir)?;
    }
    if let Some(dir) = find("pids") {
        stats.pids = Pids {
            current: file::read_u64(dir, "pids.current")?,
            limit: match file::read_u64(dir, "pids.max")? {
                u64::MAX => 0,
                limit => limit,
            },
        };
    }
    if let Some(dir) = find("blkio") {
        stats.blkio = read_blkio(dir)?;
    }
    if let Some(dir) = find("hugetlb") {
        for size in page_sizes() {
            let get = |what: &str| read_u64_or_zero(dir, &format!("hugetlb.{size}.{what}"));
            let entry = Hugetlb {
                usage: get("usage_in_bytes")?,
                max: get("max_usage_in_bytes")?,
                failcnt: get("failcnt")?,
            };
            stats.hugetlb.insert(size, entry);
        }
    } else if let Some(dir) = unified {
        stats.hugetlb = super::v2::read_hugetlb(dir)?;
    }
    Ok(stats)
}

fn read_cpuacct(dir: &Path, cpu: &mut Cpu) -> Result<(), Error> {
    cpu.usage.total = file::read_u64(dir, "cpuacct.usage")?;
    cpu.usage.percpu = read_list(dir, "cpuacct.usage_percpu")?;
    if file::exists(dir, "cpuacct.usage_percpu_user") {
        cpu.usage.percpu_user = read_list(dir, "cpuacct.usage_percpu_user")?;
        cpu.usage.percpu_kernel = read_list(dir, "cpuacct.usage_percpu_sys")?;
    }
    let stat = read_keyed(dir, "cpuacct.stat")?;
    cpu.usage.user = stat.get("user").copied().unwrap_or(0) * NANOS_PER_TICK;
    cpu.usage.kernel = stat.get("system").copied().unwrap_or(0) * NANOS_PER_TICK;
    Ok(())
}

/// A space-separated list of numbers (`cpuacct.usage_percpu`).
fn read_list(dir: &Path, name: &str) -> Result<Vec<u64>, Error> {
    let text = file::read(dir, name)?;
    text.split_whitespace()
        .map(|n| {
            n.parse().map_err(|_| Error::ParseValue { path: dir.join(name), value: text.clone() })
        })
        .collect()
}

fn entry(dir: &Path, prefix: &str) -> Result<MemoryEntry, Error> {
    let get = |what: &str| read_u64_or_zero(dir, &format!("{prefix}.{what}"));
    Ok(MemoryEntry {
        limit: get("limit_in_bytes")?,
        usage: get("usage_in_bytes")?,
        max: get("max_usage_in_bytes")?,
        failcnt: get("failcnt")?,
    })
}

fn read_memory(dir: &Path) -> Result<Memory, Error> {
    let mut raw = read_keyed(dir, "memory.stat")?;
    // `oom_control` is "oom_kill_disable 0\nunder_oom 0\noom_kill 3" (oom_kill since 4.13).
    let oom = read_keyed(dir, "memory.oom_control")?;
    raw.insert("oom_kill".into(), oom.get("oom_kill").copied().unwrap_or(0));
    Ok(Memory {
        cache: raw.get("cache").copied().unwrap_or(0),
        usage: entry(dir, "memory")?,
        swap: entry(dir, "memory.memsw")?,
        kernel: entry(dir, "memory.kmem")?,
        kernel_tcp: entry(dir, "memory.kmem.tcp")?,
        raw,
    })
}

fn read_blkio(dir: &Path) -> Result<Blkio, Error> {
    Ok(Blkio {
        io_service_bytes_recursive: read_blkio_file(
            dir,
            "blkio.throttle.io_service_bytes_recursive",
        )?,
        io_serviced_recursive: read_blkio_file(dir, "blkio.throttle.io_serviced_recursive")?,
    })
}

/// `8:0 Read 4096` lines; the final `Total N` line is dropped, as runc does.
pub(crate) fn read_blkio_file(dir: &Path, name: &str) -> Result<Vec<BlkioEntry>, Error> {
    if !file::exists(dir, name) {
        return Ok(Vec::new());
    }
    let text = file::read(dir, name)?;
    let mut out = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [dev, op, value] = fields[..] else { continue };
        let bad = || Error::ParseValue { path: dir.join(name), value: line.to_owned() };
        let (major, minor) = device(dev).ok_or_else(bad)?;
        let value = value.parse().map_err(|_| bad())?;
        out.push(BlkioEntry { major, minor, op: op.to_owned(), value });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, files: &[(&str, &str)]) {
        for (name, value) in files {
            std::fs::write(dir.join(name), value).unwrap();
        }
    }

    #[test]
    fn reads_every_controller() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        write(
            d,
            &[
                ("cpuacct.usage", "3000\n"),
                ("cpuacct.usage_percpu", "1000 2000 \n"),
                ("cpuacct.usage_percpu_user", "900 1000\n"),
                ("cpuacct.usage_percpu_sys", "100 1000\n"),
                ("cpuacct.stat", "user 2\nsystem 1\n"),
                ("cpu.stat", "nr_periods 4\nnr_throttled 1\nthrottled_time 77\n"),
                ("memory.stat", "cache 4096\nrss 8192\n"),
                ("memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"),
                ("memory.limit_in_bytes", "67108864\n"),
                ("memory.usage_in_bytes", "987136\n"),
                ("memory.max_usage_in_bytes", "2527232\n"),
                ("memory.failcnt", "0\n"),
                ("pids.current", "3\n"),
                ("pids.max", "max\n"),
                (
                    "blkio.throttle.io_service_bytes_recursive",
                    "8:0 Read 4096\n8:0 Write 0\nTotal 4096\n",
                ),
            ],
        );
        let stats = read(&|_| Some(d), None).unwrap();
        assert_eq!(stats.cpu.usage.total, 3000);
        assert_eq!(stats.cpu.usage.percpu, vec![1000, 2000]);
        assert_eq!(stats.cpu.usage.percpu_kernel, vec![100, 1000]);
        assert_eq!(stats.cpu.usage.user, 20_000_000);
        assert_eq!(stats.cpu.throttling.throttled_time, 77);
        assert_eq!(stats.memory.cache, 4096);
        assert_eq!(stats.memory.usage.usage, 987_136);
        assert_eq!(stats.memory.usage.limit, 64 << 20);
        assert_eq!(stats.memory.oom_kills(), 2);
        assert_eq!(stats.memory.swap, MemoryEntry::default(), "no swap accounting");
        assert_eq!(stats.pids.current, 3);
        assert_eq!(stats.pids.limit, 0, "max reads as 0 like runc");
        assert_eq!(stats.blkio.io_service_bytes_recursive.len(), 2);
        assert_eq!(stats.blkio.io_service_bytes_recursive[0].op, "Read");
        assert!(stats.blkio.io_serviced_recursive.is_empty());
    }

    #[test]
    fn missing_controllers_leave_defaults() {
        assert_eq!(read(&|_| None, None).unwrap(), Stats::default());
    }
}

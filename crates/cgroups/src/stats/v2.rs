//! Stats from a v2 directory.

use std::collections::BTreeMap;
use std::path::Path;

use crate::hugetlb::page_sizes;
use crate::stats::{
    device, read_keyed, read_u64_or_zero, Blkio, BlkioEntry, Hugetlb, Memory, MemoryEntry, Pids,
    Stats,
};
use crate::{file, Error};

/// Reads the controllers enabled in `dir` (a missing interface file leaves its part empty).
pub(crate) fn read(dir: &Path) -> Result<Stats, Error> {
    let mut stats = Stats::default();
    // cpu.stat is always there (usage without the cpu controller, throttling with it).
    let cpu = read_keyed(dir, "cpu.stat")?;
    let get = |k: &str| cpu.get(k).copied().unwrap_or(0);
    stats.cpu.usage.total = get("usage_usec") * 1000;
    stats.cpu.usage.user = get("user_usec") * 1000;
    stats.cpu.usage.kernel = get("system_usec") * 1000;
    stats.cpu.throttling.periods = get("nr_periods");
    stats.cpu.throttling.throttled_periods = get("nr_throttled");
    stats.cpu.throttling.throttled_time = get("throttled_usec") * 1000;
    if file::exists(dir, "memory.current") {
        stats.memory = read_memory(dir)?;
    }
    if file::exists(dir, "pids.current") {
        let limit = file::read_u64(dir, "pids.max")?;
        stats.pids = Pids {
            current: file::read_u64(dir, "pids.current")?,
            limit: if limit == u64::MAX { 0 } else { limit },
        };
    }
    if file::exists(dir, "io.stat") {
        stats.blkio = read_io(dir)?;
    }
    stats.hugetlb = read_hugetlb(dir)?;
    Ok(stats)
}

fn read_memory(dir: &Path) -> Result<Memory, Error> {
    let mut raw = read_keyed(dir, "memory.stat")?;
    let events = read_keyed(dir, "memory.events")?;
    for key in ["oom", "oom_kill"] {
        raw.insert(key.into(), events.get(key).copied().unwrap_or(0));
    }
    let usage = file::read_u64(dir, "memory.current")?;
    let usage_entry = MemoryEntry {
        limit: file::read_u64(dir, "memory.max")?,
        usage,
        max: read_u64_or_zero(dir, "memory.peak")?,
        failcnt: events.get("max").copied().unwrap_or(0),
    };
    // As runc: "swap" is memory+swap, to keep the v1 meaning.
    let swap = if file::exists(dir, "memory.swap.current") {
        let swap_events = read_keyed(dir, "memory.swap.events")?;
        MemoryEntry {
            limit: file::read_u64(dir, "memory.swap.max")?.saturating_add(usage_entry.limit),
            usage: file::read_u64(dir, "memory.swap.current")? + usage,
            max: read_u64_or_zero(dir, "memory.swap.peak")?,
            failcnt: swap_events.get("fail").copied().unwrap_or(0),
        }
    } else {
        MemoryEntry::default()
    };
    Ok(Memory {
        cache: raw.get("file").copied().unwrap_or(0),
        usage: usage_entry,
        swap,
        raw,
        ..Memory::default()
    })
}

/// `8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0` lines.
fn read_io(dir: &Path) -> Result<Blkio, Error> {
    let text = file::read(dir, "io.stat")?;
    let mut blkio = Blkio::default();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let Some((major, minor)) = fields.next().and_then(device) else { continue };
        for field in fields {
            let Some((key, value)) = field.split_once('=') else { continue };
            let value = value.parse().map_err(|_| Error::ParseValue {
                path: dir.join("io.stat"),
                value: line.to_owned(),
            })?;
            let (list, op) = match key {
                "rbytes" => (&mut blkio.io_service_bytes_recursive, "Read"),
                "wbytes" => (&mut blkio.io_service_bytes_recursive, "Write"),
                "rios" => (&mut blkio.io_serviced_recursive, "Read"),
                "wios" => (&mut blkio.io_serviced_recursive, "Write"),
                _ => continue,
            };
            list.push(BlkioEntry { major, minor, op: op.to_owned(), value });
        }
    }
    Ok(blkio)
}

/// `hugetlb.<size>.current` and the `max` count of `hugetlb.<size>.events`.
pub(crate) fn read_hugetlb(dir: &Path) -> Result<BTreeMap<String, Hugetlb>, Error> {
    let mut out = BTreeMap::new();
    for size in page_sizes() {
        let current = format!("hugetlb.{size}.current");
        if !file::exists(dir, &current) {
            continue;
        }
        let events = read_keyed(dir, &format!("hugetlb.{size}.events"))?;
        let failcnt = events.get("max").copied().unwrap_or(0);
        out.insert(size, Hugetlb { usage: file::read_u64(dir, &current)?, max: 0, failcnt });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_v2_files() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        for (name, value) in [
            ("cpu.stat", "usage_usec 5\nuser_usec 3\nsystem_usec 2\nnr_periods 1\nnr_throttled 1\nthrottled_usec 9\n"),
            ("memory.current", "1048576\n"),
            ("memory.max", "max\n"),
            ("memory.peak", "2097152\n"),
            ("memory.stat", "anon 4096\nfile 8192\n"),
            ("memory.events", "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n"),
            ("memory.swap.current", "0\n"),
            ("memory.swap.max", "0\n"),
            ("memory.swap.events", "high 0\nmax 0\nfail 0\n"),
            ("pids.current", "2\n"),
            ("pids.max", "50\n"),
            ("io.stat", "8:0 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n"),
        ] {
            std::fs::write(d.join(name), value).unwrap();
        }
        let stats = read(d).unwrap();
        assert_eq!(stats.cpu.usage.total, 5000);
        assert_eq!(stats.cpu.throttling.throttled_time, 9000);
        assert_eq!(stats.memory.usage.usage, 1 << 20);
        assert_eq!(stats.memory.usage.limit, u64::MAX);
        assert_eq!(stats.memory.usage.failcnt, 4);
        assert_eq!(stats.memory.cache, 8192);
        assert_eq!(stats.memory.oom_kills(), 1);
        assert_eq!(stats.memory.swap.usage, 1 << 20);
        assert_eq!(stats.pids, Pids { current: 2, limit: 50 });
        assert_eq!(stats.blkio.io_service_bytes_recursive.len(), 2);
        assert_eq!(stats.blkio.io_serviced_recursive[0].value, 1);
    }
}

//! System checks: hostname and domainname (config.md "Hostname", "Domainname"), sysctl and
//! namespaces (config-linux.md "Sysctl", "Namespaces", "User namespace mappings") and the
//! cgroup limits visible from inside (config-linux.md "Control groups").

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::procfs::{cgroups as own_cgroups, mountinfo, read};
use crate::Report;

fn compare_text(r: &mut Report, name: &str, want: Option<&str>, path: &str) {
    let Some(want) = want else {
        return r.skip(name, "not set in config");
    };
    let got = read(path);
    if got.trim_end_matches('\n') == want {
        r.ok(name);
    } else {
        r.fail(name, format!("{want:?} got {:?}", got.trim_end_matches('\n')));
    }
}

pub(crate) fn hostname(config: &Value, r: &mut Report) {
    compare_text(r, "hostname", config["hostname"].as_str(), "/proc/sys/kernel/hostname");
}

pub(crate) fn domainname(config: &Value, r: &mut Report) {
    compare_text(r, "domainname", config["domainname"].as_str(), "/proc/sys/kernel/domainname");
}

pub(crate) fn sysctl(config: &Value, r: &mut Report) {
    let Some(map) = config["linux"]["sysctl"].as_object() else {
        return r.skip("sysctl", "linux.sysctl not set");
    };
    let norm = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut problems = Vec::new();
    for (key, want) in map {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        let got = norm(&read(&path));
        let want = norm(want.as_str().unwrap_or(""));
        if got != want {
            problems.push(format!("{key}={want} got {got:?}"));
        }
    }
    r.result("sysctl", &problems);
}

/// Compares `/proc/self/{uid,gid}_map` with the configured mappings.
fn mapping_problem(file: &str, mappings: &Value) -> Option<String> {
    let want: Vec<(u64, u64, u64)> = mappings
        .as_array()?
        .iter()
        .map(|m| {
            let f = |k: &str| m[k].as_u64().unwrap_or(u64::MAX);
            (f("containerID"), f("hostID"), f("size"))
        })
        .collect();
    let got: Vec<(u64, u64, u64)> = read(&format!("/proc/self/{file}"))
        .lines()
        .filter_map(|l| {
            let v: Vec<u64> = l.split_whitespace().filter_map(|x| x.parse().ok()).collect();
            (v.len() == 3).then(|| (v[0], v[1], v[2]))
        })
        .collect();
    (want != got).then(|| format!("{file} {want:?} got {got:?}"))
}

pub(crate) fn namespaces(config: &Value, r: &mut Report) {
    let mut problems = Vec::new();
    for ns in config["linux"]["namespaces"].as_array().into_iter().flatten() {
        let kind = ns["type"].as_str().unwrap_or("");
        let joined = ns["path"].as_str().is_some_and(|p| !p.is_empty());
        match kind {
            "pid" if !joined && std::process::id() != 1 => {
                problems.push(format!("pid 1 in a new pid namespace got {}", std::process::id()));
            }
            "user" => {
                let maps = [("uid_map", "uidMappings"), ("gid_map", "gidMappings")];
                for (file, key) in maps {
                    problems.extend(mapping_problem(file, &config["linux"][key]));
                }
            }
            _ => {}
        }
    }
    r.result("namespaces", &problems);
}

/// Directory of this process's cgroup for `controller` (`""` = the v2 unified hierarchy), as
/// mounted inside the container: mount point + own path relative to the mount's root.
fn cgroup_dir(controller: &str) -> Option<PathBuf> {
    let mounts = mountinfo();
    let own = own_cgroups();
    let (mount, own_path) = if controller.is_empty() {
        let m = mounts.iter().rev().find(|m| m.fstype == "cgroup2")?;
        let p = own.iter().find(|(c, _)| c.is_empty())?.1.clone();
        (m.clone(), p)
    } else {
        let m = mounts
            .iter()
            .rev()
            .find(|m| m.fstype == "cgroup" && m.super_opts.iter().any(|o| o == controller))?;
        let p = own.iter().find(|(c, _)| c.split(',').any(|x| x == controller))?.1.clone();
        (m.clone(), p)
    };
    let rel = Path::new(&own_path).strip_prefix(&mount.root).unwrap_or(Path::new(""));
    let dir = Path::new(&mount.mount_point).join(rel);
    Some(if dir.is_dir() { dir } else { PathBuf::from(&mount.mount_point) })
}

/// Reads `file` of `controller` on v2 (when `/sys/fs/cgroup` is cgroup2) or v1.
fn cgroup_read(v2: bool, controller: &str, file: &str) -> Option<String> {
    let dir = cgroup_dir(if v2 { "" } else { controller })?;
    std::fs::read_to_string(dir.join(file)).ok().map(|s| s.trim().to_string())
}

/// cpu.shares -> cpu.weight, both conversions in use: the linear one (runc <= 1.2, crun old)
/// and the quadratic one on log2 (crun >= 1.23, runc >= 1.3).
fn weights_for_shares(shares: u64) -> [u64; 2] {
    let linear = 1 + (shares.saturating_sub(2) * 9999) / 262142;
    let l = (shares as f64).log2();
    // The result lies in [1, 10000], so the cast cannot truncate.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let quad = 10f64.powf((l * l + 125.0 * l) / 612.0 - 7.0 / 34.0).ceil() as u64;
    [linear, quad]
}

fn cgroup_problems(res: &Value, v2: bool) -> Vec<String> {
    let mut p = Vec::new();
    let mut expect = |ctrl: &str, file: &str, want: String| match cgroup_read(v2, ctrl, file) {
        Some(got) if got == want => {}
        got => p.push(format!("{file} {want} got {got:?}")),
    };
    if let Some(limit) = res["memory"]["limit"].as_i64().filter(|l| *l > 0) {
        let file = if v2 { "memory.max" } else { "memory.limit_in_bytes" };
        expect("memory", file, limit.to_string());
    }
    if let Some(n) = res["pids"]["limit"].as_i64().filter(|l| *l > 0) {
        expect("pids", "pids.max", n.to_string());
    }
    let quota = res["cpu"]["quota"].as_i64().filter(|q| *q > 0);
    let period = res["cpu"]["period"].as_u64();
    if v2 {
        if let Some(q) = quota {
            expect("cpu", "cpu.max", format!("{q} {}", period.unwrap_or(100_000)));
        }
    } else {
        if let Some(q) = quota {
            expect("cpu", "cpu.cfs_quota_us", q.to_string());
        }
        if let Some(per) = period {
            expect("cpu", "cpu.cfs_period_us", per.to_string());
        }
        if let Some(s) = res["cpu"]["shares"].as_u64() {
            expect("cpu", "cpu.shares", s.to_string());
        }
    }
    if let (true, Some(s)) = (v2, res["cpu"]["shares"].as_u64()) {
        let got = cgroup_read(true, "cpu", "cpu.weight").and_then(|w| w.parse::<u64>().ok());
        if !got.is_some_and(|g| weights_for_shares(s).contains(&g)) {
            p.push(format!("cpu.weight {:?} got {got:?}", weights_for_shares(s)));
        }
    }
    p
}

pub(crate) fn cgroups(config: &Value, r: &mut Report) {
    let res = &config["linux"]["resources"];
    if res.is_null() {
        return r.skip("cgroups", "linux.resources not set");
    }
    let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    r.result("cgroups", &cgroup_problems(res, v2));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_conversions() {
        assert_eq!(weights_for_shares(1024)[0], 39);
        assert_eq!(weights_for_shares(1024)[1], 100);
        assert_eq!(weights_for_shares(2)[0], 1);
    }
}

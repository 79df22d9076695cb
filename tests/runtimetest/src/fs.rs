//! Filesystem checks: config mounts, root readonly, masked and readonly paths, devices and the
//! `/dev` symlinks (config.md "Mounts", "Root"; config-linux.md "Masked Paths",
//! "Readonly Paths", "Devices", "Default Devices", "Dev symbolic links").

use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use serde_json::Value;

use crate::procfs::{covering_mount, mount_at, mountinfo, resolve, MountInfo};
use crate::Report;

/// Mount flags that show up in the per-mount options of mountinfo.
const FLAG_OPTS: &[&str] = &["ro", "nosuid", "nodev", "noexec"];

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

/// Parses a tmpfs `size=` value (`65536k`, `64m`, `1g`, bytes) into bytes.
fn size_bytes(s: &str) -> Option<u64> {
    let (num, mult) = match s.chars().last()? {
        'k' | 'K' => (&s[..s.len() - 1], 1 << 10),
        'm' | 'M' => (&s[..s.len() - 1], 1 << 20),
        'g' | 'G' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<u64>().ok().map(|n| n * mult)
}

/// Checks `ro/nosuid/nodev/noexec` flags of `m`, returning the missing ones.
fn missing_flags(m: &MountInfo, opts: &[String]) -> Vec<String> {
    FLAG_OPTS
        .iter()
        .filter(|f| opts.iter().any(|o| o == *f) && !m.has_opt(f))
        .map(|f| format!("{f} on {}", m.mount_point))
        .collect()
}

/// A `cgroup` mount on a v1 host is a tmpfs holding one mount per hierarchy (what runc and
/// crun do), so the flags are checked on the hierarchy mounts beneath it.
fn check_cgroup_mount(all: &[MountInfo], m: &MountInfo, opts: &[String]) -> Vec<String> {
    if m.fstype == "cgroup2" {
        return missing_flags(m, opts);
    }
    let subs: Vec<&MountInfo> = all
        .iter()
        .filter(|s| s.fstype == "cgroup" && Path::new(&s.mount_point).starts_with(&m.mount_point))
        .collect();
    if subs.is_empty() {
        return vec![format!("cgroup or cgroup2 at {} got {}", m.mount_point, m.fstype)];
    }
    subs.iter().flat_map(|s| missing_flags(s, opts)).collect()
}

fn check_one_mount(all: &[MountInfo], mount: &Value) -> Vec<String> {
    let Some(dest) = mount["destination"].as_str() else {
        return vec!["mount without destination".into()];
    };
    let path = resolve(dest);
    let Some(m) = mount_at(all, &path) else {
        return vec![format!("a mount at {dest} got none")];
    };
    let opts = strs(&mount["options"]);
    let fstype = mount["type"].as_str().unwrap_or("");
    let is_bind = fstype == "bind" || opts.iter().any(|o| o == "bind" || o == "rbind");
    if fstype == "cgroup" {
        return check_cgroup_mount(all, m, &opts);
    }
    let mut problems = missing_flags(m, &opts);
    if !is_bind && !fstype.is_empty() && m.fstype != fstype {
        problems.push(format!("type {fstype} at {dest} got {}", m.fstype));
    }
    for o in &opts {
        if let Some(want) = o.strip_prefix("size=") {
            let got = m.super_opts.iter().find_map(|s| s.strip_prefix("size="));
            if got.and_then(size_bytes) != size_bytes(want) {
                problems.push(format!("size={want} at {dest} got {got:?}"));
            }
        }
        if let Some(want) = o.strip_prefix("mode=").filter(|_| m.fstype == "tmpfs") {
            let got = std::fs::metadata(&path).map(|md| md.permissions().mode() & 0o7777).ok();
            if u32::from_str_radix(want, 8).ok() != got {
                let got = got.map(|g| format!("{g:o}"));
                problems.push(format!("mode={want} at {dest} got {got:?}"));
            }
        }
    }
    problems
}

pub(crate) fn mounts(config: &Value, r: &mut Report) {
    let all = mountinfo();
    let problems: Vec<String> = config["mounts"]
        .as_array()
        .map(|ms| ms.iter().flat_map(|m| check_one_mount(&all, m)).collect())
        .unwrap_or_default();
    r.result("mounts", &problems);
}

pub(crate) fn root_readonly(config: &Value, r: &mut Report) {
    let want = config["root"]["readonly"].as_bool().unwrap_or(false);
    let all = mountinfo();
    let got = covering_mount(&all, Path::new("/")).is_some_and(|m| m.has_opt("ro"));
    if want != got {
        return r.fail("root_readonly", format!("ro={want} got ro={got}"));
    }
    if want {
        // The flag alone could be on a lower mount; a write must really fail with EROFS.
        let probe = "/.runtimetest-probe";
        match std::fs::File::create(probe) {
            Ok(_) => {
                let _ = std::fs::remove_file(probe);
                return r.fail("root_readonly", "EROFS creating /.runtimetest-probe got success");
            }
            Err(e) if e.raw_os_error() != Some(30) => {
                return r.fail("root_readonly", format!("EROFS got {e}"));
            }
            Err(_) => {}
        }
    }
    r.ok("root_readonly");
}

/// A masked path must yield nothing: an empty directory (tmpfs) or an empty read.
fn masked_problem(p: &str) -> Option<String> {
    let md = std::fs::metadata(p).ok()?;
    if md.is_dir() {
        let n = std::fs::read_dir(p).map(|d| d.count()).unwrap_or(0);
        return (n != 0).then(|| format!("{p} empty got {n} entries"));
    }
    let mut buf = [0u8; 64];
    match std::fs::File::open(p).and_then(|mut f| f.read(&mut buf)) {
        Ok(0) => None,
        Ok(n) => Some(format!("{p} reads nothing got {n} bytes")),
        // Unreadable (EACCES/EPERM) also reveals nothing.
        Err(_) => None,
    }
}

pub(crate) fn masked_paths(config: &Value, r: &mut Report) {
    let problems: Vec<String> =
        strs(&config["linux"]["maskedPaths"]).iter().filter_map(|p| masked_problem(p)).collect();
    r.result("masked_paths", &problems);
}

pub(crate) fn readonly_paths(config: &Value, r: &mut Report) {
    let all = mountinfo();
    let mut problems = Vec::new();
    for p in strs(&config["linux"]["readonlyPaths"]) {
        if std::fs::symlink_metadata(&p).is_err() {
            continue;
        }
        let path = resolve(&p);
        match covering_mount(&all, &path) {
            Some(m) if m.has_opt("ro") => {}
            Some(m) => problems.push(format!("{p} ro got {}", m.mount_opts.join(","))),
            None => problems.push(format!("{p} ro got no mount")),
        }
    }
    r.result("readonly_paths", &problems);
}

fn major(dev: u64) -> u64 {
    ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff)
}

fn minor(dev: u64) -> u64 {
    (dev & 0xff) | ((dev >> 12) & !0xff)
}

/// Checks one device node: type `c`/`u`/`b`/`p`, major/minor and optionally mode, uid, gid.
fn device_problem(dev: &Value) -> Option<String> {
    let path = dev["path"].as_str()?;
    let md = match std::fs::metadata(path) {
        Ok(md) => md,
        Err(e) => return Some(format!("{path} exists got {e}")),
    };
    let kind = dev["type"].as_str().unwrap_or("c");
    let ft = md.file_type();
    let type_ok = match kind {
        "c" | "u" => ft.is_char_device(),
        "b" => ft.is_block_device(),
        "p" => ft.is_fifo(),
        _ => false,
    };
    if !type_ok {
        return Some(format!("{path} type {kind} got {ft:?}"));
    }
    if kind != "p" {
        let want = (dev["major"].as_u64()?, dev["minor"].as_u64()?);
        let got = (major(md.rdev()), minor(md.rdev()));
        if want != got {
            return Some(format!("{path} {}:{} got {}:{}", want.0, want.1, got.0, got.1));
        }
    }
    let mode = md.mode() & 0o777;
    if let Some(want) = dev["fileMode"].as_u64().filter(|w| u64::from(mode) != w & 0o777) {
        return Some(format!("{path} mode {:o} got {mode:o}", want & 0o777));
    }
    if let Some(want) = dev["uid"].as_u64().filter(|w| *w != u64::from(md.uid())) {
        return Some(format!("{path} uid {want} got {}", md.uid()));
    }
    if let Some(want) = dev["gid"].as_u64().filter(|w| *w != u64::from(md.gid())) {
        return Some(format!("{path} gid {want} got {}", md.gid()));
    }
    None
}

pub(crate) fn devices(config: &Value, r: &mut Report) {
    // config-linux.md "Default Devices": the runtime MUST supply these.
    let defaults = [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8)];
    let defaults2 = [("urandom", 1, 9), ("tty", 5, 0)];
    let mut list: Vec<Value> = defaults
        .iter()
        .chain(defaults2.iter())
        .map(|(n, ma, mi)| {
            serde_json::json!({"path": format!("/dev/{n}"), "type": "c", "major": ma, "minor": mi})
        })
        .collect();
    if let Some(extra) = config["linux"]["devices"].as_array() {
        list.extend(extra.iter().cloned());
    }
    let mut problems: Vec<String> = list.iter().filter_map(device_problem).collect();
    let all = mountinfo();
    if mount_at(&all, Path::new("/dev/pts")).is_none_or(|m| m.fstype != "devpts") {
        problems.push("devpts at /dev/pts got none".into());
    }
    if std::fs::metadata("/dev/ptmx").is_err() {
        problems.push("/dev/ptmx exists got missing".into());
    }
    if !Path::new("/dev/shm").is_dir() {
        problems.push("/dev/shm directory got missing".into());
    }
    r.result("devices", &problems);
}

pub(crate) fn dev_symlinks(_config: &Value, r: &mut Report) {
    let links = [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
    ];
    let mut problems = Vec::new();
    for (link, target) in links {
        match std::fs::read_link(link) {
            Ok(t) if t == Path::new(target) => {}
            Ok(t) => problems.push(format!("{link} -> {target} got -> {}", t.display())),
            Err(e) => problems.push(format!("{link} -> {target} got {e}")),
        }
    }
    r.result("dev_symlinks", &problems);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_normalise() {
        assert_eq!(size_bytes("65536k"), size_bytes("64m"));
        assert_eq!(size_bytes("1g"), Some(1 << 30));
        assert_eq!(size_bytes("4096"), Some(4096));
    }

    #[test]
    fn device_numbers_split() {
        // makedev(1, 3) and makedev(136, 0x12345) from glibc's encoding.
        assert_eq!((major(0x103), minor(0x103)), (1, 3));
        let dev = (136u64 << 8) | 0x45 | (0x123u64 << 20);
        assert_eq!((major(dev), minor(dev)), (136, 0x12345));
    }
}

//! Parsers for the `/proc/self` files the checks read. Reading procfs keeps the binary free of
//! `unsafe` and shows exactly what the kernel reports.

use std::path::{Path, PathBuf};

/// One line of `/proc/self/mountinfo` (proc(5)).
#[derive(Debug, Clone)]
pub(crate) struct MountInfo {
    /// Path of the mount's root within its filesystem (field 4).
    pub(crate) root: String,
    /// Mount point relative to the process root (field 5).
    pub(crate) mount_point: String,
    /// Per-mount options such as `ro,nosuid` (field 6).
    pub(crate) mount_opts: Vec<String>,
    pub(crate) fstype: String,
    /// Per-superblock options such as `size=65536k,mode=755`.
    pub(crate) super_opts: Vec<String>,
}

impl MountInfo {
    pub(crate) fn has_opt(&self, opt: &str) -> bool {
        self.mount_opts.iter().any(|o| o == opt)
    }
}

/// Undoes the octal escapes (`\040` for space) the kernel applies to paths in mountinfo.
fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 3 < bytes.len() {
            let digits = std::str::from_utf8(&bytes[i + 1..i + 4]).unwrap_or("");
            if let Ok(v) = u8::from_str_radix(digits, 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_mountinfo_line(line: &str) -> Option<MountInfo> {
    let (pre, post) = line.split_once(" - ")?;
    let pre: Vec<&str> = pre.split(' ').collect();
    let post: Vec<&str> = post.split(' ').collect();
    Some(MountInfo {
        root: unescape(pre.get(3)?),
        mount_point: unescape(pre.get(4)?),
        mount_opts: pre.get(5)?.split(',').map(String::from).collect(),
        fstype: post.first()?.to_string(),
        super_opts: post
            .get(2)
            .map(|s| s.split(',').map(String::from).collect())
            .unwrap_or_default(),
    })
}

/// All mounts visible to this process, in kernel order (later entries stack on earlier ones).
pub(crate) fn mountinfo() -> Vec<MountInfo> {
    read("/proc/self/mountinfo").lines().filter_map(parse_mountinfo_line).collect()
}

/// The mount that `path` lives on: the longest mount point that is a prefix of it, the last one
/// listed winning ties (the topmost of stacked mounts).
pub(crate) fn covering_mount<'a>(mounts: &'a [MountInfo], path: &Path) -> Option<&'a MountInfo> {
    let mut best: Option<&MountInfo> = None;
    for m in mounts {
        if path.starts_with(&m.mount_point)
            && best.is_none_or(|b| m.mount_point.len() >= b.mount_point.len())
        {
            best = Some(m);
        }
    }
    best
}

/// The topmost mount whose mount point is exactly `path`.
pub(crate) fn mount_at<'a>(mounts: &'a [MountInfo], path: &Path) -> Option<&'a MountInfo> {
    mounts.iter().rev().find(|m| Path::new(&m.mount_point) == path)
}

/// Resolves symlinks where possible (mount destinations may traverse links inside the rootfs).
pub(crate) fn resolve(path: &str) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| PathBuf::from(path))
}

/// Reads a file to a string, empty when unreadable (the caller compares against expectations).
pub(crate) fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Value of `Key:` in `/proc/self/status`, whitespace-trimmed.
pub(crate) fn status_field(key: &str) -> Option<String> {
    let status = read("/proc/self/status");
    status.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k == key).then(|| v.trim().to_string())
    })
}

/// Soft and hard values of the row labelled `label` in `/proc/self/limits`; `unlimited` maps
/// to `u64::MAX` (RLIM_INFINITY).
pub(crate) fn limit(label: &str) -> Option<(u64, u64)> {
    let limits = read("/proc/self/limits");
    let line = limits.lines().find(|l| l.starts_with(label))?;
    let mut it = line[label.len()..].split_whitespace();
    let parse = |s: &str| {
        if s == "unlimited" {
            Some(u64::MAX)
        } else {
            s.parse().ok()
        }
    };
    Some((parse(it.next()?)?, parse(it.next()?)?))
}

/// The `(controllers, path)` rows of `/proc/self/cgroup`.
pub(crate) fn cgroups() -> Vec<(String, String)> {
    read("/proc/self/cgroup")
        .lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            it.next()?;
            Some((it.next()?.to_string(), it.next()?.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mountinfo_with_escapes() {
        let l =
            "36 35 98:0 /mnt1 /mnt\\040x rw,noatime master:1 - ext3 /dev/root rw,errors=continue";
        let m = parse_mountinfo_line(l).unwrap();
        assert_eq!(m.mount_point, "/mnt x");
        assert_eq!(m.fstype, "ext3");
        assert!(m.has_opt("noatime"));
        assert_eq!(m.super_opts, vec!["rw", "errors=continue"]);
    }

    #[test]
    fn covering_mount_prefers_longest_then_last() {
        let a = parse_mountinfo_line("1 0 0:1 / / rw - ext4 x rw").unwrap();
        let b = parse_mountinfo_line("2 1 0:2 / /proc rw - proc p rw").unwrap();
        let c = parse_mountinfo_line("3 2 0:2 /sys /proc/sys ro - proc p rw").unwrap();
        let all = vec![a, b, c];
        let m = covering_mount(&all, Path::new("/proc/sys/kernel")).unwrap();
        assert!(m.has_opt("ro"));
        assert_eq!(covering_mount(&all, Path::new("/etc")).unwrap().mount_point, "/");
    }
}

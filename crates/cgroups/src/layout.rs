//! Which cgroup layout the host has, parsed from `/proc/self/mountinfo`.
//!
//! Three layouts exist in the wild:
//! - **v1**: one `cgroup` mount per hierarchy (`/sys/fs/cgroup/memory`, `…/cpu,cpuacct`, …).
//! - **hybrid**: the v1 hierarchies plus a `cgroup2` mount (systemd puts it at
//!   `/sys/fs/cgroup/unified`) that usually holds no controller, or only those not bound to v1
//!   (`hugetlb` on the berth build host). crun refuses this layout; berth treats it as v1 and
//!   additionally places the process in the unified hierarchy, as runc does.
//! - **v2**: a single `cgroup2` mount, normally at `/sys/fs/cgroup`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::Error;

/// Controllers that can be bound to a v1 hierarchy; anything else in the super options of a
/// `cgroup` mount is a mount option (`rw`, `clone_children`, `xattr`, `release_agent=…`).
const V1_CONTROLLERS: &[&str] = &[
    "blkio",
    "cpu",
    "cpuacct",
    "cpuset",
    "devices",
    "freezer",
    "hugetlb",
    "memory",
    "misc",
    "net_cls",
    "net_prio",
    "perf_event",
    "pids",
    "rdma",
];

/// One mounted cgroup hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    /// Where it is mounted, e.g. `/sys/fs/cgroup/memory`.
    pub mount_point: PathBuf,
    /// The cgroup shown at the mount point (mountinfo field 4), usually `/`; different when
    /// the mount is a bind of a sub-cgroup, e.g. inside a container.
    pub root: PathBuf,
}

/// A v1 hierarchy: the controllers bound to it and where it is mounted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hierarchy {
    /// Sorted controller names as in `/proc/self/cgroup`, e.g. `["cpu", "cpuacct"]`, or a
    /// named hierarchy such as `["name=systemd"]`.
    pub controllers: Vec<String>,
    /// The mount.
    pub mount: Mount,
}

impl Hierarchy {
    /// True if `controller` is bound to this hierarchy.
    pub fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }
}

/// The host's cgroup layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Layout {
    /// Only v1 hierarchies.
    V1 {
        /// One entry per hierarchy, in mount order.
        hierarchies: Vec<Hierarchy>,
    },
    /// v1 hierarchies plus a cgroup2 mount.
    Hybrid {
        /// One entry per v1 hierarchy, in mount order.
        hierarchies: Vec<Hierarchy>,
        /// The cgroup2 mount.
        unified: Mount,
    },
    /// Only the unified hierarchy (v1 named hierarchies without controllers are ignored).
    V2 {
        /// The cgroup2 mount.
        unified: Mount,
    },
}

impl Layout {
    /// Reads `/proc/self/mountinfo` and classifies it.
    pub fn detect() -> Result<Layout, Error> {
        let path = Path::new("/proc/self/mountinfo");
        let text = std::fs::read_to_string(path)
            .map_err(|source| Error::Read { path: path.to_owned(), source })?;
        Layout::from_mountinfo(&text)
    }

    /// Classifies the cgroup mounts listed in mountinfo text (see `proc_pid_mountinfo(5)`).
    pub fn from_mountinfo(text: &str) -> Result<Layout, Error> {
        let mut hierarchies: Vec<Hierarchy> = Vec::new();
        let mut unified: Option<Mount> = None;
        for (index, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let entry = parse_line(line, index + 1)?;
            match entry.fstype {
                "cgroup2" => {
                    // A second cgroup2 mount is a bind of the same hierarchy; keep the first,
                    // which is the one systemd or the VM init mounted.
                    unified.get_or_insert(entry.mount);
                }
                "cgroup" => {
                    let controllers = v1_controllers(entry.super_options);
                    // Bind mounts of an already seen hierarchy are skipped likewise.
                    if !controllers.is_empty()
                        && !hierarchies.iter().any(|h| h.controllers == controllers)
                    {
                        hierarchies.push(Hierarchy { controllers, mount: entry.mount });
                    }
                }
                _ => {}
            }
        }
        let has_v1_controller =
            hierarchies.iter().any(|h| h.controllers.iter().any(|c| !c.starts_with("name=")));
        match (has_v1_controller, unified) {
            (true, Some(unified)) => Ok(Layout::Hybrid { hierarchies, unified }),
            (true, None) => Ok(Layout::V1 { hierarchies }),
            (false, Some(unified)) => Ok(Layout::V2 { unified }),
            (false, None) => Err(Error::NoCgroupMount),
        }
    }

    /// True for the pure unified layout.
    pub fn is_v2(&self) -> bool {
        matches!(self, Layout::V2 { .. })
    }

    /// The v1 hierarchies (empty for v2).
    pub fn hierarchies(&self) -> &[Hierarchy] {
        match self {
            Layout::V1 { hierarchies } | Layout::Hybrid { hierarchies, .. } => hierarchies,
            Layout::V2 { .. } => &[],
        }
    }

    /// The cgroup2 mount, if any (v2 and hybrid).
    pub fn unified(&self) -> Option<&Mount> {
        match self {
            Layout::V1 { .. } => None,
            Layout::Hybrid { unified, .. } | Layout::V2 { unified } => Some(unified),
        }
    }
}

/// The fields of one mountinfo line that matter here.
struct Entry<'a> {
    mount: Mount,
    fstype: &'a str,
    super_options: &'a str,
}

/// Parses `36 35 98:0 /root /mnt opts [optional…] - fstype source super_opts`.
fn parse_line(line: &str, number: usize) -> Result<Entry<'_>, Error> {
    let bad = |reason| Error::ParseMountinfo { line: number, reason };
    let (left, right) = line.split_once(" - ").ok_or_else(|| bad("no ' - ' separator"))?;
    let mut fields = left.split(' ');
    let root = fields.nth(3).ok_or_else(|| bad("missing root field"))?;
    let mount_point = fields.next().ok_or_else(|| bad("missing mount point field"))?;
    let mut right = right.split(' ');
    let fstype = right.next().ok_or_else(|| bad("missing filesystem type"))?;
    let super_options = right.nth(1).unwrap_or("");
    Ok(Entry {
        mount: Mount { mount_point: unescape(mount_point).into(), root: unescape(root).into() },
        fstype,
        super_options,
    })
}

/// The controllers (and `name=` of a named hierarchy) in a v1 mount's super options, sorted.
fn v1_controllers(super_options: &str) -> Vec<String> {
    let mut controllers: Vec<String> = super_options
        .split(',')
        .filter(|opt| opt.starts_with("name=") || V1_CONTROLLERS.contains(opt))
        .map(str::to_owned)
        .collect();
    controllers.sort();
    controllers
}

/// Undoes mountinfo's octal escapes (`\040` for space, `\011`, `\012`, `\134`).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match (bytes[i], octal) {
            (b'\\', Some(digits)) => {
                let value = digits.iter().fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
pub(crate) mod tests;

//! Host-side view of the cgroups a test's containers use.
//!
//! Every container gets the relative `cgroupsPath` `berth-test-<pid>/<id>`. The runtime-spec
//! lets a runtime place a relative path anywhere ("runtime-determined location"); runc puts it
//! under its own cgroup, others under the hierarchy root, so the helpers look in both places.

use std::path::{Path, PathBuf};

/// The per-test-process prefix, a direct child of wherever the runtime nests relative paths.
pub fn prefix() -> String {
    format!("berth-test-{}", std::process::id())
}

/// The relative `cgroupsPath` for container `id`.
pub fn cgroups_path(id: &str) -> String {
    format!("{}/{id}", prefix())
}

/// A mounted cgroup hierarchy on the host.
#[derive(Debug, Clone)]
struct Hierarchy {
    mount_point: PathBuf,
    /// The hierarchy path mounted at `mount_point` (normally `/`).
    root: String,
    /// `""` for cgroup2, else the comma list of v1 controllers / `name=` options.
    controllers: String,
}

fn hierarchies() -> Vec<Hierarchy> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut out: Vec<Hierarchy> = Vec::new();
    for line in info.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let pre: Vec<&str> = pre.split(' ').collect();
        let post: Vec<&str> = post.split(' ').collect();
        let (Some(root), Some(mp), Some(fstype)) = (pre.get(3), pre.get(4), post.first()) else {
            continue;
        };
        let controllers = match *fstype {
            "cgroup2" => String::new(),
            "cgroup" => post
                .get(2)
                .map(|o| {
                    let opts: Vec<&str> =
                        o.split(',').filter(|x| *x != "rw" && *x != "ro").collect();
                    opts.join(",")
                })
                .unwrap_or_default(),
            _ => continue,
        };
        // A hierarchy mounted twice is visited once.
        if !out.iter().any(|h| h.controllers == controllers) {
            out.push(Hierarchy { mount_point: mp.into(), root: root.to_string(), controllers });
        }
    }
    out
}

/// This process's path in hierarchy `h`, from a `/proc/<pid>/cgroup` text.
fn path_in(cgroup_file: &str, h: &Hierarchy) -> Option<String> {
    cgroup_file.lines().find_map(|l| {
        let mut it = l.splitn(3, ':');
        it.next()?;
        let ctrls = it.next()?;
        let path = it.next()?;
        let same = if h.controllers.is_empty() {
            ctrls.is_empty()
        } else {
            let want: Vec<&str> = h.controllers.split(',').collect();
            !ctrls.is_empty() && ctrls.split(',').all(|c| want.contains(&c))
        };
        same.then(|| path.to_string())
    })
}

fn join_hierarchy(h: &Hierarchy, path: &str) -> PathBuf {
    let rel = Path::new(path).strip_prefix(&h.root).unwrap_or(Path::new(path));
    let rel = rel.strip_prefix("/").unwrap_or(rel);
    h.mount_point.join(rel)
}

/// Every host directory where the relative path `rel` could live: under this process's
/// cgroup and under the hierarchy root, in every hierarchy.
pub fn candidate_dirs(rel: &str) -> Vec<PathBuf> {
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let mut dirs = Vec::new();
    for h in hierarchies() {
        if let Some(p) = path_in(&own, &h) {
            dirs.push(join_hierarchy(&h, &p).join(rel));
        }
        dirs.push(h.mount_point.join(rel));
    }
    dirs.sort();
    dirs.dedup();
    dirs
}

/// Existing directories for container `id` under the test prefix (should be empty once the
/// container is deleted or failed to be created).
pub fn leftover_dirs(id: &str) -> Vec<PathBuf> {
    candidate_dirs(&cgroups_path(id)).into_iter().filter(|d| d.is_dir()).collect()
}

/// The host directory of the cgroup that process `pid` is in for `controller`
/// (`""` for the v2 unified hierarchy, else e.g. `memory`, `cpu`, `pids`).
pub fn dir_of_pid(pid: u32, controller: &str) -> Option<PathBuf> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let h = hierarchies().into_iter().find(|h| {
        if controller.is_empty() {
            h.controllers.is_empty()
        } else {
            h.controllers.split(',').any(|c| c == controller)
        }
    })?;
    path_in(&text, &h).map(|p| join_hierarchy(&h, &p))
}

/// Reads `file` from the cgroup of `pid` for `controller`, trimmed.
pub fn read_for_pid(pid: u32, controller: &str, file: &str) -> Option<String> {
    let dir = dir_of_pid(pid, controller)?;
    std::fs::read_to_string(dir.join(file)).ok().map(|s| s.trim().to_string())
}

/// Removes `dir` and its child cgroups bottom-up, killing member processes first. Only `rmdir`
/// is used: cgroupfs directories cannot be removed recursively and must never be `rm -rf`ed.
fn remove_tree(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree(&e.path());
            }
        }
    }
    let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
    for pid in procs.split_whitespace() {
        crate::process::kill(pid.parse().unwrap_or(0), "KILL");
    }
    for _ in 0..50 {
        match std::fs::remove_dir(dir) {
            Ok(()) => return,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            // EBUSY while killed members are still exiting.
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
        }
    }
}

/// Removes the cgroup of container `id` wherever it was left.
pub fn remove_container_dirs(id: &str) {
    for d in leftover_dirs(id) {
        remove_tree(&d);
    }
}

/// Removes the empty per-process prefix. Fails silently while other tests in this process
/// still have containers under it; the last test to clean up removes it.
pub fn remove_prefix_if_empty() {
    for d in candidate_dirs(&prefix()) {
        let _ = std::fs::remove_dir(d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_v1_and_v2_rows() {
        let text = "4:memory:/a/b\n1:cpu,cpuacct:/c\n0::/d\n";
        let mem =
            Hierarchy { mount_point: "/m".into(), root: "/".into(), controllers: "memory".into() };
        let cpu = Hierarchy {
            mount_point: "/c".into(),
            root: "/".into(),
            controllers: "cpu,cpuacct".into(),
        };
        let v2 =
            Hierarchy { mount_point: "/u".into(), root: "/".into(), controllers: String::new() };
        assert_eq!(path_in(text, &mem).as_deref(), Some("/a/b"));
        assert_eq!(path_in(text, &cpu).as_deref(), Some("/c"));
        assert_eq!(path_in(text, &v2).as_deref(), Some("/d"));
        assert_eq!(join_hierarchy(&mem, "/a/b"), PathBuf::from("/m/a/b"));
    }
}

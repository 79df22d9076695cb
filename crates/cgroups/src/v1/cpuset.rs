//! v1 cpuset controller: `cpuset.cpus` and `cpuset.mems`.

use std::path::Path;

use oci_spec::runtime::LinuxCpu;

use crate::{file, Error};

const FILES: [&str; 2] = ["cpuset.cpus", "cpuset.mems"];

/// True if the config restricts cpus or memory nodes.
pub(crate) fn is_set(cpu: &LinuxCpu) -> bool {
    cpu.cpus().as_ref().is_some_and(|c| !c.is_empty())
        || cpu.mems().as_ref().is_some_and(|m| !m.is_empty())
}

/// Writes `linux.resources.cpu.cpus`/`mems`.
pub(crate) fn apply(dir: &Path, cpu: &LinuxCpu) -> Result<(), Error> {
    if let Some(cpus) = cpu.cpus().as_ref().filter(|c| !c.is_empty()) {
        file::write(dir, "cpuset.cpus", cpus)?;
    }
    if let Some(mems) = cpu.mems().as_ref().filter(|m| !m.is_empty()) {
        file::write(dir, "cpuset.mems", mems)?;
    }
    Ok(())
}

/// A new v1 cpuset cgroup starts with empty `cpuset.cpus` and `cpuset.mems` (unless the
/// parent has `cgroup.clone_children` set), and attaching a task to it then fails with
/// `ENOSPC`. Copy the parent's values into every empty level from below `mount_point` down to
/// `path`, top-down so each parent is filled before its child.
pub(crate) fn fill_from_parents(mount_point: &Path, path: &Path) -> Result<(), Error> {
    let Ok(below) = path.strip_prefix(mount_point) else {
        return Ok(());
    };
    let mut parent = mount_point.to_path_buf();
    for part in below.components() {
        let child = parent.join(part);
        for name in FILES {
            if file::read(&child, name)?.is_empty() {
                file::write(&child, name, &file::read(&parent, name)?)?;
            }
        }
        parent = child;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxCpuBuilder;

    #[test]
    fn copies_down_only_into_empty_levels() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let (mid, leaf) = (root.join("own"), root.join("own/berth/c1"));
        std::fs::create_dir_all(&leaf).unwrap();
        let set = |dir: &Path, cpus: &str, mems: &str| {
            std::fs::write(dir.join("cpuset.cpus"), cpus).unwrap();
            std::fs::write(dir.join("cpuset.mems"), mems).unwrap();
        };
        set(root, "0-3\n", "0\n");
        set(&mid, "1-2\n", "0\n");
        set(&root.join("own/berth"), "\n", "\n");
        set(&leaf, "", "");
        fill_from_parents(root, &leaf).unwrap();
        let get = |dir: &Path, name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
        assert_eq!(get(&mid, "cpuset.cpus"), "1-2\n", "non-empty level left alone");
        assert_eq!(get(&root.join("own/berth"), "cpuset.cpus"), "1-2");
        assert_eq!(get(&leaf, "cpuset.cpus"), "1-2");
        assert_eq!(get(&leaf, "cpuset.mems"), "0");
    }

    #[test]
    fn applies_cpus_and_mems() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("cpuset.cpus"), "0-3").unwrap();
        std::fs::write(tmp.path().join("cpuset.mems"), "0").unwrap();
        let cpu = LinuxCpuBuilder::default().cpus("1").build().unwrap();
        assert!(is_set(&cpu));
        apply(tmp.path(), &cpu).unwrap();
        assert_eq!(std::fs::read_to_string(tmp.path().join("cpuset.cpus")).unwrap(), "1");
        assert_eq!(std::fs::read_to_string(tmp.path().join("cpuset.mems")).unwrap(), "0");
    }
}

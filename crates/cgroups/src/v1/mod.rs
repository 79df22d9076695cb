//! cgroup v1 (and the v1 half of the hybrid layout): resources go to the hierarchy that has
//! the matching controller. Each controller module takes its directory as a parameter, so
//! tests point it at a tempdir of fixture files.

pub(crate) mod blkio;
pub(crate) mod cpu;
pub(crate) mod cpuset;
pub(crate) mod devices;
pub(crate) mod memory;

use std::path::Path;

use oci_spec::runtime::LinuxResources;

use crate::cgroup::Dir;
use crate::{hugetlb, misc, pids, Error};

/// Writes `resources` into the v1 hierarchies of `dirs`. A controller is only required when
/// the config sets one of its values.
pub(crate) fn apply(dirs: &[Dir], resources: &LinuxResources) -> Result<(), Error> {
    if let Some(memory) = resources.memory() {
        if memory::is_set(memory) {
            memory::apply(controller_dir(dirs, "memory")?, memory)?;
        }
    }
    if let Some(cpu) = resources.cpu() {
        if cpu::is_set(cpu) {
            cpu::apply(controller_dir(dirs, "cpu")?, cpu)?;
        }
        if cpuset::is_set(cpu) {
            cpuset::apply(controller_dir(dirs, "cpuset")?, cpu)?;
        }
    }
    if let Some(pids) = resources.pids() {
        if pids.limit() != 0 {
            pids::apply(controller_dir(dirs, "pids")?, pids)?;
        }
    }
    if let Some(rules) = resources.devices().as_ref().filter(|r| !r.is_empty()) {
        devices::apply(controller_dir(dirs, "devices")?, rules)?;
    }
    apply_other(dirs, resources)?;
    if resources.unified().as_ref().is_some_and(|u| !u.is_empty()) {
        return Err(Error::Unsupported {
            what: "linux.resources.unified (cgroup v2 files) on a cgroup v1 host".into(),
        });
    }
    Ok(())
}

/// blockIO, hugepageLimits, network and rdma.
fn apply_other(dirs: &[Dir], resources: &LinuxResources) -> Result<(), Error> {
    if let Some(io) = resources.block_io().as_ref().filter(|io| blkio::is_set(io)) {
        blkio::apply(controller_dir(dirs, "blkio")?, io)?;
    }
    if let Some(limits) = resources.hugepage_limits().as_ref().filter(|l| !l.is_empty()) {
        apply_hugetlb(dirs, limits)?;
    }
    if let Some(network) = resources.network().as_ref().filter(|n| misc::network_is_set(n)) {
        if network.class_id().is_some_and(|c| c != 0) {
            misc::apply_net_cls(controller_dir(dirs, "net_cls")?, network)?;
        }
        if network.priorities().as_ref().is_some_and(|p| !p.is_empty()) {
            misc::apply_net_prio(controller_dir(dirs, "net_prio")?, network)?;
        }
    }
    if let Some(rdma) = resources.rdma().as_ref().filter(|r| !r.is_empty()) {
        misc::apply_rdma(controller_dir(dirs, "rdma")?, rdma)?;
    }
    Ok(())
}

/// A v1 hugetlb hierarchy if there is one; on a hybrid host hugetlb may be bound to the
/// unified hierarchy instead (it is on the berth build host), so the limits go there after
/// enabling the controller down to the container's parent.
fn apply_hugetlb(
    dirs: &[Dir],
    limits: &[oci_spec::runtime::LinuxHugepageLimit],
) -> Result<(), Error> {
    if let Some(dir) = dirs.iter().find(|d| d.has("hugetlb")) {
        return hugetlb::apply(&dir.path, limits, false);
    }
    let unified = dirs.iter().find(|d| d.is_unified()).filter(|d| {
        crate::file::read(&d.mount_point, "cgroup.controllers")
            .is_ok_and(|c| c.split_whitespace().any(|c| c == "hugetlb"))
    });
    let Some(dir) = unified else {
        return Err(Error::Unsupported { what: "cgroup hugetlb controller".into() });
    };
    crate::v2::enable_controllers(&dir.mount_point, &dir.path)?;
    hugetlb::apply(&dir.path, limits, true)
}

fn controller_dir<'a>(dirs: &'a [Dir], controller: &str) -> Result<&'a Path, Error> {
    dirs.iter()
        .find(|d| d.has(controller))
        .map(|d| d.path.as_path())
        .ok_or_else(|| Error::Unsupported { what: format!("cgroup v1 {controller} controller") })
}

/// Formats a v1 limit: the kernel takes `-1` for "unlimited"; lower values are invalid.
pub(crate) fn limit_value(name: &'static str, value: i64) -> Result<String, Error> {
    if value < -1 {
        return Err(Error::InvalidResource {
            name,
            value: value.to_string(),
            reason: "must be -1 (unlimited) or positive",
        });
    }
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResourcesBuilder};
    use std::path::PathBuf;

    fn dir(path: PathBuf, controller: &str) -> Dir {
        Dir {
            controllers: vec![controller.into()],
            mount_point: path.clone(),
            path,
            created: Vec::new(),
        }
    }

    #[test]
    fn routes_each_resource_to_its_hierarchy() {
        let tmp = tempfile::tempdir().unwrap();
        let (mem, pids) = (tmp.path().join("memory"), tmp.path().join("pids"));
        std::fs::create_dir(&mem).unwrap();
        std::fs::create_dir(&pids).unwrap();
        std::fs::write(mem.join("memory.limit_in_bytes"), "9223372036854771712").unwrap();
        std::fs::write(pids.join("pids.max"), "max").unwrap();
        let resources = LinuxResourcesBuilder::default()
            .memory(LinuxMemoryBuilder::default().limit(1 << 20).build().unwrap())
            .pids(LinuxPidsBuilder::default().limit(12).build().unwrap())
            .build()
            .unwrap();
        apply(&[dir(mem.clone(), "memory"), dir(pids.clone(), "pids")], &resources).unwrap();
        assert_eq!(std::fs::read_to_string(mem.join("memory.limit_in_bytes")).unwrap(), "1048576");
        assert_eq!(std::fs::read_to_string(pids.join("pids.max")).unwrap(), "12");
    }

    #[test]
    fn missing_hierarchy_is_unsupported() {
        let resources = LinuxResourcesBuilder::default()
            .pids(LinuxPidsBuilder::default().limit(12).build().unwrap())
            .build()
            .unwrap();
        let err = apply(&[], &resources).unwrap_err();
        assert_eq!(err.to_string(), "cgroup v1 pids controller is not supported on this host");
    }

    #[test]
    fn unset_values_need_no_hierarchy() {
        let resources = LinuxResourcesBuilder::default()
            .memory(LinuxMemoryBuilder::default().build().unwrap())
            .build()
            .unwrap();
        apply(&[], &resources).unwrap();
    }
}

//! cgroup v2: one directory holds every controller's files. Controllers must first be
//! enabled in each ancestor's `cgroup.subtree_control` (see [`enable_controllers`]).

pub(crate) mod cpu;
pub(crate) mod cpuset;
pub(crate) mod devices;
pub(crate) mod io;
pub(crate) mod memory;

use std::collections::HashMap;
use std::path::Path;

use oci_spec::runtime::LinuxResources;
use rustix::io::Errno;

use crate::{file, hugetlb, misc, pids, Error};

/// Writes `resources` into the container's v2 directory `dir`: memory, cpu, cpuset, pids, io,
/// hugetlb, rdma, and the device rules as an eBPF program. The `unified` map goes last so its
/// raw key/values override the translated ones (as in runc).
pub(crate) fn apply(dir: &Path, resources: &LinuxResources) -> Result<(), Error> {
    if let Some(memory) = resources.memory() {
        memory::apply(dir, memory)?;
    }
    if let Some(cpu) = resources.cpu() {
        cpu::apply(dir, cpu)?;
        cpuset::apply(dir, cpu)?;
    }
    if let Some(pids) = resources.pids() {
        pids::apply(dir, pids)?;
    }
    if let Some(io) = resources.block_io() {
        io::apply(dir, io)?;
    }
    if let Some(limits) = resources.hugepage_limits().as_ref().filter(|l| !l.is_empty()) {
        hugetlb::apply(dir, limits, true)?;
    }
    if let Some(rdma) = resources.rdma().as_ref().filter(|r| !r.is_empty()) {
        misc::apply_rdma(dir, rdma)?;
    }
    if resources.network().as_ref().is_some_and(misc::network_is_set) {
        return Err(Error::Unsupported {
            what: "linux.resources.network (net_cls/net_prio) on cgroup v2".into(),
        });
    }
    if let Some(rules) = resources.devices().as_ref().filter(|r| !r.is_empty()) {
        devices::apply(dir, rules)?;
    }
    if let Some(unified) = resources.unified() {
        apply_unified(dir, unified)?;
    }
    Ok(())
}

/// Writes `linux.resources.unified`: each key is an interface file name in `dir`.
fn apply_unified(dir: &Path, unified: &HashMap<String, String>) -> Result<(), Error> {
    for (key, value) in unified {
        // A key is a single file name; anything else could write outside the cgroup.
        if key.is_empty() || key.contains('/') || key.starts_with('.') {
            return Err(Error::InvalidResource {
                name: "unified",
                value: key.clone(),
                reason: "a key must be a cgroup interface file name",
            });
        }
        file::write(dir, key, value)?;
    }
    Ok(())
}

/// Enables every controller each ancestor offers in its `cgroup.subtree_control`, from the
/// mount root down to the parent of `path`, so `path` gets all the interface files.
///
/// cgroup v2's "no internal processes" rule makes the write fail with `EBUSY` when the
/// ancestor (other than the root) has member processes: that happens when a relative
/// cgroupsPath nests under a caller that is not in the root cgroup and whose cgroup has not
/// delegated its controllers yet. That case is reported as [`Error::InternalProcesses`].
pub(crate) fn enable_controllers(mount_point: &Path, path: &Path) -> Result<(), Error> {
    let Ok(below) = path.strip_prefix(mount_point) else {
        return Ok(());
    };
    let mut parent = mount_point.to_path_buf();
    for part in below.components() {
        enable_in(&parent)?;
        parent.push(part);
    }
    Ok(())
}

/// Enables the controllers `dir` offers but does not delegate yet.
fn enable_in(dir: &Path) -> Result<(), Error> {
    let available = file::read(dir, "cgroup.controllers")?;
    let enabled = file::read(dir, "cgroup.subtree_control")?;
    let missing: Vec<&str> = available
        .split_whitespace()
        .filter(|c| !enabled.split_whitespace().any(|e| e == *c))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let value = missing.iter().map(|c| format!("+{c}")).collect::<Vec<_>>().join(" ");
    let Err(err) = file::write(dir, "cgroup.subtree_control", &value) else {
        return Ok(());
    };
    if err.raw_os_error() == Some(Errno::BUSY.raw_os_error()) {
        if let Error::Write { path, value, source } = err {
            return Err(Error::InternalProcesses { path, controllers: value, source });
        }
        return Err(err);
    }
    // One controller can be refused on its own (e.g. `cpu` with realtime tasks outside the
    // root cgroup gives EINVAL); enable the others and let a resource write that needs the
    // missing one fail later, naming its file.
    for controller in missing {
        if let Err(err) = file::write(dir, "cgroup.subtree_control", &format!("+{controller}")) {
            tracing::warn!(?dir, controller, error = %err, "cannot enable cgroup controller");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;

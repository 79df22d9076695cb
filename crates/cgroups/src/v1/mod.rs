//! cgroup v1 (and the v1 half of the hybrid layout): resources go to the hierarchy that has
//! the matching controller. Each controller module takes its directory as a parameter, so
//! tests point it at a tempdir of fixture files.

pub(crate) mod cpu;
pub(crate) mod cpuset;
pub(crate) mod devices;
pub(crate) mod memory;
pub(crate) mod pids;

use std::path::Path;

use oci_spec::runtime::LinuxResources;

use crate::cgroup::Dir;
use crate::Error;

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
    if resources.unified().as_ref().is_some_and(|u| !u.is_empty()) {
        return Err(Error::Unsupported { what: "linux.resources.unified on cgroup v1".into() });
    }
    Ok(())
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

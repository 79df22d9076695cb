//! How a new process (the init, or an `exec`'d one) gets into the container's cgroup without
//! a migration from outside, whose RCU grace period costs milliseconds: it is born in its
//! cgroup2 directory (CLONE_INTO_CGROUP: v2, and the unified half of hybrid) and moves itself
//! into its v1 ones (berth_cgroups::SelfJoin). If the v1 `tasks` files cannot be opened (a
//! rootless cgroup delegated with `cgroup.procs` only), the runtime moves it instead.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use berth_cgroups::{Cgroup, Mode, SelfJoin};
use rustix::fs::{Mode as FileMode, OFlags};
use tracing::debug;

use berth_sys::Context;

use crate::error::{Error, Result};

/// What clone3 and the new process need to enter the cgroup; opened before clone3.
#[derive(Debug)]
pub(crate) struct CgroupEntry {
    /// The cgroup2 directory, for CLONE_INTO_CGROUP.
    dir: Option<OwnedFd>,
    /// The v1 `tasks` files the process writes itself into.
    self_join: Option<SelfJoin>,
    mode: Mode,
}

impl CgroupEntry {
    pub(crate) fn open(cgroup: &Cgroup) -> Result<CgroupEntry> {
        let self_join = SelfJoin::open(cgroup)
            .inspect_err(|e| debug!(error = %e, "the process cannot join its v1 cgroups itself"))
            .ok();
        Ok(CgroupEntry { dir: open_unified_dir(cgroup)?, self_join, mode: cgroup.mode() })
    }

    /// The directory descriptor for clone3's CLONE_INTO_CGROUP.
    pub(crate) fn clone_into(&self) -> Option<RawFd> {
        self.dir.as_ref().map(|fd| fd.as_raw_fd())
    }

    /// Born straight into its whole cgroup (pure v2).
    pub(crate) fn born_in_cgroup(&self) -> bool {
        self.mode == Mode::V2 && self.dir.is_some()
    }

    /// The v1 cgroups the process joins itself, when there are any.
    pub(crate) fn self_join(&self) -> Option<&SelfJoin> {
        self.self_join.as_ref().filter(|j| !j.is_empty())
    }

    /// The runtime must move the process into its v1 cgroups (`Cgroup::add_process`).
    pub(crate) fn parent_moves(&self) -> bool {
        self.self_join.is_none() && self.mode != Mode::V2
    }
}

/// The container's cgroup2 directory, for CLONE_INTO_CGROUP: on a pure v2 host, and the
/// unified hierarchy of the hybrid layout (its v1 hierarchies are joined by the process).
fn open_unified_dir(cgroup: &Cgroup) -> Result<Option<OwnedFd>> {
    let Some(dir) = cgroup.dirs().iter().find(|d| d.is_unified()) else { return Ok(None) };
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    rustix::fs::open(&dir.path, flags, FileMode::empty())
        .map(Some)
        .op_path("open", &dir.path)
        .map_err(Error::sys("open cgroup for clone3"))
}

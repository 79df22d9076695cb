//! [`Cgroup`]: the directories of one container cgroup and the operations on them.

use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};

use crate::layout::{Layout, Mount};
use crate::stats::{self, Stats};
use crate::{destroy, file, freezer, path, v1, v2, Error};

/// Which layout a [`Cgroup`] was resolved in; decides how resources are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// v1 hierarchies only.
    V1,
    /// v1 hierarchies (which get the resources) plus the unified one (processes only).
    Hybrid,
    /// The unified hierarchy only.
    V2,
}

/// The container's directory in one hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dir {
    /// The v1 controllers of the hierarchy (e.g. `["cpu", "cpuacct"]`, `["name=systemd"]`);
    /// empty for the unified (cgroup2) hierarchy.
    pub controllers: Vec<String>,
    /// Where the hierarchy is mounted; directories above it are never touched.
    pub mount_point: PathBuf,
    /// The container's cgroup directory.
    pub path: PathBuf,
    /// The directories [`Cgroup::create`] made, outermost first (may include `path`).
    /// [`Cgroup::destroy`] removes only these, besides `path` itself.
    #[serde(default)]
    pub created: Vec<PathBuf>,
}

impl Dir {
    pub(crate) fn new(controllers: Vec<String>, mount: &Mount, path: PathBuf) -> Dir {
        Dir { controllers, mount_point: mount.mount_point.clone(), path, created: Vec::new() }
    }

    /// True for the cgroup2 hierarchy.
    pub fn is_unified(&self) -> bool {
        self.controllers.is_empty()
    }

    /// True if `controller` is bound to this (v1) hierarchy.
    pub fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }

    /// mkdir every missing directory from below the mount point down to `path`.
    ///
    /// The container's own directory is tried first: its parent (`berth/`, or the engine's
    /// cgroup parent) usually exists already, and then that one `mkdir` is all it takes,
    /// instead of one per path component in each of the (on v1) ten or so hierarchies.
    fn mkdir_all(&mut self) -> Result<(), Error> {
        let below = self.path.strip_prefix(&self.mount_point).map_err(|_| Error::InvalidPath {
            path: self.path.clone(),
            reason: "it is not below the hierarchy mount point",
        })?;
        match std::fs::create_dir(&self.path) {
            Ok(()) => {
                self.created.push(self.path.clone());
                return Ok(());
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(Error::Mkdir { path: self.path.clone(), source }),
        }
        // A `delete` of the last container below a shared parent removes the parent once it
        // is empty (runtime `remove_default_parent`), possibly between our `mkdir` of it and
        // of the next level (`ENOENT`): walk down again, a few times.
        let mut attempts = 0;
        'walk: loop {
            attempts += 1;
            let mut current = self.mount_point.clone();
            for part in below.components() {
                current.push(part);
                match std::fs::create_dir(&current) {
                    Ok(()) if self.created.contains(&current) => {}
                    Ok(()) => self.created.push(current.clone()),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound && attempts < 3 => {
                        continue 'walk
                    }
                    Err(source) => return Err(Error::Mkdir { path: current, source }),
                }
            }
            return Ok(());
        }
    }
}

/// One container cgroup: its directory in every hierarchy.
///
/// Serializable so the runtime can keep it in its state file and `delete` can work without
/// the bundle's config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cgroup {
    mode: Mode,
    dirs: Vec<Dir>,
}

impl Cgroup {
    /// Resolves an OCI `linux.cgroupsPath` for the calling process.
    ///
    /// Absolute paths are relative to each hierarchy's mount point; relative paths are nested
    /// under the caller's own cgroup (per hierarchy, from `/proc/self/cgroup`). `None` or an
    /// empty path uses `default_rel` (e.g. `berth/<id>`) as a relative path. Nothing is created.
    pub fn resolve(
        layout: &Layout,
        cgroups_path: Option<&Path>,
        default_rel: &str,
    ) -> Result<Cgroup, Error> {
        let own = Path::new("/proc/self/cgroup");
        let text = std::fs::read_to_string(own)
            .map_err(|source| Error::Read { path: own.to_owned(), source })?;
        Cgroup::resolve_with(layout, &text, cgroups_path, default_rel)
    }

    /// [`Cgroup::resolve`] with the caller's `/proc/self/cgroup` text given explicitly.
    pub fn resolve_with(
        layout: &Layout,
        proc_self_cgroup: &str,
        cgroups_path: Option<&Path>,
        default_rel: &str,
    ) -> Result<Cgroup, Error> {
        path::resolve(layout, proc_self_cgroup, cgroups_path, default_rel)
    }

    pub(crate) fn from_dirs(mode: Mode, dirs: Vec<Dir>) -> Cgroup {
        Cgroup { mode, dirs }
    }

    /// The same cgroup with no directories: what a rootless container runs with when its
    /// cgroup cannot be made (not delegated). Moving processes in, destroying and listing are
    /// then no-ops; `apply` refuses any limit.
    pub fn without_dirs(self) -> Cgroup {
        Cgroup { mode: self.mode, dirs: Vec::new() }
    }

    /// Whether this cgroup has no directories (see [`Cgroup::without_dirs`]).
    pub fn is_detached(&self) -> bool {
        self.dirs.is_empty()
    }

    /// The layout this cgroup lives in.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// One directory per hierarchy (v1 hierarchies first, then the unified one).
    pub fn dirs(&self) -> &[Dir] {
        &self.dirs
    }

    /// The directory in the hierarchy of a v1 `controller`, or the unified directory in v2.
    pub fn path_of(&self, controller: &str) -> Option<&Path> {
        let dir = match self.mode {
            Mode::V2 => self.dirs.iter().find(|d| d.is_unified()),
            Mode::V1 | Mode::Hybrid => self.dirs.iter().find(|d| d.has(controller)),
        };
        dir.map(|d| d.path.as_path())
    }

    /// Creates the directories, remembering which ones did not exist.
    ///
    /// v1: a new cpuset cgroup starts with empty `cpuset.cpus`/`cpuset.mems`, which makes
    /// joining it fail with `ENOSPC`, so they are copied down from the parent. v2: every
    /// controller the parent offers is enabled in `cgroup.subtree_control` from the mount
    /// root down to the container's parent; this fails with [`Error::InternalProcesses`] if
    /// one of those cgroups (other than the root) holds processes.
    pub fn create(&mut self) -> Result<(), Error> {
        for dir in &mut self.dirs {
            dir.mkdir_all()?;
        }
        for dir in &self.dirs {
            if self.mode == Mode::V2 {
                v2::enable_controllers(&dir.mount_point, &dir.path)?;
            } else if dir.has("cpuset") {
                v1::cpuset::fill_from_parents(&dir.mount_point, &dir.path)?;
            }
        }
        Ok(())
    }

    /// Writes `linux.resources`: every field that is set (memory, cpu, cpuset, pids, blockIO,
    /// hugepageLimits, rdma, devices; network on v1, `unified` on v2). Unset fields are left
    /// alone, so `update` passes only what changes.
    pub fn apply(&self, resources: &LinuxResources) -> Result<(), Error> {
        match self.mode {
            Mode::V2 => {
                let dir = self.unified_dir()?;
                v2::apply(&dir.path, resources)
            }
            Mode::V1 | Mode::Hybrid => v1::apply(&self.dirs, resources),
        }
    }

    /// Moves `pid` into the cgroup in every hierarchy (the unified one too in hybrid mode).
    pub fn add_process(&self, pid: i32) -> Result<(), Error> {
        for dir in &self.dirs {
            file::write(&dir.path, "cgroup.procs", &pid.to_string())?;
        }
        Ok(())
    }

    /// Every pid in the cgroup and its sub-cgroups, sorted; empty if the cgroup is gone.
    pub fn pids(&self) -> Result<Vec<i32>, Error> {
        let Some(dir) = self.primary_dir() else {
            return Ok(Vec::new());
        };
        // Already destroyed (e.g. `kill --all` racing `delete`): nothing is in it.
        if !dir.path.exists() {
            return Ok(Vec::new());
        }
        let mut pids = Vec::new();
        destroy::walk(&dir.path, &mut |cgroup| {
            pids.extend(file::read_pids(cgroup)?);
            Ok(())
        })?;
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }

    /// True if no process is in the cgroup or its sub-cgroups.
    pub fn is_empty(&self) -> Result<bool, Error> {
        Ok(self.pids()?.is_empty())
    }

    /// Removes the cgroup (and any sub-cgroups) in every hierarchy, then the ancestors that
    /// [`Cgroup::create`] made, innermost first and only while they are empty.
    ///
    /// `EBUSY` is retried for about half a second, because a process that was just killed
    /// still counts as a member until it is reaped. A directory that is already gone is not
    /// an error. Best effort: every hierarchy is tried and all failures are returned together.
    pub fn destroy(&self) -> Result<(), Error> {
        let errors = self.dirs.iter().filter_map(|dir| destroy::remove(dir).err()).collect();
        Error::from_list(errors)
    }

    /// Freezes every process of the cgroup and waits until the kernel confirms (v1
    /// `freezer.state` FROZEN, v2 `cgroup.events` frozen 1).
    pub fn freeze(&self) -> Result<(), Error> {
        self.set_frozen(true)
    }

    /// Thaws the cgroup and waits until the kernel confirms.
    pub fn thaw(&self) -> Result<(), Error> {
        self.set_frozen(false)
    }

    fn set_frozen(&self, frozen: bool) -> Result<(), Error> {
        let dir = self.freezer_dir()?;
        match self.mode {
            Mode::V2 => freezer::set_v2(dir, frozen),
            Mode::V1 | Mode::Hybrid => freezer::set_v1(dir, frozen),
        }
    }

    /// True if the cgroup is frozen (false when there is no freezer or the cgroup is gone).
    pub fn is_frozen(&self) -> bool {
        match (self.mode, self.freezer_dir()) {
            (Mode::V2, Ok(dir)) => freezer::is_frozen_v2(dir),
            (_, Ok(dir)) => freezer::is_frozen_v1(dir),
            (_, Err(_)) => false,
        }
    }

    /// v2 only: SIGKILL to every process of the cgroup through `cgroup.kill` (no race with
    /// forks). `Ok(false)` when that is not available (v1, hybrid, kernel < 5.14), so the
    /// caller signals each pid instead.
    pub fn kill_all(&self) -> Result<bool, Error> {
        match (self.mode, self.unified_dir()) {
            (Mode::V2, Ok(dir)) if dir.path.exists() => freezer::kill_v2(&dir.path),
            _ => Ok(false),
        }
    }

    /// Resource usage, shaped like runc's `events --stats` data.
    pub fn stats(&self) -> Result<Stats, Error> {
        match self.mode {
            Mode::V2 => stats::v2::read(&self.unified_dir()?.path),
            Mode::V1 | Mode::Hybrid => {
                let unified = self.dirs.iter().find(|d| d.is_unified()).map(|d| d.path.as_path());
                stats::v1::read(&|c| self.path_of(c), unified)
            }
        }
    }

    fn freezer_dir(&self) -> Result<&Path, Error> {
        self.path_of("freezer")
            .ok_or_else(|| Error::Unsupported { what: "cgroup freezer controller".into() })
    }

    /// The hierarchy whose `cgroup.procs` lists the container's processes: pids when
    /// present (it is always in use by runtimes), else the first one.
    fn primary_dir(&self) -> Option<&Dir> {
        match self.mode {
            Mode::V2 => self.dirs.iter().find(|d| d.is_unified()),
            Mode::V1 | Mode::Hybrid => {
                self.dirs.iter().find(|d| d.has("pids")).or_else(|| self.dirs.first())
            }
        }
    }

    fn unified_dir(&self) -> Result<&Dir, Error> {
        self.dirs
            .iter()
            .find(|d| d.is_unified())
            .ok_or_else(|| Error::Unsupported { what: "cgroup v2 hierarchy".to_owned() })
    }
}

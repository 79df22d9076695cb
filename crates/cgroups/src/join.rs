//! [`SelfJoin`]: how a new process moves itself into its v1 cgroups without the RCU grace
//! period that moving it from outside costs.
//!
//! Writing a pid to `cgroup.procs` (or any pid but 0 to `tasks`) makes the kernel take
//! `cgroup_threadgroup_rwsem` for writing, and its first writer in a while waits for an RCU
//! grace period: 10–30 ms on the 2-core build host, more than everything else `create` does
//! together. Writing `0` to a v1 `tasks` file moves only the calling thread, and the kernel
//! skips that lock for it (`cgroup_procs_write_start`: "If we migrate a single thread, we
//! don't care about threadgroup stability … we can skip the global lock"). For a process
//! with one thread, as the container's init is until it execs, that thread is the whole
//! process: the result is the same as writing its pid to `cgroup.procs`.
//!
//! The files are opened by the runtime before the init exists and written by the init: v1
//! checks the writer's permission with the credentials of whoever *opened* the file, so this
//! also works from inside a new user namespace.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::PathBuf;

use crate::{Cgroup, Error, Mode};

/// The v1 `tasks` files of a cgroup, opened for writing; [`SelfJoin::join`] moves the calling
/// thread into every one of them.
#[derive(Debug)]
pub struct SelfJoin {
    files: Vec<(PathBuf, File)>,
}

impl SelfJoin {
    /// Opens the `tasks` file of every v1 hierarchy of `cgroup` (none on v2, and none for the
    /// unified hierarchy of the hybrid layout, which has no `tasks` file: that one is joined
    /// at `clone3` with `CLONE_INTO_CGROUP`).
    ///
    /// The freezer hierarchy comes last: joining a frozen cgroup (`exec --ignore-paused` into
    /// a paused container) freezes the thread on its way back from the write, and it must be
    /// in every other hierarchy by then, so that `ps`, `kill --all` and `delete` find it.
    pub fn open(cgroup: &Cgroup) -> Result<SelfJoin, Error> {
        let mut files = Vec::new();
        if cgroup.mode() == Mode::V2 {
            return Ok(SelfJoin { files });
        }
        let mut dirs: Vec<_> = cgroup.dirs().iter().filter(|d| !d.is_unified()).collect();
        dirs.sort_by_key(|d| d.has("freezer"));
        for dir in dirs {
            let path = dir.path.join("tasks");
            match OpenOptions::new().write(true).open(&path) {
                Ok(file) => files.push((path, file)),
                Err(source) => return Err(Error::Open { path, source }),
            }
        }
        Ok(SelfJoin { files })
    }

    /// Moves the calling thread into every hierarchy, in order. Call it from a process with
    /// one thread, or only that thread moves.
    pub fn join(&self) -> Result<(), Error> {
        for (path, file) in &self.files {
            let mut file: &File = file;
            file.write_all(b"0").map_err(|source| Error::Write {
                path: path.clone(),
                value: "0".to_owned(),
                source,
            })?;
        }
        Ok(())
    }

    /// True when there is nothing to join (v2, or a cgroup without directories).
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroup::Dir;

    fn dir(mount: &std::path::Path, controllers: &[&str]) -> Dir {
        Dir {
            controllers: controllers.iter().map(|c| c.to_string()).collect(),
            mount_point: mount.to_owned(),
            path: mount.join("c"),
            created: Vec::new(),
        }
    }

    #[test]
    fn writes_zero_to_each_v1_tasks_file_and_skips_the_unified_one() {
        let tmp = tempfile::tempdir().unwrap();
        let (cpu, unified) = (tmp.path().join("cpu"), tmp.path().join("unified"));
        for d in [&cpu, &unified] {
            std::fs::create_dir_all(d.join("c")).unwrap();
        }
        std::fs::write(cpu.join("c/tasks"), "").unwrap();
        let cg = Cgroup::from_dirs(Mode::Hybrid, vec![dir(&cpu, &["cpu"]), dir(&unified, &[])]);
        let join = SelfJoin::open(&cg).unwrap();
        assert!(!join.is_empty());
        join.join().unwrap();
        assert_eq!(std::fs::read_to_string(cpu.join("c/tasks")).unwrap(), "0");
    }

    #[test]
    fn the_freezer_is_joined_last() {
        let tmp = tempfile::tempdir().unwrap();
        let mount = |name: &str| {
            let m = tmp.path().join(name);
            std::fs::create_dir_all(m.join("c")).unwrap();
            std::fs::write(m.join("c/tasks"), "").unwrap();
            m
        };
        let (freezer, pids) = (mount("freezer"), mount("pids"));
        let cg =
            Cgroup::from_dirs(Mode::V1, vec![dir(&freezer, &["freezer"]), dir(&pids, &["pids"])]);
        let join = SelfJoin::open(&cg).unwrap();
        let order: Vec<_> = join.files.iter().map(|(p, _)| p.clone()).collect();
        assert_eq!(order, [pids.join("c/tasks"), freezer.join("c/tasks")]);
    }

    #[test]
    fn a_missing_tasks_file_names_its_path() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("c")).unwrap();
        let cg = Cgroup::from_dirs(Mode::V1, vec![dir(tmp.path(), &["pids"])]);
        let err = SelfJoin::open(&cg).unwrap_err();
        assert_eq!(err.to_string(), format!("open {}/c/tasks", tmp.path().display()));
    }

    #[test]
    fn nothing_to_join_on_v2() {
        let tmp = tempfile::tempdir().unwrap();
        let cg = Cgroup::from_dirs(Mode::V2, vec![dir(tmp.path(), &[])]);
        assert!(SelfJoin::open(&cg).unwrap().is_empty());
    }
}

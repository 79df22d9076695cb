//! The container's record under the state root (`--root`, default `/run/berth-runtime`):
//! `<root>/<id>/state.json`, which is also the container's lock, and the `exec.fifo` that
//! holds the init until `start`.
//!
//! The record survives the runtime process; the status is never stored but computed from the
//! init process each time it is read, so it cannot go stale.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use berth_sys::Context;
use rustix::fs::FlockOperation;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The name of the fifo the init blocks on until `start`.
pub const EXEC_FIFO: &str = "exec.fifo";
const STATE_FILE: &str = "state.json";
/// The longest record [`StateDir::write`] overwrites in place: one page of the smallest
/// page size Linux has (4 KiB; a record is about 2 KiB without hooks).
const IN_PLACE_MAX: usize = 4096;

/// Lifecycle status, as the runtime-spec names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Being created: the init exists but create has not finished.
    Creating,
    /// Created: the init waits for `start`.
    Created,
    /// The user process runs.
    Running,
    /// The cgroup is frozen.
    Paused,
    /// The init has exited.
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// What `create` records about a container. Never seen half-written ([`StateDir::write`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// The runtime-spec version of the config.
    pub oci_version: String,
    /// Container id.
    pub id: String,
    /// Host pid of the init.
    pub pid: i32,
    /// The init's start time (field 22 of /proc/PID/stat), to tell it from a recycled pid.
    pub pid_start: u64,
    /// Absolute bundle path.
    pub bundle: PathBuf,
    /// Annotations from the config.
    pub annotations: HashMap<String, String>,
    /// Creation time, RFC 3339 UTC.
    pub created: String,
    /// The cgroup directories of the container.
    pub cgroup: berth_cgroups::Cgroup,
    /// The hooks to run later (poststart at start, poststop at delete).
    pub hooks: Option<oci_spec::runtime::Hooks>,
    /// True once create has finished; false while it runs (or if it was killed half way).
    pub created_done: bool,
}

/// Removes the temporary directories (`~<id>.<pid>`) of `create`s killed before their
/// rename, whose pid is gone. They hold only an empty `state.json`, so they are emptied file
/// by file and removed with `rmdir`, never recursively. Best effort.
fn sweep_abandoned(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else { return };
    for e in entries.filter_map(|e| e.ok()) {
        let name = e.file_name();
        let Some(pid) =
            name.to_str().filter(|n| n.starts_with('~')).and_then(|n| n.rsplit_once('.'))
        else {
            continue;
        };
        let alive =
            pid.1.parse::<u32>().map_or(true, |p| Path::new(&format!("/proc/{p}")).exists());
        if alive {
            continue;
        }
        let dir = e.path();
        if let Ok(files) = std::fs::read_dir(&dir) {
            for f in files.filter_map(|f| f.ok()) {
                let _ = std::fs::remove_file(f.path());
            }
        }
        let _ = std::fs::remove_dir(&dir);
    }
}

/// The directory of one container under the state root, locked.
///
/// The lock is a POSIX record lock on `state.json` itself (no lock file: one inode fewer
/// per container, which on an ext4 without a journal, as the bench host's `/run`, costs a
/// scan of every inode freed in the last minute). A POSIX lock belongs to the process, so the
/// init that `create` clones (which keeps a copy of every descriptor until it execs) does not
/// hold it, and `run` can take it again for `start`; but the process loses it when it closes
/// *any* descriptor of the file, so every read and write goes through the one descriptor
/// held here, never through the path.
#[derive(Debug)]
pub struct StateDir {
    /// `<root>/<id>`.
    pub path: PathBuf,
    /// `state.json`, open for reading and writing, locked; unlocked when dropped.
    file: File,
}

impl StateDir {
    /// Makes `<root>/<id>` with an empty `state.json`, locked; fails if the id is taken.
    ///
    /// The directory is built under a temporary name (`~<id>.<pid>`, never a valid id) and
    /// renamed into place, so a container directory always has its `state.json`: a command
    /// that finds the directory can always lock it, and nothing ever re-creates the file of a
    /// container being deleted. An empty file reads as "no record yet".
    pub fn create(root: &Path, id: &str) -> Result<StateDir> {
        let sys = |ctx: &str| Error::sys(format!("{ctx} for container {id}"));
        std::fs::create_dir_all(root).op_path("mkdir", root).map_err(sys("create state root"))?;
        sweep_abandoned(root);
        let tmp = root.join(format!("~{id}.{}", std::process::id()));
        std::fs::create_dir(&tmp).op_path("mkdir", &tmp).map_err(sys("create state dir"))?;
        let file = lock_file(&tmp.join(STATE_FILE), true);
        let path = root.join(id);
        let renamed = file.and_then(|f| match std::fs::rename(&tmp, &path) {
            Ok(()) => Ok(f),
            // rename(2) replaces only an empty directory: a container directory never is.
            Err(e) if is_taken(&e) => Err(Error::Exists { id: id.to_string() }),
            Err(e) => {
                Err(sys("create state dir")(berth_sys::Error::from_io("rename", Some(&path), &e)))
            }
        });
        match renamed {
            Ok(file) => Ok(StateDir { path, file }),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&tmp);
                Err(e)
            }
        }
    }

    /// Opens and locks the directory of an existing container.
    pub fn open(root: &Path, id: &str) -> Result<StateDir> {
        crate::id::validate(id)?;
        let path = root.join(id);
        let file_path = path.join(STATE_FILE);
        loop {
            let file = match lock_file(&file_path, false) {
                Err(Error::Sys { source, .. }) if source.errno == rustix::io::Errno::NOENT => {
                    return Err(Error::NotFound { id: id.to_string() })
                }
                r => r?,
            };
            // While we waited for the lock, the holder may have removed the container
            // (`delete`) or replaced `state.json` (a record longer than a page): our lock is
            // then on an unlinked file. Compare inodes to notice, and look again.
            match rustix::fs::stat(&file_path) {
                Ok(now) if same_inode(&file, &now) => return Ok(StateDir { path, file }),
                Ok(_) => continue,
                Err(_) => return Err(Error::NotFound { id: id.to_string() }),
            }
        }
    }

    /// Path of the exec fifo.
    pub fn fifo(&self) -> PathBuf {
        self.path.join(EXEC_FIFO)
    }

    /// Reads the record; `None` if create never got far enough to write one.
    pub fn read(&self) -> Result<Option<Record>> {
        let p = self.path.join(STATE_FILE);
        let mut bytes = Vec::new();
        // Through the locked descriptor, from the start: opening the path again and closing
        // it would drop the lock.
        (&self.file)
            .seek(SeekFrom::Start(0))
            .and_then(|_| (&self.file).read_to_end(&mut bytes))
            .map_err(|e| Error::State { op: "read", path: p.clone(), source: e })?;
        // Empty (or only the padding of an in-place write): made by `create`, not yet written.
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        serde_json::from_slice(&bytes).map(Some).map_err(|e| Error::State {
            op: "parse",
            path: p,
            source: e.into(),
        })
    }

    /// Writes the record so that it is never seen half-written, even by a `delete` after a
    /// `create` killed in the middle of this call.
    ///
    /// `create` writes the record four times. A temp file renamed over `state.json` costs a
    /// new inode and, on ext4, a flush of the new file's data (`auto_da_alloc` on a rename
    /// that replaces a file): 1–2 ms each on the build host's `/run`, an ext4 without a
    /// journal, where allocating an inode also scans past every inode freed in the last few
    /// seconds. So a record that fits
    /// in one page (`IN_PLACE_MAX`, 4 KiB) overwrites the file in place, from offset 0, in one
    /// `pwrite(2)`, padded with spaces (which JSON ignores) when it is shorter than the old
    /// one: the kernel copies a write into the page cache a page at a time and checks for a
    /// fatal signal only between pages, so a write within the first page is whole or absent.
    /// A concurrent reader cannot see it half-done either: every command reads the record
    /// holding the container's lock, and only `create`, which holds it, writes. Larger
    /// records (many hooks or annotations) take the temp file and rename, and the lock moves
    /// to the new file before the rename (see [`StateDir::open`] for the waiters).
    pub fn write(&mut self, rec: &Record) -> Result<()> {
        let p = self.path.join(STATE_FILE);
        let io = |e| Error::State { op: "write", path: p.clone(), source: e };
        let mut bytes = serde_json::to_vec(rec).map_err(|e| io(e.into()))?;
        let old = self.file.metadata().map_err(io)?.len();
        match usize::try_from(old) {
            Ok(old) if old <= IN_PLACE_MAX && bytes.len() <= IN_PLACE_MAX => {
                bytes.resize(bytes.len().max(old), b' ');
                self.file.write_all_at(&bytes, 0).map_err(io)
            }
            // Too long to overwrite whole in one page (now, or when `replace` wrote it).
            _ => self.replace(&p, &bytes).map_err(io),
        }
    }

    /// Replaces `state.json` with `bytes` through a temp file, locked before rename(2) puts
    /// it in place, so the container stays locked throughout.
    fn replace(&mut self, p: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let tmp = self.path.join(".state.json.tmp");
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        rustix::fs::fcntl_lock(&f, FlockOperation::LockExclusive)?;
        std::fs::rename(&tmp, p)?;
        // Closing the old descriptor unlocks only the old, now unlinked, inode.
        self.file = f;
        Ok(())
    }

    /// Removes the directory and everything in it (it holds only regular files and a fifo).
    pub fn remove(self) -> Result<()> {
        std::fs::remove_dir_all(&self.path).map_err(|e| Error::State {
            op: "remove",
            path: self.path.clone(),
            source: e,
        })
    }
}

/// Opens (or with `create`, makes) `state.json` for reading and writing and takes the lock.
/// It serialises every command on one container.
fn lock_file(path: &Path, create: bool) -> Result<File> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(create)
        .mode(0o600)
        .open(path)
        .op_path("open", path)
        .map_err(Error::sys("lock container"))?;
    rustix::fs::fcntl_lock(&f, FlockOperation::LockExclusive)
        .op_path("lock", path)
        .map_err(Error::sys("lock container"))?;
    Ok(f)
}

fn same_inode(f: &File, st: &rustix::fs::Stat) -> bool {
    rustix::fs::fstat(f).is_ok_and(|a| a.st_ino == st.st_ino && a.st_dev == st.st_dev)
}

/// rename(2) onto a non-empty directory: EEXIST or ENOTEMPTY, as the filesystem chooses.
fn is_taken(e: &std::io::Error) -> bool {
    let errno = e.raw_os_error();
    errno == Some(rustix::io::Errno::EXIST.raw_os_error())
        || errno == Some(rustix::io::Errno::NOTEMPTY.raw_os_error())
}

/// The status of a recorded container, computed from its init process.
pub fn status(dir: &StateDir, rec: &Record) -> Status {
    if !process_alive(rec.pid, rec.pid_start) {
        return Status::Stopped;
    }
    if !rec.created_done {
        return Status::Creating;
    }
    if dir.fifo().exists() {
        return Status::Created;
    }
    if rec.cgroup.is_frozen() {
        return Status::Paused;
    }
    Status::Running
}

/// Reads the state letter and start time of a process from `/proc/PID/stat`.
pub fn proc_stat(pid: i32) -> Option<(char, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses: skip to the last ')'.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// True if `pid` is the process that started at `start` and has not exited (a zombie counts as
/// exited: its parent just has not reaped it yet).
pub fn process_alive(pid: i32, start: u64) -> bool {
    matches!(proc_stat(pid), Some((s, t)) if t == start && s != 'Z' && s != 'X')
}

/// Current time as RFC 3339 UTC with nanoseconds.
pub fn now_rfc3339() -> String {
    berth_sys::time::now_rfc3339()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    #[test]
    fn create_sweeps_the_temp_dirs_of_dead_creates_only() {
        let root = tempfile::tempdir().unwrap();
        let dead = root.path().join("~old.999999999");
        std::fs::create_dir(&dead).unwrap();
        std::fs::write(dead.join("state.json"), "").unwrap();
        let alive = root.path().join(format!("~busy.{}", std::process::id()));
        std::fs::create_dir(&alive).unwrap();
        let _d = StateDir::create(root.path(), "fresh").unwrap();
        assert!(!dead.exists(), "a dead create's temp dir is removed");
        assert!(alive.exists(), "a live one is left alone");
    }

    #[test]
    fn own_process_is_alive_and_start_time_matters() {
        let pid = std::process::id() as i32;
        let (state, start) = proc_stat(pid).unwrap();
        assert_ne!(state, 'Z');
        assert!(process_alive(pid, start));
        assert!(!process_alive(pid, start + 1));
    }

    fn record(pid: i32, annotations: usize) -> Record {
        let layout = berth_cgroups::Layout::V2 {
            unified: berth_cgroups::Mount {
                mount_point: "/sys/fs/cgroup".into(),
                root: "/".into(),
            },
        };
        Record {
            oci_version: "1.2.0".into(),
            id: "c".into(),
            pid,
            pid_start: 0,
            bundle: "/b".into(),
            annotations: (0..annotations).map(|i| (format!("k{i}"), "v".repeat(40))).collect(),
            created: now_rfc3339(),
            cgroup: berth_cgroups::Cgroup::resolve_with(&layout, "0::/\n", None, "berth/c")
                .unwrap(),
            hooks: None,
            created_done: false,
        }
    }

    #[test]
    fn a_shorter_record_overwrites_a_longer_one_in_place() {
        let root = tempfile::tempdir().unwrap();
        let mut d = StateDir::create(root.path(), "c").unwrap();
        d.write(&record(1, 10)).unwrap();
        let file = d.path.join(STATE_FILE);
        let inode = std::fs::metadata(&file).unwrap().ino();
        d.write(&record(2, 0)).unwrap();
        assert_eq!(d.read().unwrap().unwrap().pid, 2);
        let meta = std::fs::metadata(&file).unwrap();
        assert_eq!(meta.ino(), inode, "overwritten, not replaced");
        assert!(std::fs::read_to_string(&file).unwrap().ends_with(' '), "padded");
    }

    #[test]
    fn a_record_longer_than_a_page_is_replaced_and_stays_readable() {
        let root = tempfile::tempdir().unwrap();
        let mut d = StateDir::create(root.path(), "c").unwrap();
        d.write(&record(1, 0)).unwrap();
        d.write(&record(2, 100)).unwrap();
        let file = d.path.join(STATE_FILE);
        assert!(std::fs::metadata(&file).unwrap().len() > IN_PLACE_MAX as u64);
        assert_eq!(d.read().unwrap().unwrap().annotations.len(), 100);
        // Back to a short one: the long file is replaced again, never overwritten in part.
        d.write(&record(3, 0)).unwrap();
        let rec = d.read().unwrap().unwrap();
        assert_eq!((rec.pid, rec.annotations.len()), (3, 0));
        assert!(!d.path.join(".state.json.tmp").exists());
    }

    /// Whether this process holds a POSIX write lock on the inode `ino`, as /proc/locks
    /// says (a probe opening the file would itself drop the lock when closed).
    fn locked_by_us(ino: u64) -> bool {
        let me = std::process::id().to_string();
        std::fs::read_to_string("/proc/locks").unwrap().lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 5
                && f[1] == "POSIX"
                && f[3] == "WRITE"
                && f[4] == me
                && f[5].rsplit(':').next() == Some(&ino.to_string())
        })
    }

    #[test]
    fn state_json_stays_locked_through_reads_writes_and_replacement() {
        let root = tempfile::tempdir().unwrap();
        let mut d = StateDir::create(root.path(), "c").unwrap();
        let file = d.path.join(STATE_FILE);
        let ino = || std::fs::metadata(&file).unwrap().ino();
        assert!(locked_by_us(ino()), "locked when made");
        assert!(d.read().unwrap().is_none(), "empty reads as no record yet");
        d.write(&record(1, 0)).unwrap();
        assert_eq!(d.read().unwrap().unwrap().pid, 1);
        assert!(locked_by_us(ino()), "locked after an in-place write and a read");
        let before = ino();
        d.write(&record(2, 100)).unwrap();
        assert_ne!(ino(), before, "a long record replaces the file");
        assert!(locked_by_us(ino()), "the lock moved to the new file");
        assert!(!locked_by_us(before), "and left the old one");
        drop(d);
        assert!(!locked_by_us(ino()), "unlocked when dropped");
        let d = StateDir::open(root.path(), "c").unwrap();
        assert_eq!(d.read().unwrap().unwrap().pid, 2);
        assert!(locked_by_us(ino()));
    }

    #[test]
    fn create_refuses_a_taken_id() {
        let tmp = tempfile::tempdir().unwrap();
        let d = StateDir::create(tmp.path(), "a").unwrap();
        drop(d);
        assert!(matches!(StateDir::create(tmp.path(), "a"), Err(Error::Exists { .. })));
    }
}

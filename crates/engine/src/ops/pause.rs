//! `berth pause` and `berth unpause`: the runtime's `pause`/`resume` (the cgroup freezer);
//! a `paused` marker in the run directory lets `ps` and `inspect` say so without asking
//! the runtime.
//!
//! `commit` pauses a container only while it reads its changes. Its marker says `commit`
//! and stays locked (`flock`) by the committing process for as long as it holds the pause,
//! so a commit killed half way (the lock goes with the process) leaves a marker nobody
//! holds: the next command that asks whether the container is paused thaws it, instead of
//! leaving it frozen until someone guesses to `unpause` it.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use rustix::fs::FlockOperation;

use super::Engine;
use crate::db::Record;
use crate::error::{Error, Result};

/// The marker's name in the container's run directory.
const MARKER: &str = "paused";
/// The content of a marker written by `commit` (a user's `pause` writes an empty one).
const COMMIT_HOLD: &[u8] = b"commit\n";

/// Freezes every process of `key`.
pub fn pause(e: &Engine, key: &str) -> Result<String> {
    let r = e.get(key)?;
    if r.state != "running" {
        return Err(Error::WrongState {
            op: "pause",
            id: r.id,
            reason: "it is not running".into(),
        });
    }
    if is_paused(e, &r) {
        return Err(Error::WrongState {
            op: "pause",
            id: r.id,
            reason: "it is already paused".into(),
        });
    }
    e.runtime_of(&r).call(&["pause", &r.id])?;
    let marker = marker_path(e, &r.id);
    std::fs::write(&marker, b"").map_err(Error::io("write", &marker))?;
    Ok(r.id)
}

/// Thaws `key`, whether a user's `pause` or a `commit` froze it.
pub fn unpause(e: &Engine, key: &str) -> Result<String> {
    let r = e.get(key)?;
    if r.state != "running" || !marker_path(e, &r.id).exists() {
        return Err(Error::WrongState {
            op: "unpause",
            id: r.id,
            reason: "it is not paused".into(),
        });
    }
    e.runtime_of(&r).call(&["resume", &r.id])?;
    let _ = std::fs::remove_file(marker_path(e, &r.id));
    Ok(r.id)
}

/// Whether `r` is paused: by a user (until `unpause`), or by a `commit` still running.
/// A `commit`'s pause that no process holds any more (the commit was killed) is thawed here.
pub fn is_paused(e: &Engine, r: &Record) -> bool {
    let marker = marker_path(e, &r.id);
    let Ok(content) = std::fs::read(&marker) else {
        return false;
    };
    if content != COMMIT_HOLD {
        return true;
    }
    let Ok(file) = File::open(&marker) else {
        return false; // the commit has just let go
    };
    if rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive).is_err() {
        return true; // the commit holds it
    }
    if !same_file(&file, &marker) {
        // The commit let go between our read and our lock, and the marker is gone or is a
        // new one (a `pause` since): ask again.
        return marker.exists();
    }
    // Abandoned. Holding the lock, no other command thaws it at the same time.
    match e.runtime_of(r).call(&["resume", &r.id]) {
        Ok(_) => {
            let _ = std::fs::remove_file(&marker);
            tracing::warn!(id = %r.id, "thawed: the commit that paused it is gone");
            false
        }
        Err(err) => {
            // Still frozen, as far as we know: say so, and leave it to `unpause`.
            tracing::warn!(id = %r.id, error = %err, "thaw after an abandoned commit");
            let _ = std::fs::write(&marker, b"");
            true
        }
    }
}

/// Thaws `r` if it is paused, so that a signal can end it (`stop`, `kill`, `rm -f`).
pub(crate) fn thaw(e: &Engine, r: &Record) {
    let marker = marker_path(e, &r.id);
    if marker.exists() {
        let _ = e.runtime_of(r).call(&["resume", &r.id]);
        let _ = std::fs::remove_file(marker);
    }
}

/// Whether `path` still names the file `file` is open on.
fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

fn marker_path(e: &Engine, id: &str) -> PathBuf {
    e.paths.container_run(id).join(MARKER)
}

/// A pause `commit` holds while it reads the container's changes; [`CommitHold::release`]
/// thaws it. Dropped without `release` (a panic) it thaws too; killed, it leaves the
/// marker unlocked for [`is_paused`] to thaw.
pub(crate) struct CommitHold<'a> {
    e: &'a Engine,
    r: Record,
    /// The marker, open and locked for as long as the hold lasts.
    lock: Option<File>,
}

impl<'a> CommitHold<'a> {
    /// Pauses `r` for a commit, unless it is not running or already paused (`None`).
    pub(crate) fn take(e: &'a Engine, r: &Record) -> Result<Option<CommitHold<'a>>> {
        if r.state != "running" || is_paused(e, r) {
            return Ok(None);
        }
        let marker = marker_path(e, &r.id);
        let Some(lock) = publish_locked(&marker)? else {
            return Ok(None); // a pause or another commit got there first
        };
        let hold = CommitHold { e, r: r.clone(), lock: Some(lock) };
        // Frozen only after the marker is out: a kill in between leaves a marker the next
        // `is_paused` thaws (a `resume` of a running container does no harm), never a
        // frozen container without one.
        e.runtime_of(r).call(&["pause", &r.id])?;
        Ok(Some(hold))
    }

    /// Thaws the container and removes the marker.
    pub(crate) fn release(mut self) -> Result<()> {
        self.thaw()
    }

    fn thaw(&mut self) -> Result<()> {
        let Some(lock) = self.lock.take() else {
            return Ok(());
        };
        let marker = marker_path(self.e, &self.r.id);
        // A user's `unpause` meanwhile thawed it and removed the marker: nothing to do.
        if std::fs::read(&marker).is_ok_and(|c| c == COMMIT_HOLD) {
            self.e.runtime_of(&self.r).call(&["resume", &self.r.id])?;
            let _ = std::fs::remove_file(&marker);
        }
        drop(lock);
        Ok(())
    }
}

impl Drop for CommitHold<'_> {
    fn drop(&mut self) {
        // Only on an early return or panic before `release`: never leave it frozen.
        let _ = self.thaw();
    }
}

/// Writes a commit's marker to a temporary name, locks it and links it into place, so no
/// other process ever sees the marker unlocked while the commit lives. `None` if a marker
/// is already there.
fn publish_locked(marker: &Path) -> Result<Option<File>> {
    let tmp = marker.with_file_name(format!("{MARKER}.{}", std::process::id()));
    let mut file = File::create(&tmp).map_err(Error::io("create", &tmp))?;
    let locked = rustix::fs::flock(&file, FlockOperation::LockExclusive)
        .map_err(|errno| Error::io("flock", &tmp)(errno.into()));
    let written =
        locked.and_then(|()| file.write_all(COMMIT_HOLD).map_err(Error::io("write", &tmp)));
    let linked = written.and_then(|()| match std::fs::hard_link(&tmp, marker) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(Error::io("link", marker)(e)),
    });
    let _ = std::fs::remove_file(&tmp);
    Ok(linked?.then_some(file))
}

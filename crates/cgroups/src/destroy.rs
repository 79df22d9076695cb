//! Walking and removing cgroup directory trees.
//!
//! cgroupfs directories hold only kernel interface files, which `rmdir(2)` ignores, so a
//! cgroup is removed with `rmdir` alone (never `unlink`), children first.

use std::io;
use std::path::Path;
use std::thread::sleep;
use std::time::Duration;

use rustix::io::Errno;

use crate::cgroup::Dir;
use crate::Error;

/// How long to wait between `rmdir` attempts that fail with `EBUSY`: a process killed a moment
/// ago stays a member until its parent reaps it (and for a few ms after, while the kernel
/// tears it down). About 0.5 s in total.
const EBUSY_BACKOFF_MS: [u64; 9] = [2, 5, 10, 20, 40, 60, 80, 120, 160];

/// Calls `visit` on `dir` and then on every sub-cgroup below it (pre-order).
pub(crate) fn walk(
    dir: &Path,
    visit: &mut dyn FnMut(&Path) -> Result<(), Error>,
) -> Result<(), Error> {
    visit(dir)?;
    for sub in subdirs(dir)? {
        walk(&sub, visit)?;
    }
    Ok(())
}

/// Removes the container's directory in one hierarchy, then the ancestors we created.
pub(crate) fn remove(dir: &Dir) -> Result<(), Error> {
    remove_tree(&dir.path)?;
    // Innermost first; an ancestor still in use (another container below a shared `berth/`
    // parent, or a process) is left in place: that is the normal case, not a failure.
    for ancestor in dir.created.iter().rev().filter(|p| **p != dir.path) {
        match std::fs::remove_dir(ancestor) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) if is_errno(&e, Errno::BUSY) || is_errno(&e, Errno::NOTEMPTY) => break,
            Err(source) => return Err(Error::Rmdir { path: ancestor.clone(), source }),
        }
    }
    Ok(())
}

/// Removes `path` and every sub-cgroup below it, deepest first.
///
/// A container's cgroup rarely has sub-cgroups, so `rmdir` is tried before the directory is
/// listed: it succeeds or is already gone in the common case, and only `ENOTEMPTY` (a
/// sub-cgroup) or `EBUSY` (a member not yet reaped, or sub-cgroups on some kernels) leads to
/// the listing and the retries.
fn remove_tree(path: &Path) -> Result<(), Error> {
    match std::fs::remove_dir(path) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) if is_errno(&e, Errno::NOTEMPTY) || is_errno(&e, Errno::BUSY) => {}
        Err(source) => return Err(Error::Rmdir { path: path.to_owned(), source }),
    }
    let subs = match subdirs(path) {
        Ok(subs) => subs,
        Err(Error::ReadDir { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            return Ok(())
        }
        Err(err) => return Err(err),
    };
    for sub in subs {
        remove_tree(&sub)?;
    }
    rmdir_retrying(path)
}

fn rmdir_retrying(path: &Path) -> Result<(), Error> {
    let mut backoff = EBUSY_BACKOFF_MS.iter();
    loop {
        match std::fs::remove_dir(path) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if is_errno(&e, Errno::BUSY) => match backoff.next() {
                Some(ms) => sleep(Duration::from_millis(*ms)),
                None => return Err(Error::Rmdir { path: path.to_owned(), source: e }),
            },
            Err(source) => return Err(Error::Rmdir { path: path.to_owned(), source }),
        }
    }
}

/// The sub-cgroups (subdirectories) of `dir`.
fn subdirs(dir: &Path) -> Result<Vec<std::path::PathBuf>, Error> {
    let read_dir_err = |source| Error::ReadDir { path: dir.to_owned(), source };
    let mut subs = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_dir_err)? {
        let entry = entry.map_err(read_dir_err)?;
        if entry.file_type().map_err(read_dir_err)?.is_dir() {
            subs.push(entry.path());
        }
    }
    Ok(subs)
}

fn is_errno(err: &io::Error, errno: Errno) -> bool {
    err.raw_os_error() == Some(errno.raw_os_error())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn dir(mount: &Path, path: &str, created: &[&str]) -> Dir {
        Dir {
            controllers: vec!["memory".into()],
            mount_point: mount.to_owned(),
            path: mount.join(path),
            created: created.iter().map(|c| mount.join(c)).collect(),
        }
    }

    #[test]
    fn removes_leaf_subcgroups_and_created_ancestors() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("berth/c1/inner/deeper")).unwrap();
        remove(&dir(tmp.path(), "berth/c1", &["berth", "berth/c1"])).unwrap();
        assert!(!tmp.path().join("berth").exists());
    }

    #[test]
    fn keeps_ancestors_not_created_or_still_used() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("berth/c1")).unwrap();
        std::fs::create_dir_all(tmp.path().join("berth/c2")).unwrap();
        // berth/ is shared with c2, so it stays even though c1 created it.
        remove(&dir(tmp.path(), "berth/c1", &["berth", "berth/c1"])).unwrap();
        assert!(!tmp.path().join("berth/c1").exists());
        assert!(tmp.path().join("berth/c2").exists());
        // c2 did not create berth/, so it is not removed even when empty.
        remove(&dir(tmp.path(), "berth/c2", &["berth/c2"])).unwrap();
        assert!(tmp.path().join("berth").exists());
    }

    #[test]
    fn missing_dir_is_not_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        remove(&dir(tmp.path(), "gone", &["gone"])).unwrap();
    }

    #[test]
    fn walk_visits_all() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("a/b")).unwrap();
        std::fs::create_dir_all(tmp.path().join("c")).unwrap();
        let mut seen: Vec<PathBuf> = Vec::new();
        walk(tmp.path(), &mut |p| {
            seen.push(p.strip_prefix(tmp.path()).unwrap().to_owned());
            Ok(())
        })
        .unwrap();
        seen.sort();
        let expect: Vec<PathBuf> = ["", "a", "a/b", "c"].iter().map(PathBuf::from).collect();
        assert_eq!(seen, expect);
    }
}

//! Directory trees handled through file descriptors, for content the engine does not trust
//! (a container's rootfs, a volume a container wrote): every step opens one name inside an
//! already-open directory with `O_NOFOLLOW`, so a symlink in the tree is copied or removed
//! as a symlink and never followed out of it.
//!
//! - [`copy_contents`]: what Docker does when a new volume is mounted over image content;
//!   with [`copy_entry`], what `cp` does between a container and the host.
//! - [`remove_dir`]: `volume rm`; it stops at mount points (another device) instead of
//!   deleting through them.
//! - [`size`]: the bytes `volume prune` reclaims; it skips mount points too.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

/// Opens `name` in `dir` as a directory, never through a symlink.
pub(crate) fn open_dir_at(dir: BorrowedFd<'_>, name: &Path) -> io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    Ok(rfs::openat(dir, name, flags, Mode::empty())?)
}

/// The names in `dir`, without `.` and `..`.
pub(crate) fn names(dir: BorrowedFd<'_>) -> io::Result<Vec<std::ffi::OsString>> {
    let mut out = Vec::new();
    for ent in rfs::Dir::read_from(dir)? {
        let ent = ent?;
        let n = ent.file_name().to_bytes();
        if n != b"." && n != b".." {
            out.push(OsStr::from_bytes(n).to_os_string());
        }
    }
    Ok(out)
}

/// How [`copy_contents`] and [`copy_entry`] treat owners and what is already there.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CopyOptions {
    /// Give every copy this owner instead of the source's (`cp` without `-a`).
    pub owner: Option<(u32, u32)>,
    /// Replace existing non-directories and merge into existing directories (`cp`); without
    /// it an existing name is an error (`EEXIST`), as a new volume is empty anyway.
    pub replace: bool,
}

/// Copies everything inside `src` into `dst` (both directories), keeping modes, symlinks
/// and device nodes, and owners unless `opts` says otherwise; then gives `dst` the mode
/// (and owner) of `src`.
pub(crate) fn copy_contents(
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    opts: &CopyOptions,
) -> io::Result<()> {
    for name in names(src)? {
        let name = Path::new(&name);
        copy_entry(src, name, dst, name, opts)?;
    }
    let st = rfs::fstat(src)?;
    set_owner_mode(dst, &st, opts)
}

/// Copies `name` in directory `src` (not following it if it is a symlink) to `to` in
/// directory `dst`, recursively for a directory.
pub(crate) fn copy_entry(
    src: BorrowedFd<'_>,
    name: &Path,
    dst: BorrowedFd<'_>,
    to: &Path,
    opts: &CopyOptions,
) -> io::Result<()> {
    let st = rfs::statat(src, name, AtFlags::SYMLINK_NOFOLLOW)?;
    let ft = FileType::from_raw_mode(st.st_mode);
    if opts.replace {
        clear_for(dst, to, ft == FileType::Directory)?;
    }
    match ft {
        FileType::Directory => {
            match rfs::mkdirat(dst, to, Mode::from_raw_mode(0o700)) {
                Err(Errno::EXIST) if opts.replace => {}
                other => other?,
            }
            let (s, d) = (open_dir_at(src, name)?, open_dir_at(dst, to)?);
            copy_contents(s.as_fd(), d.as_fd(), opts)?;
        }
        FileType::RegularFile => {
            let from = rfs::openat(
                src,
                name,
                OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC;
            let to = rfs::openat(dst, to, flags, Mode::from_raw_mode(0o600))?;
            let (mut from, mut to) = (std::fs::File::from(from), std::fs::File::from(to));
            io::copy(&mut from, &mut to)?;
            set_owner_mode(to.as_fd(), &st, opts)?;
        }
        FileType::Symlink => {
            let target = rfs::readlinkat(src, name, Vec::new())?;
            rfs::symlinkat(target.as_c_str(), dst, to)?;
            let (uid, gid) = owner(&st, opts);
            rfs::chownat(dst, to, Some(uid), Some(gid), AtFlags::SYMLINK_NOFOLLOW)?;
        }
        ft @ (FileType::Fifo | FileType::CharacterDevice | FileType::BlockDevice) => {
            rfs::mknodat(dst, to, ft, Mode::from_raw_mode(0o600), st.st_rdev)?;
            let (uid, gid) = owner(&st, opts);
            rfs::chownat(dst, to, Some(uid), Some(gid), AtFlags::SYMLINK_NOFOLLOW)?;
            rfs::chmodat(dst, to, mode_of(&st), AtFlags::empty())?;
        }
        // Sockets belong to a process that is not there any more.
        _ => {}
    }
    Ok(())
}

/// Makes room for `name` in `dir`: a non-directory there is unlinked; a directory stays
/// when a directory is coming (merged), and is refused (`EISDIR`) when a file is.
pub(crate) fn clear_for(dir: BorrowedFd<'_>, name: &Path, dir_coming: bool) -> io::Result<()> {
    let st = match rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::NOENT) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    match (FileType::from_raw_mode(st.st_mode) == FileType::Directory, dir_coming) {
        (true, true) => Ok(()),
        (true, false) => Err(Errno::ISDIR.into()),
        (false, _) => Ok(rfs::unlinkat(dir, name, AtFlags::empty())?),
    }
}

fn owner(st: &Stat, opts: &CopyOptions) -> (rfs::Uid, rfs::Gid) {
    let (uid, gid) = opts.owner.unwrap_or((st.st_uid, st.st_gid));
    (rfs::Uid::from_raw(uid), rfs::Gid::from_raw(gid))
}

fn mode_of(st: &Stat) -> Mode {
    Mode::from_raw_mode(st.st_mode & 0o7777)
}

/// Owner first: chown clears the set-id bits, which the mode then restores.
fn set_owner_mode(fd: BorrowedFd<'_>, st: &Stat, opts: &CopyOptions) -> io::Result<()> {
    let (uid, gid) = owner(st, opts);
    rfs::fchown(fd, Some(uid), Some(gid))?;
    rfs::fchmod(fd, mode_of(st))?;
    Ok(())
}

/// Removes `name` in `parent` and everything under it, without following symlinks and
/// without descending into anything on another device (a mount point): that is refused
/// with `EBUSY`. A bind mount from the same filesystem has the same device, so callers
/// also check the mount table first (`ops::volume::mounted_under`).
pub(crate) fn remove_dir(parent: BorrowedFd<'_>, name: &Path) -> io::Result<()> {
    let dev = rfs::fstat(parent)?.st_dev;
    remove_tree(parent, name, dev)
}

/// The bytes of the files under `dir`: `st_size` of each inode once, as Docker's
/// `directory.Size` counts a volume, without following symlinks or entering mount points.
/// An entry that goes away while it is walked (a running container's files) is skipped,
/// as Docker skips it.
pub(crate) fn size(dir: BorrowedFd<'_>) -> io::Result<u64> {
    let dev = rfs::fstat(dir)?.st_dev;
    size_under(dir, dev, &mut std::collections::HashSet::new())
}

fn size_under(
    dir: BorrowedFd<'_>,
    dev: u64,
    seen: &mut std::collections::HashSet<u64>,
) -> io::Result<u64> {
    let mut total = 0u64;
    for child in names(dir)? {
        let child = Path::new(&child);
        let st = match rfs::statat(dir, child, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT) => continue,
            Err(e) => return Err(e.into()),
        };
        if st.st_dev != dev {
            continue;
        }
        if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
            let sub = match open_dir_at(dir, child) {
                Ok(sub) => sub,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            total = total.saturating_add(size_under(sub.as_fd(), dev, seen)?);
        } else if seen.insert(st.st_ino) {
            total = total.saturating_add(u64::try_from(st.st_size).unwrap_or(0));
        }
    }
    Ok(total)
}

fn remove_tree(parent: BorrowedFd<'_>, name: &Path, dev: u64) -> io::Result<()> {
    let dir = open_dir_at(parent, name)?;
    if rfs::fstat(&dir)?.st_dev != dev {
        return Err(Errno::BUSY.into());
    }
    for child in names(dir.as_fd())? {
        let child = Path::new(&child);
        let st = rfs::statat(&dir, child, AtFlags::SYMLINK_NOFOLLOW)?;
        if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
            remove_tree(dir.as_fd(), child, dev)?;
        } else {
            rfs::unlinkat(&dir, child, AtFlags::empty())?;
        }
    }
    Ok(rfs::unlinkat(parent, name, AtFlags::REMOVEDIR)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn open(p: &Path) -> OwnedFd {
        rfs::open(p, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()).unwrap()
    }

    #[test]
    fn size_skips_entries_that_go_away_while_it_walks() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().to_path_buf();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let churn = {
            let (d, stop) = (d.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    for i in 0..50 {
                        let _ = std::fs::create_dir(d.join(format!("d{i}")));
                        let _ = std::fs::write(d.join(format!("d{i}/f")), b"x");
                    }
                    for i in 0..50 {
                        let _ = std::fs::remove_file(d.join(format!("d{i}/f")));
                        let _ = std::fs::remove_dir(d.join(format!("d{i}")));
                    }
                }
            })
        };
        let walks: Vec<io::Result<u64>> = (0..300).map(|_| size(open(&d).as_fd())).collect();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        churn.join().unwrap();
        let failed: Vec<_> = walks.iter().filter_map(|w| w.as_ref().err()).collect();
        assert!(failed.is_empty(), "{} of 300 walks failed: {:?}", failed.len(), failed.first());
    }

    #[test]
    fn size_counts_each_file_once_and_follows_no_symlink() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        std::fs::create_dir_all(d.join("sub")).unwrap();
        std::fs::write(d.join("a"), [0u8; 100]).unwrap();
        std::fs::write(d.join("sub/b"), [0u8; 20]).unwrap();
        std::fs::hard_link(d.join("a"), d.join("sub/a-again")).unwrap();
        symlink("/etc", d.join("etc")).unwrap();
        let link_len = u64::try_from("/etc".len()).unwrap();
        assert_eq!(size(open(d).as_fd()).unwrap(), 120 + link_len);
    }

    #[test]
    fn copy_keeps_modes_and_symlinks_without_following_them() {
        let tmp = tempfile::tempdir().unwrap();
        let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::create_dir(&dst).unwrap();
        std::fs::write(src.join("sub/f"), "content").unwrap();
        std::fs::set_permissions(src.join("sub/f"), std::fs::Permissions::from_mode(0o751))
            .unwrap();
        std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o1777)).unwrap();
        // A symlink pointing out of the tree is copied as a symlink, not as what it names.
        symlink("/etc/passwd", src.join("escape")).unwrap();
        copy_contents(open(&src).as_fd(), open(&dst).as_fd(), &CopyOptions::default()).unwrap();
        assert_eq!(std::fs::read_to_string(dst.join("sub/f")).unwrap(), "content");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&dst.join("sub/f")), 0o751);
        assert_eq!(mode(&dst), 0o1777, "the top takes the source directory's mode");
        assert_eq!(std::fs::read_link(dst.join("escape")).unwrap(), Path::new("/etc/passwd"));
    }

    #[test]
    fn remove_does_not_follow_symlinks() {
        let tmp = tempfile::tempdir().unwrap();
        let keep = tmp.path().join("keep");
        std::fs::create_dir(&keep).unwrap();
        std::fs::write(keep.join("precious"), "x").unwrap();
        let gone = tmp.path().join("gone");
        std::fs::create_dir_all(gone.join("a/b")).unwrap();
        symlink(&keep, gone.join("a/link")).unwrap();
        remove_dir(open(tmp.path()).as_fd(), Path::new("gone")).unwrap();
        assert!(!gone.exists());
        assert!(keep.join("precious").exists());
    }
}

//! Directory trees handled through file descriptors, for content the engine does not trust
//! (a container's rootfs, a volume a container wrote): every step opens one name inside an
//! already-open directory with `O_NOFOLLOW`, so a symlink in the tree is copied or removed
//! as a symlink and never followed out of it.
//!
//! - [`copy_contents`]: what Docker does when a new volume is mounted over image content.
//! - [`remove_dir`]: `volume rm`; it stops at mount points (another device) instead of
//!   deleting through them.

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

/// Copies everything inside `src` into `dst` (both directories), keeping modes, owners,
/// symlinks and device nodes; then gives `dst` the mode and owner of `src`.
pub(crate) fn copy_contents(src: BorrowedFd<'_>, dst: BorrowedFd<'_>) -> io::Result<()> {
    for name in names(src)? {
        let name = Path::new(&name);
        let st = rfs::statat(src, name, AtFlags::SYMLINK_NOFOLLOW)?;
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => {
                rfs::mkdirat(dst, name, Mode::from_raw_mode(0o700))?;
                let (s, d) = (open_dir_at(src, name)?, open_dir_at(dst, name)?);
                copy_contents(s.as_fd(), d.as_fd())?;
            }
            FileType::RegularFile => {
                let from = rfs::openat(
                    src,
                    name,
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC;
                let to = rfs::openat(dst, name, flags, Mode::from_raw_mode(0o600))?;
                let (mut from, mut to) = (std::fs::File::from(from), std::fs::File::from(to));
                io::copy(&mut from, &mut to)?;
                set_owner_mode(to.as_fd(), &st)?;
            }
            FileType::Symlink => {
                let target = rfs::readlinkat(src, name, Vec::new())?;
                rfs::symlinkat(target.as_c_str(), dst, name)?;
                let (uid, gid) = owner(&st);
                rfs::chownat(dst, name, Some(uid), Some(gid), AtFlags::SYMLINK_NOFOLLOW)?;
            }
            ft @ (FileType::Fifo | FileType::CharacterDevice | FileType::BlockDevice) => {
                rfs::mknodat(dst, name, ft, Mode::from_raw_mode(0o600), st.st_rdev)?;
                let (uid, gid) = owner(&st);
                rfs::chownat(dst, name, Some(uid), Some(gid), AtFlags::SYMLINK_NOFOLLOW)?;
                rfs::chmodat(dst, name, mode_of(&st), AtFlags::empty())?;
            }
            // Sockets belong to a process that is not there any more.
            _ => {}
        }
    }
    let st = rfs::fstat(src)?;
    set_owner_mode(dst, &st)
}

fn owner(st: &Stat) -> (rfs::Uid, rfs::Gid) {
    (rfs::Uid::from_raw(st.st_uid), rfs::Gid::from_raw(st.st_gid))
}

fn mode_of(st: &Stat) -> Mode {
    Mode::from_raw_mode(st.st_mode & 0o7777)
}

/// Owner first: chown clears the set-id bits, which the mode then restores.
fn set_owner_mode(fd: BorrowedFd<'_>, st: &Stat) -> io::Result<()> {
    let (uid, gid) = owner(st);
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
        copy_contents(open(&src).as_fd(), open(&dst).as_fd()).unwrap();
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

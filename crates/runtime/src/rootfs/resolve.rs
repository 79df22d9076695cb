//! Paths inside the untrusted rootfs, resolved by the kernel with
//! `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`: `..` and symlinks (absolute or not)
//! are resolved as if the rootfs were `/`, so a link planted in an image can never send a
//! mount or a device node outside it. Mount targets are then addressed as
//! `/proc/self/fd/N` of the descriptor so nothing is resolved twice.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use berth_sys::{Context, Error as SysError};
use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// Opens `rel` (relative to `root`, treated as `/`) with `flags`.
pub(crate) fn open(root: BorrowedFd<'_>, rel: &Path, flags: OFlags) -> Result<OwnedFd, SysError> {
    let rel = relative(rel);
    rustix::fs::openat2(
        root,
        &rel,
        flags | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )
    .op_path("open in rootfs", &Path::new("/").join(&rel))
}

/// Makes `rel` and its parents as directories inside `root`; returns an O_PATH descriptor.
///
/// A component that is a dangling symlink is followed the way the kernel would, but inside
/// the root: its target is created (as runc's MkdirAllInRoot does), so an image's
/// `/run -> /var/run` works and a link to `/etc` outside lands in the rootfs's own `/etc`.
pub(crate) fn mkdir_all(root: BorrowedFd<'_>, rel: &Path) -> Result<OwnedFd, SysError> {
    mkdir_all_within(root, &normalize(rel), 0)
}

/// Symlinks followed while creating one path, as the kernel's own limit (MAXSYMLINKS).
const MAX_LINKS: u32 = 40;

fn mkdir_all_within(root: BorrowedFd<'_>, rel: &Path, links: u32) -> Result<OwnedFd, SysError> {
    let mut cur = open(root, Path::new("."), OFlags::PATH | OFlags::DIRECTORY)?;
    let mut prefix = PathBuf::new();
    for comp in rel.components() {
        let Component::Normal(name) = comp else { continue };
        let parent = prefix.clone();
        prefix.push(name);
        cur = match open(root, &prefix, OFlags::PATH | OFlags::DIRECTORY) {
            Ok(fd) => fd,
            Err(e) if e.errno == Errno::NOENT => {
                let shown = Path::new("/").join(&prefix);
                match rustix::fs::mkdirat(&cur, name, Mode::from_raw_mode(0o755)) {
                    Ok(()) => {}
                    Err(Errno::EXIST) => {
                        let Ok(target) = rustix::fs::readlinkat(&cur, name, Vec::new()) else {
                            return Err(SysError::new(
                                "mkdir in rootfs",
                                Some(&shown),
                                Errno::EXIST,
                            ));
                        };
                        if links >= MAX_LINKS {
                            return Err(SysError::new(
                                "mkdir in rootfs",
                                Some(&shown),
                                Errno::LOOP,
                            ));
                        }
                        let target = Path::new(std::ffi::OsStr::from_bytes(target.as_bytes()));
                        mkdir_all_within(root, &normalize(&parent.join(target)), links + 1)?;
                    }
                    Err(e) => return Err(SysError::new("mkdir in rootfs", Some(&shown), e)),
                }
                open(root, &prefix, OFlags::PATH | OFlags::DIRECTORY)?
            }
            Err(e) => return Err(e),
        };
    }
    Ok(cur)
}

/// `p` relative to the root with `.` and `..` folded lexically; `..` at the top stays at the
/// top, as it does at `/`. (`Path::join` with an absolute symlink target restarts at `/`,
/// which this also maps to the root.)
pub(crate) fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir => out = PathBuf::new(),
            Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// Makes `rel` as an empty file (for a file bind mount or a device), parents as directories.
pub(crate) fn create_file(root: BorrowedFd<'_>, rel: &Path) -> Result<OwnedFd, SysError> {
    match open(root, rel, OFlags::PATH) {
        Ok(fd) => return Ok(fd),
        Err(e) if e.errno == Errno::NOENT => {}
        Err(e) => return Err(e),
    }
    let rel = relative(rel);
    let (parent, name) = split(&rel)?;
    let dir = mkdir_all(root, parent)?;
    let flags = OFlags::CREATE | OFlags::EXCL | OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    match rustix::fs::openat(&dir, name, flags, Mode::from_raw_mode(0o644)) {
        Ok(_) | Err(Errno::EXIST) => {}
        Err(e) => {
            return Err(SysError::new("create in rootfs", Some(&Path::new("/").join(&rel)), e))
        }
    }
    open(root, &rel, OFlags::PATH)
}

/// `rel` without a leading `/`, so it is always taken relative to the root descriptor.
pub(crate) fn relative(p: &Path) -> PathBuf {
    p.components().filter(|c| !matches!(c, Component::RootDir | Component::Prefix(_))).collect()
}

/// Splits into (parent, file name); refuses `/`, `..` and the like.
pub(crate) fn split(rel: &Path) -> Result<(&Path, &std::ffi::OsStr), SysError> {
    match (rel.parent(), rel.file_name()) {
        (Some(p), Some(n)) => Ok((p, n)),
        _ => Err(SysError::new("resolve in rootfs", Some(rel), Errno::INVAL)),
    }
}

/// The `/proc/self/fd/N` path of a descriptor, for syscalls that take only paths (mount).
pub(crate) fn fd_path(fd: &impl AsFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_stay_inside_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        std::fs::create_dir(&root).unwrap();
        std::os::unix::fs::symlink("/", root.join("escape")).unwrap();
        std::os::unix::fs::symlink("../../../..", root.join("up")).unwrap();
        let rfd = rustix::fs::open(&root, OFlags::PATH | OFlags::DIRECTORY, Mode::empty()).unwrap();
        mkdir_all(rfd.as_fd(), Path::new("/escape/made-here")).unwrap();
        mkdir_all(rfd.as_fd(), Path::new("up/also-here")).unwrap();
        create_file(rfd.as_fd(), Path::new("/escape/file")).unwrap();
        assert!(root.join("made-here").is_dir());
        assert!(root.join("also-here").is_dir());
        assert!(root.join("file").is_file());
        assert!(!Path::new("/made-here").exists());
        std::os::unix::fs::symlink("/nowhere/deeper", root.join("dangling")).unwrap();
        mkdir_all(rfd.as_fd(), Path::new("/dangling/x")).unwrap();
        assert!(root.join("nowhere/deeper/x").is_dir());
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
        assert_eq!(mkdir_all(rfd.as_fd(), Path::new("/loop/x")).unwrap_err().errno, Errno::LOOP);
    }

    #[test]
    fn normalize_folds_dots() {
        assert_eq!(normalize(Path::new("/a/../../b/./c")), PathBuf::from("b/c"));
        assert_eq!(normalize(Path::new("a/b/../../../..")), PathBuf::new());
        assert_eq!(normalize(Path::new("x/y/../../../abs")), PathBuf::from("abs"));
    }

    #[test]
    fn relative_strips_the_root() {
        assert_eq!(relative(Path::new("/a/b")), PathBuf::from("a/b"));
        assert!(split(Path::new("")).is_err());
    }
}

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
///
/// A path that exists costs one `openat2` (the usual mount point); a missing one, one more
/// lookup per missing component, then a mkdirat and an open of each below its parent.
pub(crate) fn mkdir_all(root: BorrowedFd<'_>, rel: &Path) -> Result<OwnedFd, SysError> {
    mkdir_all_linked(root, &normalize(rel), 0)
}

/// Symlinks followed while creating one path, as the kernel's own limit (MAXSYMLINKS).
const MAX_LINKS: u32 = 40;

/// Flags of every directory descriptor handed out here.
const DIR: OFlags = OFlags::PATH.union(OFlags::DIRECTORY);

/// The normalized `rel` as a directory, made if missing; `None` is the root itself.
///
/// Only the whole path is looked up from the root (`RESOLVE_IN_ROOT`); a component made here
/// is opened below its parent's descriptor, which was itself resolved inside the root, with
/// [`child_dir`], which follows no symlink, so nothing can lead outside either way.
fn ensure_dir(root: BorrowedFd<'_>, rel: &Path, links: u32) -> Result<Option<OwnedFd>, SysError> {
    let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
        return Ok(None);
    };
    match open(root, rel, DIR) {
        Ok(fd) => return Ok(Some(fd)),
        Err(e) if e.errno == Errno::NOENT => {}
        Err(e) => return Err(e),
    }
    let dir = ensure_dir(root, parent, links)?;
    let dir = dir.as_ref().map_or(root, AsFd::as_fd);
    let shown = Path::new("/").join(rel);
    match rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(0o755)) {
        Ok(()) => child_dir(dir, name, &shown).map(Some),
        // The lookup found nothing there, yet the name exists in its (existing) parent: a
        // dangling symlink. Make its target instead, inside the root.
        Err(Errno::EXIST) => follow_dangling(root, dir, parent, name, &shown, links).map(Some),
        Err(e) => Err(SysError::new("mkdir in rootfs", Some(&shown), e)),
    }
}

/// Makes the target of the dangling symlink `parent/name` (read through `dir`, the
/// descriptor of `parent`) as a directory inside the root.
fn follow_dangling(
    root: BorrowedFd<'_>,
    dir: BorrowedFd<'_>,
    parent: &Path,
    name: &std::ffi::OsStr,
    shown: &Path,
    links: u32,
) -> Result<OwnedFd, SysError> {
    let Ok(target) = rustix::fs::readlinkat(dir, name, Vec::new()) else {
        return Err(SysError::new("mkdir in rootfs", Some(shown), Errno::EXIST));
    };
    if links >= MAX_LINKS {
        return Err(SysError::new("mkdir in rootfs", Some(shown), Errno::LOOP));
    }
    let target = Path::new(std::ffi::OsStr::from_bytes(target.as_bytes()));
    mkdir_all_linked(root, &normalize(&parent.join(target)), links + 1)
}

/// [`mkdir_all`] of a normalized path reached through `links` symlinks so far.
fn mkdir_all_linked(root: BorrowedFd<'_>, rel: &Path, links: u32) -> Result<OwnedFd, SysError> {
    match ensure_dir(root, rel, links)? {
        Some(fd) => Ok(fd),
        None => open(root, Path::new("."), DIR),
    }
}

/// Opens the directory `name` (one component) right below `dir`, refusing a symlink or
/// anything but a directory: `dir` was resolved inside the root, so its child is too.
pub(crate) fn child_dir(
    dir: BorrowedFd<'_>,
    name: &std::ffi::OsStr,
    shown: &Path,
) -> Result<OwnedFd, SysError> {
    rustix::fs::openat2(
        dir,
        name,
        DIR | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    )
    .op_path("open in rootfs", shown)
}

/// Makes the directory `name` (one component) in `dir` if it is not there and opens it with
/// [`child_dir`]: for a directory of the runtime's own, such as a tmpfs it has just mounted.
pub(crate) fn make_child_dir(
    dir: BorrowedFd<'_>,
    name: &std::ffi::OsStr,
    shown: &Path,
) -> Result<OwnedFd, SysError> {
    match rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(0o755)) {
        Ok(()) | Err(Errno::EXIST) => child_dir(dir, name, shown),
        Err(e) => Err(SysError::new("mkdir in rootfs", Some(shown), e)),
    }
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
        // O_EXCL: a new, empty regular file of our own, no need to look it up again.
        Ok(fd) => Ok(fd),
        Err(Errno::EXIST) => open(root, &rel, OFlags::PATH),
        Err(e) => Err(SysError::new("create in rootfs", Some(&Path::new("/").join(&rel)), e)),
    }
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

    fn dev_ino(fd: &OwnedFd) -> (u64, u64) {
        let st = rustix::fs::fstat(fd).unwrap();
        (st.st_dev, st.st_ino)
    }

    #[test]
    fn missing_components_below_a_symlink_are_made_inside_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let (root, outside) = (tmp.path().join("root"), tmp.path().join("outside"));
        std::fs::create_dir_all(root.join("a")).unwrap();
        std::fs::create_dir(&outside).unwrap();
        std::os::unix::fs::symlink("/", root.join("a/to-root")).unwrap();
        std::os::unix::fs::symlink("../../../../../..", root.join("a/up")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("abs")).unwrap();
        let rfd = rustix::fs::open(&root, OFlags::PATH | OFlags::DIRECTORY, Mode::empty()).unwrap();
        // Several missing components below a link to `/`, made one below the other.
        let fd = mkdir_all(rfd.as_fd(), Path::new("/a/to-root/x/y/z")).unwrap();
        assert_eq!(dev_ino(&fd), dev_ino(&std::fs::File::open(root.join("x/y/z")).unwrap().into()));
        // The link itself as the target: the root, not what is above it.
        let fd = mkdir_all(rfd.as_fd(), Path::new("/a/up")).unwrap();
        assert_eq!(dev_ino(&fd), dev_ino(&rfd));
        mkdir_all(rfd.as_fd(), Path::new("a/up/../../sys/fs/cgroup")).unwrap();
        assert!(root.join("sys/fs/cgroup").is_dir());
        // An absolute link to a host directory is taken inside the root.
        mkdir_all(rfd.as_fd(), Path::new("/abs/p/q")).unwrap();
        assert!(root.join(outside.strip_prefix("/").unwrap()).join("p/q").is_dir());
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0, "made outside the root");
    }

    #[test]
    fn a_child_directory_is_never_a_symlink() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("own");
        std::fs::create_dir(&dir).unwrap();
        std::os::unix::fs::symlink("/", dir.join("cpu")).unwrap();
        std::os::unix::fs::symlink("..", dir.join("up")).unwrap();
        std::fs::write(dir.join("file"), "").unwrap();
        let dfd = rustix::fs::open(&dir, OFlags::PATH | OFlags::DIRECTORY, Mode::empty()).unwrap();
        for name in ["cpu", "up", "file"] {
            let shown = Path::new("/sys/fs/cgroup").join(name);
            let e = make_child_dir(dfd.as_fd(), name.as_ref(), &shown).unwrap_err();
            assert!([Errno::LOOP, Errno::NOTDIR].contains(&e.errno), "{name}: {e}");
            assert_eq!(e.path.as_deref(), Some(shown.as_path()));
        }
        let made = make_child_dir(dfd.as_fd(), "memory".as_ref(), Path::new("/m")).unwrap();
        assert!(dir.join("memory").is_dir());
        // Made already: opened again, not an error.
        let again = make_child_dir(dfd.as_fd(), "memory".as_ref(), Path::new("/m")).unwrap();
        assert_eq!(dev_ino(&made), dev_ino(&again));
    }

    #[test]
    fn a_new_file_is_returned_without_a_second_lookup() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::os::unix::fs::symlink("/nowhere", root.join("dangling")).unwrap();
        let rfd = rustix::fs::open(root, OFlags::PATH | OFlags::DIRECTORY, Mode::empty()).unwrap();
        let fd = create_file(rfd.as_fd(), Path::new("/d/e/f")).unwrap();
        assert_eq!(dev_ino(&fd), dev_ino(&std::fs::File::open(root.join("d/e/f")).unwrap().into()));
        // A dangling link as the file itself is not followed out of the root, nor created.
        assert_eq!(
            create_file(rfd.as_fd(), Path::new("/dangling")).unwrap_err().errno,
            Errno::NOENT
        );
        assert!(!Path::new("/nowhere").exists());
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

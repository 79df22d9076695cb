//! fd-relative filesystem operations used by the unpacker.
//!
//! Every path given here is a single name inside an already-resolved directory fd, or a
//! layer-relative path resolved with `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS)`, so a
//! symlink planted by an earlier entry can never redirect a write (the tar-slip class of bugs).

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, Mode, OFlags, ResolveFlags, Timespec, Timestamps};
use rustix::io::Errno;

/// Resolution for every lookup inside a layer: no symlinks at all (the tar never needs to
/// follow one of its own symlinks to place an entry), no magic links, no mount crossings.
pub(crate) const RESOLVE: ResolveFlags = ResolveFlags::IN_ROOT
    .union(ResolveFlags::NO_SYMLINKS)
    .union(ResolveFlags::NO_MAGICLINKS)
    .union(ResolveFlags::NO_XDEV);

/// Opens `rel` (relative to `root`, may be empty for the root) as a directory.
pub(crate) fn open_dir(root: BorrowedFd<'_>, rel: &Path, readable: bool) -> Result<OwnedFd, Errno> {
    let rel: &Path = if rel.as_os_str().is_empty() { Path::new(".") } else { rel };
    let access = if readable { OFlags::RDONLY } else { OFlags::PATH };
    rfs::openat2(root, rel, access | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty(), RESOLVE)
}

/// Like [`open_dir`], creating missing directories (0755) on the way, as `mkdir -p` would:
/// tar writers may omit parent directory entries.
pub(crate) fn open_dir_all(root: BorrowedFd<'_>, rel: &Path) -> Result<OwnedFd, Errno> {
    match open_dir(root, rel, false) {
        Err(Errno::NOENT) => {}
        other => return other,
    }
    let mut cur = open_dir(root, Path::new(""), false)?;
    for comp in rel.components() {
        let name = comp.as_os_str();
        match rfs::mkdirat(&cur, name, Mode::from_raw_mode(0o755)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(e),
        }
        cur = open_dir(cur.as_fd(), Path::new(name), false)?;
    }
    Ok(cur)
}

/// Runs `create`; if the name exists, clears it (keeping a directory when `keep_dir`) and
/// retries once. Returns the bytes the cleared entry held (see [`unlink_counted`]), which
/// the layer's unpacked size no longer has.
pub(crate) fn create_replacing(
    dir: BorrowedFd<'_>,
    name: &Path,
    keep_dir: bool,
    mut create: impl FnMut() -> Result<(), Errno>,
) -> Result<u64, Errno> {
    match create() {
        Err(Errno::EXIST) => {}
        other => return other.map(|()| 0),
    }
    let st = rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
    let is_dir = rfs::FileType::from_raw_mode(st.st_mode) == rfs::FileType::Directory;
    if is_dir && keep_dir {
        return Ok(0);
    }
    let freed = if is_dir { remove_tree(dir, name)? } else { unlink_counted(dir, name, &st)? };
    create().map(|()| freed)
}

/// Unlinks the non-directory `name` (stat `st`); returns its `st_size` if that was its last
/// link, 0 otherwise: an inode counts once, while any name has it.
fn unlink_counted(dir: BorrowedFd<'_>, name: &Path, st: &rfs::Stat) -> Result<u64, Errno> {
    rfs::unlinkat(dir, name, AtFlags::empty())?;
    Ok(if st.st_nlink <= 1 { u64::try_from(st.st_size).unwrap_or(0) } else { 0 })
}

/// Removes a directory tree fd-relatively (a later tar entry replacing a directory);
/// returns the bytes it held, as [`unlink_counted`] counts them.
pub(crate) fn remove_tree(dir: BorrowedFd<'_>, name: &Path) -> Result<u64, Errno> {
    let fd = rfs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut children: Vec<(PathBuf, bool)> = Vec::new();
    for ent in rfs::Dir::read_from(&fd)? {
        let ent = ent?;
        let n = ent.file_name().to_bytes();
        if n == b"." || n == b".." {
            continue;
        }
        let path = PathBuf::from(OsStr::from_bytes(n));
        children.push((path, ent.file_type() == rfs::FileType::Directory));
    }
    let mut freed = 0u64;
    for (child, is_dir) in children {
        let n = if is_dir {
            remove_tree(fd.as_fd(), &child)?
        } else {
            // Statted right before its unlink: a hard link met earlier in this walk has
            // already lowered the link count.
            let st = rfs::statat(&fd, &child, AtFlags::SYMLINK_NOFOLLOW)?;
            unlink_counted(fd.as_fd(), &child, &st)?
        };
        freed = freed.saturating_add(n);
    }
    rfs::unlinkat(dir, name, AtFlags::REMOVEDIR)?;
    Ok(freed)
}

/// Timestamps with atime = mtime = `secs` (tar keeps only the mtime that matters).
pub(crate) fn times(secs: i64) -> Timestamps {
    let t = Timespec { tv_sec: secs, tv_nsec: 0 };
    Timestamps { last_access: t, last_modification: t }
}

/// A path reaching `name` inside `dir` through procfs, for the calls that have no fd or *at
/// form (`lsetxattr` on a symlink or device node). `/proc/self/fd/N` is the directory itself,
/// already resolved safely, and `lsetxattr` does not follow `name`.
pub(crate) fn proc_path(dir: BorrowedFd<'_>, name: &Path) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd())).join(name)
}

/// Converts a rustix errno into the io::Error the error types carry.
pub(crate) fn io(e: Errno) -> io::Error {
    io::Error::from(e)
}

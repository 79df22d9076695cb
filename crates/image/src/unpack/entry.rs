//! Creating one tar entry inside its (already resolved) parent directory.

use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, XattrFlags};
use rustix::io::Errno;
use tar::EntryType;

use super::plan::{self, RelPath};
use super::{fsops, PendingDir, UnpackError, Unpacker};

/// Ownership, mode, mtime and xattrs of an entry (ustar header overridden by PAX records).
struct Meta {
    uid: u32,
    gid: u32,
    mode: u32,
    mtime: i64,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

fn meta<R: Read>(
    u: &Unpacker<'_>,
    raw: &[u8],
    e: &mut tar::Entry<'_, R>,
) -> Result<Meta, UnpackError> {
    let h = e.header();
    let bad = |_| u.refuse(raw, "has a malformed header field");
    // Blank numeric fields read as 0, as GNU tar reads them; ownership then defaults to root.
    let id = |v: std::io::Result<u64>| u32::try_from(v.unwrap_or(0));
    let mut m = Meta {
        uid: id(h.uid()).map_err(|_| u.refuse(raw, "has a uid over 32 bits"))?,
        gid: id(h.gid()).map_err(|_| u.refuse(raw, "has a gid over 32 bits"))?,
        mode: h.mode().map_err(bad)?,
        mtime: i64::try_from(h.mtime().unwrap_or(0)).unwrap_or(i64::MAX),
        xattrs: Vec::new(),
    };
    let Some(exts) = e.pax_extensions().map_err(bad)? else { return Ok(m) };
    for ext in exts {
        let ext = ext.map_err(bad)?;
        let (key, value) = (ext.key_bytes(), ext.value_bytes());
        let num =
            || std::str::from_utf8(value).ok().and_then(|v| v.split('.').next()?.parse().ok());
        match key {
            b"uid" => m.uid = num().ok_or_else(|| u.refuse(raw, "has a bad PAX uid"))?,
            b"gid" => m.gid = num().ok_or_else(|| u.refuse(raw, "has a bad PAX gid"))?,
            b"mtime" => m.mtime = num().map(i64::from).unwrap_or(m.mtime),
            k => {
                if let Some(name) = k.strip_prefix(b"SCHILY.xattr.") {
                    m.xattrs.push((name.to_vec(), value.to_vec()));
                }
            }
        }
    }
    Ok(m)
}

/// Whether an image-supplied xattr may be set. `trusted.overlay.*` is always dropped: overlayfs
/// would obey an image's `redirect`/`metacopy`/`opaque` and let one layer reach into others.
fn xattr_allowed(name: &[u8], privileged: bool) -> bool {
    !name.starts_with(b"trusted.overlay.") && (privileged || name.starts_with(b"user."))
}

fn set_xattrs(
    u: &Unpacker<'_>,
    raw: &[u8],
    m: &Meta,
    mut set: impl FnMut(&[u8], &[u8]) -> Result<(), Errno>,
) -> Result<(), UnpackError> {
    for (name, value) in &m.xattrs {
        if !xattr_allowed(name, u.opts.privileged) {
            tracing::debug!(layer = %u.layer, entry = %plan::show(raw), xattr = %plan::show(name), "xattr skipped");
            continue;
        }
        match set(name, value) {
            Ok(()) => {}
            Err(Errno::OPNOTSUPP) => {
                tracing::warn!(layer = %u.layer, entry = %plan::show(raw), "filesystem has no xattrs; skipped");
            }
            Err(e) => return Err(u.fail(raw, "set xattr", e)),
        }
    }
    Ok(())
}

fn want_chown(u: &Unpacker<'_>, m: &Meta) -> bool {
    // Files we create as root are already 0:0; skipping the no-op saves a syscall per entry.
    u.opts.privileged && (m.uid != 0 || m.gid != 0)
}

/// Ownership, xattrs and (for non-directories) mode and mtime through an open fd.
fn apply_fd(
    u: &Unpacker<'_>,
    raw: &[u8],
    fd: BorrowedFd<'_>,
    m: &Meta,
    dir: bool,
) -> Result<(), UnpackError> {
    if want_chown(u, m) {
        let (uid, gid) = (rfs::Uid::from_raw(m.uid), rfs::Gid::from_raw(m.gid));
        rfs::fchown(fd, Some(uid), Some(gid)).map_err(|e| u.fail(raw, "chown", e))?;
    }
    set_xattrs(u, raw, m, |n, v| rfs::fsetxattr(fd, n, v, XattrFlags::empty()))?;
    if !dir {
        // After chown: chown clears set-id bits, and the image's set-id bits are kept.
        rfs::fchmod(fd, Mode::from_raw_mode(m.mode & 0o7777))
            .map_err(|e| u.fail(raw, "chmod", e))?;
        rfs::futimens(fd, &fsops::times(m.mtime)).map_err(|e| u.fail(raw, "set times", e))?;
    }
    Ok(())
}

/// The same through the parent fd and name, for symlinks, devices and fifos.
fn apply_at(
    u: &Unpacker<'_>,
    raw: &[u8],
    dir: BorrowedFd<'_>,
    name: &Path,
    m: &Meta,
    symlink: bool,
) -> Result<(), UnpackError> {
    if want_chown(u, m) {
        let (uid, gid) = (rfs::Uid::from_raw(m.uid), rfs::Gid::from_raw(m.gid));
        rfs::chownat(dir, name, Some(uid), Some(gid), AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| u.fail(raw, "chown", e))?;
    }
    if !m.xattrs.is_empty() {
        let path = fsops::proc_path(dir, name);
        set_xattrs(u, raw, m, |n, v| rfs::lsetxattr(&path, n, v, XattrFlags::empty()))?;
    }
    if !symlink {
        // The name is a device node or fifo this unpacker just made in its private directory.
        rfs::chmodat(dir, name, Mode::from_raw_mode(m.mode & 0o7777), AtFlags::empty())
            .map_err(|e| u.fail(raw, "chmod", e))?;
    }
    rfs::utimensat(dir, name, &fsops::times(m.mtime), AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| u.fail(raw, "set times", e))
}

fn parent_fd<'a>(u: &'a Unpacker<'_>) -> BorrowedFd<'a> {
    match &u.cached {
        Some((_, fd)) => fd.as_fd(),
        None => u.root.as_fd(),
    }
}

/// Creates a non-whiteout entry at `rel` (its parent is cached in `u`).
pub(super) fn create<R: Read>(
    u: &mut Unpacker<'_>,
    raw: &[u8],
    rel: &RelPath,
    e: &mut tar::Entry<'_, R>,
) -> Result<(), UnpackError> {
    let kind = e.header().entry_type();
    let name = rel.name.as_path();
    match kind {
        EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => file(u, raw, name, e),
        EntryType::Directory => dir(u, raw, rel, e),
        EntryType::Symlink => {
            let target = e.link_name_bytes().map(|t| t.into_owned());
            let target = target.ok_or_else(|| u.refuse(raw, "is a symlink without a target"))?;
            let target = Path::new(std::ffi::OsStr::from_bytes(&target));
            let m = meta(u, raw, e)?;
            let d = parent_fd(u);
            make(u, raw, d, name, "create symlink", || rfs::symlinkat(target, d, name))?;
            apply_at(u, raw, d, name, &m, true)?;
            u.stats.unpacked_bytes += target.as_os_str().len() as u64;
            Ok(())
        }
        EntryType::Link => hardlink(u, raw, name, e),
        EntryType::Char | EntryType::Block | EntryType::Fifo => special(u, raw, name, kind, e),
        EntryType::XGlobalHeader
        | EntryType::XHeader
        | EntryType::GNULongName
        | EntryType::GNULongLink => Ok(()),
        _ => Err(u.refuse(raw, "has an unsupported entry type")),
    }
}

fn make(
    u: &Unpacker<'_>,
    raw: &[u8],
    dir: BorrowedFd<'_>,
    name: &Path,
    op: &'static str,
    create: impl FnMut() -> Result<(), Errno>,
) -> Result<(), UnpackError> {
    let freed =
        fsops::create_replacing(dir, name, false, create).map_err(|e| u.fail(raw, op, e))?;
    freed_by(u, freed);
    Ok(())
}

/// Takes the bytes of a replaced entry off the layer's unpacked size.
fn freed_by(u: &Unpacker<'_>, bytes: u64) {
    u.freed.set(u.freed.get().saturating_add(bytes));
}

fn file<R: Read>(
    u: &mut Unpacker<'_>,
    raw: &[u8],
    name: &Path,
    e: &mut tar::Entry<'_, R>,
) -> Result<(), UnpackError> {
    let m = meta(u, raw, e)?;
    // A GNU sparse entry reads back its holes as zeros; they are skipped, not written, so
    // the file stays sparse on disk as it was in the image.
    let sparse = e.header().entry_type() == EntryType::GNUSparse;
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let d = parent_fd(u);
    let mut fd: Option<OwnedFd> = None;
    let open = || rfs::openat(d, name, flags, Mode::from_raw_mode(0o600));
    make(u, raw, d, name, "create file", || open().map(|f| fd = Some(f)))?;
    let fd = fd.ok_or_else(|| u.fail(raw, "create file", Errno::NOENT))?;
    let mut file = std::fs::File::from(fd);
    let mut written = 0u64;
    loop {
        let n = match e.read(&mut u.buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(super::UnpackError::ReadArchive { layer: u.layer.clone(), source })
            }
        };
        written += n as u64;
        if u.stats.file_bytes.saturating_add(written) > u.opts.max_file_bytes {
            return Err(UnpackError::TooLarge {
                layer: u.layer.clone(),
                entry: plan::show(raw),
                limit: u.opts.max_file_bytes,
            });
        }
        let chunk = &u.buf[..n];
        if sparse && chunk.iter().all(|b| *b == 0) {
            file.seek(SeekFrom::Current(n as i64)).map_err(|err| u.fail(raw, "seek file", err))?;
        } else {
            file.write_all(chunk).map_err(|err| u.fail(raw, "write file", err))?;
        }
    }
    if sparse {
        // A trailing hole was only seeked over: the length comes from here.
        file.set_len(written).map_err(|err| u.fail(raw, "set file length", err))?;
    }
    u.stats.file_bytes += written;
    u.stats.unpacked_bytes += written;
    apply_fd(u, raw, file.as_fd(), &m, false)
}

fn dir<R: Read>(
    u: &mut Unpacker<'_>,
    raw: &[u8],
    rel: &RelPath,
    e: &mut tar::Entry<'_, R>,
) -> Result<(), UnpackError> {
    let m = meta(u, raw, e)?;
    let d = parent_fd(u);
    let name = rel.name.as_path();
    let freed = fsops::create_replacing(d, name, true, || {
        rfs::mkdirat(d, name, Mode::from_raw_mode(0o700))
    })
    .map_err(|err| u.fail(raw, "create directory", err))?;
    freed_by(u, freed);
    let fd = rfs::openat(
        d,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|err| u.resolve_error(raw, "open directory", err))?;
    apply_fd(u, raw, fd.as_fd(), &m, true)?;
    u.dirs.push(PendingDir { rel: rel.full(), mode: m.mode, mtime: m.mtime });
    Ok(())
}

/// A hardlink: the target must be an earlier entry of this same layer, reached without
/// following any symlink; `linkat` without `AT_SYMLINK_FOLLOW` links a symlink itself.
fn hardlink<R: Read>(
    u: &mut Unpacker<'_>,
    raw: &[u8],
    name: &Path,
    e: &mut tar::Entry<'_, R>,
) -> Result<(), UnpackError> {
    let target = e.link_name_bytes().map(|t| t.into_owned());
    let target = target.ok_or_else(|| u.refuse(raw, "is a hardlink without a target"))?;
    let target = plan::link_target(&target).map_err(|reason| u.refuse(raw, reason))?;
    let tdir = fsops::open_dir(u.root.as_fd(), &target.parent, false).map_err(|err| match err {
        Errno::NOENT => u.refuse(raw, "is a hardlink to a path not in this layer"),
        Errno::LOOP => u.refuse(raw, "is a hardlink through a symlink"),
        err => u.resolve_error(raw, "open hardlink target directory", err),
    })?;
    let d = parent_fd(u);
    let link = || rfs::linkat(&tdir, &target.name, d, name, AtFlags::empty());
    let freed = fsops::create_replacing(d, name, false, link).map_err(|err| match err {
        Errno::NOENT => u.refuse(raw, "is a hardlink to a path not in this layer"),
        err => u.fail(raw, "create hardlink", err),
    })?;
    // The linked inode was counted when its first name was written.
    freed_by(u, freed);
    Ok(())
}

fn special<R: Read>(
    u: &mut Unpacker<'_>,
    raw: &[u8],
    name: &Path,
    kind: EntryType,
    e: &mut tar::Entry<'_, R>,
) -> Result<(), UnpackError> {
    let m = meta(u, raw, e)?;
    let (ft, dev) = match kind {
        EntryType::Fifo => (FileType::Fifo, 0),
        _ if !u.opts.privileged => {
            tracing::warn!(layer = %u.layer, entry = %plan::show(raw), "device node skipped: not running as root");
            return Ok(());
        }
        _ => {
            let h = e.header();
            let bad = |_| u.refuse(raw, "has a malformed device number");
            let major = h.device_major().map_err(bad)?.unwrap_or(0);
            let minor = h.device_minor().map_err(bad)?.unwrap_or(0);
            let ft = if kind == EntryType::Char {
                FileType::CharacterDevice
            } else {
                FileType::BlockDevice
            };
            (ft, rfs::makedev(major, minor))
        }
    };
    let d = parent_fd(u);
    make(u, raw, d, name, "mknod", || rfs::mknodat(d, name, ft, Mode::from_raw_mode(0o600), dev))?;
    apply_at(u, raw, d, name, &m, false)
}

/// `.wh.NAME` → a 0:0 character device NAME (overlayfs whiteout), owned as the entry says.
pub(super) fn whiteout(u: &mut Unpacker<'_>, raw: &[u8], name: &Path) -> Result<(), UnpackError> {
    let d = parent_fd(u);
    let mk = || rfs::mknodat(d, name, FileType::CharacterDevice, Mode::empty(), rfs::makedev(0, 0));
    let freed = fsops::create_replacing(d, name, false, mk).map_err(|err| match err {
        Errno::PERM => u.refuse(raw, "is a whiteout, and whiteout devices need root (CAP_MKNOD)"),
        err => u.fail(raw, "create whiteout", err),
    })?;
    freed_by(u, freed);
    Ok(())
}

/// An entry for the layer root itself (`./`): only a directory may describe it.
pub(super) fn root_meta<R: Read>(
    u: &mut Unpacker<'_>,
    raw: &[u8],
    e: &mut tar::Entry<'_, R>,
) -> Result<(), UnpackError> {
    if e.header().entry_type() != EntryType::Directory {
        return Err(u.refuse(raw, "replaces the layer root with a non-directory"));
    }
    let m = meta(u, raw, e)?;
    let fd = fsops::open_dir(u.root.as_fd(), Path::new(""), true)
        .map_err(|err| u.fail(raw, "open layer root", err))?;
    apply_fd(u, raw, fd.as_fd(), &m, true)?;
    u.dirs.push(PendingDir { rel: std::path::PathBuf::new(), mode: m.mode, mtime: m.mtime });
    Ok(())
}

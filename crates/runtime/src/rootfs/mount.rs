//! One entry of the config's `mounts`, mounted under the rootfs.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use berth_sys::mount::MountAttr;
use berth_sys::{Context, Error as SysError};
use oci_spec::runtime::Mount;
use rustix::fs::{OFlags, StatVfsMountFlags};
use rustix::io::Errno;
use rustix::mount::MountFlags;

use super::resolve;
use crate::mountopt::{self, MountOptions};

/// Mounts `m` at its destination inside `root`.
pub(crate) fn mount_one(
    root: BorrowedFd<'_>,
    bundle: &Path,
    m: &Mount,
    cgroup: &berth_cgroups::Cgroup,
) -> Result<(), SysError> {
    let dest = m.destination();
    let opts = mountopt::parse(m.options().as_deref().unwrap_or_default())
        .map_err(|_| SysError::new("parse mount options for", Some(dest), Errno::INVAL))?;
    let typ = m.typ().as_deref().unwrap_or(if opts.bind { "bind" } else { "none" });
    let top = if typ == "cgroup" {
        super::cgroupfs::mount(root, dest, &opts, cgroup)?
    } else if opts.bind || typ == "bind" {
        let src = m.source().clone().unwrap_or_default();
        bind(root, &bundle.join(src), dest, &opts)?
    } else {
        let target = resolve::mkdir_all(root, dest)?;
        let source = m.source().clone().unwrap_or_else(|| PathBuf::from(typ));
        let data = (!opts.data.is_empty()).then_some(opts.data.as_str());
        match mount_fs(&source, &target, typ, opts.flags, data) {
            // sysfs needs the container's own network namespace; like runc, fall back to a
            // read-only bind of the host's /sys where the kernel refuses.
            Err(e) if typ == "sysfs" && e.errno == Errno::PERM => {
                let flags = opts.flags | MountFlags::RDONLY;
                let fallback = MountOptions { bind: true, recursive: true, flags, ..opts.clone() };
                bind(root, Path::new("/sys"), dest, &fallback)?
            }
            Err(e) => return Err(e),
            Ok(()) => None,
        }
    };
    if opts.propagation.is_empty() {
        return Ok(());
    }
    // Only now: a descriptor taken before the mount names the directory under it, so the
    // mount itself needs a lookup of its own, which the usual mount (no propagation) skips.
    let top = match top {
        Some(top) => top,
        None => resolve::open(root, dest, OFlags::PATH)?,
    };
    for p in &opts.propagation {
        rustix::mount::mount_change(resolve::fd_path(&top), *p)
            .op_path("change propagation of", dest)?;
    }
    Ok(())
}

fn mount_fs(
    source: &Path,
    target: &OwnedFd,
    typ: &str,
    flags: MountFlags,
    data: Option<&str>,
) -> Result<(), SysError> {
    let data = data
        .map(std::ffi::CString::new)
        .transpose()
        .map_err(|_| SysError::new("mount options contain NUL for", Some(source), Errno::INVAL))?;
    rustix::mount::mount(source, resolve::fd_path(target), typ, flags, data.as_deref())
        .op_path(&format!("mount {typ} {} on", source.display()), &resolve::fd_path(target))
}

/// A bind mount: the target is made as a directory or a file to match the source, then the
/// flags are applied by a remount (bind mounts ignore flags on the first call).
/// A relative source is taken relative to the bundle (`Path::join` keeps an absolute one).
/// Returns the new mount's root when it had to be opened for the remount.
fn bind(
    root: BorrowedFd<'_>,
    src: &Path,
    dest: &Path,
    opts: &MountOptions,
) -> Result<Option<OwnedFd>, SysError> {
    let meta = std::fs::metadata(src).op_path("stat bind source", src)?;
    let target = if meta.is_dir() {
        resolve::mkdir_all(root, dest)?
    } else {
        resolve::create_file(root, dest)?
    };
    let tpath = resolve::fd_path(&target);
    let r = if opts.recursive {
        rustix::mount::mount_bind_recursive(src, &tpath)
    } else {
        rustix::mount::mount_bind(src, &tpath)
    };
    r.op_path(&format!("bind {} on", src.display()), dest)?;
    if opts.flags.is_empty() {
        return Ok(None);
    }
    // Reopen: the old descriptor still names the directory under the new mount.
    let top = resolve::open(root, dest, OFlags::PATH)?;
    remount_bind(&top, opts.flags, dest)?;
    Ok(Some(top))
}

/// Remounts a bind mount with `flags`, keeping the flags the kernel locks (nosuid, nodev,
/// noexec, atime flags of a mount inherited from a more privileged namespace), which cannot be
/// cleared and would make the remount fail with EPERM.
pub(crate) fn remount_bind(fd: &OwnedFd, flags: MountFlags, what: &Path) -> Result<(), SysError> {
    let locked = locked_flags(fd);
    rustix::mount::mount_remount(resolve::fd_path(fd), MountFlags::BIND | flags | locked, "")
        .op_path("remount", what)
}

/// The `mount_setattr` form of mount(2)'s per-mount `flags`: the attributes to set and to
/// clear. Only the atime field is ever cleared, and only when `flags` names an atime mode,
/// which then replaces the whole field as it does in a remount naming one (strictatime wins
/// over noatime, which wins over relatime, as in mount(2)).
pub(crate) fn mount_attr(flags: MountFlags) -> (MountAttr, MountAttr) {
    let mut set = MountAttr::EMPTY;
    for (f, a) in [
        (MountFlags::RDONLY, MountAttr::RDONLY),
        (MountFlags::NOSUID, MountAttr::NOSUID),
        (MountFlags::NODEV, MountAttr::NODEV),
        (MountFlags::NOEXEC, MountAttr::NOEXEC),
        (MountFlags::NODIRATIME, MountAttr::NODIRATIME),
        (MountFlags::NOSYMFOLLOW, MountAttr::NOSYMFOLLOW),
    ] {
        if flags.contains(f) {
            set = set | a;
        }
    }
    let atime = if flags.contains(MountFlags::STRICTATIME) {
        MountAttr::STRICTATIME
    } else if flags.contains(MountFlags::NOATIME) {
        MountAttr::NOATIME
    } else if flags.contains(MountFlags::RELATIME) {
        MountAttr::RELATIME
    } else {
        return (set, MountAttr::EMPTY);
    };
    (set | atime, MountAttr::ATIME)
}

pub(crate) fn locked_flags(fd: &impl AsFd) -> MountFlags {
    let Ok(st) = rustix::fs::fstatvfs(fd) else {
        return MountFlags::empty();
    };
    let f = st.f_flag;
    let mut out = MountFlags::empty();
    for (st_flag, m) in [
        (StatVfsMountFlags::NOSUID, MountFlags::NOSUID),
        (StatVfsMountFlags::NODEV, MountFlags::NODEV),
        (StatVfsMountFlags::NOEXEC, MountFlags::NOEXEC),
        (StatVfsMountFlags::NOATIME, MountFlags::NOATIME),
        (StatVfsMountFlags::NODIRATIME, MountFlags::NODIRATIME),
        (StatVfsMountFlags::RELATIME, MountFlags::RELATIME),
    ] {
        if f.contains(st_flag) {
            out |= m;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_attr_maps_per_mount_flags() {
        let f = MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC;
        let want = MountAttr::RDONLY | MountAttr::NOSUID | MountAttr::NODEV | MountAttr::NOEXEC;
        assert_eq!(mount_attr(f), (want, MountAttr::EMPTY));
        // An atime mode replaces the whole field; relatime is its zero value.
        let (set, clear) = mount_attr(MountFlags::RELATIME | MountFlags::NOSUID);
        assert_eq!((set, clear), (MountAttr::NOSUID, MountAttr::ATIME));
        let (set, _) = mount_attr(MountFlags::STRICTATIME | MountFlags::NOATIME);
        assert_eq!(set, MountAttr::STRICTATIME);
        assert_eq!(mount_attr(MountFlags::NOATIME).0, MountAttr::NOATIME);
        // Superblock-only flags have no per-mount attribute.
        assert_eq!(mount_attr(MountFlags::SYNCHRONOUS), (MountAttr::EMPTY, MountAttr::EMPTY));
    }
}

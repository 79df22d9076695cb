//! One entry of the config's `mounts`, mounted under the rootfs.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

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
            Ok(()) => resolve::open(root, dest, OFlags::PATH)?,
        }
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
fn bind(
    root: BorrowedFd<'_>,
    src: &Path,
    dest: &Path,
    opts: &MountOptions,
) -> Result<OwnedFd, SysError> {
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
    // Reopen: the old descriptor still names the directory under the new mount.
    let top = resolve::open(root, dest, OFlags::PATH)?;
    if !opts.flags.is_empty() {
        remount_bind(&top, opts.flags, dest)?;
    }
    Ok(top)
}

/// Remounts a bind mount with `flags`, keeping the flags the kernel locks (nosuid, nodev,
/// noexec, atime flags of a mount inherited from a more privileged namespace), which cannot be
/// cleared and would make the remount fail with EPERM.
pub(crate) fn remount_bind(fd: &OwnedFd, flags: MountFlags, what: &Path) -> Result<(), SysError> {
    let locked = locked_flags(fd);
    rustix::mount::mount_remount(resolve::fd_path(fd), MountFlags::BIND | flags | locked, "")
        .op_path("remount", what)
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

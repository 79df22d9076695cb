//! A mount of type `cgroup`: what the container sees at `/sys/fs/cgroup`.
//!
//! On cgroup v2 it is a cgroup2 mount (inside a cgroup namespace the kernel shows the
//! container's own cgroup as the root). On v1 it is a tmpfs holding one directory per
//! hierarchy, named as on the host, each a bind of the container's own cgroup directory in
//! that hierarchy, so the container sees its limits at the usual paths and nothing above.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use berth_cgroups::{Cgroup, Mode as CgMode};
use berth_sys::{Context, Error as SysError};
use rustix::fs::OFlags;
use rustix::io::Errno;
use rustix::mount::MountFlags;

use super::mount::{mount_attr, remount_bind};
use super::resolve;
use crate::mountopt::MountOptions;

/// Mounts the cgroup view at `dest`; returns the new mount's root when it was opened anyway.
pub(super) fn mount(
    root: BorrowedFd<'_>,
    dest: &Path,
    opts: &MountOptions,
    cgroup: &Cgroup,
) -> Result<Option<OwnedFd>, SysError> {
    let target = resolve::mkdir_all(root, dest)?;
    if cgroup.mode() == CgMode::V2 {
        return mount_v2(root, dest, &target, opts, cgroup);
    }
    mount_v1(root, dest, &target, opts, cgroup).map(Some)
}

fn mount_v2(
    root: BorrowedFd<'_>,
    dest: &Path,
    target: &OwnedFd,
    opts: &MountOptions,
    cgroup: &Cgroup,
) -> Result<Option<OwnedFd>, SysError> {
    let tpath = resolve::fd_path(target);
    match rustix::mount::mount("cgroup2", &tpath, "cgroup2", opts.flags, None) {
        Ok(()) => return Ok(None),
        // Without its own cgroup namespace a user namespace may not mount cgroup2:
        // show the container's own directory instead.
        Err(Errno::PERM) => {}
        Err(e) => return Err(SysError::new("mount cgroup2 on", Some(dest), e)),
    }
    let dir = cgroup.dirs().first().map(|d| d.path.clone()).unwrap_or_default();
    rustix::mount::mount_bind_recursive(&dir, &tpath).op_path("bind cgroup dir on", dest)?;
    let top = resolve::open(root, dest, OFlags::PATH)?;
    remount_bind(&top, opts.flags, dest)?;
    Ok(Some(top))
}

/// The flags every hierarchy bind gets whatever the config says: a cgroup directory holds
/// no programs, devices or set-id files.
const HIERARCHY_FLAGS: MountFlags =
    MountFlags::NOSUID.union(MountFlags::NODEV).union(MountFlags::NOEXEC);

fn mount_v1(
    root: BorrowedFd<'_>,
    dest: &Path,
    target: &OwnedFd,
    opts: &MountOptions,
    cgroup: &Cgroup,
) -> Result<OwnedFd, SysError> {
    // Read-only comes last, once the hierarchy directories are made in it.
    let tmpfs_flags = opts.flags & !MountFlags::RDONLY;
    rustix::mount::mount(
        "tmpfs",
        resolve::fd_path(target),
        "tmpfs",
        tmpfs_flags,
        Some(c"mode=755"),
    )
    .op_path("mount tmpfs for cgroups on", dest)?;
    // `target` names the directory under the tmpfs; the tmpfs needs a new lookup.
    let top = resolve::open(root, dest, OFlags::PATH | OFlags::DIRECTORY)?;
    for dir in cgroup.dirs() {
        let Some(name) = dir.mount_point.file_name() else {
            continue;
        };
        let sub = dest.join(name);
        // The tmpfs is our own and empty: the directory is made right in it, no path is
        // resolved through the rootfs again.
        let fd = resolve::make_child_dir(top.as_fd(), name, &sub)?;
        rustix::mount::mount_bind_recursive(&dir.path, resolve::fd_path(&fd))
            .op_path(&format!("bind {} on", dir.path.display()), &sub)?;
    }
    restrict_tree(&top, dest, opts.flags, cgroup)?;
    Ok(top)
}

/// Gives every hierarchy bind the config's flags plus [`HIERARCHY_FLAGS`], and the tmpfs
/// the same (as runc mounts it: nosuid, nodev, noexec, and read-only when the config says
/// `ro`), with one recursive `mount_setattr` over the tree instead of a remount per mount.
/// The kernel applies it to every mount or to none. Before Linux 5.12 (ENOSYS), or where the
/// kernel refuses to change an attribute it locked on a bind (EPERM: in a user namespace, an
/// atime mode that differs from the host mount's), remount each mount, keeping the locked
/// flags, as berth did before.
fn restrict_tree(
    top: &OwnedFd,
    dest: &Path,
    flags: MountFlags,
    cgroup: &Cgroup,
) -> Result<(), SysError> {
    let (set, clear) = mount_attr(flags | HIERARCHY_FLAGS);
    match berth_sys::mount::set_attr(top, set, clear, true, dest) {
        Err(e) if matches!(e.errno, Errno::NOSYS | Errno::PERM) => {
            remount_each(top, dest, flags, cgroup)
        }
        r => r,
    }
}

/// [`restrict_tree`] without mount_setattr: a bind remount per hierarchy (keeping the flags
/// the kernel locks), then a remount of the tmpfs read-only if the config says `ro`.
fn remount_each(
    top: &OwnedFd,
    dest: &Path,
    flags: MountFlags,
    cgroup: &Cgroup,
) -> Result<(), SysError> {
    for dir in cgroup.dirs() {
        let Some(name) = dir.mount_point.file_name() else {
            continue;
        };
        let sub = dest.join(name);
        // Opened after the bind, so the lookup crosses into the bound hierarchy.
        let bound = resolve::child_dir(top.as_fd(), name, &sub)?;
        remount_bind(&bound, flags | HIERARCHY_FLAGS, &sub)?;
    }
    if !flags.contains(MountFlags::RDONLY) {
        return Ok(());
    }
    // A remount of the tmpfs itself (no MS_BIND): read-only for its superblock too.
    rustix::mount::mount_remount(resolve::fd_path(top), flags, "")
        .op_path("remount read-only", dest)
}

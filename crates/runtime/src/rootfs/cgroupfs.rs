//! A mount of type `cgroup`: what the container sees at `/sys/fs/cgroup`.
//!
//! On cgroup v2 it is a cgroup2 mount (inside a cgroup namespace the kernel shows the
//! container's own cgroup as the root). On v1 it is a tmpfs holding one directory per
//! hierarchy, named as on the host, each a bind of the container's own cgroup directory in
//! that hierarchy, so the container sees its limits at the usual paths and nothing above.

use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::Path;

use berth_cgroups::{Cgroup, Mode as CgMode};
use berth_sys::{Context, Error as SysError};
use rustix::fs::OFlags;
use rustix::io::Errno;
use rustix::mount::MountFlags;

use super::{mount::remount_bind, resolve};
use crate::mountopt::MountOptions;

pub(super) fn mount(
    root: BorrowedFd<'_>,
    dest: &Path,
    opts: &MountOptions,
    cgroup: &Cgroup,
) -> Result<OwnedFd, SysError> {
    let target = resolve::mkdir_all(root, dest)?;
    let tpath = resolve::fd_path(&target);
    if cgroup.mode() == CgMode::V2 {
        match rustix::mount::mount("cgroup2", &tpath, "cgroup2", opts.flags, None) {
            Ok(()) => return resolve::open(root, dest, OFlags::PATH),
            // Without its own cgroup namespace a user namespace may not mount cgroup2:
            // show the container's own directory instead.
            Err(Errno::PERM) => {}
            Err(e) => return Err(SysError::new("mount cgroup2 on", Some(dest), e)),
        }
        let dir = cgroup.dirs().first().map(|d| d.path.clone()).unwrap_or_default();
        rustix::mount::mount_bind_recursive(&dir, &tpath).op_path("bind cgroup dir on", dest)?;
        let top = resolve::open(root, dest, OFlags::PATH)?;
        remount_bind(&top, opts.flags, dest)?;
        return Ok(top);
    }
    let tmpfs_flags = opts.flags & !MountFlags::RDONLY;
    rustix::mount::mount("tmpfs", &tpath, "tmpfs", tmpfs_flags, Some(c"mode=755"))
        .op_path("mount tmpfs for cgroups on", dest)?;
    for dir in cgroup.dirs() {
        let Some(name) = dir.mount_point.file_name() else {
            continue;
        };
        let sub = dest.join(name);
        let fd = resolve::mkdir_all(root, &sub)?;
        rustix::mount::mount_bind_recursive(&dir.path, resolve::fd_path(&fd))
            .op_path(&format!("bind {} on", dir.path.display()), &sub)?;
        let top = resolve::open(root, &sub, OFlags::PATH)?;
        remount_bind(
            &top,
            opts.flags | MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
            &sub,
        )?;
    }
    // Co-mounted controllers are reachable on the host under each name too (cpu,cpuacct).
    let top = resolve::open(root, dest, OFlags::PATH)?;
    if opts.flags.contains(MountFlags::RDONLY) {
        rustix::mount::mount_remount(resolve::fd_path(&top), tmpfs_flags | MountFlags::RDONLY, "")
            .op_path("remount read-only", dest)?;
    }
    Ok(top)
}

//! The container's root filesystem: mounts and devices under the rootfs, pivot_root into it,
//! then masking, read-only paths and the read-only root.
//!
//! Everything before [`enter`] runs in the container's new mount namespace while the host's
//! paths are still visible, and addresses the rootfs only through [`resolve`].

mod cgroupfs;
mod dev;
mod mount;
mod resolve;

use std::os::fd::AsFd;
use std::path::Path;

use berth_sys::{Context, Error as SysError};
use oci_spec::runtime::Spec;
use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;
use rustix::mount::{MountFlags, MountPropagationFlags, UnmountFlags};

use crate::config::Bundle;

/// Mounts, devices and links under the rootfs (before pivot_root).
pub(crate) fn prepare(bundle: &Bundle, cgroup: &berth_cgroups::Cgroup) -> Result<(), SysError> {
    // First make every mount of this new namespace private, so nothing done below can
    // propagate back to the host's mounts.
    rustix::mount::mount_change("/", MountPropagationFlags::PRIVATE | MountPropagationFlags::REC)
        .op_path("make private", Path::new("/"))?;
    // pivot_root needs the new root to be a mount point.
    rustix::mount::mount_bind_recursive(&bundle.rootfs, &bundle.rootfs)
        .op_path("bind rootfs on itself", &bundle.rootfs)?;
    let root = rustix::fs::open(
        &bundle.rootfs,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .op_path("open rootfs", &bundle.rootfs)?;
    let mounts = bundle.spec.mounts().clone().unwrap_or_default();
    for m in &mounts {
        mount::mount_one(root.as_fd(), &bundle.dir, m, cgroup)?;
    }
    let dev_is_bound = mounts.iter().any(|m| {
        m.destination() == Path::new("/dev")
            && m.options().as_ref().is_some_and(|o| o.iter().any(|o| o.ends_with("bind")))
    });
    let linux = bundle.spec.linux().as_ref();
    // Opened once, after the mounts (it is usually a tmpfs mounted above), for the default
    // devices and the links.
    let dev = resolve::mkdir_all(root.as_fd(), Path::new("/dev"))?;
    if !dev_is_bound {
        dev::create_default_devices(root.as_fd(), dev.as_fd(), bundle.namespaces.new_user)?;
    }
    let devices = linux.and_then(|l| l.devices().clone()).unwrap_or_default();
    dev::create_devices(root.as_fd(), &devices, bundle.namespaces.new_user)?;
    dev::create_links(dev.as_fd())
}

/// Makes the rootfs the process's `/` (pivot_root, or with `--no-pivot` move + chroot).
pub(crate) fn enter(bundle: &Bundle, no_pivot: bool) -> Result<(), SysError> {
    let rootfs = &bundle.rootfs;
    if no_pivot {
        rustix::process::chdir(rootfs).op_path("chdir", rootfs)?;
        rustix::mount::mount_move(rootfs, "/").op_path("move mount to /", rootfs)?;
        rustix::process::chroot(".").op_path("chroot", rootfs)?;
        return rustix::process::chdir("/").op_path("chdir", Path::new("/"));
    }
    // pivot_root(".", ".") stacks the old root on top of the new one at "/"; detaching it
    // then leaves only the new root, with no directory needed for the old one (runc does
    // the same). The old root is made a slave first so the unmount cannot reach the host.
    let flags = OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC;
    let old = rustix::fs::open("/", flags, Mode::empty()).op_path("open", Path::new("/"))?;
    let new = rustix::fs::open(rootfs, flags, Mode::empty()).op_path("open", rootfs)?;
    rustix::process::fchdir(&new).op_path("fchdir", rootfs)?;
    rustix::process::pivot_root(".", ".").op_path("pivot_root", rootfs)?;
    rustix::process::fchdir(&old).op("fchdir to old root")?;
    rustix::mount::mount_change(
        ".",
        MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC,
    )
    .op("make old root a slave")?;
    rustix::mount::unmount(".", UnmountFlags::DETACH).op("unmount old root")?;
    rustix::process::chdir("/").op_path("chdir", Path::new("/"))
}

/// maskedPaths (after pivot_root, so every path is the container's own).
pub(crate) fn mask_paths(spec: &Spec) -> Result<(), SysError> {
    let Some(linux) = spec.linux().as_ref() else {
        return Ok(());
    };
    if let Some(masked) = linux.masked_paths() {
        let null = open_dev_null()?;
        for p in masked {
            mask(Path::new(p), &null)?;
        }
    }
    for p in linux.readonly_paths().as_deref().unwrap_or_default() {
        readonly(Path::new(p))?;
    }
    Ok(())
}

/// `/dev/null`, checked to be the real null device (1:3) before it is bound over anything:
/// a rootfs could have put a symlink or a regular file there (CVE-2025-31133).
fn open_dev_null() -> Result<std::os::fd::OwnedFd, SysError> {
    let p = Path::new("/dev/null");
    let fd = rustix::fs::open(p, OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())
        .op_path("open", p)?;
    let st = rustix::fs::fstat(&fd).op_path("stat", p)?;
    let is_null = FileType::from_raw_mode(st.st_mode) == FileType::CharacterDevice
        && rustix::fs::major(st.st_rdev) == 1
        && rustix::fs::minor(st.st_rdev) == 3;
    if !is_null {
        return Err(SysError::new("check null device", Some(p), Errno::NODEV));
    }
    Ok(fd)
}

fn mask(p: &Path, null: &std::os::fd::OwnedFd) -> Result<(), SysError> {
    let st = match rustix::fs::stat(p) {
        Ok(st) => st,
        Err(Errno::NOENT) => return Ok(()),
        Err(e) => return Err(SysError::new("stat masked path", Some(p), e)),
    };
    if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
        rustix::mount::mount("tmpfs", p, "tmpfs", MountFlags::RDONLY, None)
            .op_path("mask with tmpfs", p)
    } else {
        // Bind through the checked descriptor, not the path, so it cannot be swapped.
        let src = match Path::new("/proc/self/fd").exists() {
            true => resolve::fd_path(null),
            false => Path::new("/dev/null").to_path_buf(),
        };
        rustix::mount::mount_bind(&src, p).op_path("mask with /dev/null", p)
    }
}

fn readonly(p: &Path) -> Result<(), SysError> {
    match rustix::mount::mount_bind_recursive(p, p) {
        Ok(()) => {}
        Err(Errno::NOENT) => return Ok(()),
        Err(e) => return Err(SysError::new("bind readonly path", Some(p), e)),
    }
    let fd =
        rustix::fs::open(p, OFlags::PATH | OFlags::CLOEXEC, Mode::empty()).op_path("open", p)?;
    mount::remount_bind(&fd, MountFlags::RDONLY, p)
}

/// root.readonly and rootfsPropagation, last, once nothing more is mounted on the root.
pub(crate) fn finish(spec: &Spec) -> Result<(), SysError> {
    if spec.root().as_ref().is_some_and(|r| r.readonly().unwrap_or(false)) {
        let fd = rustix::fs::open("/", OFlags::PATH | OFlags::CLOEXEC, Mode::empty())
            .op_path("open", Path::new("/"))?;
        mount::remount_bind(&fd, MountFlags::RDONLY, Path::new("/"))?;
    }
    if let Some(prop) = spec.linux().as_ref().and_then(|l| l.rootfs_propagation().as_deref()) {
        let flags = crate::mountopt::propagation(prop).ok_or_else(|| {
            SysError::new("rootfsPropagation value", Some(Path::new(prop)), Errno::INVAL)
        })?;
        rustix::mount::mount_change("/", flags)
            .op_path("set rootfsPropagation on", Path::new("/"))?;
    }
    Ok(())
}

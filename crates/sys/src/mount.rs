//! `mount_setattr(2)` (Linux 5.12), which `rustix` does not wrap: change the per-mount flags
//! of one mount, or of a whole tree of mounts in one call, without a remount per mount and
//! without restating the flags the kernel locks (attributes not named are left alone).

use std::ops::BitOr;
use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;

use rustix::io::Errno;

use crate::{Error, Result};

/// Per-mount attributes, the `MOUNT_ATTR_*` values of `<linux/mount.h>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MountAttr(u64);

impl MountAttr {
    /// No attribute.
    pub const EMPTY: MountAttr = MountAttr(0);
    /// Read-only.
    pub const RDONLY: MountAttr = MountAttr(0x1);
    /// Ignore set-user-id and set-group-id bits.
    pub const NOSUID: MountAttr = MountAttr(0x2);
    /// No access to device nodes.
    pub const NODEV: MountAttr = MountAttr(0x4);
    /// No execution.
    pub const NOEXEC: MountAttr = MountAttr(0x8);
    /// The access-time field: set it with [`MountAttr::ATIME`] in the clear mask.
    /// `RELATIME` is its zero value.
    pub const RELATIME: MountAttr = MountAttr(0x0);
    /// Access-time field value: never update atime.
    pub const NOATIME: MountAttr = MountAttr(0x10);
    /// Access-time field value: always update atime.
    pub const STRICTATIME: MountAttr = MountAttr(0x20);
    /// The whole access-time field (`MOUNT_ATTR__ATIME`), for the clear mask.
    pub const ATIME: MountAttr = MountAttr(0x70);
    /// Do not update directory access times.
    pub const NODIRATIME: MountAttr = MountAttr(0x80);
    /// Do not follow symlinks.
    pub const NOSYMFOLLOW: MountAttr = MountAttr(0x20_0000);

    /// The raw `MOUNT_ATTR_*` bits.
    pub fn bits(self) -> u64 {
        self.0
    }

    /// Whether every bit of `other` is set in `self`.
    pub fn contains(self, other: MountAttr) -> bool {
        self.0 & other.0 == other.0
    }
}

impl BitOr for MountAttr {
    type Output = MountAttr;
    fn bitor(self, rhs: MountAttr) -> MountAttr {
        MountAttr(self.0 | rhs.0)
    }
}

/// `struct mount_attr`, version 0 (`MOUNT_ATTR_SIZE_VER0`, 32 bytes).
#[repr(C)]
struct RawMountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// `mount_setattr(fd, "", AT_EMPTY_PATH [| AT_RECURSIVE], {set, clear})`: sets `set` and
/// clears `clear` on the mount `fd` is the root of, and with `recursive` on every mount below
/// it too. The kernel applies it to the whole tree or to nothing. `what` names the mount in
/// the error. `ENOSYS` before Linux 5.12.
pub fn set_attr(
    fd: impl AsFd,
    set: MountAttr,
    clear: MountAttr,
    recursive: bool,
    what: &Path,
) -> Result<()> {
    let attr = RawMountAttr { attr_set: set.0, attr_clr: clear.0, propagation: 0, userns_fd: 0 };
    let flags = libc::AT_EMPTY_PATH | if recursive { libc::AT_RECURSIVE } else { 0 };
    // SAFETY: `attr` is a `struct mount_attr` in its version-0 layout (four u64) that lives
    // across the call, and its exact size is passed, so the kernel reads only those 32 bytes
    // and writes nothing. The path is a NUL-terminated empty string and AT_EMPTY_PATH makes
    // the kernel act on the descriptor itself, which `fd` keeps open for the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_fd().as_raw_fd(),
            c"".as_ptr(),
            flags,
            &attr as *const RawMountAttr,
            std::mem::size_of::<RawMountAttr>(),
        )
    };
    match ret {
        0 => Ok(()),
        _ => Err(Error::new(
            "mount_setattr",
            Some(what),
            Errno::from_raw_os_error(crate::clone::last_errno()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_version_0() {
        assert_eq!(std::mem::size_of::<RawMountAttr>(), 32);
    }

    #[test]
    fn attributes_combine() {
        let a = MountAttr::RDONLY | MountAttr::NOSUID;
        assert!(a.contains(MountAttr::NOSUID));
        assert!(!a.contains(MountAttr::NOEXEC));
        assert_eq!(a.bits(), 0x3);
    }

    #[test]
    fn a_bad_descriptor_is_an_error_naming_the_mount() {
        let f = tempfile_dir_fd();
        // A plain directory that is not the root of a mount: EINVAL (or ENOSYS on old kernels,
        // EPERM without CAP_SYS_ADMIN); never success.
        let e =
            set_attr(&f, MountAttr::RDONLY, MountAttr::EMPTY, false, Path::new("/x")).unwrap_err();
        assert_eq!(e.path.as_deref(), Some(Path::new("/x")));
    }

    fn tempfile_dir_fd() -> std::os::fd::OwnedFd {
        let dir = std::env::temp_dir().join(format!("berth-sys-mount-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fd = rustix::fs::open(
            &dir,
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .unwrap();
        std::fs::remove_dir(&dir).unwrap();
        fd
    }
}

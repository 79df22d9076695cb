//! Device nodes and the standard links under the container's `/dev`.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use berth_sys::{Context, Error as SysError};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};
use rustix::fs::{FileType, Mode};
use rustix::io::Errno;

use super::resolve;

/// The devices every container gets (runtime-spec config-linux.md, "Default Devices").
const DEFAULT_DEVICES: [(&str, u32, u32); 6] = [
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

/// The default devices, made in `dev` (the container's `/dev`, opened once by the caller).
pub(super) fn create_default_devices(
    root: BorrowedFd<'_>,
    dev: BorrowedFd<'_>,
    in_userns: bool,
) -> Result<(), SysError> {
    for (path, major, minor) in DEFAULT_DEVICES {
        let path = Path::new(path);
        if in_userns {
            bind_host_node(root, path)?;
            continue;
        }
        let name = path.file_name().unwrap_or_default();
        let number = rustix::fs::makedev(major, minor);
        mknod_in(dev, name, path, FileType::CharacterDevice, number, 0o666)?;
    }
    Ok(())
}

/// `linux.devices`.
pub(super) fn create_devices(
    root: BorrowedFd<'_>,
    devices: &[LinuxDevice],
    in_userns: bool,
) -> Result<(), SysError> {
    for d in devices {
        let kind = match d.typ() {
            LinuxDeviceType::B => FileType::BlockDevice,
            LinuxDeviceType::P => FileType::Fifo,
            _ => FileType::CharacterDevice,
        };
        let number = |n: i64| {
            u32::try_from(n)
                .map_err(|_| SysError::new("device number of", Some(d.path()), Errno::RANGE))
        };
        let (major, minor) = (number(d.major())?, number(d.minor())?);
        let mode = d.file_mode().unwrap_or(0o666);
        make_node(root, d.path(), kind, major, minor, mode, in_userns)?;
        let fd = resolve::open(root, d.path(), rustix::fs::OFlags::PATH)?;
        let uid = d.uid().map(rustix::fs::Uid::from_raw);
        let gid = d.gid().map(rustix::fs::Gid::from_raw);
        if uid.is_some() || gid.is_some() {
            rustix::fs::chownat(&fd, "", uid, gid, rustix::fs::AtFlags::EMPTY_PATH)
                .op_path("chown device", d.path())?;
        }
    }
    Ok(())
}

/// mknod inside the rootfs; in a user namespace, where mknod is not allowed, bind-mount the
/// host's node onto an empty file instead (as runc does).
fn make_node(
    root: BorrowedFd<'_>,
    path: &Path,
    kind: FileType,
    major: u32,
    minor: u32,
    mode: u32,
    in_userns: bool,
) -> Result<(), SysError> {
    if in_userns {
        return bind_host_node(root, path);
    }
    let rel = resolve::relative(path);
    let (parent, name) = resolve::split(&rel)?;
    let dir = resolve::mkdir_all(root, parent)?;
    mknod_in(dir.as_fd(), name, path, kind, rustix::fs::makedev(major, minor), mode)
}

fn bind_host_node(root: BorrowedFd<'_>, path: &Path) -> Result<(), SysError> {
    let fd = resolve::create_file(root, path)?;
    rustix::mount::mount_bind(path, resolve::fd_path(&fd)).op_path("bind device", path)
}

/// mknod of `name` in `dir` (`path` is its name in the container, for errors).
fn mknod_in(
    dir: BorrowedFd<'_>,
    name: &std::ffi::OsStr,
    path: &Path,
    kind: FileType,
    dev: u64,
    mode: u32,
) -> Result<(), SysError> {
    match rustix::fs::mknodat(dir, name, kind, Mode::from_raw_mode(mode), dev) {
        Ok(()) => {}
        // Something is there already: fine if it is this very device (config-linux.md,
        // "Devices": anything else MUST be an error).
        Err(Errno::EXIST) => return check_existing(&dir, name, path, kind, dev),
        Err(e) => return Err(SysError::new("mknod", Some(path), e)),
    }
    // mknod applies the umask; set the mode the config asked for.
    rustix::fs::chmodat(dir, name, Mode::from_raw_mode(mode), rustix::fs::AtFlags::empty())
        .op_path("chmod", path)
}

fn check_existing(
    dir: &impl std::os::fd::AsFd,
    name: &std::ffi::OsStr,
    path: &Path,
    kind: FileType,
    dev: u64,
) -> Result<(), SysError> {
    let st = rustix::fs::statat(dir, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW)
        .op_path("stat", path)?;
    if FileType::from_raw_mode(st.st_mode) == kind && st.st_rdev == dev {
        return Ok(());
    }
    Err(SysError::new("create device (a different file is there)", Some(path), Errno::EXIST))
}

/// /dev/fd, /dev/std{in,out,err}, /dev/ptmx → pts/ptmx and /dev/core → /proc/kcore, in
/// `dev` (the container's `/dev`).
pub(super) fn create_links(dev: BorrowedFd<'_>) -> Result<(), SysError> {
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("core", "/proc/kcore"),
        ("ptmx", "pts/ptmx"),
    ] {
        match rustix::fs::symlinkat(target, dev, name) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => {
                return Err(SysError::new("symlink", Some(&PathBuf::from("/dev").join(name)), e))
            }
        }
    }
    Ok(())
}

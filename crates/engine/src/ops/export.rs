//! `berth export CONTAINER`: the container's filesystem (its image with its changes, no
//! volumes or mounts) as a tar stream, as `docker export` writes it.
//!
//! Where the tree is read from:
//! - the container's overlay where the engine has it mounted (`DIR/rootfs`: a running
//!   container, or one `cp` mounted again): the runtime's own mounts (`/proc`, `/sys`, `/dev`,
//!   volumes) are in the container's mount namespace, not there;
//! - otherwise a read-only overlay of the same layers, the upper directory as the top lower
//!   one (so nothing can write to it and no work directory is needed), mounted by a thread
//!   of its own in a new mount namespace whose `/` was made private first: the mount is never
//!   seen on the host and goes away with that namespace; the directory fd opened in it keeps
//!   the tree readable until the export is done;
//! - a `--rootfs` container: its directory.
//!
//! Contents of `/proc` and `/sys` are never written (only the directories), in case
//! something mounted there is visible.

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use berth_image::layer_writer::{write_tree, TreeOptions};
use rustix::fs::{self as rfs, Mode, OFlags};
use rustix::mount::{MountFlags, MountPropagationFlags};

use super::diff::Layers;
use super::Engine;
use crate::error::{Error, Result};

/// Writes the filesystem of container `key` to `out` as a tar stream.
pub fn export(e: &Engine, key: &str, out: &mut dyn Write) -> Result<()> {
    let r = e.get(key)?;
    let dir = e.paths.container(&r.id);
    let root = open_root(e, &r, &dir)?;
    let opts = TreeOptions {
        whiteouts: false,
        skip_contents: vec![PathBuf::from("proc"), PathBuf::from("sys")],
        skip: Vec::new(),
    };
    let (out, _) = write_tree(root.as_fd(), out, &opts).map_err(|x| Error::Archive {
        op: "export",
        path: r.id.clone(),
        message: crate::error::chain(&x),
    })?;
    out.flush().map_err(|x| Error::Archive {
        op: "export",
        path: r.id.clone(),
        message: x.to_string(),
    })
}

/// The container's root directory, open (see the module docs for where from).
fn open_root(e: &Engine, r: &crate::db::Record, dir: &Path) -> Result<OwnedFd> {
    let rootfs = dir.join("rootfs");
    if super::rootfs::is_mountpoint(&rootfs) {
        return open_dir(&rootfs);
    }
    // A `--rootfs` container's root is a plain directory; any other has saved layers.
    if r.image.starts_with("rootfs:") {
        return open_dir(&super::cp::rootfs_of(dir)?);
    }
    mount_private(&Layers::of(e, r, "export")?, &rootfs)
}

fn open_dir(p: &Path) -> Result<OwnedFd> {
    rfs::open(p, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|x| Error::Io { op: "open", path: p.to_path_buf(), source: x.into() })
}

/// Mounts `layers` read-only on `target` in a new, private mount namespace of a thread of
/// its own; returns the opened root. The thread, and with it the namespace, ends here: the
/// mount is detached then, and the returned fd is what keeps it (and only it) alive.
pub(crate) fn mount_private(layers: &Layers, target: &Path) -> Result<OwnedFd> {
    let lower: Vec<String> = std::iter::once(&layers.upper)
        .chain(&layers.lowers)
        .map(|p| p.display().to_string())
        .collect();
    let data = format!("lowerdir={}", lower.join(":"));
    let target = target.to_path_buf();
    let thread = std::thread::Builder::new().name("export-mount".into()).spawn(move || {
        // CLONE_NEWNS: this thread alone gets a copy of the mount table (unshare(2) implies
        // CLONE_FS for it); nothing it mounts is seen by the rest of the process.
        berth_sys::clone::unshare_namespaces(0x0002_0000).map_err(|x| Error::Io {
            op: "unshare mount namespace for",
            path: target.clone(),
            source: std::io::Error::from_raw_os_error(x.errno.raw_os_error()),
        })?;
        // Private before anything is mounted, so no mount propagates back to the host.
        let private = MountPropagationFlags::PRIVATE | MountPropagationFlags::REC;
        rustix::mount::mount_change("/", private).map_err(|x| Error::Io {
            op: "make / private (for export)",
            path: PathBuf::from("/"),
            source: x.into(),
        })?;
        let opts = std::ffi::CString::new(data).map_err(|_| Error::Io {
            op: "mount overlay (NUL in a layer path) on",
            path: target.clone(),
            source: std::io::ErrorKind::InvalidInput.into(),
        })?;
        rustix::mount::mount(
            "overlay",
            &target,
            "overlay",
            MountFlags::RDONLY,
            Some(opts.as_c_str()),
        )
        .map_err(|x| Error::Io {
            op: "mount overlay read-only on",
            path: target.clone(),
            source: x.into(),
        })?;
        open_dir(&target)
    });
    let thread = thread.map_err(|x| Error::Io {
        op: "start the mount thread for",
        path: layers.upper.clone(),
        source: x,
    })?;
    thread.join().unwrap_or_else(|_| {
        Err(Error::Io {
            op: "mount for export (thread panicked)",
            path: layers.upper.clone(),
            source: std::io::ErrorKind::Other.into(),
        })
    })
}

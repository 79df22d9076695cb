//! A container's root filesystem: a `--rootfs` directory as it is, or an image's layers
//! under an overlay mount in the container's directory (lower: the image's snapshots, top
//! first; upper and work: the container's own), mounted before create and unmounted before
//! the directory is removed — never deleted through.

use std::path::{Path, PathBuf};

use berth_image::ImageInfo;
use rustix::mount::{MountFlags, UnmountFlags};

use super::Engine;
use crate::error::{Error, Result};
use crate::spec::RunOptions;

/// What the container runs on.
#[derive(Debug)]
pub struct Rootfs {
    /// The directory given to the runtime.
    pub path: PathBuf,
    /// The image, for its config and for holding it against `rmi`.
    pub image: Option<ImageInfo>,
    /// The image store it came from, open (`create` holds the image through it: one open
    /// of the store per command).
    pub store: Option<berth_image::Store>,
    /// The image config (`config` of the config blob): Cmd, Entrypoint, Env, WorkingDir, User.
    pub config: serde_json::Value,
}

/// Prepares the rootfs of container `id` in `dir`; pulls a missing image.
pub fn prepare(e: &Engine, opts: &RunOptions, dir: &Path) -> Result<Rootfs> {
    if let Some(d) = &opts.rootfs {
        let abs = std::fs::canonicalize(d).map_err(Error::io("open rootfs", d))?;
        if !abs.is_dir() {
            return Err(Error::InvalidFlag {
                flag: "--rootfs",
                value: d.display().to_string(),
                reason: "not a directory".into(),
            });
        }
        return Ok(Rootfs { path: abs, image: None, store: None, config: serde_json::Value::Null });
    }
    let store = super::pull::store(e)?;
    let info = match store.lookup(&super::images::resolve_name(&store, &opts.image)) {
        Ok(i) => i,
        Err(_) if opts.pull != "never" => {
            super::pull::pull(e, &opts.image, &Default::default(), &mut |_| {})?
        }
        Err(x) => {
            return Err(Error::Pull {
                image: opts.image.clone(),
                message: format!("{} (and --pull never)", crate::error::chain(&x)),
            })
        }
    };
    let lowers = store
        .rootfs_for(&info)
        .map_err(|x| Error::Pull { image: opts.image.clone(), message: crate::error::chain(&x) })?;
    let config = std::fs::read(store.blob_path(&info.config_digest))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .map(|v| v["config"].clone())
        .unwrap_or(serde_json::Value::Null);
    let path = dir.join("rootfs");
    for d in [&path, &dir.join("upper"), &dir.join("work")] {
        crate::paths::mkdir(d)?;
    }
    let lower: Vec<String> = lowers.iter().map(|p| p.display().to_string()).collect();
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        dir.join("upper").display(),
        dir.join("work").display()
    );
    // Kept for `start`, which mounts the same layers again after a reboot.
    let saved = dir.join("overlay");
    std::fs::write(&saved, &data).map_err(Error::io("write", &saved))?;
    if opts.auto_remove {
        mount_volatile(&path, &data, &opts.image)?;
    } else {
        mount_overlay(&path, &data, &opts.image)?;
    }
    Ok(Rootfs { path, image: Some(info), store: Some(store), config })
}

/// The overlay of a `--rm` container, with `volatile` (Linux 5.10): its upper directory is
/// deleted after the run, so nothing in it needs to reach the disk, and overlayfs then skips
/// `syncfs` of the upper filesystem, which it otherwise does when the mount goes away: a sync
/// of the whole filesystem under the data root, whose cost is everyone else's dirty pages
/// (podman mounts `--rm` containers volatile too). Without the option (an older kernel:
/// EINVAL) the mount is made as usual. Not written to the saved options: the container is
/// never mounted again (a volatile upper directory refuses a second mount after a crash).
fn mount_volatile(path: &Path, data: &str, image: &str) -> Result<()> {
    match mount_overlay(path, &format!("{data},volatile"), image) {
        Err(Error::Io { source, .. })
            if source.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) =>
        {
            mount_overlay(path, data, image)
        }
        other => other,
    }
}

fn mount_overlay(path: &Path, data: &str, image: &str) -> Result<()> {
    let data = std::ffi::CString::new(data).map_err(|_| Error::InvalidFlag {
        flag: "IMAGE",
        value: image.to_string(),
        reason: "layer path with NUL".into(),
    })?;
    rustix::mount::mount("overlay", path, "overlay", MountFlags::empty(), Some(data.as_c_str()))
        .map_err(|x| Error::Io {
            op: "mount overlay on",
            path: path.to_path_buf(),
            source: x.into(),
        })
}

/// Mounts the overlay of the container in `dir` again if it was made from an image and is
/// not mounted (a reboot, or a release): `start` of a container that ran before.
pub fn remount(dir: &Path) -> Result<()> {
    let saved = dir.join("overlay");
    let Ok(data) = std::fs::read_to_string(&saved) else { return Ok(()) };
    let path = dir.join("rootfs");
    if is_mountpoint(&path) {
        return Ok(());
    }
    mount_overlay(&path, &data, "(saved overlay)")
}

/// Unmounts the container's overlay if it is mounted (so its directory can be removed), and
/// its shareable `/dev/shm`.
pub fn release(dir: &Path) -> Result<()> {
    super::shared_namespaces::release_shm(dir)?;
    unmount_all(&dir.join("rootfs"))
}

/// Unmounts everything mounted at `path` (mounts can stack there: two starts racing could
/// each have mounted one), so that a directory removed after it is never a mount's content;
/// an error if one stays.
pub(crate) fn unmount_all(path: &Path) -> Result<()> {
    for _ in 0..8 {
        if !is_mountpoint(path) {
            return Ok(());
        }
        rustix::mount::unmount(path, UnmountFlags::DETACH).map_err(|x| Error::Io {
            op: "unmount",
            path: path.to_path_buf(),
            source: x.into(),
        })?;
    }
    let still = std::io::Error::other("still mounted");
    Err(Error::Io { op: "unmount", path: path.to_path_buf(), source: still })
}

/// Whether `p` is a mount point, from this process's mountinfo.
pub fn is_mountpoint(p: &Path) -> bool {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let want = p.display().to_string();
    text.lines().any(|l| l.split(' ').nth(4) == Some(want.as_str()))
}

//! The volumes of a container: made when it is created (a missing named volume, every
//! anonymous one), filled from the image, and removed with it by `rm -v` (anonymous ones).
//!
//! Docker copies the image's content at a volume's target into the volume when the volume
//! is empty (unless `nocopy`), so `-v data:/etc/app` starts with the image's `/etc/app`.
//! The image side is the container's rootfs, untrusted: the target is resolved with
//! `openat2(RESOLVE_IN_ROOT)` and the tree copied by file descriptors (`fstree`).
//!
//! An image's `VOLUME`s (`Volumes` in its config) become anonymous volumes, filled the same
//! way, at each path where no `-v`, `--mount` or `--tmpfs` mounts something (Docker's
//! daemon does the same in `createContainerOSSpecificSettings`).

use std::collections::HashSet;
use std::os::fd::AsFd;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{self as rfs, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use super::volume::{self, NewVolume};
use super::Engine;
use crate::error::{Error, Result};
use crate::mounts::{self, Kind};
use crate::spec::RunOptions;

/// Checks `-v` and `--mount` before anything is made.
pub(crate) fn check(opts: &RunOptions) -> Result<()> {
    mounts::parse_all(&opts.volumes, &opts.mounts).map(|_| ())
}

/// Resolves the mounts of the new container `id`, whose root filesystem is `rootfs`, into
/// `opts.mount_points`: volumes made or found (an anonymous one for each of the image's
/// `VOLUME`s nothing else is mounted on), new empty ones filled from the image.
pub(crate) fn resolve(e: &Engine, opts: &mut RunOptions, rootfs: &Path, id: &str) -> Result<()> {
    let mut points = mounts::parse_all(&opts.volumes, &opts.mounts)?;
    let from_image = image_volumes(opts, &points);
    points.extend(from_image);
    for p in points.iter_mut().filter(|p| p.kind == Kind::Volume) {
        let new = NewVolume {
            name: (!p.anonymous).then_some(p.source.as_str()),
            created_by: id,
            ..Default::default()
        };
        let (name, _) = volume::create(e, &new)?;
        let data = volume::data_dir(e, &name);
        if !p.nocopy {
            copy_image_content(rootfs, &p.target, &data)?;
        }
        p.source = name;
        p.host_path = Some(data);
    }
    opts.mount_points = points;
    Ok(())
}

/// Anonymous volumes for the image's `Volumes` that no flag mounts something on (the same
/// path after `.`, `..` and `//` are cleaned, as Docker compares them).
fn image_volumes(opts: &RunOptions, points: &[mounts::MountPoint]) -> Vec<mounts::MountPoint> {
    let tmpfs = opts.tmpfs.iter().map(|t| t.split_once(':').map_or(t.as_str(), |(dst, _)| dst));
    let mut taken: HashSet<PathBuf> =
        points.iter().map(|p| p.target.as_str()).chain(tmpfs).map(clean).collect();
    let mut out = Vec::new();
    for target in opts.image_volumes.iter().map(|v| clean(v)) {
        // A relative path or `/` cannot be a volume: Docker's builder never writes them.
        if !target.is_absolute() || target == Path::new("/") || !taken.insert(target.clone()) {
            continue;
        }
        out.push(mounts::MountPoint::anonymous_volume(&target.to_string_lossy()));
    }
    out
}

/// `path` without `.`, `..` (at `/`, `..` is `/`) and repeated or trailing slashes.
pub(crate) fn clean(path: &str) -> PathBuf {
    let mut out = PathBuf::new();
    for c in Path::new(path).components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

/// Copies what the image has at `target` into `data` if `data` is empty.
fn copy_image_content(rootfs: &Path, target: &str, data: &Path) -> Result<()> {
    let err = |op: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |e: std::io::Error| Error::Io { op, path, source: e }
    };
    let dst = rfs::open(data, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|x| err("open volume", data)(x.into()))?;
    if !crate::fstree::names(dst.as_fd()).map_err(err("read volume", data))?.is_empty() {
        return Ok(());
    }
    let root = rfs::open(rootfs, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|x| err("open rootfs", rootfs)(x.into()))?;
    let src = match rfs::openat2(
        &root,
        target.trim_start_matches('/'),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    ) {
        Ok(fd) => fd,
        // Nothing (or no directory) there in the image: the volume starts empty.
        Err(Errno::NOENT | Errno::NOTDIR) => return Ok(()),
        Err(x) => return Err(err("open image content", &rootfs.join(target))(x.into())),
    };
    crate::fstree::copy_contents(src.as_fd(), dst.as_fd(), &Default::default())
        .map_err(err("copy image content into volume", data))
}

/// Removes what a failed create of `id` made: the volumes it created that no container
/// uses. Best effort: the create's own error is what the user needs to see.
pub(crate) fn forget_created_by(e: &Engine, id: &str) {
    for v in volume::list(e).unwrap_or_default() {
        if v.created_by == id {
            let _ = volume::rm(e, &v.name, true);
        }
    }
}

/// `rm -v`: removes the container, then its anonymous volumes no other container uses
/// (named volumes stay, as Docker's).
pub fn rm_with_volumes(e: &Engine, key: &str, force: bool) -> Result<String> {
    rm_with_volumes_on(e, key, force, None)
}

/// [`rm_with_volumes`] with the monitor's pipe (`run --rm`, see [`super::rm::rm_on`]).
pub fn rm_with_volumes_on(
    e: &Engine,
    key: &str,
    force: bool,
    monitor: Option<&crate::watch::MonitorPipe>,
) -> Result<String> {
    let r = e.get(key)?;
    let points = volume::mount_points(&r.config);
    let id = super::rm::rm_on(e, key, force, monitor)?;
    for p in points.iter().filter(|p| p.kind == Kind::Volume && p.anonymous) {
        if volume::users(e, &p.source)?.is_empty() {
            volume::rm(e, &p.source, true)?;
        }
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::Paths;

    #[test]
    fn new_volumes_take_the_image_content_and_stay_inside_the_rootfs() {
        let tmp = tempfile::tempdir().unwrap();
        let e =
            Engine::open(Paths { data: tmp.path().join("d"), run: tmp.path().join("r") }).unwrap();
        let rootfs = tmp.path().join("rootfs");
        std::fs::create_dir_all(rootfs.join("etc/app")).unwrap();
        std::fs::write(rootfs.join("etc/app/conf"), "from image").unwrap();
        // An absolute symlink in the image resolves inside the rootfs, not on the host.
        std::os::unix::fs::symlink("/etc/app", rootfs.join("link")).unwrap();
        let mut opts = RunOptions {
            volumes: vec!["conf:/etc/app".into(), "/link".into(), "/missing".into()],
            mounts: vec!["type=volume,source=empty,target=/etc/app2,volume-nocopy".into()],
            ..Default::default()
        };
        resolve(&e, &mut opts, &rootfs, "c1").unwrap();
        let conf = volume::data_dir(&e, "conf");
        assert_eq!(std::fs::read_to_string(conf.join("conf")).unwrap(), "from image");
        let anon = &opts.mount_points[1];
        assert!(anon.anonymous && anon.source.len() == 64);
        let anon_data = volume::data_dir(&e, &anon.source);
        assert!(anon_data.join("conf").exists(), "followed /link inside the rootfs");
        assert_eq!(std::fs::read_dir(volume::data_dir(&e, "empty")).unwrap().count(), 0);
        // A second container does not copy into a volume that has content.
        std::fs::write(rootfs.join("etc/app/conf"), "changed").unwrap();
        let mut again = RunOptions { volumes: vec!["conf:/etc/app".into()], ..Default::default() };
        resolve(&e, &mut again, &rootfs, "c2").unwrap();
        assert_eq!(std::fs::read_to_string(conf.join("conf")).unwrap(), "from image");
        // What c1's failed create made goes; what c2 made stays.
        forget_created_by(&e, "c1");
        let left: Vec<String> = volume::list(&e).unwrap().into_iter().map(|v| v.name).collect();
        assert!(left.is_empty(), "{left:?}: every volume was made by c1");
        assert!(volume::users(&e, "conf").unwrap().is_empty());
    }

    #[test]
    fn image_volumes_become_anonymous_volumes_where_nothing_else_is_mounted() {
        let tmp = tempfile::tempdir().unwrap();
        let e =
            Engine::open(Paths { data: tmp.path().join("d"), run: tmp.path().join("r") }).unwrap();
        let rootfs = tmp.path().join("rootfs");
        std::fs::create_dir_all(rootfs.join("data/sub")).unwrap();
        std::fs::write(rootfs.join("data/sub/seed"), "seed").unwrap();
        let mut opts = RunOptions {
            volumes: vec!["named:/srv/".into()],
            tmpfs: vec!["/tmp/x:size=1m".into()],
            image_volumes: ["/data/", "/srv", "/tmp/./x", "/var/../logs", "/", "rel", "/data"]
                .map(String::from)
                .to_vec(),
            ..Default::default()
        };
        resolve(&e, &mut opts, &rootfs, "c1").unwrap();
        let made: Vec<(&str, bool)> =
            opts.mount_points.iter().map(|p| (p.target.as_str(), p.anonymous)).collect();
        assert_eq!(made, [("/srv/", false), ("/data", true), ("/logs", true)]);
        let data = opts.mount_points[1].host_path.clone().unwrap();
        assert_eq!(std::fs::read_to_string(data.join("sub/seed")).unwrap(), "seed", "copied up");
        assert_eq!(volume::list(&e).unwrap().len(), 3);
        // --rootfs containers and images without Volumes get none
        let mut plain = RunOptions::default();
        resolve(&e, &mut plain, &rootfs, "c2").unwrap();
        assert!(plain.mount_points.is_empty());
    }
}

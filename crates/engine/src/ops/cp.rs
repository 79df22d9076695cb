//! `berth cp CONTAINER:SRC DEST`, `berth cp SRC CONTAINER:DEST`, with Docker's rules:
//!
//! - a file to a directory goes in it under its own name; to a missing path it becomes that
//!   file (a missing path ending in `/` is an error); an existing file is replaced;
//! - a directory to a missing path becomes that directory; into an existing directory it is
//!   copied as a subdirectory, or only its contents when SRC ends in `/.`; onto a file it
//!   is an error;
//! - `-` is a tar stream: of SRC on stdout, or extracted into the directory DEST from stdin;
//! - SRC is not followed if it is a symlink; owners become root's in the container and the
//!   caller's on the host, unless `-a` keeps the source's.
//!
//! The container's side is its root as its processes see it (`/proc/PID/root`, volumes
//! included) while it runs, else its root filesystem with its volumes and bind mounts
//! found by path. Every path there is resolved with `openat2(RESOLVE_IN_ROOT)`, so `..` and
//! symlinks (absolute ones included) stay inside the container.

use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use berth_image::layer_writer::{write_entry, write_tree, TreeOptions};

use super::Engine;
use crate::error::{Error, Result};
use crate::fstree::{self, CopyOptions};
use crate::mounts::Kind;

/// One side of a `cp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A host path.
    Host(PathBuf),
    /// `-`: a tar stream on stdin or stdout.
    Stream,
    /// `CONTAINER:PATH`.
    Container {
        /// Name or id.
        key: String,
        /// Path inside it.
        path: String,
    },
}

impl Endpoint {
    /// Docker's reading: `-`; a path starting with `/` or `.` is the host's (so `./a:b` is a
    /// host file); otherwise text before the first `:` names a container.
    pub fn parse(s: &str) -> Endpoint {
        if s == "-" {
            return Endpoint::Stream;
        }
        if s.starts_with('/') || s.starts_with('.') {
            return Endpoint::Host(PathBuf::from(s));
        }
        match s.split_once(':') {
            Some((key, path)) if !key.is_empty() => {
                Endpoint::Container { key: key.to_string(), path: path.to_string() }
            }
            _ => Endpoint::Host(PathBuf::from(s)),
        }
    }
}

/// `cp -a`: keep the source's owners.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpOptions {
    /// `-a/--archive`.
    pub archive: bool,
}

/// A directory tree to resolve paths in, and the name to show in errors.
struct Root {
    fd: OwnedFd,
    label: String,
}

/// A path split for the copy rules.
struct Target {
    /// The root it resolves in.
    root: Root,
    /// Relative to the root, normalised, without trailing `/` or `/.`.
    rel: PathBuf,
    /// Ended in `/` (or `/.`).
    slash: bool,
    /// Ended in `/.`: a directory's contents.
    contents: bool,
}

const RESOLVE: ResolveFlags = ResolveFlags::IN_ROOT.union(ResolveFlags::NO_MAGICLINKS);

/// Copies between a container and the host (or a tar stream).
pub fn cp(
    e: &Engine,
    src: &Endpoint,
    dst: &Endpoint,
    opts: CpOptions,
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
) -> Result<()> {
    let usage = |reason: &str| Error::InvalidFlag {
        flag: "cp",
        value: format!("{src:?} {dst:?}"),
        reason: reason.into(),
    };
    let (from, to, owner) = match (src, dst) {
        (Endpoint::Container { key, path }, Endpoint::Stream) => {
            let from = container_target(e, key, path)?;
            return to_stream(&from, stdout);
        }
        (Endpoint::Stream, Endpoint::Container { key, path }) => {
            let to = container_target(e, key, path)?;
            return from_stream(&to, stdin);
        }
        (Endpoint::Container { key, path }, Endpoint::Host(p)) => {
            let me = (rustix::process::geteuid().as_raw(), rustix::process::getegid().as_raw());
            (container_target(e, key, path)?, host_target(p)?, me)
        }
        (Endpoint::Host(p), Endpoint::Container { key, path }) => {
            (host_target(p)?, container_target(e, key, path)?, (0, 0))
        }
        (Endpoint::Container { .. }, Endpoint::Container { .. }) => {
            return Err(usage("copying between containers is not supported"))
        }
        _ => return Err(usage("one of SRC and DEST must be CONTAINER:PATH")),
    };
    let copy = CopyOptions { owner: (!opts.archive).then_some(owner), replace: true };
    copy_tree(&from, &to, &copy)
}

/// Applies Docker's rules (see the module docs) to a resolved source and destination.
fn copy_tree(from: &Target, to: &Target, copy: &CopyOptions) -> Result<()> {
    let (src_dir, src_name) = from.open_parent()?;
    let st = rfs::statat(&src_dir, &src_name, AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|x| from.err("stat", x))?;
    let src_is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
    if from.slash && !src_is_dir {
        return Err(from.err("copy", Errno::NOTDIR));
    }
    let err = |x: std::io::Error| to.err_io("copy into", x);
    match to.open(OFlags::RDONLY | OFlags::DIRECTORY) {
        Ok(dir) if src_is_dir && from.contents => {
            let s = fstree::open_dir_at(src_dir.as_fd(), &src_name).map_err(err)?;
            fstree::copy_contents(s.as_fd(), dir.as_fd(), copy).map_err(err)
        }
        Ok(dir) => fstree::copy_entry(src_dir.as_fd(), &src_name, dir.as_fd(), &src_name, copy)
            .map_err(err),
        Err(Errno::NOTDIR) if src_is_dir => Err(Error::InvalidFlag {
            flag: "cp",
            value: to.show(),
            reason: "cannot copy a directory to a file".into(),
        }),
        Err(Errno::NOENT) if to.slash => Err(Error::InvalidFlag {
            flag: "cp",
            value: to.show(),
            reason: "the destination directory must exist".into(),
        }),
        // A missing path (its parent must exist) or a file: it becomes the copy.
        Err(Errno::NOENT | Errno::NOTDIR) => {
            let (dst_dir, dst_name) = to.open_parent()?;
            fstree::copy_entry(src_dir.as_fd(), &src_name, dst_dir.as_fd(), &dst_name, copy)
                .map_err(err)
        }
        Err(x) => Err(to.err("open", x)),
    }
}

/// SRC as a tar stream, written as `export` and `commit` write theirs (sorted names, hard
/// links, devices, fifos, `security.capability`), under SRC's own name, or only its
/// contents for `SRC/.`. A failure names the entry that failed.
fn to_stream(from: &Target, out: &mut dyn Write) -> Result<()> {
    let (dir, name) = from.open_parent()?;
    let opts = TreeOptions::default();
    let written = if from.contents {
        let d = fstree::open_dir_at(dir.as_fd(), &name).map_err(|x| from.err_io("open", x))?;
        write_tree(d.as_fd(), out, &opts)
    } else {
        write_entry(dir.as_fd(), name.as_os_str(), &name, out, &opts)
    };
    let failed = match written {
        Ok((out, _)) => return out.flush().map_err(|x| from.err_io("write archive", x)),
        Err(e) => e,
    };
    // The entry's path below SRC: SRC itself is `name` (or, for its contents, nothing).
    let below = if from.contents {
        &failed.path
    } else {
        failed.path.strip_prefix(&name).unwrap_or(&failed.path)
    };
    let path = match below.as_os_str().is_empty() {
        true => from.show(),
        false => format!("{}/{}", from.show().trim_end_matches('/'), below.display()),
    };
    Err(Error::Io { op: failed.op, path: path.into(), source: failed.source })
}

fn from_stream(to: &Target, input: &mut dyn Read) -> Result<()> {
    match to.open(OFlags::PATH | OFlags::DIRECTORY) {
        Ok(_) => {}
        Err(Errno::NOTDIR | Errno::NOENT) => {
            return Err(Error::InvalidFlag {
                flag: "cp",
                value: to.show(),
                reason: "the destination of a tar stream must be an existing directory".into(),
            })
        }
        Err(x) => return Err(to.err("open", x)),
    }
    crate::tarstream::extract(input, to.root.fd.as_fd(), &to.rel, None)
        .map_err(|x| to.err_io("extract into", x))
}

impl Target {
    fn new(root: Root, path: &str) -> Target {
        let slash = path.ends_with('/') || path.ends_with("/.");
        let contents = path.ends_with("/.") || path == ".";
        let rel: PathBuf = Path::new(path)
            .components()
            .filter(|c| matches!(c, Component::Normal(_) | Component::ParentDir))
            .collect();
        Target { root, rel, slash, contents }
    }

    fn open(&self, flags: OFlags) -> std::result::Result<OwnedFd, Errno> {
        let rel: &Path = if self.rel.as_os_str().is_empty() { Path::new(".") } else { &self.rel };
        rfs::openat2(&self.root.fd, rel, flags | OFlags::CLOEXEC, Mode::empty(), RESOLVE)
    }

    /// The directory holding the path, and the path's last name (`.` for the root itself).
    fn open_parent(&self) -> Result<(OwnedFd, PathBuf)> {
        let name = match self.rel.components().next_back() {
            Some(Component::Normal(n)) => PathBuf::from(n),
            Some(_) => return Err(self.err("resolve", Errno::INVAL)),
            None => PathBuf::from("."),
        };
        let parent = self.rel.parent().unwrap_or(Path::new(""));
        let parent: &Path = if parent.as_os_str().is_empty() { Path::new(".") } else { parent };
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let fd = rfs::openat2(&self.root.fd, parent, flags, Mode::empty(), RESOLVE)
            .map_err(|x| self.err("open", x))?;
        Ok((fd, name))
    }

    fn show(&self) -> String {
        format!("{}/{}", self.root.label.trim_end_matches('/'), self.rel.display())
    }

    fn err(&self, op: &'static str, x: Errno) -> Error {
        self.err_io(op, x.into())
    }

    fn err_io(&self, op: &'static str, source: std::io::Error) -> Error {
        Error::Io { op, path: PathBuf::from(self.show()), source }
    }
}

/// A host path, relative to the current directory unless absolute.
fn host_target(p: &Path) -> Result<Target> {
    let text = p.to_string_lossy();
    let abs = if p.is_absolute() {
        text.to_string()
    } else {
        let cwd = std::env::current_dir().map_err(Error::io("getcwd", "."))?;
        format!("{}/{text}", cwd.display())
    };
    let fd = open_dir_path(Path::new("/"))?;
    Ok(Target::new(Root { fd, label: String::new() }, &abs))
}

/// A path in container `key`: its live root while it runs; else its root filesystem, or
/// the host directory of the volume or bind mount the path is under.
fn container_target(e: &Engine, key: &str, path: &str) -> Result<Target> {
    let r = e.get(key)?;
    let label = format!("{}:", &r.id[..12.min(r.id.len())]);
    if r.state == "running" && r.pid > 0 {
        let fd = open_dir_path(Path::new(&format!("/proc/{}/root", r.pid)))?;
        return Ok(Target::new(Root { fd, label: format!("{label}/") }, path));
    }
    let dir = e.paths.container(&r.id);
    super::rootfs::remount(&dir)?;
    let in_container: PathBuf = Path::new("/").join(path);
    let points = super::volume::mount_points(&r.config);
    let under = points
        .iter()
        .filter(|m| m.kind != Kind::Tmpfs && in_container.starts_with(&m.target))
        .max_by_key(|m| Path::new(&m.target).components().count());
    if let Some(m) = under {
        let host = match m.kind {
            Kind::Bind => PathBuf::from(&m.source),
            _ => m.host_path.clone().unwrap_or_default(),
        };
        let rest = in_container.strip_prefix(&m.target).unwrap_or(Path::new(""));
        let mut rest = rest.display().to_string();
        if path.ends_with("/.") {
            rest.push_str("/.");
        } else if path.ends_with('/') {
            rest.push('/');
        }
        let fd = open_dir_path(&host)?;
        return Ok(Target::new(Root { fd, label: format!("{label}{}/", m.target) }, &rest));
    }
    let rootfs = rootfs_of(&dir)?;
    let fd = open_dir_path(&rootfs)?;
    Ok(Target::new(Root { fd, label: format!("{label}/") }, path))
}

/// The root filesystem the container's bundle names.
pub(crate) fn rootfs_of(dir: &Path) -> Result<PathBuf> {
    let config = dir.join("bundle/config.json");
    let text = std::fs::read(&config).map_err(Error::io("read", &config))?;
    let spec: serde_json::Value = serde_json::from_slice(&text).unwrap_or_default();
    spec["root"]["path"].as_str().map(PathBuf::from).ok_or_else(|| Error::Io {
        op: "read root.path of",
        path: config,
        source: std::io::ErrorKind::InvalidData.into(),
    })
}

fn open_dir_path(p: &Path) -> Result<OwnedFd> {
    rfs::open(p, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|x| Error::Io { op: "open", path: p.to_path_buf(), source: x.into() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_as_docker_reads_them() {
        assert_eq!(Endpoint::parse("-"), Endpoint::Stream);
        assert_eq!(
            Endpoint::parse("web:/etc/hosts"),
            Endpoint::Container { key: "web".into(), path: "/etc/hosts".into() }
        );
        assert_eq!(Endpoint::parse("./a:b"), Endpoint::Host("./a:b".into()));
        assert_eq!(Endpoint::parse("/abs:x"), Endpoint::Host("/abs:x".into()));
        assert_eq!(Endpoint::parse("plain"), Endpoint::Host("plain".into()));
        assert_eq!(Endpoint::parse(":x"), Endpoint::Host(":x".into()));
    }

    fn target(path: &str) -> Target {
        Target::new(Root { fd: open_dir_path(Path::new("/")).unwrap(), label: "c:".into() }, path)
    }

    #[test]
    fn trailing_slash_and_dot() {
        let t = target("/a/b/.");
        assert!(t.slash && t.contents && t.rel == Path::new("a/b"));
        let t = target("a/b/");
        assert!(t.slash && !t.contents && t.rel == Path::new("a/b"));
        let t = target("/a/b");
        assert!(!t.slash && !t.contents);
        assert!(target("/").rel.as_os_str().is_empty());
    }

    fn run(src: &Path, dst: &Path) -> Result<()> {
        copy_tree(
            &host_target(src).unwrap(),
            &host_target(dst).unwrap(),
            &CopyOptions { owner: None, replace: true },
        )
    }

    #[test]
    fn dockers_file_and_directory_rules() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        std::fs::create_dir_all(t.join("src/sub")).unwrap();
        std::fs::write(t.join("src/sub/f"), "f").unwrap();
        std::fs::write(t.join("file"), "file").unwrap();
        std::fs::create_dir(t.join("into")).unwrap();
        // file → directory: inside, by its name; file → missing: that name; → file: replaced.
        run(&t.join("file"), &t.join("into")).unwrap();
        assert!(t.join("into/file").is_file());
        run(&t.join("file"), &t.join("renamed")).unwrap();
        assert!(t.join("renamed").is_file());
        std::fs::write(t.join("renamed"), "old").unwrap();
        run(&t.join("file"), &t.join("renamed")).unwrap();
        assert_eq!(std::fs::read_to_string(t.join("renamed")).unwrap(), "file");
        assert!(run(&t.join("file"), &t.join("missing/")).is_err(), "must exist");
        assert!(run(&t.join("file"), &t.join("no/such/parent")).is_err());
        assert!(run(&t.join("file/"), &t.join("x")).is_err(), "not a directory");
        // dir → missing: becomes it; → dir: a subdirectory; `/.` → dir: the contents.
        run(&t.join("src"), &t.join("copy")).unwrap();
        assert!(t.join("copy/sub/f").is_file());
        run(&t.join("src"), &t.join("into")).unwrap();
        assert!(t.join("into/src/sub/f").is_file());
        run(&t.join("src/."), &t.join("into")).unwrap();
        assert!(t.join("into/sub/f").is_file());
        assert!(run(&t.join("src"), &t.join("file")).is_err(), "directory onto a file");
    }
}

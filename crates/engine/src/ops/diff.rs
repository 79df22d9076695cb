//! `berth diff CONTAINER`: what the container changed in its image, as Docker prints it
//! (`A /path`, `C /path`, `D /path`), from its overlay upper directory.
//!
//! Docker's overlay2 rules (moby `pkg/archive/changes.go`, `changes` with
//! `overlayDeletedFile`), in the order of its walk: names sorted within each directory,
//! a directory before its contents (so `/a/b` comes before `/a-c`).
//! - a 0:0 character device is a whiteout: `D`;
//! - an opaque directory that exists in a lower layer was deleted and made again: `D`, and
//!   its contents follow;
//! - anything else is `C` if the name exists in a lower layer, else `A`; a directory whose
//!   size, mode and mtime equal the lower one's is not reported by itself;
//! - the parent directories of an `A` or `D` are reported `C` (once, before it), even if
//!   they look unchanged (moby#13590).

use std::collections::HashSet;
use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use berth_image::layer_writer::{opaque_xattr, overlay_mark, OverlayMark};
use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use super::Engine;
use crate::db::Record;
use crate::error::{Error, Result};

/// What happened to a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `A`: new.
    Added,
    /// `C`: changed, or a directory whose contents changed.
    Changed,
    /// `D`: deleted.
    Deleted,
}

impl Kind {
    /// Docker's letter.
    pub fn letter(self) -> char {
        match self {
            Kind::Added => 'A',
            Kind::Changed => 'C',
            Kind::Deleted => 'D',
        }
    }
}

/// One line of `diff`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// What happened.
    pub kind: Kind,
    /// Absolute path in the container.
    pub path: String,
}

/// A container's overlay: its upper directory and the image's layers, top first.
#[derive(Debug, Clone)]
pub(crate) struct Layers {
    pub(crate) upper: PathBuf,
    pub(crate) lowers: Vec<PathBuf>,
}

impl Layers {
    /// From the overlay options `rootfs::prepare` saves in the directory of every container
    /// made from an image (`--rm` ones too). A `--rootfs` container has none: `WrongState`.
    pub(crate) fn of(e: &Engine, r: &Record, op: &'static str) -> Result<Layers> {
        if r.image.starts_with("rootfs:") {
            return Err(Error::WrongState {
                op,
                id: r.id.clone(),
                reason: "it runs on a --rootfs directory, which has no image layers".into(),
            });
        }
        let saved = e.paths.container(&r.id).join("overlay");
        let data = std::fs::read_to_string(&saved).map_err(Error::io("read", &saved))?;
        let mut layers = Layers { upper: PathBuf::new(), lowers: Vec::new() };
        for opt in data.trim().split(',') {
            match opt.split_once('=') {
                Some(("lowerdir", v)) => layers.lowers = v.split(':').map(PathBuf::from).collect(),
                Some(("upperdir", v)) => layers.upper = PathBuf::from(v),
                _ => {}
            }
        }
        if layers.upper.as_os_str().is_empty() {
            return Err(Error::Io {
                op: "read upperdir from",
                path: saved,
                source: std::io::ErrorKind::InvalidData.into(),
            });
        }
        Ok(layers)
    }
}

/// The mount targets the engine itself made in the upper directory (`spec.rs` bind-mounts
/// its own `/etc/hostname`, `/etc/hosts` and `/etc/resolv.conf` there): empty files the
/// image does not have. Docker makes them in a layer of its own (`-init`) that neither
/// `diff` nor `commit` sees; berth leaves them out of both.
pub(crate) fn engine_made(layers: &Layers) -> Vec<PathBuf> {
    ["etc/hostname", "etc/hosts", "etc/resolv.conf"]
        .into_iter()
        .map(PathBuf::from)
        .filter(|rel| {
            let empty_file = rfs::lstat(layers.upper.join(rel))
                .is_ok_and(|s| FileType::from_raw_mode(s.st_mode).is_file() && s.st_size == 0);
            empty_file && !layers.lowers.iter().any(|l| rfs::lstat(l.join(rel)).is_ok())
        })
        .collect()
}

/// `diff`: the changes of container `key`, in Docker's order.
pub fn diff(e: &Engine, key: &str) -> Result<Vec<Change>> {
    let r = e.get(key)?;
    let layers = Layers::of(e, &r, "diff")?;
    let skip = engine_made(&layers);
    changes(&layers.upper, &layers.lowers, &skip)
}

/// The changes in `upper` over the layers `lowers` (see the module docs), leaving out the
/// paths `skip` (relative). A failure names the entry in `upper` it happened on.
pub(crate) fn changes(upper: &Path, lowers: &[PathBuf], skip: &[PathBuf]) -> Result<Vec<Change>> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let root = rfs::open(upper, flags, Mode::empty()).map_err(|e| failed("open", upper, e))?;
    let skip = skip.iter().map(|p| format!("/{}", p.display())).collect();
    let mut w = Walk {
        lowers,
        skip,
        out: Vec::new(),
        changed_dirs: HashSet::new(),
        at: upper.to_path_buf(),
        rel: PathBuf::new(),
    };
    w.dir(root.as_fd(), "")?;
    Ok(w.out)
}

/// `op` failed on `path`: the error names that entry, not just the upper directory.
fn failed(op: &'static str, path: &Path, source: impl Into<std::io::Error>) -> Error {
    Error::Io { op, path: path.to_path_buf(), source: source.into() }
}

struct Walk<'a> {
    lowers: &'a [PathBuf],
    /// Absolute paths left out.
    skip: HashSet<String>,
    out: Vec<Change>,
    /// Directories already reported (or walked as changed), so a parent is reported once.
    changed_dirs: HashSet<String>,
    /// The directory being walked, in the upper directory: only for errors, so one buffer
    /// grown and shrunk along the walk rather than a path made for every entry.
    at: PathBuf,
    /// The same directory relative to the upper one, with its names' own bytes: where to
    /// look in the lower layers.
    rel: PathBuf,
}

impl Walk<'_> {
    fn dir(&mut self, dir: BorrowedFd<'_>, path: &str) -> Result<()> {
        let mut names =
            crate::fstree::names(dir).map_err(|e| failed("read directory", &self.at, e))?;
        names.sort_by(|a, b| a.as_encoded_bytes().cmp(b.as_encoded_bytes()));
        for name in names {
            let child = format!("{path}/{}", name.to_string_lossy());
            if self.skip.contains(&child) {
                continue;
            }
            let st = rfs::statat(dir, &name, AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| failed("lstat", &self.at.join(&name), e))?;
            let kind = FileType::from_raw_mode(st.st_mode);
            let sub = if kind == FileType::Directory {
                Some(
                    crate::fstree::open_dir_at(dir, Path::new(&name))
                        .map_err(|e| failed("open directory", &self.at.join(&name), e))?,
                )
            } else {
                None
            };
            let opaque = sub.as_ref().and_then(|d| opaque_xattr(d.as_fd()));
            let rdev = u64::from(rfs::major(st.st_rdev)) << 32 | u64::from(rfs::minor(st.st_rdev));
            let mark = overlay_mark(kind, rdev, opaque.as_deref());
            let lower = self.lower(&name)?;
            let change = match (mark, &lower) {
                (OverlayMark::Whiteout, _) => Some(Kind::Deleted),
                (OverlayMark::Opaque, Some(_)) => Some(Kind::Deleted),
                (_, None) => Some(Kind::Added),
                (_, Some(l)) if kind == FileType::Directory && same_dir(&st, l) => None,
                (_, Some(l)) if self.only_skipped(&child, &name, sub.as_ref(), &st, l)? => None,
                (_, Some(_)) => Some(Kind::Changed),
            };
            if let Some(k) = change {
                // Only a directory reported itself counts as reported (moby's `changedDirs`).
                if kind == FileType::Directory {
                    self.changed_dirs.insert(child.clone());
                }
                self.record(k, &child);
            }
            if let Some(d) = sub {
                self.at.push(&name);
                self.rel.push(&name);
                self.dir(d.as_fd(), &child)?;
                self.rel.pop();
                self.at.pop();
            }
        }
        Ok(())
    }

    fn record(&mut self, kind: Kind, path: &str) {
        if matches!(kind, Kind::Added | Kind::Deleted) {
            let mut tail = Vec::new();
            let mut parent = Path::new(path).parent();
            while let Some(p) = parent.filter(|p| *p != Path::new("/")) {
                let p_str = p.display().to_string();
                if self.changed_dirs.insert(p_str.clone()) {
                    tail.push(Change { kind: Kind::Changed, path: p_str });
                }
                parent = p.parent();
            }
            tail.reverse();
            self.out.extend(tail);
        }
        self.out.push(Change { kind, path: path.to_string() });
    }

    /// Whether directory `path` (`name` in the directory being walked) is in the upper
    /// directory only because of entries left out (`/etc`, copied up when the engine made its
    /// mount targets there): same mode as below, and nothing else in it. Docker never sees
    /// such a directory (its `-init` layer).
    fn only_skipped(
        &self,
        path: &str,
        name: &OsStr,
        dir: Option<&std::os::fd::OwnedFd>,
        st: &rfs::Stat,
        lower: &rfs::Stat,
    ) -> Result<bool> {
        let Some(dir) = dir else { return Ok(false) };
        if self.skip.is_empty() || st.st_mode != lower.st_mode {
            return Ok(false);
        }
        let names = crate::fstree::names(dir.as_fd())
            .map_err(|e| failed("read directory", &self.at.join(name), e))?;
        Ok(names.iter().all(|n| self.skip.contains(&format!("{path}/{}", n.to_string_lossy()))))
    }

    /// The entry `name` of the directory being walked in the first lower layer that has it
    /// (not following symlinks). A layer without it answers ENOENT, or ENOTDIR where a
    /// directory on the way is a file there; any other failure (EACCES, EIO) is an error,
    /// not an added file.
    fn lower(&self, name: &OsStr) -> Result<Option<rfs::Stat>> {
        for l in self.lowers {
            let p = l.join(&self.rel).join(name);
            match rfs::lstat(&p) {
                Ok(st) => return Ok(Some(st)),
                Err(Errno::NOENT | Errno::NOTDIR) => {}
                Err(e) => return Err(failed("lstat", &p, e)),
            }
        }
        Ok(None)
    }
}

/// Docker's test for a directory that only looks changed because it was copied up: the
/// same size, mode and mtime (a zero nanosecond part on either side matches any).
fn same_dir(upper: &rfs::Stat, lower: &rfs::Stat) -> bool {
    let ns = |s: &rfs::Stat| (s.st_mtime, s.st_mtime_nsec);
    let (a, b) = (ns(upper), ns(lower));
    FileType::from_raw_mode(lower.st_mode) == FileType::Directory
        && upper.st_size == lower.st_size
        && upper.st_mode == lower.st_mode
        && (a == b || (a.0 == b.0 && (a.1 == 0 || b.1 == 0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(upper: &Path, lower: &Path) -> Vec<String> {
        changes(upper, &[lower.to_path_buf()], &[PathBuf::from("etc/skipped")])
            .unwrap()
            .iter()
            .map(|c| format!("{} {}", c.kind.letter(), c.path))
            .collect()
    }

    #[test]
    fn dockers_letters_in_dockers_walk_order() {
        let tmp = tempfile::tempdir().unwrap();
        let (lower, upper) = (tmp.path().join("lower"), tmp.path().join("upper"));
        for d in ["etc", "a", "bin"] {
            std::fs::create_dir_all(lower.join(d)).unwrap();
        }
        std::fs::write(lower.join("etc/passwd"), "root").unwrap();
        std::fs::write(lower.join("etc/hosts"), "127.0.0.1").unwrap();
        std::fs::create_dir_all(upper.join("a/b")).unwrap();
        std::fs::write(upper.join("a/b/f"), "new").unwrap();
        std::fs::write(upper.join("a-c"), "new").unwrap();
        std::fs::create_dir_all(upper.join("etc")).unwrap();
        std::fs::write(upper.join("etc/passwd"), "root\nuser").unwrap();
        std::fs::write(upper.join("etc/new"), "x").unwrap();
        std::fs::write(upper.join("etc/skipped"), "").unwrap();
        // `/a/b` (inside `/a`) before `/a-c`, though `-` sorts before `/` as a string.
        assert_eq!(
            lines(&upper, &lower),
            ["C /a", "A /a/b", "A /a/b/f", "A /a-c", "C /etc", "A /etc/new", "C /etc/passwd"]
        );
    }

    #[test]
    fn an_unchanged_looking_parent_is_still_reported_once() {
        let tmp = tempfile::tempdir().unwrap();
        let (lower, upper) = (tmp.path().join("lower"), tmp.path().join("upper"));
        std::fs::create_dir_all(lower.join("x/y")).unwrap();
        std::fs::create_dir_all(upper.join("x/y")).unwrap();
        std::fs::write(upper.join("x/y/one"), "1").unwrap();
        std::fs::write(upper.join("x/y/two"), "2").unwrap();
        // Copied up with the lower directories' size, mode and mtime: not reported by
        // themselves, but as parents of what was added.
        for d in ["x/y", "x"] {
            let st = rfs::stat(lower.join(d)).unwrap();
            let t = rfs::Timespec { tv_sec: st.st_mtime, tv_nsec: st.st_mtime_nsec as _ };
            let times = rfs::Timestamps { last_access: t, last_modification: t };
            rfs::utimensat(rfs::CWD, upper.join(d), &times, AtFlags::empty()).unwrap();
        }
        let same =
            same_dir(&rfs::stat(upper.join("x")).unwrap(), &rfs::stat(lower.join("x")).unwrap());
        if !same {
            eprintln!("skipping: directory sizes differ between the two trees on this filesystem");
            return;
        }
        assert_eq!(lines(&upper, &lower), ["C /x", "C /x/y", "A /x/y/one", "A /x/y/two"]);
    }

    #[test]
    fn a_directory_holding_only_the_engines_mount_targets_is_not_reported() {
        let tmp = tempfile::tempdir().unwrap();
        let (lower, upper) = (tmp.path().join("lower"), tmp.path().join("upper"));
        std::fs::create_dir_all(lower.join("etc")).unwrap();
        std::fs::create_dir_all(upper.join("etc")).unwrap();
        std::fs::write(upper.join("etc/skipped"), "").unwrap();
        assert!(lines(&upper, &lower).is_empty(), "{:?}", lines(&upper, &lower));
        std::fs::write(upper.join("etc/real"), "").unwrap();
        assert_eq!(lines(&upper, &lower), ["C /etc", "A /etc/real"]);
    }

    #[test]
    fn whiteouts_are_deletions() {
        let tmp = tempfile::tempdir().unwrap();
        let (lower, upper) = (tmp.path().join("lower"), tmp.path().join("upper"));
        std::fs::create_dir_all(lower.join("etc")).unwrap();
        std::fs::write(lower.join("etc/motd"), "hi").unwrap();
        std::fs::create_dir_all(upper.join("etc")).unwrap();
        let dev = rfs::mknodat(
            rfs::CWD,
            upper.join("etc/motd"),
            FileType::CharacterDevice,
            Mode::empty(),
            rfs::makedev(0, 0),
        );
        if let Err(x) = dev {
            eprintln!("skipping: mknod of a whiteout: {x}");
            return;
        }
        assert_eq!(lines(&upper, &lower), ["C /etc", "D /etc/motd"]);
    }

    /// [`changes`] with the directory `locked` made mode 000, walked by a thread without
    /// capabilities (they are per thread), so the mode keeps root out too: with
    /// CAP_DAC_OVERRIDE it would open the directory whatever its mode. `None` (after saying
    /// why) when the thread cannot drop them.
    fn walk_with(upper: &Path, lower: &Path, locked: &Path) -> Option<Result<Vec<Change>>> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(locked, std::fs::Permissions::from_mode(0o000)).unwrap();
        let walked = std::thread::scope(|s| {
            s.spawn(|| {
                berth_sys::caps::set(Default::default())
                    .map(|()| changes(upper, &[lower.to_path_buf()], &[]))
            })
            .join()
            .unwrap()
        });
        std::fs::set_permissions(locked, std::fs::Permissions::from_mode(0o755)).unwrap();
        walked.inspect_err(|x| eprintln!("skipping: dropping the thread's capabilities: {x}")).ok()
    }

    #[test]
    fn a_failure_names_the_entry_it_happened_on() {
        let tmp = tempfile::tempdir().unwrap();
        let (lower, upper) = (tmp.path().join("lower"), tmp.path().join("upper"));
        std::fs::create_dir_all(&lower).unwrap();
        let locked = upper.join("a/locked");
        std::fs::create_dir_all(&locked).unwrap();
        std::fs::write(locked.join("f"), "x").unwrap();
        let Some(walked) = walk_with(&upper, &lower, &locked) else { return };
        let err = walked.unwrap_err();
        let msg = crate::error::chain(&err);
        assert!(
            msg.starts_with(&format!("open directory {}: ", locked.display())),
            "not the entry's path: {msg}"
        );
        match err {
            Error::Io { source, .. } => {
                assert_eq!(source.raw_os_error(), Some(rustix::io::Errno::ACCESS.raw_os_error()))
            }
            other => panic!("not an I/O error: {other:?}"),
        }
    }

    #[test]
    fn a_name_that_is_not_utf8_is_found_in_the_lower_layer() {
        use std::os::unix::ffi::OsStrExt;
        let tmp = tempfile::tempdir().unwrap();
        let (lower, upper) = (tmp.path().join("lower"), tmp.path().join("upper"));
        let name = OsStr::from_bytes(b"caf\xe9");
        for d in [&lower, &upper] {
            std::fs::create_dir_all(d.join(name)).unwrap();
            std::fs::write(d.join(name).join("f"), "x").unwrap();
        }
        // A changed file in a directory both have, not an added one.
        let got = lines(&upper, &lower);
        assert!(got.contains(&"C /caf\u{fffd}/f".to_string()), "{got:?}");
        assert!(!got.iter().any(|l| l.starts_with('A')), "{got:?}");
    }

    #[test]
    fn a_lower_layer_that_cannot_be_read_is_an_error_not_an_added_file() {
        let tmp = tempfile::tempdir().unwrap();
        let (lower, upper) = (tmp.path().join("lower"), tmp.path().join("upper"));
        std::fs::create_dir_all(lower.join("a")).unwrap();
        std::fs::write(lower.join("a/f"), "old").unwrap();
        std::fs::create_dir_all(upper.join("a")).unwrap();
        std::fs::write(upper.join("a/f"), "new").unwrap();
        let Some(walked) = walk_with(&upper, &lower, &lower.join("a")) else { return };
        let msg = crate::error::chain(&walked.unwrap_err());
        let want = format!("lstat {}: ", lower.join("a/f").display());
        assert!(msg.starts_with(&want), "names the lower entry: {msg}");
    }
}

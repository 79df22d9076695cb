//! Tar stream → overlayfs-form directory, safely.
//!
//! `plan` decides what an entry name means (pure), `fsops` holds the fd-relative syscalls,
//! `entry` creates one entry. [`unpack`] drives them over a `tar::Archive`.

mod entry;
mod fsops;
pub(crate) mod plan;

use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, Mode, OFlags};
use rustix::io::Errno;

use crate::digest::Digest;
use plan::Plan;

/// Failures of unpacking one layer; every variant names the layer, entry variants the entry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UnpackError {
    /// The tar stream itself is unreadable or malformed.
    #[error("read the tar stream of layer {layer}")]
    ReadArchive {
        /// The layer (compressed blob digest).
        layer: Digest,
        /// What went wrong.
        #[source]
        source: io::Error,
    },
    /// The entry would write outside the layer directory or otherwise cannot be represented.
    #[error("layer {layer}: entry {entry:?} {reason}; refusing the layer")]
    UnsafeEntry {
        /// The layer (compressed blob digest).
        layer: Digest,
        /// The entry name as it appears in the tar.
        entry: String,
        /// Why, completing "entry NAME …".
        reason: &'static str,
    },
    /// A filesystem operation for one entry failed.
    #[error("layer {layer}: {op} for entry {entry:?}")]
    ApplyEntry {
        /// The layer (compressed blob digest).
        layer: Digest,
        /// The entry name as it appears in the tar.
        entry: String,
        /// The failed operation (`create file`, `mknod`, `set xattr`, …).
        op: &'static str,
        /// The errno.
        #[source]
        source: io::Error,
    },
    /// The files of the layer, sparse holes included, add up to more than its limit
    /// ([`crate::StoreOptions::inflate_limit`]): a decompression bomb or a huge sparse file.
    #[error(
        "layer {layer}: entry {entry:?} takes the layer past {limit} bytes; refusing the layer"
    )]
    TooLarge {
        /// The layer (compressed blob digest).
        layer: Digest,
        /// The entry name as it appears in the tar.
        entry: String,
        /// The limit.
        limit: u64,
    },
    /// The destination directory could not be opened.
    #[error("open the unpack directory {path}")]
    OpenRoot {
        /// The directory.
        path: PathBuf,
        /// The errno.
        #[source]
        source: io::Error,
    },
}

/// Counters of one layer unpack (logged by [`crate::Store::ingest_layer`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnpackStats {
    /// Tar entries processed (including whiteouts and skipped ones).
    pub entries: u64,
    /// Regular-file content bytes, holes of sparse files included.
    pub file_bytes: u64,
    /// What the unpacked layer holds, counted as Docker counts a layer's diff directory
    /// (`directory.Size`): each inode's `st_size` once (a regular file's length, holes
    /// included; a symlink's target length), directories, whiteouts and devices 0. Kept as
    /// entries are written, less what later entries replaced, so it equals a walk of the
    /// result without one.
    pub unpacked_bytes: u64,
}

/// Options for [`unpack`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    /// Running with root privileges: chown, device nodes and `trusted.*` xattrs are applied.
    /// Without them ownership is left to the caller, device nodes are skipped (with a warning)
    /// and opacity uses `user.overlay.opaque` (overlayfs `userxattr` mounts).
    pub(crate) privileged: bool,
    /// The most file content (holes of sparse files included) the layer may hold.
    pub(crate) max_file_bytes: u64,
}

impl Options {
    /// Privileged when the effective uid is 0; no size limit.
    pub(crate) fn detect() -> Options {
        Options { privileged: rustix::process::geteuid().is_root(), max_file_bytes: u64::MAX }
    }
}

/// A directory whose mode and mtime are applied after all its children were written
/// (creating a child changes the mtime, and a 0555 directory would block the children).
struct PendingDir {
    rel: PathBuf,
    mode: u32,
    mtime: i64,
}

/// Unpacks one layer into `dest` (an existing, empty, private directory).
pub(crate) fn unpack(
    layer: &Digest,
    dest: &Path,
    reader: impl Read,
    opts: Options,
) -> Result<UnpackStats, UnpackError> {
    let root =
        rfs::open(dest, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| UnpackError::OpenRoot { path: dest.to_owned(), source: fsops::io(e) })?;
    let mut u = Unpacker {
        layer,
        root,
        opts,
        cached: None,
        dirs: Vec::new(),
        buf: vec![0; 256 * 1024],
        stats: UnpackStats::default(),
        freed: std::cell::Cell::new(0),
    };
    let mut archive = tar::Archive::new(reader);
    let read_err = |source| UnpackError::ReadArchive { layer: layer.clone(), source };
    for entry in archive.entries().map_err(read_err)? {
        let mut entry = entry.map_err(read_err)?;
        u.stats.entries += 1;
        u.apply(&mut entry)?;
    }
    u.finish_dirs()?;
    u.stats.unpacked_bytes = u.stats.unpacked_bytes.saturating_sub(u.freed.get());
    Ok(u.stats)
}

struct Unpacker<'a> {
    layer: &'a Digest,
    /// `O_PATH` fd of the destination; every lookup is resolved beneath it.
    root: OwnedFd,
    opts: Options,
    /// The last parent directory resolved: tar entries come grouped by directory, so this
    /// saves an `openat2` per entry.
    cached: Option<(PathBuf, OwnedFd)>,
    dirs: Vec<PendingDir>,
    buf: Vec<u8>,
    /// `unpacked_bytes` counts what entries add until the end, when this is taken off.
    stats: UnpackStats,
    /// Bytes of entries that later entries replaced (a cell: the parent fd borrowed from
    /// the unpacker is in use when they are replaced).
    freed: std::cell::Cell<u64>,
}

impl Unpacker<'_> {
    fn apply<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), UnpackError> {
        let raw = entry.path_bytes().into_owned();
        let plan = plan::classify(&raw).map_err(|reason| self.refuse(&raw, reason))?;
        match plan {
            Plan::Skip => Ok(()),
            Plan::Opaque(dir) => self.opaque(&raw, &dir),
            Plan::Whiteout(rel) => {
                self.parent(&raw, &rel.parent)?;
                entry::whiteout(self, &raw, &rel.name)
            }
            Plan::Create(rel) if rel.is_root() => entry::root_meta(self, &raw, entry),
            Plan::Create(rel) => {
                self.parent(&raw, &rel.parent)?;
                entry::create(self, &raw, &rel, entry)
            }
        }
    }

    fn refuse(&self, raw: &[u8], reason: &'static str) -> UnpackError {
        UnpackError::UnsafeEntry { layer: self.layer.clone(), entry: plan::show(raw), reason }
    }

    fn fail(&self, raw: &[u8], op: &'static str, e: impl Into<io::Error>) -> UnpackError {
        UnpackError::ApplyEntry {
            layer: self.layer.clone(),
            entry: plan::show(raw),
            op,
            source: e.into(),
        }
    }

    /// Maps a resolution errno to the refusal it means.
    fn resolve_error(&self, raw: &[u8], op: &'static str, e: Errno) -> UnpackError {
        match e {
            Errno::LOOP => self.refuse(raw, "writes through a symlink"),
            Errno::NOTDIR => self.refuse(raw, "has a parent that is not a directory"),
            Errno::XDEV => self.refuse(raw, "crosses a mount point"),
            e => self.fail(raw, op, e),
        }
    }

    /// Resolves (creating if needed) the parent directory into the cache.
    fn parent(&mut self, raw: &[u8], rel: &Path) -> Result<(), UnpackError> {
        if matches!(&self.cached, Some((p, _)) if p == rel) {
            return Ok(());
        }
        let fd = fsops::open_dir_all(std::os::fd::AsFd::as_fd(&self.root), rel)
            .map_err(|e| self.resolve_error(raw, "open parent directory", e))?;
        self.cached = Some((rel.to_owned(), fd));
        Ok(())
    }

    /// Forgets the cached parent: a directory may have been replaced by another entry.
    fn invalidate(&mut self) {
        self.cached = None;
    }

    fn opaque(&mut self, raw: &[u8], dir: &Path) -> Result<(), UnpackError> {
        let root = std::os::fd::AsFd::as_fd(&self.root);
        fsops::open_dir_all(root, dir)
            .map_err(|e| self.resolve_error(raw, "create opaque directory", e))?;
        let fd = fsops::open_dir(root, dir, true)
            .map_err(|e| self.resolve_error(raw, "open opaque directory", e))?;
        let name =
            if self.opts.privileged { "trusted.overlay.opaque" } else { "user.overlay.opaque" };
        rfs::fsetxattr(&fd, name, b"y", rfs::XattrFlags::empty())
            .map_err(|e| self.fail(raw, "set the opaque xattr", e))
    }

    /// Applies the deferred directory modes and mtimes, deepest first.
    fn finish_dirs(&mut self) -> Result<(), UnpackError> {
        self.invalidate();
        let mut dirs = std::mem::take(&mut self.dirs);
        dirs.sort_by_key(|d| std::cmp::Reverse(d.rel.components().count()));
        let root = std::os::fd::AsFd::as_fd(&self.root);
        for d in dirs {
            // A later entry may have replaced the directory; then its metadata is gone too.
            let Ok(fd) = fsops::open_dir(root, &d.rel, true) else { continue };
            let raw = d.rel.as_os_str().as_encoded_bytes();
            rfs::fchmod(&fd, Mode::from_raw_mode(d.mode & 0o7777))
                .map_err(|e| self.fail(raw, "chmod directory", e))?;
            rfs::futimens(&fd, &fsops::times(d.mtime))
                .map_err(|e| self.fail(raw, "set directory times", e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;

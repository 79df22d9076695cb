//! A directory tree as a tar stream: the container's merged root for `berth export`, its
//! overlay upper directory as an OCI layer for `berth commit`, or one path of it for
//! `berth cp CONTAINER:SRC -` ([`write_entry`]).
//!
//! Every name is opened with `O_NOFOLLOW` inside its already-open parent, so a symlink in
//! the tree is written as a symlink and never followed onto the host. Entries are relative
//! paths below the root (no leading `/`, never `..`), sorted by name within each directory
//! as Docker's walk is; owners are numeric; hard links within the tree stay links; devices
//! and fifos are kept, sockets dropped (tar has no type for them, as Docker's writer).
//!
//! In layer form ([`TreeOptions::whiteouts`]) the overlayfs markers of an upper directory
//! become the OCI ones (image-spec `layer.md`): a 0:0 character device `NAME` is the empty
//! file `.wh.NAME`, and a directory marked opaque (`trusted.overlay.opaque` or
//! `user.overlay.opaque` = `y`) is followed by `DIR/.wh..wh..opq`.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::unpack::plan::{OPAQUE_MARKER, WHITEOUT_PREFIX};
/// The extended attributes copied into the archive, as Docker's writer copies them.
const KEPT_XATTRS: &[&str] = &["security.capability"];

/// What [`write_tree`] writes.
#[derive(Debug, Clone, Default)]
pub struct TreeOptions {
    /// Map overlayfs whiteouts and opaque directories to OCI `.wh.` entries (a layer);
    /// without it they are written as what they are (a merged tree has none).
    pub whiteouts: bool,
    /// Directories (relative to the root) written as empty directories: `proc`, `sys`.
    pub skip_contents: Vec<PathBuf>,
    /// Entries (relative to the root) left out altogether.
    pub skip: Vec<PathBuf>,
}

/// Writing one entry failed.
#[derive(Debug, thiserror::Error)]
#[error("{op} {path}")]
pub struct TreeError {
    /// What was done (`stat`, `open`, `read directory`, `write entry`, …).
    pub op: &'static str,
    /// The entry, relative to the root.
    pub path: PathBuf,
    /// The error.
    #[source]
    pub source: io::Error,
}

/// What [`write_tree`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TreeStats {
    /// Entries written.
    pub entries: u64,
    /// Bytes of regular-file content.
    pub bytes: u64,
}

/// What an upper-directory entry means to overlayfs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverlayMark {
    /// A 0:0 character device: the name is deleted.
    Whiteout,
    /// A directory with the opaque xattr: it replaces the lower directories' contents.
    Opaque,
    /// Anything else: content.
    Plain,
}

/// Classifies an upper-directory entry from its type, device number and opaque xattr value.
pub fn overlay_mark(kind: FileType, rdev: u64, opaque: Option<&[u8]>) -> OverlayMark {
    match kind {
        FileType::CharacterDevice if rdev == 0 => OverlayMark::Whiteout,
        FileType::Directory if opaque == Some(b"y") => OverlayMark::Opaque,
        _ => OverlayMark::Plain,
    }
}

/// The OCI entry name for a whiteout of `name` in directory `parent`.
pub fn whiteout_name(parent: &Path, name: &OsStr) -> PathBuf {
    let mut marker = std::ffi::OsString::from(WHITEOUT_PREFIX);
    marker.push(name);
    parent.join(marker)
}

/// The OCI marker entry making directory `dir` opaque.
pub fn opaque_marker(dir: &Path) -> PathBuf {
    dir.join(OPAQUE_MARKER)
}

/// The value of the overlayfs opaque xattr of the open directory `fd`, privileged form first.
pub fn opaque_xattr(fd: BorrowedFd<'_>) -> Option<Vec<u8>> {
    ["trusted.overlay.opaque", "user.overlay.opaque"].iter().find_map(|k| {
        let mut buf = [0u8; 8];
        rfs::fgetxattr(fd, *k, &mut buf[..]).ok().map(|n| buf[..n].to_vec())
    })
}

/// Writes the tree under the directory `root` as a tar stream to `out`; returns `out`.
pub fn write_tree<W: Write>(
    root: BorrowedFd<'_>,
    out: W,
    opts: &TreeOptions,
) -> Result<(W, TreeStats), TreeError> {
    let mut w = Walker::new(out, opts);
    w.dir_contents(root, Path::new(""))?;
    w.finish()
}

/// Writes `name` (one path component) in the directory `dir`, and for a directory everything under it, as the
/// entry `entry` (`berth cp CONTAINER:/etc -` writes `/etc` as `etc`, its files below it).
/// [`TreeOptions::skip`] and [`TreeOptions::skip_contents`] name entries, `entry/...`.
pub fn write_entry<W: Write>(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    entry: &Path,
    out: W,
    opts: &TreeOptions,
) -> Result<(W, TreeStats), TreeError> {
    // One component, so no directory on the way is resolved (and no symlink followed) here.
    if name.as_bytes().contains(&b'/') || name.is_empty() || name == ".." {
        let source = io::Error::from_raw_os_error(Errno::INVAL.raw_os_error());
        return Err(TreeError { op: "name (not one component)", path: name.into(), source });
    }
    let mut w = Walker::new(out, opts);
    w.entry(dir, name, entry)?;
    w.finish()
}

struct Walker<'a, W: Write> {
    b: tar::Builder<W>,
    opts: &'a TreeOptions,
    /// (device, inode) of each multiply-linked file written, to its entry name.
    links: HashMap<(u64, u64), PathBuf>,
    stats: TreeStats,
}

fn err<'a>(op: &'static str, path: &'a Path) -> impl Fn(Errno) -> TreeError + 'a {
    move |e| TreeError { op, path: path.to_path_buf(), source: e.into() }
}

fn ioerr<'a>(op: &'static str, path: &'a Path) -> impl Fn(io::Error) -> TreeError + 'a {
    move |source| TreeError { op, path: path.to_path_buf(), source }
}

/// The names in directory `dir`, sorted bytewise (Go's `filepath.Walk` order).
fn sorted_names(dir: BorrowedFd<'_>) -> rustix::io::Result<Vec<Vec<u8>>> {
    let fd =
        rfs::openat(dir, ".", OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
    let mut names = Vec::new();
    for e in rfs::Dir::read_from(&fd)? {
        let name = e?.file_name().to_bytes().to_vec();
        if name != b"." && name != b".." {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

impl<'a, W: Write> Walker<'a, W> {
    fn new(out: W, opts: &'a TreeOptions) -> Walker<'a, W> {
        let mut b = tar::Builder::new(out);
        b.follow_symlinks(false);
        Walker { b, opts, links: HashMap::new(), stats: TreeStats::default() }
    }

    fn finish(self) -> Result<(W, TreeStats), TreeError> {
        let out = self.b.into_inner().map_err(|source| TreeError {
            op: "finish archive",
            path: PathBuf::new(),
            source,
        })?;
        Ok((out, self.stats))
    }

    fn dir_contents(&mut self, dir: BorrowedFd<'_>, rel: &Path) -> Result<(), TreeError> {
        let names = sorted_names(dir).map_err(err("read directory", rel))?;
        for raw in names {
            let name = OsStr::from_bytes(&raw);
            self.entry(dir, name, &rel.join(name))?;
        }
        Ok(())
    }

    fn header(st: &rfs::Stat, kind: tar::EntryType) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(st.st_mode & 0o7777);
        h.set_uid(u64::from(st.st_uid));
        h.set_gid(u64::from(st.st_gid));
        h.set_mtime(u64::try_from(st.st_mtime).unwrap_or(0));
        h.set_size(0);
        h
    }

    /// Writes `name` in `dir`, and for a directory everything under it, as entry `path`.
    fn entry(&mut self, dir: BorrowedFd<'_>, name: &OsStr, path: &Path) -> Result<(), TreeError> {
        let path = path.to_path_buf();
        if self.opts.skip.contains(&path) {
            return Ok(());
        }
        let st = rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).map_err(err("stat", &path))?;
        let kind = FileType::from_raw_mode(st.st_mode);
        if self.opts.whiteouts && name.as_bytes().starts_with(WHITEOUT_PREFIX.as_bytes()) {
            // A layer cannot carry a file whose name is itself a whiteout marker.
            return Err(TreeError {
                op: "write (a name OCI layers reserve)",
                path,
                source: io::ErrorKind::InvalidData.into(),
            });
        }
        let rdev = u64::from(rustix::fs::major(st.st_rdev)) << 32
            | u64::from(rustix::fs::minor(st.st_rdev));
        if self.opts.whiteouts && overlay_mark(kind, rdev, None) == OverlayMark::Whiteout {
            let mut h = Self::header(&st, tar::EntryType::Regular);
            let parent = path.parent().unwrap_or(Path::new(""));
            return self.append(&mut h, &whiteout_name(parent, name), io::empty());
        }
        match kind {
            FileType::Directory => self.directory(dir, &path, name, &st),
            FileType::RegularFile => self.regular(dir, &path, name, &st),
            FileType::Symlink => {
                let target =
                    rfs::readlinkat(dir, name, Vec::new()).map_err(err("readlink", &path))?;
                let target = OsStr::from_bytes(target.as_bytes());
                let mut h = Self::header(&st, tar::EntryType::Symlink);
                self.stats.entries += 1;
                self.b
                    .append_link(&mut h, &path, Path::new(target))
                    .map_err(ioerr("write entry", &path))
            }
            FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo => {
                let t = match kind {
                    FileType::CharacterDevice => tar::EntryType::Char,
                    FileType::BlockDevice => tar::EntryType::Block,
                    _ => tar::EntryType::Fifo,
                };
                let mut h = Self::header(&st, t);
                let dev = |r: io::Result<()>| r.map_err(ioerr("write entry", &path));
                dev(h.set_device_major(rustix::fs::major(st.st_rdev)))?;
                dev(h.set_device_minor(rustix::fs::minor(st.st_rdev)))?;
                self.append(&mut h, &path, io::empty())
            }
            // Sockets have no tar type; Docker's writer drops them too.
            _ => Ok(()),
        }
    }

    fn directory(
        &mut self,
        dir: BorrowedFd<'_>,
        path: &Path,
        name: &OsStr,
        st: &rfs::Stat,
    ) -> Result<(), TreeError> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd: OwnedFd =
            rfs::openat(dir, name, flags, Mode::empty()).map_err(err("open", path))?;
        self.xattrs(fd.as_fd(), path)?;
        let mut h = Self::header(st, tar::EntryType::Directory);
        self.append(&mut h, path, io::empty())?;
        if self.opts.whiteouts {
            let opaque = opaque_xattr(fd.as_fd());
            if overlay_mark(FileType::Directory, 0, opaque.as_deref()) == OverlayMark::Opaque {
                let mut m = Self::header(st, tar::EntryType::Regular);
                m.set_mode(st.st_mode & 0o777);
                self.append(&mut m, &opaque_marker(path), io::empty())?;
            }
        }
        if self.opts.skip_contents.iter().any(|s| s == path) {
            return Ok(());
        }
        self.dir_contents(fd.as_fd(), path)
    }

    fn regular(
        &mut self,
        dir: BorrowedFd<'_>,
        path: &Path,
        name: &OsStr,
        st: &rfs::Stat,
    ) -> Result<(), TreeError> {
        if st.st_nlink > 1 {
            let key = (st.st_dev, st.st_ino);
            if let Some(first) = self.links.get(&key).cloned() {
                let mut h = Self::header(st, tar::EntryType::Link);
                self.stats.entries += 1;
                return self
                    .b
                    .append_link(&mut h, path, &first)
                    .map_err(ioerr("write entry", path));
            }
            self.links.insert(key, path.to_path_buf());
        }
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rfs::openat(dir, name, flags, Mode::empty()).map_err(err("open", path))?;
        self.xattrs(fd.as_fd(), path)?;
        let size = u64::try_from(st.st_size).unwrap_or(0);
        let mut h = Self::header(st, tar::EntryType::Regular);
        h.set_size(size);
        // A running container may change the file meanwhile: exactly `size` bytes go out
        // (zero-padded if it shrank), or the archive would be corrupt.
        let data = std::fs::File::from(fd).take(size).chain(io::repeat(0)).take(size);
        self.stats.bytes += size;
        self.append(&mut h, path, data)
    }

    /// Writes the kept xattrs of `fd` as a PAX header for the entry that follows.
    fn xattrs(&mut self, fd: BorrowedFd<'_>, path: &Path) -> Result<(), TreeError> {
        let mut pax: Vec<(String, Vec<u8>)> = Vec::new();
        for k in KEPT_XATTRS {
            let mut buf = vec![0u8; 4096];
            match rfs::fgetxattr(fd, *k, &mut buf[..]) {
                Ok(n) => pax.push((format!("SCHILY.xattr.{k}"), buf[..n].to_vec())),
                Err(Errno::NODATA | Errno::NOTSUP) => {}
                Err(e) => return Err(err("read xattr of", path)(e)),
            }
        }
        if pax.is_empty() {
            return Ok(());
        }
        let items = pax.iter().map(|(k, v)| (k.as_str(), v.as_slice()));
        self.b.append_pax_extensions(items).map_err(ioerr("write xattrs of", path))
    }

    fn append(
        &mut self,
        h: &mut tar::Header,
        path: &Path,
        data: impl Read,
    ) -> Result<(), TreeError> {
        self.stats.entries += 1;
        self.b.append_data(h, path, data).map_err(ioerr("write entry", path))
    }
}

#[cfg(test)]
mod tests;

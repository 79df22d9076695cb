//! The tar stream `berth cp - CONTAINER:DEST` extracts inside a container's root. (The
//! stream `cp CONTAINER:SRC -` writes comes from `berth_image::layer_writer`, the writer
//! of `export` and `commit`.)
//!
//! Extracting refuses `..` and treats absolute names as relative, and resolves each entry's
//! parent with `openat2(RESOLVE_IN_ROOT)` in the container's root: a symlink in the
//! container or planted by an earlier entry resolves inside the root, never on the host
//! (the tar-slip class of bugs).

use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use crate::fstree;

/// Extracts the tar stream `input` into `dest` (relative to `root`, an existing directory);
/// owners are the archive's unless `owner` is given.
pub(crate) fn extract<R: Read>(
    input: R,
    root: BorrowedFd<'_>,
    dest: &Path,
    owner: Option<(u32, u32)>,
) -> io::Result<()> {
    let mut archive = tar::Archive::new(input);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let Some(rel) = clean(&entry.path()?)? else { continue };
        let Some(name) = rel.file_name().map(PathBuf::from) else { continue };
        let parent = open_dir_all(root, &dest.join(rel.parent().unwrap_or(Path::new(""))))?;
        let h = entry.header();
        let mode = Mode::from_raw_mode(h.mode()? & 0o7777);
        let (uid, gid) = match owner {
            Some(o) => o,
            // Writers may leave the fields blank: root's, as for a missing owner.
            None => (
                h.uid().ok().and_then(|u| u32::try_from(u).ok()).unwrap_or(0),
                h.gid().ok().and_then(|g| u32::try_from(g).ok()).unwrap_or(0),
            ),
        };
        let (uid, gid) = (Some(rfs::Uid::from_raw(uid)), Some(rfs::Gid::from_raw(gid)));
        let kind = h.entry_type();
        fstree::clear_for(parent.as_fd(), &name, kind.is_dir())?;
        match kind {
            tar::EntryType::Directory => {
                match rfs::mkdirat(&parent, &name, Mode::from_raw_mode(0o700)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(e.into()),
                }
                rfs::chownat(&parent, &name, uid, gid, AtFlags::SYMLINK_NOFOLLOW)?;
                rfs::chmodat(&parent, &name, mode, AtFlags::empty())?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC;
                let fd = rfs::openat(&parent, &name, flags, Mode::from_raw_mode(0o600))?;
                let mut f = std::fs::File::from(fd);
                io::copy(&mut entry, &mut f)?;
                rfs::fchown(&f, uid, gid)?;
                rfs::fchmod(&f, mode)?;
            }
            tar::EntryType::Symlink => {
                let target = entry.link_name()?.unwrap_or_default().into_owned();
                rfs::symlinkat(&target, &parent, &name)?;
                rfs::chownat(&parent, &name, uid, gid, AtFlags::SYMLINK_NOFOLLOW)?;
            }
            tar::EntryType::Link => {
                let target = entry.link_name()?.unwrap_or_default().into_owned();
                let Some(target) = clean(&target)? else { continue };
                let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                let fd = rfs::openat2(root, dest.join(target), flags, Mode::empty(), RESOLVE)?;
                rfs::linkat(&fd, "", &parent, &name, AtFlags::EMPTY_PATH)?;
            }
            // Devices and fifos from a stream are not created in a container.
            _ => {}
        }
    }
    Ok(())
}

const RESOLVE: ResolveFlags = ResolveFlags::IN_ROOT.union(ResolveFlags::NO_MAGICLINKS);

/// An entry name as a path below the destination: `.` and a leading `/` dropped, `..`
/// refused; `None` for the destination itself.
fn clean(p: &Path) -> io::Result<Option<PathBuf>> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                let msg = format!("archive entry {} leaves the destination", p.display());
                return Err(io::Error::new(io::ErrorKind::InvalidData, msg));
            }
        }
    }
    Ok((!out.as_os_str().is_empty()).then_some(out))
}

/// Opens directory `rel` inside `root`, creating what is missing (0755): tar writers may
/// omit parent directory entries. Each step resolves inside `root`.
fn open_dir_all(root: BorrowedFd<'_>, rel: &Path) -> io::Result<OwnedFd> {
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let mut cur = PathBuf::new();
    let mut fd = rfs::openat2(root, ".", flags, Mode::empty(), RESOLVE)?;
    for c in rel.components() {
        let Component::Normal(n) = c else { continue };
        match rfs::mkdirat(&fd, n, Mode::from_raw_mode(0o755)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(e.into()),
        }
        cur.push(n);
        fd = rfs::openat2(root, &cur, flags, Mode::empty(), RESOLVE)?;
    }
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_image::layer_writer::{write_entry, write_tree, TreeOptions};
    use std::ffi::OsStr;
    use std::os::unix::fs::symlink;

    fn open(p: &Path) -> OwnedFd {
        rfs::open(p, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()).unwrap()
    }

    #[test]
    fn round_trip_keeps_files_dirs_and_symlinks() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        std::fs::create_dir_all(src.join("d/e")).unwrap();
        std::fs::write(src.join("d/e/f"), "data").unwrap();
        symlink("/etc/passwd", src.join("d/link")).unwrap();
        let opts = TreeOptions::default();
        let (buf, _) =
            write_entry(open(&src).as_fd(), OsStr::new("d"), Path::new("d"), Vec::new(), &opts)
                .unwrap();
        let root = tmp.path().join("root");
        std::fs::create_dir_all(root.join("dst")).unwrap();
        extract(&buf[..], open(&root).as_fd(), Path::new("dst"), Some((0, 0))).unwrap();
        assert_eq!(std::fs::read_to_string(root.join("dst/d/e/f")).unwrap(), "data");
        assert_eq!(std::fs::read_link(root.join("dst/d/link")).unwrap(), Path::new("/etc/passwd"));
        // Contents only: no top directory.
        let (buf, _) = write_tree(open(&src.join("d")).as_fd(), Vec::new(), &opts).unwrap();
        let names: Vec<String> = tar::Archive::new(&buf[..])
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names.iter().filter(|n| n.starts_with("d/")).count(), 0, "{names:?}");
    }

    #[test]
    fn extraction_stays_inside_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let outside = tmp.path().join("outside");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        // The container has a symlink to what would be a host directory.
        symlink(&outside, root.join("escape")).unwrap();
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        b.append_data(&mut h, "escape/owned", &b"x"[..]).unwrap();
        let buf = b.into_inner().unwrap();
        // The link's target does not exist inside the root: refused, not written outside.
        let err = extract(&buf[..], open(&root).as_fd(), Path::new(""), None).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
        assert!(!outside.join("owned").exists(), "written on the host");
        // Once it does, the entry lands there, inside the root.
        let inside = root.join(outside.strip_prefix("/").unwrap());
        std::fs::create_dir_all(&inside).unwrap();
        extract(&buf[..], open(&root).as_fd(), Path::new(""), None).unwrap();
        assert!(!outside.join("owned").exists(), "written on the host");
        assert!(inside.join("owned").exists(), "resolved inside the root instead");
        assert!(clean(Path::new("a/../../b")).is_err());
        assert_eq!(clean(Path::new("/./a/b")).unwrap(), Some(PathBuf::from("a/b")));
    }
}

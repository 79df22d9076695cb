//! The pure half of unpacking: what a tar entry name means in overlay form.
//!
//! Nothing here touches the filesystem, so hostile names are unit-tested without root.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// The aufs/Docker whiteout prefix (image-spec layer.md "Whiteouts"): read here by unpack,
/// written by `layer_writer`.
pub(crate) const WHITEOUT_PREFIX: &str = ".wh.";
/// A whiteout marking its directory opaque.
pub(crate) const OPAQUE_MARKER: &str = ".wh..wh..opq";
/// Reserved aufs metadata names (`.wh..wh.plnk`, `.wh..wh.aufs`): never content.
const AUFS_META_PREFIX: &[u8] = b".wh..wh.";

/// A layer-relative path split into its parent directory and final name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RelPath {
    /// The parent directory relative to the layer root; empty for the root itself.
    pub(crate) parent: PathBuf,
    /// The final component; empty only for the layer root (`./`).
    pub(crate) name: PathBuf,
}

impl RelPath {
    /// The whole relative path (`parent/name`).
    pub(crate) fn full(&self) -> PathBuf {
        self.parent.join(&self.name)
    }

    /// True for the layer root itself (an entry named `./` or `/`-less equivalent).
    pub(crate) fn is_root(&self) -> bool {
        self.name.as_os_str().is_empty()
    }
}

/// What one entry name asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Create the entry at this path.
    Create(RelPath),
    /// `.wh.NAME`: a 0:0 character device `NAME` in the same directory.
    Whiteout(RelPath),
    /// `.wh..wh..opq`: mark this directory (relative path, may be the root) opaque.
    Opaque(PathBuf),
    /// aufs metadata, not part of the filesystem.
    Skip,
}

/// Why an entry name cannot be unpacked; the text completes "entry NAME …".
pub(crate) type Refusal = &'static str;

/// Normalizes a tar name: `.` and empty components dropped; absolute names and `..` refused.
///
/// Refusing rather than stripping a leading `/` follows the issue: an absolute name in a layer
/// is hostile or broken, and GNU tar's silent stripping hides that.
pub(crate) fn clean(raw: &[u8]) -> Result<RelPath, Refusal> {
    if raw.first() == Some(&b'/') {
        return Err("has an absolute name");
    }
    let mut parts: Vec<&[u8]> = Vec::new();
    for part in raw.split(|b| *b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => return Err("has a `..` component"),
            p => parts.push(p),
        }
    }
    let Some(last) = parts.pop() else {
        return Ok(RelPath { parent: PathBuf::new(), name: PathBuf::new() });
    };
    let mut parent = PathBuf::new();
    for p in parts {
        parent.push(OsStr::from_bytes(p));
    }
    Ok(RelPath { parent, name: PathBuf::from(OsStr::from_bytes(last)) })
}

/// Classifies a tar entry name (after PAX/GNU long-name processing).
pub(crate) fn classify(raw: &[u8]) -> Result<Plan, Refusal> {
    let rel = clean(raw)?;
    let name = rel.name.as_os_str().as_bytes();
    if name == OPAQUE_MARKER.as_bytes() {
        return Ok(Plan::Opaque(rel.parent));
    }
    let in_meta_dir =
        rel.parent.components().any(|c| c.as_os_str().as_bytes().starts_with(AUFS_META_PREFIX));
    if name.starts_with(AUFS_META_PREFIX) || in_meta_dir {
        return Ok(Plan::Skip);
    }
    if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
        if hidden.is_empty() || hidden == b"." || hidden == b".." {
            return Err("is a whiteout of an invalid name");
        }
        let name = PathBuf::from(OsStr::from_bytes(hidden));
        return Ok(Plan::Whiteout(RelPath { parent: rel.parent, name }));
    }
    Ok(Plan::Create(rel))
}

/// Validates a hardlink target: it names a path inside the same layer.
pub(crate) fn link_target(raw: &[u8]) -> Result<RelPath, Refusal> {
    let rel = clean(raw).map_err(|_| "is a hardlink to outside the layer")?;
    if rel.is_root() {
        return Err("is a hardlink to the layer root");
    }
    Ok(rel)
}

/// Display helper for an entry name in errors and logs.
pub(crate) fn show(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(parent: &str, name: &str) -> RelPath {
        RelPath { parent: PathBuf::from(parent), name: PathBuf::from(name) }
    }

    #[test]
    fn clean_normalizes_dots_and_slashes() {
        assert_eq!(clean(b"./etc//passwd").unwrap(), rel("etc", "passwd"));
        assert_eq!(clean(b"etc/").unwrap(), rel("", "etc"));
        assert!(clean(b"./").unwrap().is_root());
        assert!(clean(b"").unwrap().is_root());
    }

    #[test]
    fn clean_refuses_escapes() {
        assert_eq!(clean(b"/etc/passwd"), Err("has an absolute name"));
        assert_eq!(clean(b"../x"), Err("has a `..` component"));
        assert_eq!(clean(b"a/../../x"), Err("has a `..` component"));
        assert_eq!(clean(b"a/.."), Err("has a `..` component"));
    }

    #[test]
    fn classify_whiteouts_and_opaque() {
        assert_eq!(classify(b"etc/.wh.motd").unwrap(), Plan::Whiteout(rel("etc", "motd")));
        assert_eq!(classify(b".wh.x").unwrap(), Plan::Whiteout(rel("", "x")));
        assert_eq!(
            classify(b"etc/apt/apt.conf.d/.wh..wh..opq").unwrap(),
            Plan::Opaque(PathBuf::from("etc/apt/apt.conf.d"))
        );
        assert_eq!(classify(b".wh..wh..opq").unwrap(), Plan::Opaque(PathBuf::new()));
        assert_eq!(classify(b".wh..wh.plnk/123.456").unwrap(), Plan::Skip);
        assert_eq!(classify(b"x/.wh..wh.aufs").unwrap(), Plan::Skip);
        assert!(classify(b"a/.wh.").is_err());
        assert!(classify(b"a/.wh..").is_err());
        assert_eq!(classify(b"usr/bin/ls").unwrap(), Plan::Create(rel("usr/bin", "ls")));
    }

    #[test]
    fn link_targets_stay_inside() {
        assert_eq!(link_target(b"etc/a").unwrap(), rel("etc", "a"));
        assert!(link_target(b"/etc/passwd").is_err());
        assert!(link_target(b"../../etc/passwd").is_err());
        assert!(link_target(b"./").is_err());
    }

    #[test]
    fn non_utf8_names_survive() {
        let r = clean(b"d/\xff\xfe").unwrap();
        assert_eq!(r.name.as_os_str().as_bytes(), b"\xff\xfe");
        assert_eq!(show(b"\xff"), "\u{fffd}");
    }
}

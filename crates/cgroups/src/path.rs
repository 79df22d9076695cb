//! Resolving an OCI `linux.cgroupsPath` to one directory per hierarchy.
//!
//! runc's cgroupfs driver semantics: an absolute path is taken relative to each hierarchy's
//! mount point; a relative path is nested under the caller's own cgroup in that hierarchy, as
//! listed in `/proc/self/cgroup`. `..` components are refused so a config cannot reach outside
//! the hierarchy, and a path naming the hierarchy root (or the caller's own cgroup) is refused
//! because that directory can be neither configured nor removed.

use std::path::{Component, Path, PathBuf};

use crate::cgroup::{Cgroup, Dir, Mode};
use crate::layout::{Layout, Mount};
use crate::Error;

/// The caller's cgroups, one per hierarchy, from `/proc/<pid>/cgroup`.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct OwnCgroups {
    /// v1 lines: sorted controllers (or `name=…`) and the cgroup path.
    v1: Vec<(Vec<String>, String)>,
    /// The `0::/path` line, if present.
    unified: Option<String>,
}

/// Parses `hierarchy-ID:controller-list:cgroup-path` lines (see `cgroups(7)`).
pub(crate) fn parse_proc_cgroup(text: &str) -> Result<OwnCgroups, Error> {
    let mut own = OwnCgroups::default();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |reason| Error::ParseProcCgroup { line: index + 1, reason };
        let mut parts = line.splitn(3, ':');
        let id = parts.next().ok_or_else(|| bad("missing hierarchy id"))?;
        let controllers = parts.next().ok_or_else(|| bad("missing controller list"))?;
        let path = parts.next().ok_or_else(|| bad("missing cgroup path"))?;
        if id == "0" && controllers.is_empty() {
            own.unified = Some(path.to_owned());
        } else {
            let mut list: Vec<String> = controllers.split(',').map(str::to_owned).collect();
            list.sort();
            own.v1.push((list, path.to_owned()));
        }
    }
    Ok(own)
}

/// Resolves `cgroups_path` (or `default_rel` when it is `None` or empty) against `layout`,
/// with `own` the caller's `/proc/self/cgroup` text. Nothing is created.
pub(crate) fn resolve(
    layout: &Layout,
    own: &str,
    cgroups_path: Option<&Path>,
    default_rel: &str,
) -> Result<Cgroup, Error> {
    let given = cgroups_path.filter(|p| !p.as_os_str().is_empty());
    let requested = given.unwrap_or_else(|| Path::new(default_rel));
    let (absolute, rel) = clean(requested)?;
    let own = if absolute { OwnCgroups::default() } else { parse_proc_cgroup(own)? };
    let mut dirs = Vec::new();
    for hierarchy in layout.hierarchies() {
        let own_path = own.v1.iter().find(|(c, _)| *c == hierarchy.controllers).map(|(_, p)| p);
        let name = hierarchy.controllers.join(",");
        let path = dir_in(&hierarchy.mount, absolute, own_path, &rel, &name)?;
        dirs.push(Dir::new(hierarchy.controllers.clone(), &hierarchy.mount, path));
    }
    if let Some(unified) = layout.unified() {
        let path = dir_in(unified, absolute, own.unified.as_ref(), &rel, "unified")?;
        dirs.push(Dir::new(Vec::new(), unified, path));
    }
    let mode = match layout {
        Layout::V1 { .. } => Mode::V1,
        Layout::Hybrid { .. } => Mode::Hybrid,
        Layout::V2 { .. } => Mode::V2,
    };
    Ok(Cgroup::from_dirs(mode, dirs))
}

/// Splits `path` into (is absolute, normalised relative path), refusing `..` and empty paths.
fn clean(path: &Path) -> Result<(bool, PathBuf), Error> {
    let invalid = |reason| Error::InvalidPath { path: path.to_owned(), reason };
    let mut rel = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => rel.push(part),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir => return Err(invalid("'..' is not allowed")),
            Component::Prefix(_) => return Err(invalid("unexpected path prefix")),
        }
    }
    if rel.as_os_str().is_empty() {
        return Err(invalid("it names the hierarchy root or the caller's own cgroup"));
    }
    Ok((path.is_absolute(), rel))
}

/// The directory for `rel` in one hierarchy.
fn dir_in(
    mount: &Mount,
    absolute: bool,
    own: Option<&String>,
    rel: &Path,
    hierarchy: &str,
) -> Result<PathBuf, Error> {
    if absolute {
        return Ok(mount.mount_point.join(rel));
    }
    let own = own.ok_or_else(|| Error::OwnCgroupUnknown { hierarchy: hierarchy.to_owned() })?;
    // /proc/self/cgroup shows paths from the hierarchy (or cgroup namespace) root; the mount
    // may show a sub-tree of it (mountinfo field 4), so strip that prefix.
    let below_root =
        Path::new(own).strip_prefix(&mount.root).map_err(|_| Error::OwnCgroupOutsideMount {
            hierarchy: hierarchy.to_owned(),
            cgroup: PathBuf::from(own),
            root: mount.root.clone(),
        })?;
    Ok(mount.mount_point.join(below_root).join(rel))
}

#[cfg(test)]
mod tests;

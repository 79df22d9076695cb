//! `berth volume create|ls|inspect|rm|prune`: named and anonymous volumes, each a
//! directory `<data>/volumes/<name>/_data` with a record in the `volumes` table.
//!
//! A volume's users are the containers whose records mount it (see
//! [`crate::mounts::MountPoint`]), running or not: Docker refuses to remove a volume any
//! container still refers to, and so does `rm` here.

use std::collections::BTreeMap;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::Engine;
use crate::db::VolumeRecord;
use crate::error::{Error, Result};
use crate::mounts::{Kind, MountPoint};
use crate::spec::RunOptions;

/// How a volume comes to be.
#[derive(Debug, Clone, Default)]
pub struct NewVolume<'a> {
    /// The name; `None` makes an anonymous volume with a random 64-hex name.
    pub name: Option<&'a str>,
    /// `--label K=V`.
    pub labels: BTreeMap<String, String>,
    /// The container whose create makes it (empty for `volume create`).
    pub created_by: &'a str,
}

/// Creates a volume, or finds the existing one of that name (Docker's `volume create` is
/// idempotent); returns its name and whether it is new.
pub fn create(e: &Engine, v: &NewVolume<'_>) -> Result<(String, bool)> {
    let name = match v.name {
        Some(n) if !crate::mounts::valid_volume_name(n) => {
            return Err(Error::InvalidFlag {
                flag: "volume name",
                value: n.to_string(),
                reason: "use [a-zA-Z0-9][a-zA-Z0-9_.-]+".into(),
            })
        }
        Some(n) => n.to_string(),
        None => crate::ids::new_id(),
    };
    let record = VolumeRecord {
        name: name.clone(),
        driver: "local".into(),
        created: crate::now(),
        labels: serde_json::to_string(&v.labels).unwrap_or_else(|_| "{}".into()),
        anonymous: v.name.is_none(),
        created_by: v.created_by.to_string(),
    };
    if !e.db.insert_volume(&record)? {
        return Ok((name, false));
    }
    let data = data_dir(e, &name);
    let made = crate::paths::mkdir(&e.paths.volume(&name)).and_then(|()| {
        use std::os::unix::fs::DirBuilderExt;
        // 0755 as Docker's `_data`: the container decides who may write inside it.
        std::fs::DirBuilder::new().mode(0o755).create(&data).map_err(Error::io("mkdir", &data))
    });
    if let Err(err) = made {
        let _ = e.db.delete_volume(&name);
        return Err(err);
    }
    Ok((name, true))
}

/// The directory a container mounts for volume `name`.
pub fn data_dir(e: &Engine, name: &str) -> PathBuf {
    e.paths.volume(name).join("_data")
}

/// The record of `name`, or [`Error::NoSuchVolume`].
pub fn get(e: &Engine, name: &str) -> Result<VolumeRecord> {
    e.db.volume(name)?.ok_or_else(|| Error::NoSuchVolume(name.to_string()))
}

/// Every volume.
pub fn list(e: &Engine) -> Result<Vec<VolumeRecord>> {
    e.db.volumes()
}

/// Docker's `volume inspect` document.
pub fn inspect(e: &Engine, name: &str) -> Result<Value> {
    let v = get(e, name)?;
    let labels: Value = serde_json::from_str(&v.labels).unwrap_or_else(|_| json!({}));
    Ok(json!({
        "CreatedAt": v.created,
        "Driver": v.driver,
        "Labels": labels,
        "Mountpoint": data_dir(e, &v.name),
        "Name": v.name,
        "Options": {},
        "Scope": "local",
        "Anonymous": v.anonymous,
    }))
}

/// The mount points of a container record.
pub(crate) fn mount_points(config: &str) -> Vec<MountPoint> {
    serde_json::from_str::<RunOptions>(config).map(|o| o.mount_points).unwrap_or_default()
}

/// The ids of the containers whose records mount volume `name`.
pub fn users(e: &Engine, name: &str) -> Result<Vec<String>> {
    Ok(e.db
        .list()?
        .into_iter()
        .filter(|r| {
            mount_points(&r.config).iter().any(|m| m.kind == Kind::Volume && m.source == name)
        })
        .map(|r| r.id)
        .collect())
}

/// Removes volume `name` unless a container uses it; with `force` a missing volume is not
/// an error (Docker's `volume rm -f`), a used one still is.
pub fn rm(e: &Engine, name: &str, force: bool) -> Result<()> {
    if e.db.volume(name)?.is_none() {
        return if force { Ok(()) } else { Err(Error::NoSuchVolume(name.to_string())) };
    }
    let users = users(e, name)?;
    if !users.is_empty() {
        let containers = users.iter().map(|id| &id[..12.min(id.len())]).collect::<Vec<_>>();
        return Err(Error::VolumeInUse {
            name: name.to_string(),
            containers: containers.join(", "),
        });
    }
    remove_files(e, name)?;
    e.db.delete_volume(name)
}

/// Deletes the volume's directory, refusing (EBUSY) if anything is mounted in it: a bind
/// mount there would make the removal delete someone else's files.
fn remove_files(e: &Engine, name: &str) -> Result<()> {
    let dir = e.paths.volume(name);
    let busy = |source| Error::Io { op: "remove volume", path: dir.clone(), source };
    if mounted_under(&dir) {
        return Err(busy(rustix::io::Errno::BUSY.into()));
    }
    let parent = dir.parent().unwrap_or(Path::new("/"));
    let parent_fd = match std::fs::File::open(parent) {
        Ok(f) => f,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(busy(err)),
    };
    match crate::fstree::remove_dir(parent_fd.as_fd(), Path::new(name)) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(busy(err)),
        _ => Ok(()),
    }
}

/// Whether a mount point of this mount namespace is `dir` or under it.
pub(crate) fn mounted_under(dir: &Path) -> bool {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|m| Path::new(&unescape(m)).starts_with(dir))
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> String {
    let mut out = String::new();
    let mut rest = field;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let code = rest.get(i + 1..i + 4).and_then(|o| u8::from_str_radix(o, 8).ok());
        match code {
            Some(c) => {
                out.push(char::from(c));
                rest = &rest[i + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// `volume prune`: removes every volume no container uses; only anonymous ones unless
/// `all` (Docker 23 and later). Returns the names removed and the bytes their files took.
pub fn prune(e: &Engine, all: bool) -> Result<(Vec<String>, u64)> {
    let mut removed = Vec::new();
    let mut bytes = 0u64;
    for v in list(e)? {
        if (all || v.anonymous) && users(e, &v.name)?.is_empty() {
            bytes = bytes.saturating_add(size(e, &v.name));
            rm(e, &v.name, false)?;
            removed.push(v.name);
        }
    }
    Ok((removed, bytes))
}

/// What the files of volume `name` take; 0 when it cannot be read (the size is a report,
/// not a reason to keep the volume).
fn size(e: &Engine, name: &str) -> u64 {
    use rustix::fs::{Mode, OFlags};
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    rustix::fs::open(data_dir(e, name), flags, Mode::empty())
        .map_err(std::io::Error::from)
        .and_then(|fd| crate::fstree::size(fd.as_fd()))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::Paths;

    fn engine(tmp: &Path) -> Engine {
        Engine::open(Paths { data: tmp.join("d"), run: tmp.join("r") }).unwrap()
    }

    #[test]
    fn create_is_idempotent_and_rm_removes_files_and_record() {
        let tmp = tempfile::tempdir().unwrap();
        let e = engine(tmp.path());
        let new = NewVolume { name: Some("data"), ..Default::default() };
        assert_eq!(create(&e, &new).unwrap(), ("data".to_string(), true));
        std::fs::write(data_dir(&e, "data").join("f"), "x").unwrap();
        assert_eq!(create(&e, &new).unwrap(), ("data".to_string(), false));
        assert!(data_dir(&e, "data").join("f").exists(), "the second create keeps the content");
        let (anon, _) = create(&e, &NewVolume::default()).unwrap();
        assert_eq!(anon.len(), 64);
        assert_eq!(inspect(&e, &anon).unwrap()["Anonymous"], true);
        std::fs::write(data_dir(&e, &anon).join("f"), [0u8; 300]).unwrap();
        let pruned = prune(&e, false).unwrap();
        assert_eq!(pruned, (vec![anon], 300), "only anonymous volumes without -a, their bytes");
        assert_eq!(prune(&e, true).unwrap(), (vec!["data".to_string()], 1), "every one with -a");
        create(&e, &new).unwrap();
        rm(&e, "data", false).unwrap();
        assert!(!e.paths.volume("data").exists());
        assert!(matches!(rm(&e, "data", false), Err(Error::NoSuchVolume(_))));
        rm(&e, "data", true).unwrap();
        assert!(create(&e, &NewVolume { name: Some("../x"), ..Default::default() }).is_err());
    }

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape(r"/a\040b\134c"), "/a b\\c");
        assert_eq!(unescape(r"/plain"), "/plain");
    }
}

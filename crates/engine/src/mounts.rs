//! `-v`/`--volume` and `--mount`: parsed into [`MountPoint`]s (pure, here), then resolved
//! at create by `ops::volume_mounts` (named and anonymous volumes made, image content
//! copied) and turned into OCI mounts by [`oci`].
//!
//! Forms, as Docker's:
//! - `-v /host:/dst[:opts]`: a bind mount of an existing host path;
//! - `-v NAME:/dst[:opts]`: the named volume NAME, created if missing;
//! - `-v /dst`: a new anonymous volume;
//! - `--mount type=bind|volume|tmpfs,source=…,target=…,readonly,…` (type defaults to volume).
//!
//! `opts` of `-v` is a comma list of `ro`, `rw`, `z`, `Z` (accepted, no SELinux here) and
//! `nocopy`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::{Error, Result};

/// What is mounted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A host path.
    Bind,
    /// A volume of the engine (named or anonymous).
    Volume,
    /// A new tmpfs.
    Tmpfs,
}

/// One mount of a container, as asked for and (after create) resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountPoint {
    /// Bind, volume or tmpfs.
    pub kind: Kind,
    /// Bind: the host path. Volume: the volume's name (empty for a new anonymous volume
    /// until create names it). Tmpfs: empty.
    pub source: String,
    /// Path inside the container (absolute).
    pub target: String,
    /// Mounted read-only.
    pub readonly: bool,
    /// Volume: do not copy the image's content at `target` into a new, empty volume.
    #[serde(default)]
    pub nocopy: bool,
    /// Volume: made for this container only (`-v /dst`); `rm -v` removes it.
    #[serde(default)]
    pub anonymous: bool,
    /// Bind: `bind-propagation` (`rprivate` by default).
    #[serde(default)]
    pub propagation: Option<String>,
    /// Tmpfs: mount options (`size=…`, `mode=…`).
    #[serde(default)]
    pub tmpfs_options: Vec<String>,
    /// Volume: the host directory, filled in at create.
    #[serde(default)]
    pub host_path: Option<PathBuf>,
}

/// Parses every `-v` then every `--mount`; two mounts on one target are refused.
pub fn parse_all(volumes: &[String], mounts: &[String]) -> Result<Vec<MountPoint>> {
    let mut out: Vec<MountPoint> = Vec::new();
    let parsed =
        volumes.iter().map(|v| parse_volume(v)).chain(mounts.iter().map(|m| parse_mount(m)));
    for m in parsed {
        let m = m?;
        if out.iter().any(|o| o.target == m.target) {
            return Err(Error::InvalidFlag {
                flag: "--volume/--mount",
                value: m.target,
                reason: "duplicate mount point".into(),
            });
        }
        out.push(m);
    }
    Ok(out)
}

/// Whether `name` is a valid volume name (Docker's `[a-zA-Z0-9][a-zA-Z0-9_.-]+`).
pub fn valid_volume_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() >= 2
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

fn parse_volume(v: &str) -> Result<MountPoint> {
    let bad = |reason: &str| Error::InvalidFlag {
        flag: "--volume",
        value: v.to_string(),
        reason: reason.into(),
    };
    let parts: Vec<&str> = v.split(':').collect();
    let (src, dst, opts) = match parts.as_slice() {
        [d] => ("", *d, ""),
        [s, d] if d.starts_with('/') => (*s, *d, ""),
        // `/dst:ro`: an anonymous volume with options.
        [d, o] => ("", *d, *o),
        [s, d, o] => (*s, *d, *o),
        _ => return Err(bad("expected [SRC:]DST[:OPTIONS]")),
    };
    let mut m = MountPoint::new(Kind::Volume, src, dst);
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => m.readonly = true,
            "rw" | "z" | "Z" => {}
            "nocopy" => m.nocopy = true,
            _ => return Err(bad(&format!("unknown option {o:?}: use ro, rw, nocopy"))),
        }
    }
    if src.starts_with('/') {
        m.kind = Kind::Bind;
    } else if src.is_empty() {
        m.anonymous = true;
    }
    m.check().map_err(|reason| bad(&reason))?;
    Ok(m)
}

fn parse_mount(spec: &str) -> Result<MountPoint> {
    let bad = |reason: &str| Error::InvalidFlag {
        flag: "--mount",
        value: spec.to_string(),
        reason: reason.into(),
    };
    let mut m = MountPoint::new(Kind::Volume, "", "");
    let mut size_mode = Vec::new();
    for field in spec.split(',').filter(|f| !f.is_empty()) {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (field, None),
        };
        let flag = |v: Option<&str>| match v {
            None | Some("1" | "true") => Ok(true),
            Some("0" | "false") => Ok(false),
            Some(other) => Err(bad(&format!("{key}={other}: expected true or false"))),
        };
        let text = || value.map(String::from).ok_or_else(|| bad(&format!("{key} needs a value")));
        match key {
            "type" => {
                m.kind = match value {
                    Some("bind") => Kind::Bind,
                    Some("volume") => Kind::Volume,
                    Some("tmpfs") => Kind::Tmpfs,
                    _ => return Err(bad("type must be bind, volume or tmpfs")),
                }
            }
            "source" | "src" => m.source = text()?,
            "target" | "destination" | "dst" => m.target = text()?,
            "readonly" | "ro" => m.readonly = flag(value)?,
            "volume-nocopy" => m.nocopy = flag(value)?,
            "bind-propagation" => m.propagation = Some(text()?),
            "tmpfs-size" => size_mode.push(format!("size={}", text()?)),
            "tmpfs-mode" => size_mode.push(format!("mode={}", text()?)),
            _ => return Err(bad(&format!("unknown key {key:?}"))),
        }
    }
    m.tmpfs_options = size_mode;
    m.anonymous = m.kind == Kind::Volume && m.source.is_empty();
    m.check_fields_for_kind().map_err(|reason| bad(&reason))?;
    m.check().map_err(|reason| bad(&reason))?;
    Ok(m)
}

impl MountPoint {
    /// A new anonymous volume at `target` (an image's `VOLUME`).
    pub(crate) fn anonymous_volume(target: &str) -> MountPoint {
        MountPoint { anonymous: true, ..MountPoint::new(Kind::Volume, "", target) }
    }

    fn new(kind: Kind, source: &str, target: &str) -> MountPoint {
        MountPoint {
            kind,
            source: source.to_string(),
            target: target.to_string(),
            readonly: false,
            nocopy: false,
            anonymous: false,
            propagation: None,
            tmpfs_options: Vec::new(),
            host_path: None,
        }
    }

    /// `--mount` keys that belong to another type are refused, as Docker does.
    fn check_fields_for_kind(&self) -> std::result::Result<(), String> {
        let only = |what: &str, kind: &str| Err(format!("{what} is only for type={kind}"));
        if self.kind != Kind::Tmpfs && !self.tmpfs_options.is_empty() {
            return only("tmpfs-size/tmpfs-mode", "tmpfs");
        }
        if self.kind != Kind::Bind && self.propagation.is_some() {
            return only("bind-propagation", "bind");
        }
        if self.kind != Kind::Volume && self.nocopy {
            return only("volume-nocopy", "volume");
        }
        match self.kind {
            Kind::Tmpfs if !self.source.is_empty() => Err("a tmpfs has no source".into()),
            Kind::Bind if self.source.is_empty() => Err("a bind mount needs a source".into()),
            _ => Ok(()),
        }
    }

    fn check(&self) -> std::result::Result<(), String> {
        if self.target.is_empty() {
            return Err("the target is required".into());
        }
        if !self.target.starts_with('/') {
            return Err(format!("the target {:?} must be an absolute path", self.target));
        }
        if Path::new(&self.target).components().count() == 1 {
            return Err("the target must not be /".into());
        }
        match self.kind {
            Kind::Bind if !self.source.starts_with('/') => {
                Err("the source of a bind mount must be an absolute path".into())
            }
            Kind::Bind if !Path::new(&self.source).exists() => {
                Err(format!("the source path {} does not exist", self.source))
            }
            Kind::Volume if !self.source.is_empty() && !valid_volume_name(&self.source) => Err(
                format!("{:?} is not a volume name: use [a-zA-Z0-9][a-zA-Z0-9_.-]+", self.source),
            ),
            _ => Ok(()),
        }
    }

    /// The OCI mount; a volume must have its `host_path` (create fills it in).
    fn to_oci(&self) -> Result<Value> {
        let mut options: Vec<String> = Vec::new();
        let (typ, source) = match self.kind {
            Kind::Tmpfs => {
                options.extend(["nosuid", "nodev", "noexec"].map(String::from));
                options.extend(self.tmpfs_options.iter().cloned());
                ("tmpfs", json!("tmpfs"))
            }
            Kind::Bind | Kind::Volume => {
                let source = match (&self.kind, &self.host_path) {
                    (Kind::Bind, _) => PathBuf::from(&self.source),
                    (_, Some(p)) => p.clone(),
                    (_, None) => {
                        return Err(Error::InvalidFlag {
                            flag: "--volume/--mount",
                            value: self.target.clone(),
                            reason: "volume not resolved before the config was built".into(),
                        })
                    }
                };
                options.push("rbind".into());
                options.push(self.propagation.clone().unwrap_or_else(|| "rprivate".into()));
                ("bind", json!(source))
            }
        };
        if self.readonly {
            options.push("ro".into());
        }
        Ok(json!({"destination": self.target, "type": typ, "source": source, "options": options}))
    }

    /// inspect's `Mounts` entry.
    pub fn to_docker(&self) -> Value {
        let (typ, name, source) = match self.kind {
            Kind::Bind => ("bind", "", self.source.clone()),
            Kind::Volume => (
                "volume",
                self.source.as_str(),
                self.host_path.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
            ),
            Kind::Tmpfs => ("tmpfs", "", String::new()),
        };
        let mut v = json!({
            "Type": typ,
            "Source": source,
            "Destination": self.target,
            "Mode": if self.readonly { "ro" } else { "" },
            "RW": !self.readonly,
            "Propagation": if self.kind == Kind::Bind {
                self.propagation.clone().unwrap_or_else(|| "rprivate".into())
            } else {
                String::new()
            },
        });
        if self.kind == Kind::Volume {
            v["Name"] = json!(name);
            v["Driver"] = json!("local");
        }
        v
    }
}

/// The OCI mounts of `points`, parents before children (sorted by depth, as Docker).
pub fn oci(points: &[MountPoint]) -> Result<Vec<Value>> {
    let mut sorted: Vec<&MountPoint> = points.iter().collect();
    sorted.sort_by_key(|m| Path::new(&m.target).components().count());
    sorted.into_iter().map(MountPoint::to_oci).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(v: &[&str], m: &[&str]) -> Result<MountPoint> {
        let v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
        let m: Vec<String> = m.iter().map(|s| s.to_string()).collect();
        parse_all(&v, &m).map(|mut all| all.remove(0))
    }

    #[test]
    fn volume_flag_forms() {
        let b = one(&["/etc:/x:ro"], &[]).unwrap();
        assert_eq!((b.kind, b.readonly, b.source.as_str()), (Kind::Bind, true, "/etc"));
        let n = one(&["data:/var/data"], &[]).unwrap();
        assert_eq!((n.kind, n.anonymous, n.source.as_str()), (Kind::Volume, false, "data"));
        let a = one(&["/scratch"], &[]).unwrap();
        assert_eq!((a.kind, a.anonymous, a.target.as_str()), (Kind::Volume, true, "/scratch"));
        let a = one(&["/scratch:ro,nocopy"], &[]).unwrap();
        assert!(a.anonymous && a.readonly && a.nocopy);
        for bad in ["rel:x", "/nonexistent-berth:/x", "/etc:/x:bogus", "a:/x", "v:/", "a:b:c:d"] {
            assert!(one(&[bad], &[]).is_err(), "{bad}");
        }
        let msg = one(&["/no/such/dir:/x"], &[]).unwrap_err().to_string();
        assert!(msg.contains("does not exist"), "{msg}");
    }

    #[test]
    fn mount_flag_forms() {
        let b = one(&[], &["type=bind,source=/etc,target=/x,readonly,bind-propagation=rslave"])
            .unwrap();
        assert_eq!((b.kind, b.readonly), (Kind::Bind, true));
        assert_eq!(b.propagation.as_deref(), Some("rslave"));
        let v = one(&[], &["src=cache,dst=/cache,volume-nocopy=true"]).unwrap();
        assert_eq!((v.kind, v.source.as_str(), v.nocopy), (Kind::Volume, "cache", true));
        let a = one(&[], &["type=volume,target=/anon"]).unwrap();
        assert!(a.anonymous);
        let t = one(&[], &["type=tmpfs,destination=/t,tmpfs-size=1m,tmpfs-mode=1770"]).unwrap();
        assert_eq!(t.tmpfs_options, ["size=1m", "mode=1770"]);
        for bad in [
            "type=bind,target=/x",
            "type=bind,source=rel,target=/x",
            "type=tmpfs,source=x,target=/t",
            "type=nfs,target=/x",
            "type=volume,source=v",
            "type=volume,target=/x,colour=red",
            "type=volume,target=/x,readonly=maybe",
            "type=volume,target=/x,tmpfs-size=1m",
            "type=bind,source=/etc,target=/x,volume-nocopy",
        ] {
            assert!(one(&[], &[bad]).is_err(), "{bad}");
        }
        let dup = parse_all(&["/a".into()], &["type=tmpfs,target=/a".into()]);
        assert!(dup.unwrap_err().to_string().contains("duplicate"));
    }

    #[test]
    fn oci_mounts_parents_first_and_unresolved_volumes_refused() {
        let mut v = one(&["data:/a/b"], &[]).unwrap();
        assert!(oci(std::slice::from_ref(&v)).is_err());
        v.host_path = Some("/var/lib/berth/volumes/data/_data".into());
        let b = one(&["/etc:/a:ro"], &[]).unwrap();
        let t = one(&[], &["type=tmpfs,target=/a/b/c,tmpfs-size=1m"]).unwrap();
        let m = oci(&[t, v, b]).unwrap();
        let dests: Vec<&str> = m.iter().map(|x| x["destination"].as_str().unwrap()).collect();
        assert_eq!(dests, ["/a", "/a/b", "/a/b/c"]);
        assert_eq!(m[0]["options"], json!(["rbind", "rprivate", "ro"]));
        assert_eq!(m[1]["source"], "/var/lib/berth/volumes/data/_data");
        assert_eq!(m[2]["options"], json!(["nosuid", "nodev", "noexec", "size=1m"]));
        assert!(
            valid_volume_name("my_vol.1") && !valid_volume_name("x") && !valid_volume_name("-a")
        );
    }
}

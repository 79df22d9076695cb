//! `--device HOST[:CONTAINER][:PERMISSIONS]`: a host device node made in the container
//! (OCI `linux.devices`, from the node's own type, numbers, mode and owner) and allowed by
//! its device cgroup (`linux.resources.devices`) with those permissions.

use std::os::unix::fs::{FileTypeExt, MetadataExt};

use serde_json::{json, Value};

use crate::error::{Error, Result};

/// One parsed `--device`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceMapping {
    /// The node on the host.
    pub host: String,
    /// Where it appears in the container (the host path when not given).
    pub container: String,
    /// Its cgroup permissions, some of `rwm` (`rwm` when not given).
    pub permissions: String,
}

impl DeviceMapping {
    /// Docker's syntax: `HOST`, `HOST:CONTAINER`, `HOST:PERMS` or `HOST:CONTAINER:PERMS`.
    pub fn parse(spec: &str) -> Result<DeviceMapping> {
        let bad = |reason: &str| Error::InvalidFlag {
            flag: "--device",
            value: spec.to_string(),
            reason: reason.into(),
        };
        let parts: Vec<&str> = spec.split(':').collect();
        let (host, container, permissions) = match parts[..] {
            [h] => (h, h, "rwm"),
            [h, p] if valid_permissions(p) => (h, h, p),
            [h, c] => (h, c, "rwm"),
            [h, c, p] => (h, c, p),
            _ => return Err(bad("invalid device specification")),
        };
        if !valid_permissions(permissions) {
            return Err(bad(&format!("bad mode specified: {permissions}")));
        }
        for p in [host, container] {
            if !p.starts_with('/') {
                return Err(bad(&format!("{p} is not an absolute path")));
            }
        }
        Ok(DeviceMapping {
            host: host.into(),
            container: container.into(),
            permissions: permissions.into(),
        })
    }

    /// Docker's inspect entry.
    pub fn to_docker(&self) -> Value {
        json!({"PathOnHost": self.host, "PathInContainer": self.container,
               "CgroupPermissions": self.permissions})
    }
}

/// Non-empty, made of `r`, `w` and `m`, each at most once.
fn valid_permissions(p: &str) -> bool {
    !p.is_empty()
        && p.chars().all(|c| "rwm".contains(c))
        && p.chars().enumerate().all(|(i, c)| !p[i + 1..].contains(c))
}

/// The `linux.devices` entries and device-cgroup allow rules of `flags`, from each host
/// node's stat (symbolic links followed, as Docker does).
pub fn oci(flags: &[String]) -> Result<(Vec<Value>, Vec<Value>)> {
    let (mut nodes, mut rules) = (Vec::new(), Vec::new());
    for f in flags {
        let d = DeviceMapping::parse(f)?;
        let bad =
            |reason: String| Error::InvalidFlag { flag: "--device", value: f.clone(), reason };
        let meta = std::fs::metadata(&d.host).map_err(|e| {
            bad(format!(
                "error gathering device information while adding custom device {:?}: {e}",
                d.host
            ))
        })?;
        let kind = match meta.file_type() {
            t if t.is_char_device() => "c",
            t if t.is_block_device() => "b",
            _ => return Err(bad(format!("{} is not a device node", d.host))),
        };
        let (major, minor) = (rustix::fs::major(meta.rdev()), rustix::fs::minor(meta.rdev()));
        nodes.push(json!({"path": d.container, "type": kind, "major": major, "minor": minor,
                          "fileMode": meta.mode() & 0o7777, "uid": meta.uid(), "gid": meta.gid()}));
        rules.push(json!({"allow": true, "type": kind, "major": major, "minor": minor,
                          "access": d.permissions}));
    }
    Ok((nodes, rules))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_device_syntax() {
        let d = |s| DeviceMapping::parse(s).unwrap();
        assert_eq!(d("/dev/fuse").container, "/dev/fuse");
        assert_eq!(d("/dev/fuse").permissions, "rwm");
        assert_eq!(d("/dev/fuse:r").container, "/dev/fuse");
        assert_eq!(d("/dev/fuse:r").permissions, "r");
        assert_eq!(d("/dev/null:/dev/mynull").container, "/dev/mynull");
        let full = d("/dev/null:/dev/mynull:rw");
        assert_eq!((full.container.as_str(), full.permissions.as_str()), ("/dev/mynull", "rw"));
        for (bad, why) in [
            ("/dev/null:/dev/x:rwx", "bad mode"),
            ("/dev/null:/dev/x:rr", "bad mode"),
            ("dev/null", "absolute"),
            ("/dev/null:x", "absolute"),
            ("/a:/b:r:w", "invalid device specification"),
        ] {
            let e = DeviceMapping::parse(bad).unwrap_err().to_string();
            assert!(e.contains("--device") && e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn nodes_and_rules_from_the_host_node() {
        let (nodes, rules) = oci(&["/dev/null:/dev/mynull:rw".into()]).unwrap();
        assert_eq!(nodes[0]["path"], "/dev/mynull");
        assert_eq!((nodes[0]["type"].as_str(), nodes[0]["major"].as_u64()), (Some("c"), Some(1)));
        assert_eq!(nodes[0]["minor"], 3);
        let host_mode = std::fs::metadata("/dev/null").unwrap().mode() & 0o7777;
        assert_eq!(nodes[0]["fileMode"], host_mode);
        assert_eq!(
            rules[0],
            json!({"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"})
        );
        let file = tempfile::NamedTempFile::new().unwrap();
        let e = oci(&[file.path().display().to_string()]).unwrap_err().to_string();
        assert!(e.contains("not a device node"), "{e}");
        let e = oci(&["/dev/no-such-node".into()]).unwrap_err().to_string();
        assert!(e.contains("error gathering device information"), "{e}");
    }
}

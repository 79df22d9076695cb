//! `-u user[:group]`: numbers as they are, names looked up in the container's own
//! `/etc/passwd` and `/etc/group` (never the host's).

use std::path::Path;

use crate::error::{Error, Result};

/// (uid, gid, additional gids) for `spec` in the rootfs; `None` is root.
pub fn resolve(rootfs: &Path, spec: Option<&str>) -> Result<(u32, u32, Vec<u32>)> {
    let Some(spec) = spec else { return Ok((0, 0, Vec::new())) };
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap_or_default();
    let entry = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 4 && (f[0] == user || f[2] == user));
    let uid = match (user.parse::<u32>(), &entry) {
        (Ok(n), _) => n,
        (Err(_), Some(f)) => f[2].parse().unwrap_or(0),
        (Err(_), None) => return Err(unknown(spec, "no matching entries in passwd file")),
    };
    let group_file = std::fs::read_to_string(rootfs.join("etc/group")).unwrap_or_default();
    let gid = match group {
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => group_file
                .lines()
                .map(|l| l.split(':').collect::<Vec<_>>())
                .find(|f| f.len() >= 3 && f[0] == g)
                .and_then(|f| f[2].parse().ok())
                .ok_or_else(|| unknown(spec, "no matching entries in group file"))?,
        },
        None => entry.as_ref().and_then(|f| f[3].parse().ok()).unwrap_or(0),
    };
    // Supplementary groups the user is listed in, as Docker does.
    let name = entry.as_ref().map(|f| f[0]).unwrap_or(user);
    let extra = group_file
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 4 && f[3].split(',').any(|m| m == name))
        .filter_map(|f| f[2].parse().ok())
        .filter(|g| *g != gid)
        .collect();
    Ok((uid, gid, extra))
}

/// `--group-add`: each a number, or a group name looked up in the container's own
/// `/etc/group`.
pub fn groups(rootfs: &Path, names: &[String]) -> Result<Vec<u32>> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let group_file = std::fs::read_to_string(rootfs.join("etc/group")).unwrap_or_default();
    names
        .iter()
        .map(|g| {
            g.parse::<u32>().ok().map_or_else(
                || {
                    group_file
                        .lines()
                        .map(|l| l.split(':').collect::<Vec<_>>())
                        .find(|f| f.len() >= 3 && f[0] == g)
                        .and_then(|f| f[2].parse().ok())
                        .ok_or_else(|| Error::InvalidFlag {
                            flag: "--group-add",
                            value: g.clone(),
                            reason: format!(
                                "unable to find group {g}: no matching entries in group file"
                            ),
                        })
                },
                Ok,
            )
        })
        .collect()
}

fn unknown(spec: &str, why: &str) -> Error {
    Error::InvalidFlag {
        flag: "--user",
        value: spec.to_string(),
        reason: format!("unable to find user: {why}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("etc")).unwrap();
        std::fs::write(
            tmp.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\nweb:x:33:33::/var/www:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(tmp.path().join("etc/group"), "root:x:0:\nweb:x:33:\nlog:x:4:web\n")
            .unwrap();
        assert_eq!(resolve(tmp.path(), None).unwrap(), (0, 0, vec![]));
        assert_eq!(resolve(tmp.path(), Some("web")).unwrap(), (33, 33, vec![4]));
        assert_eq!(resolve(tmp.path(), Some("1000:1001")).unwrap().0, 1000);
        assert_eq!(resolve(tmp.path(), Some("web:log")).unwrap().1, 4);
        assert!(resolve(tmp.path(), Some("nobody-here")).is_err());
        assert_eq!(groups(tmp.path(), &["log".into(), "1234".into()]).unwrap(), vec![4, 1234]);
        let e = groups(tmp.path(), &["nogroup".into()]).unwrap_err().to_string();
        assert!(e.contains("--group-add") && e.contains("unable to find group nogroup"), "{e}");
    }
}

//! `--pid`, `--ipc`, `--uts`, `--shm-size` and `--sysctl`: which namespaces a container has
//! of its own, shares with the host or joins from another container, its `/dev/shm`, and
//! the namespaced sysctls Docker allows.
//!
//! A namespace joined from another container (`container:NAME`) is only a `type` here: its
//! path names that container's init, whose pid is known when this one starts
//! (`ops::shared_namespaces` fills it in, as it does for `--network container:NAME`).

use serde_json::{json, Value};

use super::RunOptions;
use crate::error::{Error, Result};

/// Docker's `/dev/shm` size when `--shm-size` is not given: 64 MiB.
pub const DEFAULT_SHM_SIZE: i64 = 64 << 20;

/// The tmpfs of a `--ipc shareable` container's `/dev/shm`, in its directory.
pub const SHAREABLE_SHM: &str = "shm";

/// A `--pid`, `--ipc` or `--uts` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// A namespace of its own (no value, or `private`).
    Private,
    /// `--ipc shareable`: its own, which `--ipc container:` may join.
    Shareable,
    /// `--ipc none`: its own, and no `/dev/shm` at all.
    NoShm,
    /// `host`: the host's namespace, none of its own.
    Host,
    /// `container:NAME`: the namespace of that container's init.
    Container(String),
}

impl Mode {
    /// The values of `flag` Docker accepts: `--pid host|container:NAME`, `--uts host`,
    /// `--ipc none|private|shareable|host|container:NAME`; empty is the default.
    pub fn parse(flag: &'static str, value: &str) -> Result<Mode> {
        let ipc = flag == "--ipc";
        let mode = match value {
            "" => Mode::Private,
            "host" => Mode::Host,
            "private" if ipc => Mode::Private,
            "shareable" if ipc => Mode::Shareable,
            "none" if ipc => Mode::NoShm,
            v => match v.strip_prefix("container:") {
                Some(c) if !c.is_empty() && flag != "--uts" => Mode::Container(c.to_string()),
                _ => {
                    let allowed = match flag {
                        "--ipc" => "none, private, shareable, host or container:NAME",
                        "--pid" => "host or container:NAME",
                        _ => "host",
                    };
                    let kind = flag.trim_start_matches('-').to_ascii_uppercase();
                    return Err(Error::InvalidFlag {
                        flag,
                        value: value.to_string(),
                        reason: format!("invalid {kind} mode: use {allowed}"),
                    });
                }
            },
        };
        Ok(mode)
    }

    /// The container this mode joins, if any.
    pub fn container(&self) -> Option<&str> {
        match self {
            Mode::Container(c) => Some(c),
            _ => None,
        }
    }

    /// Whether `--ipc container:` may join a container of this IPC mode: Docker's rule,
    /// a donor must have been made `shareable` (or share a `/dev/shm` itself).
    pub fn ipc_shareable(&self) -> bool {
        matches!(self, Mode::Shareable | Mode::Host | Mode::Container(_))
    }
}

/// The three modes of `opts`; its values were checked by [`check`].
pub fn modes(opts: &RunOptions) -> (Mode, Mode, Mode) {
    let m = |flag, v: &str| Mode::parse(flag, v).unwrap_or(Mode::Private);
    (m("--pid", &opts.pid), m("--ipc", &opts.ipc), m("--uts", &opts.uts))
}

/// Refuses what Docker refuses before anything is made: a bad mode, `--hostname` with
/// `--uts host`, a size that is not positive, a sysctl that is not namespaced or whose
/// namespace is the host's.
pub fn check(opts: &RunOptions) -> Result<()> {
    Mode::parse("--pid", &opts.pid)?;
    let ipc = Mode::parse("--ipc", &opts.ipc)?;
    let uts = Mode::parse("--uts", &opts.uts)?;
    if uts == Mode::Host {
        if let Some(h) = &opts.hostname {
            return Err(Error::InvalidFlag {
                flag: "--hostname",
                value: h.clone(),
                reason: "conflicting options: hostname and the UTS mode".into(),
            });
        }
    }
    if let Some(s) = opts.shm_size.filter(|s| *s <= 0) {
        return Err(Error::InvalidFlag {
            flag: "--shm-size",
            value: s.to_string(),
            reason: "must be a positive size".into(),
        });
    }
    let host_net =
        crate::network::plan::parse_mode(&opts.network).0 == crate::network::plan::Mode::Host;
    for (key, value) in &opts.sysctls {
        let bad = |reason: String| Error::InvalidFlag {
            flag: "--sysctl",
            value: format!("{key}={value}"),
            reason,
        };
        match sysctl_namespace(key) {
            None => return Err(bad(format!("sysctl '{key}={value}' is not allowed"))),
            Some("network") if host_net => {
                return Err(bad(format!("sysctl {key:?} not allowed in host network namespace")))
            }
            Some("ipc") if ipc == Mode::Host => {
                return Err(bad(format!(
                    "sysctl {key:?} is not allowed in the hosts ipc namespace"
                )))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// The namespace a sysctl Docker allows belongs to; `None` for any other.
fn sysctl_namespace(key: &str) -> Option<&'static str> {
    const IPC: [&str; 8] = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    if IPC.contains(&key) || key.starts_with("fs.mqueue.") {
        Some("ipc")
    } else if key.starts_with("net.") {
        Some("network")
    } else {
        None
    }
}

/// Parses `--sysctl KEY=VALUE` flags into a map (a later key wins, as in Docker's map).
pub fn parse_sysctls(flags: &[String]) -> Result<std::collections::BTreeMap<String, String>> {
    let mut map = std::collections::BTreeMap::new();
    for f in flags {
        match f.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                map.insert(k.to_string(), v.to_string());
            }
            _ => {
                return Err(Error::InvalidFlag {
                    flag: "--sysctl",
                    value: f.clone(),
                    reason: format!("sysctl '{f}' is not allowed: expected KEY=VALUE"),
                })
            }
        }
    }
    Ok(map)
}

/// The `/dev/shm` mount of `ipc` (`None`: none at all) for the container in `dir`. A
/// shareable one is a tmpfs the engine mounts in `dir` (`ops::shared_namespaces`), which
/// the containers that join it bind too: their source is set at start, and empty until
/// then, so a config nobody completed fails instead of sharing something else.
pub fn shm_mount(ipc: &Mode, shm_size: Option<i64>, dir: &std::path::Path) -> Option<Value> {
    let bind = |source: &str| {
        let options = ["rbind", "rprivate"];
        json!({"destination": "/dev/shm", "type": "bind", "source": source, "options": options})
    };
    match ipc {
        Mode::NoShm => None,
        Mode::Host => Some(bind("/dev/shm")),
        Mode::Container(_) => Some(bind("")),
        Mode::Shareable => Some(bind(&dir.join(SHAREABLE_SHM).display().to_string())),
        Mode::Private => {
            let size = format!("size={}", shm_size.unwrap_or(DEFAULT_SHM_SIZE));
            let options = ["nosuid", "noexec", "nodev", "mode=1777", &size];
            let mut tmpfs = json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm"});
            tmpfs["options"] = json!(options);
            Some(tmpfs)
        }
    }
}

/// Drops the namespaces `opts` shares with the host from `spec`, and its hostname with the
/// host's UTS namespace (a runtime refuses a hostname it cannot set); adds the sysctls.
pub fn apply(spec: &mut Value, opts: &RunOptions) {
    let (pid, ipc, uts) = modes(opts);
    let host: Vec<&str> = [("pid", &pid), ("ipc", &ipc), ("uts", &uts)]
        .iter()
        .filter(|(_, m)| **m == Mode::Host)
        .map(|(t, _)| *t)
        .collect();
    if let Some(nss) = spec["linux"]["namespaces"].as_array_mut() {
        nss.retain(|ns| !host.iter().any(|t| ns["type"] == *t));
    }
    if uts == Mode::Host {
        if let Some(o) = spec.as_object_mut() {
            o.remove("hostname");
        }
    }
    if !opts.sysctls.is_empty() {
        spec["linux"]["sysctl"] = json!(opts.sysctls);
    }
}

/// The host's hostname, which a container in its UTS namespace has.
pub fn host_hostname() -> String {
    rustix::system::uname().nodename().to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(f: impl FnOnce(&mut RunOptions)) -> RunOptions {
        let mut o = RunOptions { network: "none".into(), ..Default::default() };
        f(&mut o);
        o
    }

    #[test]
    fn modes_as_docker_spells_them() {
        assert_eq!(Mode::parse("--pid", "").unwrap(), Mode::Private);
        assert_eq!(Mode::parse("--pid", "host").unwrap(), Mode::Host);
        assert_eq!(Mode::parse("--pid", "container:a").unwrap(), Mode::Container("a".into()));
        assert_eq!(Mode::parse("--ipc", "none").unwrap(), Mode::NoShm);
        assert_eq!(Mode::parse("--ipc", "shareable").unwrap(), Mode::Shareable);
        assert_eq!(Mode::parse("--ipc", "private").unwrap(), Mode::Private);
        assert_eq!(Mode::parse("--uts", "host").unwrap(), Mode::Host);
        for (flag, bad) in [
            ("--pid", "private"),
            ("--pid", "container:"),
            ("--uts", "container:a"),
            ("--uts", "private"),
            ("--ipc", "hots"),
        ] {
            let e = Mode::parse(flag, bad).unwrap_err().to_string();
            assert!(e.contains(flag) && e.contains("mode"), "{e}");
        }
        assert!(Mode::Shareable.ipc_shareable() && Mode::Host.ipc_shareable());
        assert!(!Mode::Private.ipc_shareable() && !Mode::NoShm.ipc_shareable());
    }

    #[test]
    fn docker_refuses_these_before_anything_is_made() {
        let err = |o: RunOptions| check(&o).unwrap_err().to_string();
        let e = err(opts(|o| {
            o.uts = "host".into();
            o.hostname = Some("h".into());
        }));
        assert!(e.contains("conflicting options: hostname and the UTS mode"), "{e}");
        assert!(err(opts(|o| o.shm_size = Some(0))).contains("--shm-size"));
        let sysctl = |k: &str, net: &str, ipc: &str| {
            check(&opts(|o| {
                o.sysctls.insert(k.into(), "1".into());
                o.network = net.into();
                o.ipc = ipc.into();
            }))
        };
        assert!(sysctl("net.ipv4.ip_forward", "none", "").is_ok());
        assert!(sysctl("kernel.shmmax", "none", "").is_ok());
        assert!(sysctl("fs.mqueue.msg_max", "none", "container:a").is_ok());
        let e = sysctl("kernel.hostname", "none", "").unwrap_err().to_string();
        assert!(e.contains("sysctl 'kernel.hostname=1' is not allowed"), "{e}");
        assert!(sysctl("vm.swappiness", "none", "").is_err());
        let e = sysctl("net.core.somaxconn", "host", "").unwrap_err().to_string();
        assert!(e.contains("not allowed in host network namespace"), "{e}");
        assert!(sysctl("kernel.sem", "none", "host").is_err());
        assert!(parse_sysctls(&["novalue".into()]).is_err());
        assert!(parse_sysctls(&["=1".into()]).is_err());
        let m = parse_sysctls(&["a.b=1".into(), "a.b=2=3".into()]).unwrap();
        assert_eq!(m["a.b"], "2=3", "the last one wins; the value keeps its '='");
    }

    #[test]
    fn host_namespaces_are_left_out_and_shm_follows_ipc() {
        let mut spec = json!({"hostname": "x", "linux": {"namespaces": [
            {"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}]}});
        let o = opts(|o| {
            o.pid = "host".into();
            o.uts = "host".into();
            o.ipc = "container:a".into();
            o.sysctls.insert("kernel.sem".into(), "1 2 3 4".into());
        });
        apply(&mut spec, &o);
        let dir = std::path::Path::new("/c");
        assert_eq!(spec["linux"]["namespaces"], json!([{"type": "ipc"}, {"type": "mount"}]));
        assert!(spec.get("hostname").is_none());
        assert_eq!(spec["linux"]["sysctl"]["kernel.sem"], "1 2 3 4");
        assert_eq!(shm_mount(&Mode::NoShm, None, dir), None);
        assert_eq!(shm_mount(&Mode::Host, None, dir).unwrap()["source"], "/dev/shm");
        assert_eq!(shm_mount(&Mode::Container("a".into()), None, dir).unwrap()["source"], "");
        let own = shm_mount(&Mode::Private, Some(16 << 20), dir).unwrap();
        assert!(own["options"].as_array().unwrap().contains(&json!("size=16777216")));
        let default = shm_mount(&Mode::Private, None, dir).unwrap();
        assert!(default["options"].as_array().unwrap().contains(&json!("size=67108864")));
        assert_eq!(shm_mount(&Mode::Shareable, None, dir).unwrap()["source"], "/c/shm");
    }

    #[test]
    fn the_config_of_the_flags() {
        let tmp = tempfile::tempdir().unwrap();
        let rootfs = tmp.path().join("rootfs");
        std::fs::create_dir_all(rootfs.join("etc")).unwrap();
        std::fs::write(rootfs.join("etc/group"), "root:x:0:\naudio:x:29:\n").unwrap();
        let o = opts(|o| {
            o.command = vec!["sh".into()];
            o.pid = "host".into();
            o.uts = "host".into();
            o.shm_size = Some(16 << 20);
            o.sysctls.insert("net.ipv4.ip_forward".into(), "1".into());
            o.devices = vec!["/dev/null:/dev/mynull:rw".into()];
            o.group_add = vec!["audio".into(), "1234".into(), "0".into()];
        });
        let s = crate::spec::build(&o, &"a".repeat(64), &rootfs, tmp.path()).unwrap();
        let types: Vec<&str> = s["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert_eq!(types, ["ipc", "mount", "cgroup", "network"]);
        assert!(s.get("hostname").is_none(), "no hostname without a UTS namespace");
        let hostname = std::fs::read_to_string(tmp.path().join("hostname")).unwrap();
        assert_eq!(hostname.trim(), host_hostname());
        let shm = s["mounts"].as_array().unwrap().iter().find(|m| m["destination"] == "/dev/shm");
        assert!(shm.unwrap()["options"].as_array().unwrap().contains(&json!("size=16777216")));
        assert_eq!(s["linux"]["sysctl"]["net.ipv4.ip_forward"], "1");
        assert_eq!(s["linux"]["devices"][0]["path"], "/dev/mynull");
        let rules = s["linux"]["resources"]["devices"].as_array().unwrap();
        assert_eq!(rules[0], json!({"allow": false, "access": "rwm"}), "deny first");
        assert_eq!(rules[1]["access"], "rw");
        assert_eq!(s["process"]["user"]["additionalGids"], json!([29, 1234]));
        let _: oci_spec::runtime::Spec = serde_json::from_value(s).unwrap();
        let none = opts(|o| {
            o.command = vec!["sh".into()];
            o.ipc = "none".into();
        });
        let s = crate::spec::build(&none, &"a".repeat(64), &rootfs, tmp.path()).unwrap();
        assert!(!s["mounts"].as_array().unwrap().iter().any(|m| m["destination"] == "/dev/shm"));
    }
}

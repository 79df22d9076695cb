//! The OCI config of a container, from `berth run`'s flags, with Docker's defaults: its
//! capability set, masked and read-only paths, mounts, PATH, and the engine's own
//! `/etc/hostname`, `/etc/hosts` and `/etc/resolv.conf`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::{Error, Result};

mod capabilities;
pub mod devices;
pub mod namespaces;
pub use capabilities::DEFAULT_CAPS;

const MASKED: [&str; 11] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];
const READONLY: [&str; 5] =
    ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];
const PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What `berth run`/`create` were asked for (kept in the record for `inspect`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunOptions {
    /// Image reference; `-` with `--rootfs`.
    pub image: String,
    /// `--rootfs DIR`: run a plain directory, like the seed's chroot demo.
    pub rootfs: Option<PathBuf>,
    /// Command and arguments after the image.
    pub command: Vec<String>,
    /// `--name`.
    pub name: Option<String>,
    /// `-e K=V`.
    pub env: Vec<String>,
    /// `-w`.
    pub workdir: Option<String>,
    /// `-u user[:group]` (names are looked up in the rootfs).
    pub user: Option<String>,
    /// `--hostname`.
    pub hostname: Option<String>,
    /// `--memory`, bytes.
    pub memory: Option<i64>,
    /// `--memory-swap`, bytes (memory + swap; -1 unlimited).
    pub memory_swap: Option<i64>,
    /// `--cpus`.
    pub cpus: Option<f64>,
    /// `--cpu-shares`.
    pub cpu_shares: Option<u64>,
    /// `--cpuset-cpus`.
    pub cpuset_cpus: Option<String>,
    /// `--pids-limit`.
    pub pids_limit: Option<i64>,
    /// `--read-only`.
    pub read_only: bool,
    /// `-v SRC:DST[:ro]`.
    pub volumes: Vec<String>,
    /// `--tmpfs DST[:opts]`.
    pub tmpfs: Vec<String>,
    /// `--cap-add`.
    pub cap_add: Vec<String>,
    /// `--cap-drop`.
    pub cap_drop: Vec<String>,
    /// `--privileged`.
    pub privileged: bool,
    /// `--network`: `bridge` (the default network), `none`, `host`, `container:NAME` or a
    /// network's name.
    pub network: String,
    /// `-t`.
    pub tty: bool,
    /// `-i`: the container's stdin stays open for `run -i`, `attach` and `start -i`.
    #[serde(default)]
    pub interactive: bool,
    /// `--rm`.
    pub auto_remove: bool,
    /// `-d`.
    pub detach: bool,
    /// `--security-opt`: `seccomp=unconfined`, `seccomp=FILE`, `no-new-privileges[=true]`.
    #[serde(default)]
    pub security_opt: Vec<String>,
    /// `--pull always|missing|never` (`missing` when empty).
    pub pull: String,
    /// `--entrypoint` (replaces the image's).
    pub entrypoint: Option<String>,
    /// `--cgroup-parent`: the container's cgroup is `<parent>/berth-<id>` (relative to the
    /// caller's own cgroup unless absolute); default `berth/<id>` under the caller's.
    pub cgroup_parent: Option<String>,
    /// `--restart no|on-failure[:N]|always|unless-stopped` (`no` when empty), applied by the
    /// monitor (see `ops::restart`).
    #[serde(default)]
    pub restart: String,
    /// `--label` and `--label-file`, merged over the image's labels.
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// `--ulimit NAME=SOFT[:HARD]` (see [`crate::ulimit`]).
    #[serde(default)]
    pub ulimits: Vec<String>,
    /// `--stop-signal` (or the image's `StopSignal`); SIGTERM when unset.
    #[serde(default)]
    pub stop_signal: Option<String>,
    /// `--stop-timeout`: seconds `stop` waits before SIGKILL when not given `-t` (10 when
    /// unset; -1 waits for ever).
    #[serde(default)]
    pub stop_timeout: Option<i64>,
    /// `--mount type=bind|volume|tmpfs,…` as given.
    #[serde(default)]
    pub mounts: Vec<String>,
    /// `-v` and `--mount` resolved by create (volumes named and made, see
    /// `ops::volume_mounts`): what the config mounts, `rm -v` and `volume rm` read.
    #[serde(default)]
    pub mount_points: Vec<crate::mounts::MountPoint>,
    /// The image's `Volumes` (its `VOLUME` paths): create makes an anonymous volume at each
    /// one no flag mounts something on.
    #[serde(default)]
    pub image_volumes: Vec<String>,
    /// `--init`: `berth-init` runs as pid 1 with the command as its child.
    #[serde(default)]
    pub init: bool,
    /// `-p [hostIP:][hostPort:]containerPort[/proto]`.
    #[serde(default)]
    pub publish: Vec<String>,
    /// `-P`: publish the image's exposed ports on free host ports.
    #[serde(default)]
    pub publish_all: bool,
    /// `--dns`.
    #[serde(default)]
    pub dns: Vec<String>,
    /// `--add-host HOST:IP`.
    #[serde(default)]
    pub add_host: Vec<String>,
    /// `--network-alias`.
    #[serde(default)]
    pub network_aliases: Vec<String>,
    /// `--pid`: empty (its own), `host` or `container:NAME` (see
    /// [`namespaces`](mod@namespaces)).
    #[serde(default)]
    pub pid: String,
    /// `--ipc`: empty (`private`), `none`, `private`, `shareable`, `host` or `container:NAME`.
    #[serde(default)]
    pub ipc: String,
    /// `--uts`: empty (its own) or `host`.
    #[serde(default)]
    pub uts: String,
    /// The ids of the containers `--pid`/`--ipc container:NAME` named when this one was
    /// created, so that a rename does not lose them (as the network plan keeps its own).
    #[serde(default)]
    pub pid_container: Option<String>,
    /// See `pid_container`.
    #[serde(default)]
    pub ipc_container: Option<String>,
    /// `--shm-size`, bytes ([`namespaces::DEFAULT_SHM_SIZE`] when unset).
    #[serde(default)]
    pub shm_size: Option<i64>,
    /// `--sysctl KEY=VALUE`.
    #[serde(default)]
    pub sysctls: std::collections::BTreeMap<String, String>,
    /// `--device HOST[:CONTAINER][:PERMS]` as given (see [`devices`]).
    #[serde(default)]
    pub devices: Vec<String>,
    /// `--group-add`: group names (looked up in the rootfs) or numbers.
    #[serde(default)]
    pub group_add: Vec<String>,
}

/// The container's hostname: `--hostname`, else the host's with `--uts host`, else the
/// id's first 12 characters.
pub fn hostname_of(opts: &RunOptions, id: &str) -> String {
    if let Some(h) = &opts.hostname {
        return h.clone();
    }
    if namespaces::modes(opts).2 == namespaces::Mode::Host {
        return namespaces::host_hostname();
    }
    id[..12.min(id.len())].to_string()
}

/// Builds the config for a container whose directory is `dir` (engine-made /etc files go
/// there) and whose root filesystem is `rootfs`.
pub fn build(opts: &RunOptions, id: &str, rootfs: &Path, dir: &Path) -> Result<Value> {
    let hostname = hostname_of(opts, id);
    let (uid, gid, mut extra_gids) = crate::user::resolve(rootfs, opts.user.as_deref())?;
    for g in crate::user::groups(rootfs, &opts.group_add)? {
        if g != gid && !extra_gids.contains(&g) {
            extra_gids.push(g);
        }
    }
    let mut env = vec![PATH.to_string(), format!("HOSTNAME={hostname}")];
    if opts.tty {
        env.push("TERM=xterm".into());
    }
    for kv in &opts.env {
        let key = kv.split('=').next().unwrap_or_default();
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(kv.clone());
    }
    let caps = capabilities::of(opts)?;
    let mut spec = json!({
        "ociVersion": "1.2.0",
        "process": {
            "terminal": opts.tty,
            "user": {"uid": uid, "gid": gid, "additionalGids": extra_gids},
            "args": opts.command,
            "env": env,
            "cwd": opts.workdir.clone().unwrap_or_else(|| "/".into()),
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "noNewPrivileges": false,
        },
        "root": {"path": rootfs, "readonly": opts.read_only},
        "hostname": hostname,
        "mounts": mounts(opts, dir)?,
        "linux": {
            "namespaces": namespaces(opts),
            "resources": resources(opts),
            "maskedPaths": if opts.privileged { json!([]) } else { json!(MASKED) },
            "readonlyPaths": if opts.privileged { json!([]) } else { json!(READONLY) },
        }
    });
    apply_security_opts(&mut spec, opts, &caps)?;
    crate::ulimit::apply(&mut spec, &opts.ulimits)?;
    crate::init_process::apply(&mut spec, opts)?;
    namespaces::apply(&mut spec, opts);
    let (nodes, rules) = devices::oci(&opts.devices)?;
    if !nodes.is_empty() {
        spec["linux"]["devices"] = json!(nodes);
    }
    let parent = opts.cgroup_parent.clone().unwrap_or_else(|| "berth".into());
    spec["linux"]["cgroupsPath"] = json!(format!("{}/berth-{id}", parent.trim_end_matches('/')));
    if opts.privileged {
        spec["linux"]["resources"]["devices"] = json!([{"allow": true, "access": "rwm"}]);
    } else if let Some(list) = spec["linux"]["resources"]["devices"].as_array_mut() {
        list.extend(rules);
    }
    write_etc_files(dir, opts, &hostname)?;
    Ok(spec)
}

/// The default seccomp profile unless `--privileged` or `seccomp=unconfined`; a profile file
/// given with `seccomp=FILE`; `no-new-privileges`.
fn apply_security_opts(spec: &mut Value, opts: &RunOptions, caps: &[String]) -> Result<()> {
    let mut profile = (!opts.privileged).then(|| crate::seccomp_profile::default_profile(caps));
    for o in &opts.security_opt {
        let bad = |reason: &str| Error::InvalidFlag {
            flag: "--security-opt",
            value: o.clone(),
            reason: reason.into(),
        };
        match o.split_once(['=', ':']) {
            Some(("seccomp", "unconfined")) => profile = None,
            Some(("seccomp", file)) => {
                let text = std::fs::read(file).map_err(|e| bad(&format!("read {file}: {e}")))?;
                profile = Some(
                    serde_json::from_slice(&text)
                        .map_err(|e| bad(&format!("parse {file}: {e}")))?,
                );
            }
            Some(("no-new-privileges", v)) if v == "true" || v == "false" => {
                spec["process"]["noNewPrivileges"] = json!(v == "true");
            }
            None if o == "no-new-privileges" => spec["process"]["noNewPrivileges"] = json!(true),
            _ => return Err(bad("use seccomp=unconfined|FILE or no-new-privileges[=true|false]")),
        }
    }
    if let Some(p) = profile {
        spec["linux"]["seccomp"] = p;
    }
    Ok(())
}

fn namespaces(opts: &RunOptions) -> Value {
    let mut ns = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
        json!({"type": "cgroup"}),
    ];
    // `container:NAME`'s path is the other container's init, known only when it starts
    // (`ops::run::launch` fills it in).
    match crate::network::plan::parse_mode(&opts.network).0 {
        crate::network::plan::Mode::Host => {}
        _ => ns.push(json!({"type": "network"})),
    }
    Value::Array(ns)
}

/// The `linux.resources` of `opts`' limits (with the default device rule).
pub(crate) fn resources(opts: &RunOptions) -> Value {
    let mut r = json!({"devices": [{"allow": false, "access": "rwm"}]});
    if opts.memory.is_some() || opts.memory_swap.is_some() {
        let mut m = json!({});
        if let Some(l) = opts.memory {
            m["limit"] = json!(l);
        }
        if let Some(s) = opts.memory_swap {
            m["swap"] = json!(s);
        }
        r["memory"] = m;
    }
    let mut cpu = serde_json::Map::new();
    if let Some(c) = opts.cpus {
        cpu.insert("quota".into(), json!(crate::bytesize::to_i64((c * 100_000.0).round())));
        cpu.insert("period".into(), json!(100_000u64));
    }
    if let Some(s) = opts.cpu_shares {
        cpu.insert("shares".into(), json!(s));
    }
    if let Some(c) = &opts.cpuset_cpus {
        cpu.insert("cpus".into(), json!(c));
    }
    if !cpu.is_empty() {
        r["cpu"] = Value::Object(cpu);
    }
    if let Some(p) = opts.pids_limit {
        r["pids"] = json!({"limit": p});
    }
    r
}

fn mounts(opts: &RunOptions, dir: &Path) -> Result<Value> {
    let mut m = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", if opts.privileged { "rw" } else { "ro" }]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}),
    ];
    // Where the default /dev/shm was, after /dev/pts: before any mount below it.
    if let Some(shm) = namespaces::shm_mount(&namespaces::modes(opts).1, opts.shm_size, dir) {
        m.insert(3, shm);
    }
    for f in ["hostname", "hosts", "resolv.conf"] {
        m.push(json!({"destination": format!("/etc/{f}"), "type": "bind", "source": dir.join(f), "options": ["rbind", "rprivate"]}));
    }
    m.extend(volume_mounts(opts)?);
    for t in &opts.tmpfs {
        let (dst, o) = t.split_once(':').unwrap_or((t.as_str(), ""));
        if !dst.starts_with('/') {
            return Err(Error::InvalidFlag {
                flag: "--tmpfs",
                value: t.clone(),
                reason: "the destination must be absolute".into(),
            });
        }
        let mut options = vec!["nosuid".to_string(), "nodev".to_string(), "noexec".to_string()];
        options.extend(o.split(',').filter(|s| !s.is_empty()).map(String::from));
        m.push(json!({"destination": dst, "type": "tmpfs", "source": "tmpfs", "options": options}));
    }
    Ok(Value::Array(m))
}

/// `-v` and `--mount` as create resolved them; bind mounts alone when nothing was resolved.
fn volume_mounts(opts: &RunOptions) -> Result<Vec<Value>> {
    if opts.mount_points.is_empty() {
        return crate::mounts::oci(&crate::mounts::parse_all(&opts.volumes, &opts.mounts)?);
    }
    crate::mounts::oci(&opts.mount_points)
}

/// The container's own `/etc/hostname`, `/etc/hosts` (without its network addresses,
/// which `network::etc::refresh` adds once they are allocated) and `/etc/resolv.conf`.
fn write_etc_files(dir: &Path, opts: &RunOptions, hostname: &str) -> Result<()> {
    let name = opts.name.as_deref().unwrap_or(hostname);
    let hosts = crate::network::etc::hosts(hostname, name, &[], &[], &opts.add_host)?;
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let resolv = crate::network::etc::resolv(&opts.dns, &host_resolv)?;
    for (name, text) in
        [("hostname", format!("{hostname}\n")), ("hosts", hosts), ("resolv.conf", resolv)]
    {
        let p = dir.join(name);
        std::fs::write(&p, text).map_err(Error::io("write", &p))?;
    }
    Ok(())
}

/// Rewrites the bundle config at `path` with `edit`: parsed (a config that does not parse
/// is an error, never rewritten as `null`), edited, and renamed into place, so a kill half
/// way leaves the old config, not half a new one.
pub(crate) fn edit_bundle(path: &Path, edit: impl FnOnce(&mut Value)) -> Result<()> {
    let text = std::fs::read(path).map_err(Error::io("read", path))?;
    let invalid = |e: serde_json::Error| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
    let mut spec: Value =
        serde_json::from_slice(&text).map_err(|e| Error::io("parse", path)(invalid(e)))?;
    edit(&mut spec);
    let text =
        serde_json::to_vec_pretty(&spec).map_err(|e| Error::io("encode", path)(invalid(e)))?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text).map_err(Error::io("write", &tmp))?;
    std::fs::rename(&tmp, path).map_err(Error::io("rename", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_defaults_and_limits() {
        let tmp = tempfile::tempdir().unwrap();
        let rootfs = tmp.path().join("rootfs");
        std::fs::create_dir_all(rootfs.join("etc")).unwrap();
        let opts = RunOptions {
            command: vec!["sh".into()],
            memory: Some(64 << 20),
            cpus: Some(0.5),
            pids_limit: Some(64),
            cap_drop: vec!["net_raw".into()],
            cap_add: vec!["sys_admin".into()],
            network: "none".into(),
            ..Default::default()
        };
        let s = build(&opts, &"a".repeat(64), &rootfs, tmp.path()).unwrap();
        assert_eq!(s["hostname"], "aaaaaaaaaaaa");
        assert_eq!(s["linux"]["resources"]["memory"]["limit"], 64 << 20);
        assert_eq!(s["linux"]["resources"]["cpu"]["quota"], 50_000);
        let caps: Vec<&str> = s["process"]["capabilities"]["bounding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert!(caps.contains(&"CAP_SYS_ADMIN") && !caps.contains(&"CAP_NET_RAW"));
        assert!(tmp.path().join("hosts").exists());
        let _: oci_spec::runtime::Spec = serde_json::from_value(s).unwrap();
    }
}

//! `berth inspect`: Docker-shaped JSON of a container.

use serde_json::{json, Value};

use super::Engine;
use crate::error::Result;
use crate::spec::RunOptions;

/// Docker's `Config.Volumes`: the image's `Volumes` as the image spells them, and the
/// targets of the anonymous volumes the flags asked for (`-v /dst`); `null` when none.
fn config_volumes(opts: &RunOptions) -> Value {
    use super::volume_mounts::clean;
    let image: Vec<_> = opts.image_volumes.iter().map(|v| clean(v)).collect();
    let mut out = serde_json::Map::new();
    for v in &opts.image_volumes {
        out.insert(v.clone(), json!({}));
    }
    for m in opts.mount_points.iter().filter(|m| m.anonymous) {
        if !image.contains(&clean(&m.target)) {
            out.insert(m.target.clone(), json!({}));
        }
    }
    if out.is_empty() {
        Value::Null
    } else {
        Value::Object(out)
    }
}

/// The inspect document of `key`.
pub fn inspect(e: &Engine, key: &str) -> Result<Value> {
    let mut r = e.get(key)?;
    let opts: RunOptions = serde_json::from_str(&r.config).unwrap_or_default();
    let paused = r.state == "running" && super::pause::is_paused(e, &r);
    // In its restart back-off: Docker's `Restarting` (and still `Running`), no pid.
    super::restart::show_restarting(&e.paths.container_run(&r.id), &mut r);
    let restarting = r.state == "restarting";
    let running = r.state == "running" || restarting;
    let policy = super::restart::Policy::parse(&opts.restart).unwrap_or_default();
    let dir = e.paths.container(&r.id);
    let mounts: Vec<Value> =
        opts.mount_points.iter().map(crate::mounts::MountPoint::to_docker).collect();
    let volumes = config_volumes(&opts);
    let mut doc = json!({
        "Id": r.id,
        "Created": r.created,
        "Path": r.command.first(),
        "Args": r.command.get(1..).unwrap_or_default(),
        "State": {
            "Status": if paused { "paused" } else { r.state.as_str() },
            "Running": running,
            "Paused": paused,
            "Restarting": restarting,
            "OOMKilled": r.oom_killed,
            "Dead": false,
            "Pid": r.pid,
            "ExitCode": r.exit_code.unwrap_or(0),
            "StartedAt": r.started_at.clone().unwrap_or_default(),
            "FinishedAt": r.finished_at.clone().unwrap_or_default(),
        },
        "Image": r.image,
        "Name": format!("/{}", r.name),
        "LogPath": dir.join("container.log"),
        "RestartCount": super::restart::count(&dir),
        "Mounts": mounts,
        "Config": {
            "Hostname": opts.hostname.clone().unwrap_or_else(|| r.id[..12.min(r.id.len())].to_string()),
            "User": opts.user.clone().unwrap_or_default(),
            "Env": opts.env,
            "Cmd": r.command,
            "Image": r.image,
            "WorkingDir": opts.workdir.clone().unwrap_or_default(),
            "Tty": opts.tty,
            "OpenStdin": opts.interactive,
            "AttachStdin": opts.interactive && !opts.detach,
            "Labels": opts.labels,
            "StopSignal": opts.stop_signal.clone().unwrap_or_else(|| "SIGTERM".into()),
            "StopTimeout": opts.stop_timeout,
            "Volumes": volumes,
        },
        "HostConfig": {
            "Runtime": r.runtime,
            "AutoRemove": r.auto_remove,
            "RestartPolicy": {"Name": policy.name(), "MaximumRetryCount": policy.max_retries()},
            "Memory": opts.memory.unwrap_or(0),
            "MemorySwap": opts.memory_swap.unwrap_or(0),
            "NanoCpus": opts.cpus.map(|c| crate::bytesize::to_i64(c * 1e9)).unwrap_or(0),
            "CpuShares": opts.cpu_shares.unwrap_or(0),
            "PidsLimit": opts.pids_limit,
            "ReadonlyRootfs": opts.read_only,
            "Init": opts.init,
            "Privileged": opts.privileged,
            "NetworkMode": opts.network,
            "Binds": opts.volumes,
            "PortBindings": super::network::settings(e, &r.id)["Ports"].clone(),
            "Dns": opts.dns,
            "ExtraHosts": opts.add_host,
            "CapAdd": opts.cap_add,
            "CapDrop": opts.cap_drop,
            "Ulimits": crate::ulimit::parse_all(&opts.ulimits)
                .unwrap_or_default()
                .iter()
                .map(crate::ulimit::Ulimit::to_docker)
                .collect::<Vec<_>>(),
        },
        "NetworkSettings": super::network::settings(e, &r.id),
    });
    if let Some(h) = doc["HostConfig"].as_object_mut() {
        h.extend(kernel_settings(&opts));
    }
    Ok(doc)
}

/// HostConfig's `PidMode`, `IpcMode`, `UTSMode`, `ShmSize`, `Sysctls` (left out when none,
/// as Docker does), `Devices` and `GroupAdd`, with Docker's defaults.
fn kernel_settings(opts: &RunOptions) -> serde_json::Map<String, Value> {
    let devices: Vec<Value> = opts
        .devices
        .iter()
        .filter_map(|d| crate::spec::devices::DeviceMapping::parse(d).ok())
        .map(|d| d.to_docker())
        .collect();
    let mut h = serde_json::Map::new();
    h.insert("PidMode".into(), json!(opts.pid));
    h.insert("IpcMode".into(), json!(if opts.ipc.is_empty() { "private" } else { &opts.ipc }));
    h.insert("UTSMode".into(), json!(opts.uts));
    let shm = opts.shm_size.unwrap_or(crate::spec::namespaces::DEFAULT_SHM_SIZE);
    h.insert("ShmSize".into(), json!(shm));
    if !opts.sysctls.is_empty() {
        h.insert("Sysctls".into(), json!(opts.sysctls));
    }
    h.insert("Devices".into(), json!(devices));
    let groups = if opts.group_add.is_empty() { Value::Null } else { json!(opts.group_add) };
    h.insert("GroupAdd".into(), groups);
    h
}

//! The namespaces a container joins from another container (`--network`, `--pid` and
//! `--ipc container:NAME`): that container is named at create, and its init's namespaces
//! are written into the bundle at every start, because its pid changes when it restarts.

use std::path::Path;

use rustix::mount::MountFlags;
use serde_json::json;

use super::Engine;
use crate::db::Record;
use crate::error::{Error, Result};
use crate::spec::RunOptions;

/// Create's part: the containers `--pid`/`--ipc container:NAME` name must exist; their ids
/// are kept in `opts` (a rename of theirs must not lose them).
pub(crate) fn resolve(e: &Engine, opts: &mut RunOptions) -> Result<()> {
    let (pid, ipc, _) = crate::spec::namespaces::modes(opts);
    opts.pid_container = pid.container().map(|c| e.get(c)).transpose()?.map(|r| r.id);
    opts.ipc_container = ipc.container().map(|c| e.get(c)).transpose()?.map(|r| r.id);
    Ok(())
}

/// Start's part: the bundle of container `id` (directory `dir`) gets the namespaces of the
/// containers it shares them with, which must be running, and the `/dev/shm` of the one
/// whose IPC namespace it joins.
pub(crate) fn join(e: &Engine, id: &str, dir: &Path, opts: &RunOptions) -> Result<()> {
    let mut joins: Vec<(&str, &str, String)> = Vec::new();
    if let crate::network::plan::Mode::Container(other) = crate::network::plan::load(dir).mode {
        joins.push(("network", "net", other));
    }
    if let Some(other) = &opts.pid_container {
        joins.push(("pid", "pid", other.clone()));
    }
    if let Some(other) = &opts.ipc_container {
        joins.push(("ipc", "ipc", other.clone()));
    }
    if joins.is_empty() {
        return Ok(());
    }
    let mut paths = Vec::new();
    let mut shm = None;
    for (kind, proc_name, other) in joins {
        let o = running(e, id, kind, &other)?;
        if kind == "ipc" {
            shm = Some(donor_shm(e, o.clone())?);
        }
        paths.push((kind, format!("/proc/{}/ns/{proc_name}", o.pid)));
    }
    crate::spec::edit_bundle(&dir.join("bundle/config.json"), |spec| {
        if let Some(nss) = spec["linux"]["namespaces"].as_array_mut() {
            for (kind, path) in &paths {
                for ns in nss.iter_mut().filter(|ns| ns["type"] == *kind) {
                    ns["path"] = json!(path);
                }
            }
        }
        if let (Some(src), Some(mounts)) = (&shm, spec["mounts"].as_array_mut()) {
            for m in mounts.iter_mut().filter(|m| m["destination"] == "/dev/shm") {
                m["source"] = json!(src);
            }
        }
    })
}

/// The monitor's part, before it starts container `id` again by its restart policy: the
/// containers it shares namespaces with may have restarted too (new inits, new pids), and
/// a `/proc/PID/ns/...` of the last start could now name an unrelated process. So the
/// bundle is brought up to date as `start` does, from the records, found from the
/// bundle's own path (`DATA/containers/ID/bundle`) and the monitor's run directory
/// (`RUN/containers/ID`). Nothing is opened for a container that joins none.
pub(crate) fn refresh_for_restart(bundle: &Path, run_dir: &Path, id: &str) -> Result<()> {
    let config = bundle.join("config.json");
    let spec: serde_json::Value = std::fs::read(&config)
        .ok()
        .and_then(|t| serde_json::from_slice(&t).ok())
        .unwrap_or_default();
    let joins = spec["linux"]["namespaces"].as_array().is_some_and(|nss| {
        nss.iter().any(|ns| ns["path"].as_str().is_some_and(|p| p.starts_with("/proc/")))
    });
    if !joins {
        return Ok(());
    }
    // DATA/containers/ID/bundle, and RUN/containers/ID.
    let data = bundle.parent().and_then(Path::parent).and_then(Path::parent);
    let run = run_dir.parent().and_then(Path::parent);
    let (Some(data), Some(run)) = (data.map(Path::to_path_buf), run.map(Path::to_path_buf)) else {
        return Err(Error::WrongState {
            op: "restart",
            id: id.to_string(),
            reason: format!("cannot tell the data root from {}", bundle.display()),
        });
    };
    let e = Engine::open(crate::paths::Paths { data, run })?;
    let r = e.db.get(id)?;
    let opts: RunOptions = serde_json::from_str(&r.config).unwrap_or_default();
    let dir = e.paths.container(id);
    mount_shareable_shm(&dir, &opts)?;
    join(&e, id, &dir, &opts)
}

/// The `/dev/shm` source of the container `o`, whose IPC namespace another joins: that of
/// its config, a directory on the host, which only a container made `shareable` (or itself
/// sharing one) has; a private one's is in its own mount namespace, where no bind mount can
/// reach it.
fn donor_shm(e: &Engine, o: Record) -> Result<String> {
    let theirs: RunOptions = serde_json::from_str(&o.config).unwrap_or_default();
    let path = e.paths.container(&o.id).join("bundle/config.json");
    let spec: serde_json::Value =
        std::fs::read(&path).ok().and_then(|t| serde_json::from_slice(&t).ok()).unwrap_or_default();
    let source = spec["mounts"].as_array().and_then(|ms| {
        ms.iter()
            .find(|m| m["destination"] == "/dev/shm" && m["type"] == "bind")
            .and_then(|m| m["source"].as_str().filter(|s| !s.is_empty()))
            .map(String::from)
    });
    match source {
        Some(s) if crate::spec::namespaces::modes(&theirs).1.ipc_shareable() => Ok(s),
        _ => Err(Error::WrongState {
            op: "join the IPC namespace of",
            id: o.id,
            reason: "non-shareable IPC (hint: use --ipc shareable for the donor container)".into(),
        }),
    }
}

/// `--ipc shareable`: the container's `/dev/shm` is a tmpfs on the host, in its directory,
/// which the containers joining its IPC namespace bind too (as Docker does). Mounted at
/// each start unless it still is; it stays until the container is removed.
pub(crate) fn mount_shareable_shm(dir: &Path, opts: &RunOptions) -> Result<()> {
    if crate::spec::namespaces::modes(opts).1 != crate::spec::namespaces::Mode::Shareable {
        return Ok(());
    }
    let path = dir.join(crate::spec::namespaces::SHAREABLE_SHM);
    if super::rootfs::is_mountpoint(&path) {
        return Ok(());
    }
    crate::paths::mkdir(&path)?;
    let size = opts.shm_size.unwrap_or(crate::spec::namespaces::DEFAULT_SHM_SIZE);
    let data = std::ffi::CString::new(format!("mode=1777,size={size}")).unwrap_or_default();
    let flags = MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC;
    rustix::mount::mount("shm", &path, "tmpfs", flags, Some(data.as_c_str()))
        .map_err(|x| Error::Io { op: "mount /dev/shm on", path, source: x.into() })
}

/// Unmounts the shareable `/dev/shm` of the container in `dir`, if it has one mounted.
pub(crate) fn release_shm(dir: &Path) -> Result<()> {
    super::rootfs::unmount_all(&dir.join(crate::spec::namespaces::SHAREABLE_SHM))
}

/// The record of `other`, whose `kind` namespace container `id` joins: it must be running.
fn running(e: &Engine, id: &str, kind: &str, other: &str) -> Result<Record> {
    let o = e.get(other)?;
    if o.state == "running" && o.pid > 0 {
        return Ok(o);
    }
    let op = match kind {
        "network" => "join the network of",
        "pid" => "join the pid namespace of",
        _ => "join the IPC namespace of",
    };
    let what = if kind == "network" { "network".to_string() } else { format!("{kind} namespace") };
    Err(Error::WrongState {
        op,
        id: o.id,
        reason: format!("it is {}, so container {id} cannot share its {what}", o.state),
    })
}

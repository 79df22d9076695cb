//! `berth run` and `berth create`: a record, a bundle, and a monitor that creates and starts
//! the container; in the foreground, its output followed until it exits.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use super::Engine;
use crate::db::Record;
use crate::error::{Error, Result};
use crate::monitor;
use crate::spec::RunOptions;

/// What `run` did.
#[derive(Debug)]
pub struct Started {
    /// The container's id.
    pub id: String,
    /// Its init's host pid.
    pub pid: i32,
    /// The monitor's pipe: a foreground `run` follows the log and waits for the exit on it
    /// ([`crate::watch::MonitorPipe`]); `None` if it could not be kept.
    pub monitor: Option<crate::watch::MonitorPipe>,
}

/// Creates and starts a container; returns once it runs.
pub fn start_container(e: &Engine, opts: &RunOptions, runtime: Option<&Path>) -> Result<Started> {
    let rec = create_container(e, opts, runtime)?;
    let rt = e.runtime_of(&rec);
    // A foreground `run -t` connects once the container runs: keep its first output.
    let launched = launch(e, &rec, &rt, opts.tty && !opts.detach);
    crate::fault::point("start-after-monitor");
    match launched {
        Ok((pid, monitor)) => {
            e.db.set_running(&rec.id, pid, &crate::now())?;
            Ok(Started { id: rec.id, pid, monitor })
        }
        Err(err) => {
            let _ = super::rm::remove(e, &rec, true);
            super::volume_mounts::forget_created_by(e, &rec.id);
            Err(err)
        }
    }
}

/// `berth create`: the record (state `created`), the rootfs and the bundle; no monitor and
/// no runtime state until `start`.
pub fn create_container(e: &Engine, opts: &RunOptions, runtime: Option<&Path>) -> Result<Record> {
    let policy = super::restart::Policy::parse(&opts.restart)?;
    if opts.auto_remove && policy != super::restart::Policy::No {
        return Err(Error::InvalidFlag {
            flag: "--restart",
            value: opts.restart.clone(),
            reason: "conflicting options: --restart and --rm".into(),
        });
    }
    super::stop::check_options(opts)?;
    super::volume_mounts::check(opts)?;
    crate::spec::namespaces::check(opts)?;
    let id = crate::ids::new_id();
    let name = match &opts.name {
        Some(n) if !crate::ids::valid_name(n) => {
            return Err(Error::InvalidFlag {
                flag: "--name",
                value: n.clone(),
                reason: "only [a-zA-Z0-9][a-zA-Z0-9_.-]* is allowed".into(),
            })
        }
        Some(n) => n.clone(),
        None => crate::ids::name_for(&id),
    };
    let rt = crate::runtime::Runtime::new(runtime, e.paths.runtime_root());
    // Until the record exists, the directory is an orphan to `system prune`: keep it away.
    let _creating = super::prune::creating(e)?;
    let dir = e.paths.container(&id);
    crate::paths::mkdir(&dir.join("bundle"))?;
    // Nothing is recorded before the rootfs and the config are known to be good.
    let made = super::rootfs::prepare(e, opts, &dir).and_then(|rf| {
        crate::fault::point("create-after-rootfs");
        let mut effective = with_image_defaults(opts, &rf.config);
        super::shared_namespaces::resolve(e, &mut effective)?;
        super::volume_mounts::resolve(e, &mut effective, &rf.path, &id)?;
        let plan =
            crate::network::plan::prepare(e, &effective, &id, &dir, &rf.config["ExposedPorts"])?;
        crate::fault::point("create-after-network-plan");
        make_bundle(&effective, &id, &rf.path, &dir)?;
        let image = match &rf.image {
            Some(info) => {
                if let Some(store) = &rf.store {
                    let _ = store.hold(&info.id, &id);
                }
                opts.image.clone()
            }
            None => format!("rootfs:{}", rf.path.display()),
        };
        let rec = Record {
            id: id.clone(),
            name: name.clone(),
            image,
            command: effective.command.clone(),
            created: crate::now(),
            state: "created".into(),
            pid: 0,
            exit_code: None,
            started_at: None,
            finished_at: None,
            runtime: rt.path.display().to_string(),
            auto_remove: opts.auto_remove,
            config: serde_json::to_string(&effective).unwrap_or_default(),
            oom_killed: false,
        };
        e.db.insert(&rec)?;
        crate::fault::point("create-after-record");
        // Its addresses in its own hosts file, and its name in its peers'.
        if !plan.endpoints.is_empty() {
            crate::network::etc::refresh(e, &id)?;
        }
        for ep in &plan.endpoints {
            crate::network::etc::refresh_network(e, &ep.network);
        }
        Ok(rec)
    });
    match made {
        Ok(rec) => Ok(rec),
        Err(err) => {
            let _ = crate::network::plan::release(e, &id, &dir, false);
            if super::rootfs::release(&dir).is_ok() {
                let _ = std::fs::remove_dir_all(&dir);
            }
            if let Ok(store) = super::pull::store(e) {
                let _ = store.release(&id);
            }
            super::volume_mounts::forget_created_by(e, &id);
            Err(err)
        }
    }
}

/// The flags completed from the image config, as Docker does: the entrypoint and command,
/// the environment (image first, flags override), the working directory and the user.
fn with_image_defaults(opts: &RunOptions, cfg: &serde_json::Value) -> RunOptions {
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect())
            .unwrap_or_default()
    };
    let mut o = opts.clone();
    let entrypoint = match &opts.entrypoint {
        Some(ep) if ep.is_empty() => Vec::new(),
        Some(ep) => vec![ep.clone()],
        None => strings(&cfg["Entrypoint"]),
    };
    let cmd = if !opts.command.is_empty() || opts.entrypoint.is_some() {
        opts.command.clone()
    } else {
        strings(&cfg["Cmd"])
    };
    o.command = entrypoint.into_iter().chain(cmd).collect();
    let mut env = strings(&cfg["Env"]);
    env.extend(opts.env.iter().cloned());
    o.env = env;
    let non_empty = |v: &serde_json::Value| v.as_str().filter(|s| !s.is_empty()).map(String::from);
    o.workdir = opts.workdir.clone().or_else(|| non_empty(&cfg["WorkingDir"]));
    o.user = opts.user.clone().or_else(|| non_empty(&cfg["User"]));
    super::image_config::merge(&mut o, cfg);
    o
}

fn make_bundle(opts: &RunOptions, id: &str, rootfs: &Path, dir: &Path) -> Result<()> {
    if opts.command.is_empty() {
        return Err(Error::InvalidFlag {
            flag: "COMMAND",
            value: String::new(),
            reason: "no command given (and no image config to take one from)".into(),
        });
    }
    let spec = crate::spec::build(opts, id, rootfs, dir)?;
    let path = dir.join("bundle/config.json");
    let text = serde_json::to_vec_pretty(&spec).unwrap_or_default();
    std::fs::write(&path, text).map_err(Error::io("write", &path))
}

/// Starts the monitor and reads its one-line answer; returns the init's pid and the pipe
/// the monitor answered on, which it keeps writing to (`monitor` module docs).
/// `hold_output`: a client is about to attach to the terminal, which keeps its output
/// until then.
pub(crate) fn launch(
    e: &Engine,
    rec: &Record,
    rt: &crate::runtime::Runtime,
    hold_output: bool,
) -> Result<(i32, Option<crate::watch::MonitorPipe>)> {
    let opts: RunOptions = serde_json::from_str(&rec.config).unwrap_or_default();
    let run_dir = e.paths.container_run(&rec.id);
    crate::paths::mkdir(&run_dir)?;
    crate::paths::mkdir(&rt.root)?;
    let dir = e.paths.container(&rec.id);
    super::shared_namespaces::mount_shareable_shm(&dir, &opts)?;
    super::shared_namespaces::join(e, &rec.id, &dir, &opts)?;
    let args = monitor::Args {
        runtime: rt.path.clone(),
        runtime_root: rt.root.clone(),
        bundle: dir.join("bundle"),
        id: rec.id.clone(),
        log: dir.join("container.log"),
        exit: run_dir.join("exit"),
        pid_file: run_dir.join("pid"),
        runtime_log: run_dir.join("runtime.log"),
        restart: opts.restart,
        restarts: dir.join("restarts"),
        network: crate::network::plan::file(&dir),
        auto_remove: opts.auto_remove && opts.detach,
        tty: opts.tty,
        interactive: opts.interactive,
        hold_output: hold_output && opts.tty,
    };
    let bin = crate::runtime::sibling("berth-monitor");
    let mut child = Command::new(&bin)
        .args(args.to_argv())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(Error::io("start monitor", &bin))?;
    let mut line = String::new();
    let mut pipe = None;
    if let Some(out) = child.stdout.take() {
        let mut reader = BufReader::new(out);
        let _ = reader.read_line(&mut line);
        // Bytes the reader took past the line are wake-ups only: the log is read anyway.
        let fd = std::os::fd::OwnedFd::from(reader.into_inner());
        // Drained without blocking by the waits (`watch`).
        if rustix::fs::fcntl_setfl(&fd, rustix::fs::OFlags::NONBLOCK).is_ok() {
            pipe = Some(crate::watch::MonitorPipe::new(fd));
        }
    }
    let line = line.trim();
    if let Some(pid) = line.strip_prefix("ok ") {
        let pid = pid.parse().map_err(|_| Error::Runtime {
            runtime: rec.runtime.clone(),
            op: "start".into(),
            message: format!("monitor said {line:?}"),
        })?;
        return Ok((pid, pipe));
    }
    let _ = child.wait();
    let message = line.strip_prefix("error ").unwrap_or("the monitor exited without an answer");
    let Some(failed) = message.strip_prefix(crate::monitor::RUNTIME_FAILED) else {
        // The monitor's own step (a port, a network, the console) failed, not the runtime.
        return Err(Error::WrongState {
            op: "start",
            id: rec.id.clone(),
            reason: message.to_string(),
        });
    };
    let (op, message) = failed.split_once(' ').unwrap_or(("create", failed));
    Err(classify(&rec.runtime, op, message.to_string()))
}

/// Docker's exit codes for a program that cannot run: 127 not found, 126 not executable.
fn classify(runtime: &str, op: &str, message: String) -> Error {
    if message.contains("find program") || message.contains("find executable") {
        let code = if message.contains("Permission denied") { 126 } else { 127 };
        return Error::CannotRun { code, message };
    }
    Error::Runtime { runtime: runtime.to_string(), op: op.into(), message }
}

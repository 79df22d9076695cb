//! `berth run` and `berth create`: a record, a bundle, and a monitor that creates and starts
//! the container; in the foreground, its output followed until it exits.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
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
}

/// Creates and starts a container; returns once it runs.
pub fn start_container(e: &Engine, opts: &RunOptions, runtime: Option<&Path>) -> Result<Started> {
    let rootfs = rootfs_of(opts)?;
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
    let rec = Record {
        id: id.clone(),
        name,
        image: if opts.rootfs.is_some() {
            format!("rootfs:{}", rootfs.display())
        } else {
            opts.image.clone()
        },
        command: opts.command.clone(),
        created: crate::now(),
        state: "created".into(),
        pid: 0,
        exit_code: None,
        started_at: None,
        finished_at: None,
        runtime: rt.path.display().to_string(),
        auto_remove: opts.auto_remove,
        config: serde_json::to_string(opts).unwrap_or_default(),
    };
    // Nothing is made before the flags are known to be good: the spec first.
    let dir = e.paths.container(&id);
    crate::paths::mkdir(&dir.join("bundle"))?;
    let made = make_bundle(opts, &id, &rootfs, &dir).and_then(|()| e.db.insert(&rec));
    if let Err(err) = made {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(err);
    }
    match launch(e, &rec, &rt) {
        Ok(pid) => {
            e.db.set_running(&id, pid, &crate::now())?;
            Ok(Started { id, pid })
        }
        Err(err) => {
            let _ = super::rm::remove(e, &rec, true);
            Err(err)
        }
    }
}

fn rootfs_of(opts: &RunOptions) -> Result<PathBuf> {
    match &opts.rootfs {
        Some(dir) => {
            let abs = std::fs::canonicalize(dir).map_err(Error::io("open rootfs", dir))?;
            if !abs.is_dir() {
                return Err(Error::InvalidFlag {
                    flag: "--rootfs",
                    value: dir.display().to_string(),
                    reason: "not a directory".into(),
                });
            }
            Ok(abs)
        }
        None => Err(Error::InvalidFlag {
            flag: "IMAGE",
            value: opts.image.clone(),
            reason: "pulling images is not available yet; run a directory with --rootfs DIR -"
                .into(),
        }),
    }
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

/// Starts the monitor and reads its one-line answer.
fn launch(e: &Engine, rec: &Record, rt: &crate::runtime::Runtime) -> Result<i32> {
    let run_dir = e.paths.container_run(&rec.id);
    crate::paths::mkdir(&run_dir)?;
    crate::paths::mkdir(&rt.root)?;
    let dir = e.paths.container(&rec.id);
    let args = monitor::Args {
        runtime: rt.path.clone(),
        runtime_root: rt.root.clone(),
        bundle: dir.join("bundle"),
        id: rec.id.clone(),
        log: dir.join("container.log"),
        exit: run_dir.join("exit"),
        pid_file: run_dir.join("pid"),
        runtime_log: run_dir.join("runtime.log"),
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
    if let Some(out) = child.stdout.take() {
        let _ = BufReader::new(out).read_line(&mut line);
    }
    let line = line.trim();
    if let Some(pid) = line.strip_prefix("ok ") {
        return pid.parse().map_err(|_| Error::Runtime {
            runtime: rec.runtime.clone(),
            op: "start".into(),
            message: format!("monitor said {line:?}"),
        });
    }
    let _ = child.wait();
    let message =
        line.strip_prefix("error ").unwrap_or("the monitor exited without an answer").to_string();
    Err(classify(&rec.runtime, message))
}

/// Docker's exit codes for a program that cannot run: 127 not found, 126 not executable.
fn classify(runtime: &str, message: String) -> Error {
    if message.contains("find program") || message.contains("find executable") {
        let code = if message.contains("Permission denied") { 126 } else { 127 };
        return Error::CannotRun { code, message };
    }
    Error::Runtime { runtime: runtime.to_string(), op: "create".into(), message }
}

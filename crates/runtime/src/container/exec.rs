//! `exec`: run another process in a running container (runc's `exec`).
//!
//! Parent side, in order: read the record (the container must be created or running, not
//! paused unless asked, never stopped); build the process from `--process` or from the
//! config's process with the command line's overrides; open a pidfd on the init; enter its
//! pid namespace for our children (`setns` on a pid namespace only affects children); clone3
//! the new process, on cgroup v2 straight into the container's cgroup; on v1 move it there;
//! send `Go`; wait for end-of-file on the close-on-exec channel (the exec happened) or a
//! `Failed`; then, in the foreground, wait for it forwarding signals.

use std::collections::HashSet;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_sys::clone::Forked;
use berth_sys::signal::{self, SigSet};
use berth_sys::Context;
use oci_spec::runtime::{Capability, Linux, LinuxCapabilities, Process, Spec};

use rustix::process::{Pid, PidfdFlags};
use rustix::thread::ThreadNameSpaceType;
use tracing::instrument;

use crate::child::exec::ExecInit;
use crate::error::{Error, Result};
use crate::state::{self, Record, StateDir, Status};
use crate::sync::{Channel, Msg};

/// What `exec` runs, and how.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    /// State root.
    pub root: PathBuf,
    /// Container id.
    pub id: String,
    /// `--process FILE`: a complete process JSON; the overrides below are then ignored.
    pub process_file: Option<PathBuf>,
    /// Command and arguments.
    pub args: Vec<String>,
    /// `-e K=V`, added to (or replacing) the config's environment.
    pub env: Vec<String>,
    /// `--cwd`.
    pub cwd: Option<PathBuf>,
    /// `-u uid[:gid]`.
    pub user: Option<(u32, Option<u32>)>,
    /// `--additional-gids`.
    pub additional_gids: Vec<u32>,
    /// `--cap`: capabilities added to the bounding, effective, permitted and inheritable sets.
    pub caps: Vec<String>,
    /// `--no-new-privs`.
    pub no_new_privs: bool,
    /// `-t`.
    pub tty: bool,
    /// `--console-socket`.
    pub console_socket: Option<PathBuf>,
    /// `-d`: return once the process runs.
    pub detach: bool,
    /// `--pid-file`.
    pub pid_file: Option<PathBuf>,
    /// `--preserve-fds`.
    pub preserve_fds: u32,
    /// `--ignore-paused`.
    pub ignore_paused: bool,
}

/// Runs the process; returns its exit status in the foreground, 0 when detached.
#[instrument(skip_all, fields(id = %opts.id))]
pub fn exec(opts: &ExecOptions) -> Result<i32> {
    let dir = StateDir::open(&opts.root, &opts.id)?;
    let rec = dir.read()?.ok_or_else(|| Error::NotFound { id: opts.id.clone() })?;
    let status = state::status(&dir, &rec);
    let wrong =
        || Error::WrongState { op: "exec in", id: opts.id.clone(), status: status.to_string() };
    match status {
        Status::Created | Status::Running => {}
        Status::Paused if opts.ignore_paused => {}
        _ => return Err(wrong()),
    }
    let spec = crate::config::read_spec(&rec.bundle.join("config.json"))?;
    let process = build_process(&spec, opts)?;
    let affinity = crate::process::affinity::parse(&process)
        .map_err(|r| Error::InvalidConfig { field: "process.execCPUAffinity".into(), reason: r })?;
    let init_pidfd = open_init(&rec)?;
    // Other commands (kill, delete) must not wait for a long exec: the lock covers setup only.
    drop(dir);
    let all = SigSet::full();
    let old = signal::set_mask(&all).map_err(Error::sys("block signals"))?;
    let linux = spec.linux().as_ref();
    let seccomp = crate::seccomp::prepare(&spec)?.map(|p| p.for_process(&process));
    let result = spawn(opts, &rec, &process, linux, seccomp, &init_pidfd, affinity).and_then(
        |(pid, pidfd)| {
            if let Some(p) = &opts.pid_file {
                crate::container::create::write_pid_file(p, pid)?;
            }
            if opts.detach {
                return Ok(0);
            }
            crate::container::run::wait_forwarding(pid, &pidfd, &all)
        },
    );
    let _ = signal::set_mask(&old);
    result
}

fn open_init(rec: &Record) -> Result<OwnedFd> {
    let pid = Pid::from_raw(rec.pid).ok_or_else(|| Error::Sync(format!("bad pid {}", rec.pid)))?;
    let fd = rustix::process::pidfd_open(pid, PidfdFlags::empty())
        .op(&format!("pidfd_open {}", rec.pid))
        .map_err(Error::sys(format!("open container {}", rec.id)))?;
    // The pidfd now pins the process: if it is still our init, it stays so.
    if !state::process_alive(rec.pid, rec.pid_start) {
        return Err(Error::WrongState {
            op: "exec in",
            id: rec.id.clone(),
            status: "stopped".into(),
        });
    }
    Ok(fd)
}

fn spawn(
    opts: &ExecOptions,
    rec: &Record,
    process: &Process,
    linux: Option<&Linux>,
    seccomp: Option<crate::seccomp::Prepared>,
    init_pidfd: &OwnedFd,
    affinity: crate::process::affinity::ExecAffinity,
) -> Result<(i32, OwnedFd)> {
    let join = namespaces_to_join(rec.pid)?;
    let parent_join = parent_namespaces(join);
    if !parent_join.is_empty() {
        rustix::thread::move_into_thread_name_spaces(init_pidfd.as_fd(), parent_join)
            .op("setns into the container's pid namespace")
            .map_err(Error::sys("exec"))?;
    }
    // As for the init (create.rs): born in the cgroup2 directory, moving itself into the v1
    // ones, so no RCU grace period (7-13 ms per exec measured on the v1 build host).
    let entry = crate::container::cgroup_entry::CgroupEntry::open(&rec.cgroup)?;
    let (parent_chan, child_chan) = Channel::pair().op("socketpair").map_err(Error::sys("exec"))?;
    let console_socket = opts
        .console_socket
        .as_deref()
        .map(crate::container::create::connect_console)
        .transpose()?;
    let seccomp_listener = crate::seccomp::connect_listener(seccomp.as_ref())?;
    let state = serde_json::json!({
        "ociVersion": rec.oci_version, "id": rec.id, "status": "running", "pid": rec.pid,
        "bundle": rec.bundle, "annotations": rec.annotations,
    })
    .to_string();
    let init = ExecInit {
        process,
        linux,
        seccomp,
        seccomp_listener,
        state,
        host_pid: std::cell::Cell::new(0),
        chan: child_chan,
        init_pidfd,
        join: join - parent_join,
        self_join: entry.self_join(),
        console_socket,
        preserve_fds: opts.preserve_fds,
        final_affinity: affinity.last,
    };
    // execCPUAffinity.initial: the child is born with it, on this thread for the clone only.
    let restore = match &affinity.initial {
        Some(cpus) => {
            let old = crate::process::affinity::current().map_err(Error::sys("exec"))?;
            crate::process::affinity::set(cpus, "sched_setaffinity execCPUAffinity.initial")
                .map_err(Error::sys("exec"))?;
            Some(old)
        }
        None => None,
    };
    let forked = berth_sys::clone::clone3_checked(0, entry.clone_into());
    if let (Some(old), Ok(Forked::Parent { .. }) | Err(_)) = (&restore, &forked) {
        let _ = crate::process::affinity::set(old, "sched_setaffinity (restore)");
    }
    let forked = forked.map_err(Error::sys("start exec process"))?;
    let (pid, pidfd) = match forked {
        Forked::Child => crate::child::exec::run(&init),
        Forked::Parent { pid, pidfd } => (pid, pidfd),
    };
    drop(init);
    let killed = |e: Error| {
        let _ = berth_sys::process::pidfd_send_signal(&pidfd, 9);
        e
    };
    if entry.parent_moves() {
        rec.cgroup
            .add_process(pid)
            .map_err(|source| killed(Error::Cgroup { id: rec.id.clone(), source }))?;
    }
    parent_chan.send(Msg::Go { pid }).map_err(|e| killed(Error::Sync(e)))?;
    match parent_chan.recv(Duration::from_secs(60)) {
        Ok(Msg::Failed { step, msg }) => {
            let _ =
                rustix::process::waitpid(Pid::from_raw(pid), rustix::process::WaitOptions::empty());
            Err(Error::Child { who: "exec process", step, msg })
        }
        Ok(other) => Err(killed(Error::Sync(format!("unexpected message {other:?}")))),
        // The channel is close-on-exec: end-of-file means the program is running.
        Err(_) => Ok((pid, pidfd)),
    }
}

/// The namespaces the runtime itself enters before clone3: the pid namespace (it only
/// applies to children, so the new process is born in it). Without privileges in the
/// namespace's owner (rootless), the user namespace too, which grants them.
fn parent_namespaces(join: ThreadNameSpaceType) -> ThreadNameSpaceType {
    use ThreadNameSpaceType as T;
    if !join.contains(T::PROCESS_ID) {
        return T::empty();
    }
    if join.contains(T::USER) && !rustix::process::geteuid().is_root() {
        return T::USER | T::PROCESS_ID;
    }
    T::PROCESS_ID
}

/// The namespaces of the init that are not ours, read from `/proc/PID/ns`.
fn namespaces_to_join(pid: i32) -> Result<ThreadNameSpaceType> {
    use ThreadNameSpaceType as T;
    let kinds = [
        ("user", T::USER),
        ("mnt", T::MOUNT),
        ("pid", T::PROCESS_ID),
        ("net", T::NETWORK),
        ("ipc", T::INTER_PROCESS_COMMUNICATION),
        ("uts", T::HOST_NAME_AND_NIS_DOMAIN_NAME),
        ("cgroup", T::CONTROL_GROUP),
        ("time", T::TIME),
    ];
    let mut out = T::empty();
    for (name, flag) in kinds {
        let theirs = PathBuf::from(format!("/proc/{pid}/ns/{name}"));
        let ours = PathBuf::from(format!("/proc/self/ns/{name}"));
        let (a, b) = (ns_inode(&theirs), ns_inode(&ours));
        match (a, b) {
            (Some(a), Some(b)) if a != b => out |= flag,
            (None, _) if name != "time" => {
                let e = berth_sys::Error::new("stat", Some(&theirs), rustix::io::Errno::NOENT);
                return Err(Error::sys("read the container's namespaces")(e));
            }
            _ => {}
        }
    }
    Ok(out)
}

fn ns_inode(p: &Path) -> Option<(u64, u64)> {
    let st = rustix::fs::stat(p).ok()?;
    Some((st.st_dev, st.st_ino))
}

/// The process to run: `--process`, or the config's process with the overrides.
fn build_process(spec: &Spec, opts: &ExecOptions) -> Result<Process> {
    if let Some(path) = &opts.process_file {
        return read_process(path);
    }
    if opts.args.is_empty() {
        return Err(Error::InvalidConfig {
            field: "exec".into(),
            reason: "no command given".into(),
        });
    }
    let mut p = spec.process().clone().unwrap_or_default();
    p.set_args(Some(opts.args.clone()));
    p.set_terminal(Some(opts.tty));
    p.set_console_size(None);
    let mut env = p.env().clone().unwrap_or_default();
    for kv in &opts.env {
        let key = kv.split('=').next().unwrap_or_default();
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(kv.clone());
    }
    p.set_env(Some(env));
    if let Some(cwd) = &opts.cwd {
        p.set_cwd(cwd.clone());
    }
    let mut user = p.user().clone();
    if let Some((uid, gid)) = opts.user {
        user.set_uid(uid);
        if let Some(gid) = gid {
            user.set_gid(gid);
        }
    }
    if !opts.additional_gids.is_empty() {
        let mut gids = user.additional_gids().clone().unwrap_or_default();
        gids.extend(&opts.additional_gids);
        user.set_additional_gids(Some(gids));
    }
    p.set_user(user);
    if opts.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if !opts.caps.is_empty() {
        p.set_capabilities(Some(add_caps(
            p.capabilities().clone().unwrap_or_default(),
            &opts.caps,
        )?));
    }
    Ok(p)
}

fn add_caps(mut caps: LinuxCapabilities, names: &[String]) -> Result<LinuxCapabilities> {
    let mut extra = HashSet::new();
    for n in names {
        let cap: Capability = serde_json::from_value(serde_json::Value::String(n.clone()))
            .map_err(|_| Error::InvalidConfig {
                field: "--cap".into(),
                reason: format!("unknown capability {n:?}"),
            })?;
        extra.insert(cap);
    }
    let add = |set: &Option<HashSet<Capability>>| -> Option<HashSet<Capability>> {
        Some(set.clone().unwrap_or_default().union(&extra).cloned().collect())
    };
    caps.set_bounding(add(caps.bounding()));
    caps.set_effective(add(caps.effective()));
    caps.set_permitted(add(caps.permitted()));
    caps.set_inheritable(add(caps.inheritable()));
    Ok(caps)
}

fn read_process(path: &Path) -> Result<Process> {
    let bytes = std::fs::read(path).map_err(|e| Error::State {
        op: "read process file",
        path: path.to_path_buf(),
        source: e,
    })?;
    let mut de = serde_json::Deserializer::from_slice(&bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|e| Error::LoadConfig {
        path: path.to_path_buf(),
        field: e.path().to_string(),
        reason: e.into_inner().to_string(),
    })
}

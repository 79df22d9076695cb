//! `create`: everything up to a waiting init (runtime.md, "Create").
//!
//! Parent side, in order: validate the id and bundle (nothing exists yet, so a refusal leaves
//! nothing); take the id by making the state dir; make and configure the cgroup; make the exec
//! fifo and the sync channel; clone3 the init into its new namespaces; record it; write its id
//! maps and move it into the cgroup; then serve it through the hook phases until it reports
//! `Created`. Any failure kills the init and removes the cgroup and state dir.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_sys::clone::Forked;
use berth_sys::Context;
use oci_spec::runtime::LinuxNamespaceType;
use rustix::fs::{FileType, Mode, OFlags};
use tracing::{debug, instrument, warn};

use crate::child::{self, Init};
use crate::config::{self, Bundle};
use crate::container::cgroup_entry::CgroupEntry;
use crate::error::{Error, Result};
use crate::state::{self, Record, StateDir};
use crate::sync::{Channel, Msg};

/// Options of `create` (and of `run`).
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// State root (`--root`).
    pub root: PathBuf,
    /// Container id.
    pub id: String,
    /// Bundle directory.
    pub bundle: PathBuf,
    /// `--pid-file`.
    pub pid_file: Option<PathBuf>,
    /// `--console-socket`.
    pub console_socket: Option<PathBuf>,
    /// `--no-pivot`.
    pub no_pivot: bool,
    /// `--preserve-fds`.
    pub preserve_fds: u32,
}

/// A created container, as seen by the process that created it.
#[derive(Debug)]
pub struct Created {
    /// Host pid of the init.
    pub pid: i32,
    /// pidfd of the init (the caller may wait on it when it is the parent, as `run` is).
    pub pidfd: OwnedFd,
}

const PHASE_TIMEOUT: Duration = Duration::from_secs(300);

/// Creates the container; returns once the init waits for `start`.
#[instrument(skip_all, fields(id = %opts.id))]
pub fn create(opts: &CreateOptions) -> Result<Created> {
    crate::id::validate(&opts.id)?;
    let bundle = config::load(&opts.bundle, &opts.id)?;
    // Made on a helper thread meanwhile; joined before clone3 (crate::netns).
    let netns = crate::netns::start(&bundle);
    let mut dir = StateDir::create(&opts.root, &opts.id)?;
    crate::fault::point("create-after-state-dir");
    let mut cgroup = match resolve_cgroup(&bundle) {
        Ok(c) => c,
        Err(e) => {
            let _ = dir.remove();
            return Err(e);
        }
    };
    let mut pidfd = None;
    match create_in(opts, &bundle, &mut dir, &mut cgroup, netns, &mut pidfd) {
        Ok(created) => Ok(created),
        Err(e) => {
            debug!(error = %crate::error::chain(&e), "create failed: cleaning up");
            if let Some(fd) = &pidfd {
                let _ = rustix::process::pidfd_send_signal(fd, rustix::process::Signal::KILL);
                crate::container::wait::pidfd_exit(fd, Duration::from_secs(10));
            }
            let _ = cgroup.destroy();
            let _ = dir.remove();
            Err(e)
        }
    }
}

fn resolve_cgroup(bundle: &Bundle) -> Result<berth_cgroups::Cgroup> {
    let cg_err = |source| Error::Cgroup { id: bundle.id.clone(), source };
    let layout = berth_cgroups::Layout::detect().map_err(cg_err)?;
    let path = bundle.spec.linux().as_ref().and_then(|l| l.cgroups_path().clone());
    let default = format!("berth/{}", bundle.id);
    berth_cgroups::Cgroup::resolve(&layout, path.as_deref(), &default).map_err(cg_err)
}

fn create_in(
    opts: &CreateOptions,
    bundle: &Bundle,
    dir: &mut StateDir,
    cgroup: &mut berth_cgroups::Cgroup,
    netns: crate::netns::Pending,
    pidfd_out: &mut Option<OwnedFd>,
) -> Result<Created> {
    let cg_err = |source| Error::Cgroup { id: bundle.id.clone(), source };
    let res = bundle.spec.linux().as_ref().and_then(|l| l.resources().clone()).unwrap_or_default();
    // Recorded before anything is made (pid 0: no init yet), and again as each thing exists,
    // so that a `create` killed at any point leaves a record `delete` can clean up with.
    let mut rec = Record {
        oci_version: bundle.spec.version().clone(),
        id: bundle.id.clone(),
        pid: 0,
        pid_start: 0,
        bundle: bundle.dir.clone(),
        annotations: bundle.spec.annotations().clone().unwrap_or_default(),
        created: state::now_rfc3339(),
        cgroup: cgroup.clone(),
        hooks: bundle.spec.hooks().clone(),
        created_done: false,
    };
    dir.write(&rec)?;
    crate::fault::point("create-after-record");
    match cgroup.create() {
        Ok(()) => {
            let rules = crate::devices::with_default_rules(&res);
            cgroup.apply(&rules).map_err(cg_err)?;
        }
        // Rootless, without a delegated cgroup: runc's behaviour, go on without one, unless
        // the config asks for limits that only a cgroup can enforce.
        Err(e) if rootless_without_cgroup(&e) && !crate::devices::has_limits(&res) => {
            // runc is silent here; say so when the config named a cgroup it will not get.
            let asked = bundle.spec.linux().as_ref().is_some_and(|l| l.cgroups_path().is_some());
            match asked {
                true => {
                    warn!(error = %crate::error::chain(&e), "rootless: running without a cgroup")
                }
                false => {
                    debug!(error = %crate::error::chain(&e), "rootless: running without a cgroup")
                }
            }
            let _ = cgroup.destroy();
            *cgroup = cgroup.clone().without_dirs();
        }
        Err(e) => return Err(cg_err(e)),
    }
    rec.cgroup = cgroup.clone();
    dir.write(&rec)?;
    crate::fault::point("create-after-cgroup");
    let fifo = make_fifo(&dir.fifo(), container_root_ids(bundle))?;
    let (parent_chan, child_chan) =
        Channel::pair().op("socketpair").map_err(Error::sys("create sync channel"))?;
    let console_socket = opts.console_socket.as_deref().map(connect_console).transpose()?;
    let host_proc = rustix::fs::open(
        "/proc",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .op_path("open", Path::new("/proc"))
    .map_err(Error::sys("open host /proc"))?;
    join_pid_namespace(bundle)?;
    let entry = CgroupEntry::open(cgroup)?;
    let born_in_cgroup = entry.born_in_cgroup();
    let mut flags = bundle.namespaces.clone_flags;
    if born_in_cgroup && bundle.namespaces.new_cgroup {
        flags |= crate::namespace::clone_flag(LinuxNamespaceType::Cgroup);
    }
    let net_ns = netns.wait();
    if net_ns.is_some() {
        flags &= !crate::namespace::clone_flag(LinuxNamespaceType::Network);
    }
    let net_devices = bundle.spec.linux().as_ref().and_then(|l| l.net_devices().clone());
    // The init may go on at once, and mount while we record it, unless it must wait for
    // something we do to it first: id maps, moved devices.
    let go_at_once = !bundle.namespaces.new_user && net_devices.is_none();
    // It waits for the runtime hooks only when there are some, or when it cannot join its
    // cgroups itself and we move it meanwhile.
    let parent_moves_cgroup = entry.parent_moves();
    let await_hooks =
        crate::hooks::has_runtime_hooks(bundle.spec.hooks().as_ref()) || parent_moves_cgroup;
    let init = Init {
        bundle,
        chan: child_chan,
        fifo,
        host_proc,
        console_socket,
        preserve_fds: opts.preserve_fds,
        no_pivot: opts.no_pivot,
        cloned_into_cgroup: born_in_cgroup,
        self_join: entry.self_join(),
        cgroup,
        seccomp_listener: crate::seccomp::connect_listener(bundle.seccomp.as_ref())?,
        net_ns,
        go_at_once,
        await_hooks,
    };
    let forked = berth_sys::clone::clone3_checked(flags, entry.clone_into())
        .map_err(Error::sys("start container init"))?;
    let (pid, pidfd) = match forked {
        Forked::Child => {
            // The child's copy of the parent's end would keep the channel open after the
            // parent dies: the init would then wait for `Go` until its timeout instead of
            // reading end-of-file at once, and `state` would call it created meanwhile.
            drop(parent_chan);
            child::run(&init)
        }
        Forked::Parent { pid, pidfd } => (pid, pidfd),
    };
    drop(init);
    *pidfd_out = Some(pidfd);
    crate::fault::point("create-after-clone");
    // A create killed from here on leaves an init that either dies with it (parent-death
    // signal) or reads end-of-file at its next wait on the channel, before the container's
    // code runs; `delete` kills whatever has joined the cgroup meanwhile.
    if go_at_once {
        if let Err(e) = parent_chan.send(Msg::Go { pid }) {
            // The init goes on without waiting for `Go`: if it already failed and exited,
            // its `Failed` is the error to report, not our refused send.
            return Err(match parent_chan.recv(Duration::from_secs(1)) {
                Ok(Msg::Failed { step, msg }) => Error::Child { who: "container init", step, msg },
                _ => Error::Sync(e),
            });
        }
    }
    rec.pid = pid;
    rec.pid_start = state::proc_stat(pid).map(|s| s.1).unwrap_or(0);
    dir.write(&rec)?;
    if !go_at_once {
        // The init waits for `Go`: it is recorded, mapped and given its devices first.
        crate::idmap::write(bundle, pid)?;
        if let Some(devices) = &net_devices {
            crate::netdev::move_all(devices, pid).map_err(Error::sys("move linux.netDevices"))?;
        }
        parent_chan.send(Msg::Go { pid }).map_err(Error::Sync)?;
    }
    crate::fault::point("create-after-go");
    // Only when the init cannot join its v1 cgroups itself. It mounts its rootfs meanwhile
    // (nothing it does before `RunRuntimeHooks` is the container's code) and waits for
    // `HooksDone`, sent only after this, before anything that is.
    if parent_moves_cgroup {
        cgroup.add_process(pid).map_err(cg_err)?;
    }
    serve_init(bundle, &parent_chan, pid, await_hooks)?;
    rec.created_done = true;
    dir.write(&rec)?;
    if let Some(p) = &opts.pid_file {
        write_pid_file(p, pid)?;
    }
    crate::fault::point("create-before-detach");
    parent_chan.send(Msg::Detach).map_err(Error::Sync)?;
    let pidfd = pidfd_out.take().ok_or_else(|| Error::Sync("lost the init's pidfd".into()))?;
    Ok(Created { pid, pidfd })
}

/// A rootless runtime that may not make the cgroup (not delegated to its user).
fn rootless_without_cgroup(e: &berth_cgroups::Error) -> bool {
    let denied = [rustix::io::Errno::ACCESS, rustix::io::Errno::PERM, rustix::io::Errno::ROFS]
        .map(|e| e.raw_os_error());
    !rustix::process::geteuid().is_root() && e.raw_os_error().is_some_and(|n| denied.contains(&n))
}

/// The phases of the protocol in `sync` after `Go`: hooks, created.
fn serve_init(bundle: &Bundle, chan: &Channel, pid: i32, await_hooks: bool) -> Result<()> {
    let fail = |m: Msg| match m {
        Msg::Failed { step, msg } => Error::Child { who: "container init", step, msg },
        other => Error::Sync(format!("unexpected message {other:?}")),
    };
    chan.expect(&Msg::RunRuntimeHooks, PHASE_TIMEOUT).map_err(fail)?;
    // The init has joined its cgroups before it mounted anything.
    crate::fault::point("create-after-cgroup-join");
    if !await_hooks {
        return chan.expect(&Msg::Created, PHASE_TIMEOUT).map_err(fail);
    }
    let state = crate::hooks::state_json(bundle, pid, "creating");
    if let Some(h) = bundle.spec.hooks() {
        #[allow(deprecated)]
        let prestart = h.prestart().as_deref().unwrap_or_default();
        crate::hooks::run_all("prestart", prestart, &state)?;
        crate::hooks::run_all(
            "createRuntime",
            h.create_runtime().as_deref().unwrap_or_default(),
            &state,
        )?;
    }
    chan.send(Msg::HooksDone).map_err(Error::Sync)?;
    chan.expect(&Msg::Created, PHASE_TIMEOUT).map_err(fail)
}

/// A pid namespace can only be entered by children: setns here makes clone3 put the init in it.
fn join_pid_namespace(bundle: &Bundle) -> Result<()> {
    for (t, path) in &bundle.namespaces.join {
        if *t == LinuxNamespaceType::Pid {
            let fd = rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
                .op_path("open namespace", path)
                .map_err(Error::sys("join pid namespace"))?;
            rustix::thread::move_into_link_name_space(
                fd.as_fd(),
                Some(rustix::thread::LinkNameSpaceType::ProcessID),
            )
            .op_path("setns", path)
            .map_err(Error::sys("join pid namespace"))?;
        }
    }
    Ok(())
}

/// The host ids that the container's root maps to, when it has a new user namespace.
fn container_root_ids(bundle: &Bundle) -> Option<(u32, u32)> {
    if !bundle.namespaces.new_user {
        return None;
    }
    let linux = bundle.spec.linux().as_ref()?;
    let host = |maps: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>| {
        maps.as_deref()?.iter().find(|m| m.container_id() == 0).map(|m| m.host_id())
    };
    Some((host(linux.uid_mappings())?, host(linux.gid_mappings())?))
}

/// The fifo is owned by the container's root (mode 0600), so an init in a user namespace
/// can reopen it and nobody else can.
fn make_fifo(path: &Path, owner: Option<(u32, u32)>) -> Result<OwnedFd> {
    rustix::fs::mknodat(rustix::fs::CWD, path, FileType::Fifo, Mode::from_raw_mode(0o600), 0)
        .op_path("mkfifo", path)
        .map_err(Error::sys("create exec fifo"))?;
    // Only root can give a file away; a rootless runtime maps its own ids anyway.
    let root = rustix::process::geteuid().is_root();
    if let Some((uid, gid)) = owner.filter(|_| root) {
        let (uid, gid) = (rustix::fs::Uid::from_raw(uid), rustix::fs::Gid::from_raw(gid));
        rustix::fs::chown(path, Some(uid), Some(gid))
            .op_path("chown", path)
            .map_err(Error::sys("create exec fifo"))?;
    }
    rustix::fs::open(path, OFlags::PATH | OFlags::CLOEXEC, Mode::empty())
        .op_path("open", path)
        .map_err(Error::sys("create exec fifo"))
}

pub(crate) fn connect_console(path: &Path) -> Result<OwnedFd> {
    crate::socket::connect(path, "connect console socket")
}

pub(crate) fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let tmp = path.with_extension("berth-tmp");
    let io = |e| Error::State { op: "write pid file", path: path.to_path_buf(), source: e };
    std::fs::write(&tmp, pid.to_string()).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

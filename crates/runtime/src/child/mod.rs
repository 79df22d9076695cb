//! The container's init, from the moment `clone3` returns in the child until `execve`.
//!
//! [`run`] is one linear list of named steps; each step is a small function elsewhere
//! (`rootfs`, `process`, `hooks`) and each failure is sent to the parent as data
//! ([`Msg::Failed`]) naming the step, so nothing is lost once the child has pivoted away from
//! the host's filesystem. Nothing here logs: the child has no subscriber.
//!
//! The order, and why (details in `docs/lifecycle.md`):
//! 1. wait for the parent to write the id maps (and move `linux.netDevices`), so no code of
//!    the container ever runs with unmapped ids; without either, the `Go` is awaited only
//!    after step 4, so the mounts overlap the parent's recording of the init;
//! 2. die with the parent while `create` runs, so a killed `create` leaves no orphan; move
//!    into the v1 cgroups (v2: born there), so nothing runs outside them;
//! 3. join namespaces by path, enter the network namespace the runtime made ahead
//!    (`crate::netns`), then a new time namespace (needs offsets first);
//! 4. mounts, devices and links, while the host's paths are still reachable for bind sources;
//! 5. prestart and createRuntime hooks in the parent, then (in the container's cgroup now)
//!    the cgroup namespace and createContainer hooks here, all before pivot_root as the spec
//!    requires;
//! 6. pivot_root, then everything that must only see the container's tree: masked and
//!    read-only paths, hostname, sysctls, the read-only root, the console;
//! 7. report `Created`, wait on the exec fifo for `start`, run startContainer hooks;
//! 8. drop to the process's identity last (rlimits, oom score, umask, groups, uid, caps,
//!    no_new_privs), mark every other fd close-on-exec and exec.

pub(crate) mod exec;
mod finish;

use std::convert::Infallible;
use std::os::fd::OwnedFd;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::Bundle;
use crate::sync::{Channel, Msg};

/// A named step of the init's setup, used in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Step {
    /// Talking to the parent.
    Sync,
    /// Setting the parent-death signal.
    WatchParent,
    /// Moving into the v1 cgroups.
    JoinCgroup,
    /// `process.execCPUAffinity.final` of an exec'd process.
    CpuAffinity,
    /// setns into namespaces given by path.
    JoinNamespaces,
    /// Creating the time namespace and writing its offsets.
    TimeNamespace,
    /// Mounts, devices and links under the rootfs.
    PrepareRootfs,
    /// createContainer hooks.
    CreateContainerHooks,
    /// pivot_root (or move + chroot with --no-pivot).
    PivotRoot,
    /// maskedPaths and readonlyPaths.
    MaskPaths,
    /// hostname and domainname.
    Hostname,
    /// linux.sysctl.
    Sysctl,
    /// root.readonly and rootfsPropagation.
    FinishRoot,
    /// The pty and console socket.
    Console,
    /// Checking the program can be run.
    FindProgram,
    /// Waiting on the exec fifo.
    WaitStart,
    /// startContainer hooks.
    StartContainerHooks,
    /// rlimits, oom score, user, capabilities, no_new_privs.
    SetupProcess,
    /// Loading the seccomp filter (and handing its listener to the agent).
    Seccomp,
    /// execve of the user program.
    Exec,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            Step::Sync => "sync",
            Step::WatchParent => "watch parent",
            Step::JoinCgroup => "join cgroup",
            Step::CpuAffinity => "cpu affinity",
            Step::JoinNamespaces => "join namespaces",
            Step::TimeNamespace => "time namespace",
            Step::PrepareRootfs => "prepare rootfs",
            Step::CreateContainerHooks => "createContainer hooks",
            Step::PivotRoot => "pivot_root",
            Step::MaskPaths => "mask paths",
            Step::Hostname => "set hostname",
            Step::Sysctl => "sysctl",
            Step::FinishRoot => "finish root",
            Step::Console => "console",
            Step::FindProgram => "find program",
            Step::WaitStart => "wait for start",
            Step::StartContainerHooks => "startContainer hooks",
            Step::SetupProcess => "set up process",
            Step::Seccomp => "seccomp",
            Step::Exec => "exec",
        };
        f.write_str(s)
    }
}

/// Everything the init needs, prepared by the parent before `clone3`.
#[derive(Debug)]
pub(crate) struct Init<'a> {
    /// The validated bundle.
    pub bundle: &'a Bundle,
    /// The child's end of the sync channel.
    pub chan: Channel,
    /// `O_PATH` descriptor of the exec fifo in the state dir.
    pub fifo: OwnedFd,
    /// `/proc` of the host, kept to reopen the fifo after pivot_root.
    pub host_proc: OwnedFd,
    /// Connected `--console-socket`, when the process wants a terminal.
    pub console_socket: Option<OwnedFd>,
    /// `--preserve-fds`: descriptors 3..3+N stay open across exec.
    pub preserve_fds: u32,
    /// `--no-pivot`.
    pub no_pivot: bool,
    /// clone3 put the init straight into its (v2) cgroup, with its cgroup namespace.
    pub cloned_into_cgroup: bool,
    /// The v1 cgroups the init moves itself into first (none on v2, or when the runtime
    /// moves it instead).
    pub self_join: Option<&'a berth_cgroups::SelfJoin>,
    /// The container's cgroup, for cgroup mounts.
    pub cgroup: &'a berth_cgroups::Cgroup,
    /// Connected `linux.seccomp.listenerPath`, when a seccomp rule notifies.
    pub seccomp_listener: Option<OwnedFd>,
    /// The new network namespace made ahead by the runtime (`crate::netns`), to enter
    /// instead of one from clone3.
    pub net_ns: Option<OwnedFd>,
    /// The parent has nothing to do to the init before it mounts (no id maps, no devices to
    /// move): `Go` is awaited only before the hooks, and the mounts overlap its recording.
    pub go_at_once: bool,
    /// The parent runs prestart/createRuntime hooks or moves the init into its cgroups:
    /// wait for `HooksDone` before going on.
    pub await_hooks: bool,
}

/// A failed step, sent to the parent.
#[derive(Debug)]
pub(crate) struct Failure {
    pub step: Step,
    pub msg: String,
}

/// Lets each step say which step it is: `step(Step::X, result)?`.
pub(crate) fn step<T, E: std::fmt::Display>(s: Step, r: Result<T, E>) -> Result<T, Failure> {
    r.map_err(|e| Failure { step: s, msg: e.to_string() })
}

/// How long the init waits for the parent between two phases of `create`.
const PHASE_TIMEOUT: Duration = Duration::from_secs(300);

/// Runs the init's setup and execs the program. Never returns.
pub(crate) fn run(init: &Init<'_>) -> ! {
    let failure = match setup_and_exec(init) {
        Ok(never) => match never {},
        Err(f) => f,
    };
    let code = if failure.step == Step::Exec { 127 } else { 1 };
    // Before `Created` the parent is listening; after it, stderr is all there is.
    let sent = init.chan.send(Msg::Failed { step: failure.step, msg: failure.msg.clone() });
    if sent.is_err()
        || matches!(
            failure.step,
            Step::WaitStart
                | Step::StartContainerHooks
                | Step::SetupProcess
                | Step::Seccomp
                | Step::Exec
        )
    {
        eprintln!("berth-runtime: container init: {}: {}", failure.step, failure.msg);
    }
    std::process::exit(code)
}

fn wait_for(init: &Init<'_>, want: &Msg) -> Result<(), Failure> {
    init.chan.expect(want, PHASE_TIMEOUT).map_err(|m| match m {
        Msg::Failed { step, msg } => Failure { step, msg },
        other => Failure { step: Step::Sync, msg: format!("unexpected message {other:?}") },
    })
}

fn wait_for_go(init: &Init<'_>) -> Result<i32, Failure> {
    match init.chan.recv(PHASE_TIMEOUT) {
        Ok(Msg::Go { pid }) => Ok(pid),
        Ok(other) => {
            Err(Failure { step: Step::Sync, msg: format!("unexpected message {other:?}") })
        }
        Err(msg) => Err(Failure { step: Step::Sync, msg }),
    }
}

fn setup_and_exec(init: &Init<'_>) -> Result<Infallible, Failure> {
    let spec = &init.bundle.spec;
    let early_go = match init.go_at_once {
        true => None,
        false => Some(wait_for_go(init)?),
    };
    step(Step::WatchParent, finish::die_with_parent())?;
    // First, so nothing the init does is outside its cgroup; a thread moving itself skips
    // the RCU grace period of a move from outside (berth_cgroups::SelfJoin).
    if let Some(join) = init.self_join {
        step(Step::JoinCgroup, join.join())?;
    }
    if init.bundle.namespaces.new_user {
        step(Step::JoinNamespaces, finish::become_namespace_root())?;
    }
    step(Step::JoinNamespaces, finish::join_namespaces(&init.bundle.namespaces))?;
    if let Some(net) = &init.net_ns {
        step(Step::JoinNamespaces, finish::enter_network_namespace(net))?;
    }
    if init.bundle.namespaces.new_time {
        step(Step::TimeNamespace, finish::enter_time_namespace(spec))?;
    }
    step(Step::PrepareRootfs, crate::rootfs::prepare(init.bundle, init.cgroup))?;
    let host_pid = match early_go {
        Some(pid) => pid,
        None => wait_for_go(init)?,
    };
    step(Step::Sync, init.chan.send(Msg::RunRuntimeHooks))?;
    if init.await_hooks {
        wait_for(init, &Msg::HooksDone)?;
    }
    // In its cgroup since step 2 (or moved by the parent while we mounted, if it had to).
    if init.bundle.namespaces.new_cgroup && !init.cloned_into_cgroup {
        step(Step::JoinNamespaces, finish::enter_cgroup_namespace())?;
    }
    let hooks = spec.hooks().as_ref();
    let state = crate::hooks::state_json(init.bundle, host_pid, "created");
    if let Some(list) = hooks.and_then(|h| h.create_container().as_ref()) {
        step(Step::CreateContainerHooks, crate::hooks::run_all("createContainer", list, &state))?;
    }
    step(Step::PivotRoot, crate::rootfs::enter(init.bundle, init.no_pivot))?;
    step(Step::Hostname, finish::set_hostname(spec))?;
    // Before the read-only paths: /proc/sys is usually one of them.
    step(Step::Sysctl, finish::write_sysctls(spec))?;
    step(Step::MaskPaths, crate::rootfs::mask_paths(spec))?;
    step(Step::FinishRoot, crate::rootfs::finish(spec))?;
    let process = step(Step::Sync, spec.process().as_ref().ok_or("no process"))?;
    if process.terminal().unwrap_or(false) {
        step(Step::Console, crate::tty::setup(init.console_socket.as_ref(), process))?;
    }
    // Checked here so that a bad cwd or program fails `create`, where the caller hears of it;
    // the process does it again as its own user before exec.
    step(Step::FindProgram, crate::process::enter_cwd(process.cwd()))?;
    let program = step(Step::FindProgram, crate::process::find_program(process))?;
    // From here a killed `create` must not kill the init: the container exists. If the
    // parent dies before Detach, the channel's end-of-file makes us exit instead.
    step(Step::WatchParent, finish::stop_watching_parent())?;
    step(Step::Sync, init.chan.send(Msg::Created))?;
    wait_for(init, &Msg::Detach)?;
    let fifo = step(Step::WaitStart, finish::wait_for_start(init))?;
    // startContainer hooks run before the byte that lets `start` return and run poststart.
    if let Some(list) = hooks.and_then(|h| h.start_container().as_ref()) {
        step(Step::StartContainerHooks, crate::hooks::run_all("startContainer", list, &state))?;
    }
    step(Step::WaitStart, finish::release_start(fifo))?;
    // Seccomp last, on whichever side of the identity switch the kernel allows (seccomp/mod.rs).
    let seccomp = |after| {
        let listener = init.seccomp_listener.as_ref();
        step(Step::Seccomp, crate::seccomp::init_step(init.bundle, listener, host_pid, after))
    };
    seccomp(false)?;
    step(
        Step::SetupProcess,
        crate::process::become_process(process, spec.linux().as_ref(), init.preserve_fds),
    )?;
    seccomp(true)?;
    let err = crate::process::exec(&program, process);
    Err(Failure { step: Step::Exec, msg: err.to_string() })
}

//! A process joining a running container (`exec`), from clone3 until execve.
//!
//! The parent has already entered the container's pid namespace for its children, so this
//! process was born in it (and in the container's cgroup2 directory, on v2 and hybrid). The
//! steps:
//! 1. wait for `Go`; on v1/hybrid move into the container's v1 cgroups through the `tasks`
//!    files the parent opened (berth_cgroups::SelfJoin; or the parent has moved us);
//! 2. join every other namespace of the container at once, `setns(pidfd, flags)` on the
//!    init's pidfd (the kernel enters the user namespace first);
//! 3. the terminal, if asked (a pty from the container's own devpts);
//! 4. cwd (checked to be inside the container, CVE-2024-21626), the program in `PATH`;
//! 5. the process identity (`process::become_process`) and the container's seccomp filter
//!    (before or after it, as for the init), then execve. The sync channel is
//!    close-on-exec: the parent reads end-of-file when the exec succeeded.

use std::convert::Infallible;
use std::os::fd::OwnedFd;
use std::time::Duration;

use berth_sys::{Context, Error as SysError};
use oci_spec::runtime::{Linux, Process};
use rustix::thread::ThreadNameSpaceType;

use super::{step, Failure, Step};
use crate::sync::{Channel, Msg};

/// Everything the exec'd process needs, prepared by the parent before clone3.
#[derive(Debug)]
pub(crate) struct ExecInit<'a> {
    /// The process to run.
    pub process: &'a Process,
    /// The container's `linux` section (personality, memory policy).
    pub linux: Option<&'a Linux>,
    /// The child's end of the sync channel.
    pub chan: Channel,
    /// pidfd of the container's init.
    pub init_pidfd: &'a OwnedFd,
    /// The namespaces to join (those of the init that differ from ours; pid excluded).
    pub join: ThreadNameSpaceType,
    /// The container's v1 cgroups, joined first (none on v2, or when the parent moves us).
    pub self_join: Option<&'a berth_cgroups::SelfJoin>,
    /// Connected `--console-socket`.
    pub console_socket: Option<OwnedFd>,
    /// `--preserve-fds`.
    pub preserve_fds: u32,
    /// The container's seccomp filter, placed for this process.
    pub seccomp: Option<crate::seccomp::Prepared>,
    /// Connected `listenerPath` when the filter notifies.
    pub seccomp_listener: Option<OwnedFd>,
    /// The container's state JSON, for the seccomp agent.
    pub state: String,
    /// This process's pid as the host sees it (sent with `Go`).
    pub host_pid: std::cell::Cell<i32>,
    /// `process.execCPUAffinity.final`, set once in the container's cgroup.
    pub final_affinity: Option<rustix::thread::CpuSet>,
}

/// Runs the exec'd process's setup and execs it. Never returns.
pub(crate) fn run(init: &ExecInit<'_>) -> ! {
    let failure = match setup_and_exec(init) {
        Ok(never) => match never {},
        Err(f) => f,
    };
    if init.chan.send(Msg::Failed { step: failure.step, msg: failure.msg.clone() }).is_err() {
        eprintln!("berth-runtime: exec: {}: {}", failure.step, failure.msg);
    }
    std::process::exit(if failure.step == Step::Exec { 127 } else { 1 })
}

fn setup_and_exec(init: &ExecInit<'_>) -> Result<Infallible, Failure> {
    match init.chan.recv(Duration::from_secs(60)) {
        Ok(Msg::Go { pid }) => init.host_pid.set(pid),
        Ok(other) => {
            return Err(Failure { step: Step::Sync, msg: format!("unexpected {other:?}") })
        }
        Err(msg) => return Err(Failure { step: Step::Sync, msg }),
    }
    if let Some(cgroups) = init.self_join {
        step(Step::JoinCgroup, cgroups.join())?;
    }
    // In the container's cgroup now (joined above, born there, or moved before `Go`).
    if let Some(cpus) = &init.final_affinity {
        let op = "sched_setaffinity execCPUAffinity.final";
        step(Step::CpuAffinity, crate::process::affinity::set(cpus, op))?;
    }
    step(Step::JoinNamespaces, join(init))?;
    let process = init.process;
    if process.terminal().unwrap_or(false) {
        step(Step::Console, crate::tty::setup(init.console_socket.as_ref(), process))?;
    }
    step(Step::FindProgram, crate::process::enter_cwd(process.cwd()))?;
    let program = step(Step::FindProgram, crate::process::find_program(process))?;
    // The container's seccomp filter, last, on the side of the identity switch the kernel
    // allows (as for the init: crate::seccomp).
    let seccomp = |after: bool| match &init.seccomp {
        Some(p) if p.after_identity == after => {
            let listener = init.seccomp_listener.as_ref();
            step(
                Step::Seccomp,
                crate::seccomp::install(p, listener, &init.state, init.host_pid.get()),
            )
        }
        _ => Ok(()),
    };
    seccomp(false)?;
    step(
        Step::SetupProcess,
        crate::process::become_process(process, init.linux, init.preserve_fds),
    )?;
    seccomp(true)?;
    let err = crate::process::exec(&program, process);
    Err(Failure { step: Step::Exec, msg: err.to_string() })
}

fn join(init: &ExecInit<'_>) -> Result<(), SysError> {
    if init.join.is_empty() {
        return Ok(());
    }
    rustix::thread::move_into_thread_name_spaces(
        std::os::fd::AsFd::as_fd(init.init_pidfd),
        init.join,
    )
    .op("setns into the container's namespaces")
}

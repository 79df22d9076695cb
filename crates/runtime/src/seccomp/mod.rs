//! `linux.seccomp`: the filter is planned and compiled by the runtime before `clone3`
//! ([`prepare`], called while loading the bundle, so a bad profile is refused before anything
//! exists and libseccomp's memory is never the container's), and installed by the init as
//! late as it can be ([`install`]).
//!
//! When it is installed: after the process's identity (capabilities, user, no_new_privs) when
//! the kernel allows it there, that is with no_new_privs or CAP_SYS_ADMIN kept in the
//! effective set; otherwise just before the identity switch, as runc does, since without
//! either the kernel refuses an unprivileged filter. Either way it is after the `start` wait
//! and the startContainer hooks.
//!
//! `SCMP_ACT_NOTIFY`: the filter is loaded with `NEW_LISTENER`, and the init sends the
//! listener fd with the container's state (runtime.md, "containerProcessState") over the
//! socket at `listenerPath`, connected by `create` on the host before `clone3`
//! ([`connect_listener`]).

mod features;
mod notify;
mod rules;

use std::os::fd::OwnedFd;

use berth_sys::seccomp::{self as sys, Filter, Program};
use oci_spec::runtime::{Capability, LinuxSeccomp, Process, Spec};
use tracing::{debug, warn};

use crate::config::Bundle;
use crate::error::{Error, Result};

pub(crate) use features::features;
pub(crate) use notify::connect_listener;

/// A compiled filter and how to install it.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    program: Program,
    /// `SECCOMP_FILTER_FLAG_*`, `NEW_LISTENER` when a rule notifies.
    flags: u32,
    /// Installed after the process's identity (see the module docs).
    pub(crate) after_identity: bool,
    /// `listenerPath`, where the agent listens.
    listener_path: Option<std::path::PathBuf>,
    /// `listenerMetadata`, passed to the agent.
    metadata: Option<String>,
}

/// Plans and compiles `linux.seccomp` for `process`; `None` without a profile.
pub(crate) fn prepare(spec: &Spec) -> Result<Option<Prepared>> {
    let Some(sc) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) else {
        return Ok(None);
    };
    // runc's level 4: SPEC_ALLOW known to libseccomp and the kernel.
    let plan = rules::plan(sc, sys::api_level() >= 4)
        .map_err(|e| Error::InvalidConfig { field: e.field, reason: e.reason })?;
    let program = compile(sc, &plan)?;
    let after_identity = spec.process().as_ref().is_some_and(privileged_enough);
    let metadata = sc.listener_metadata().clone().filter(|m| !m.is_empty());
    let listener_path = sc.listener_path().clone();
    Ok(Some(Prepared { program, flags: plan.flags, after_identity, listener_path, metadata }))
}

impl Prepared {
    /// The same filter, placed for another process (an `exec`'d one, whose identity may differ
    /// from the init's).
    pub(crate) fn for_process(&self, process: &Process) -> Prepared {
        Prepared { after_identity: privileged_enough(process), ..self.clone() }
    }
}

/// Whether the kernel will take a filter from the process once it has its own identity:
/// with no_new_privs, or with CAP_SYS_ADMIN in its effective set.
fn privileged_enough(process: &Process) -> bool {
    let effective = process.capabilities().as_ref().and_then(|c| c.effective().as_ref());
    process.no_new_privileges().unwrap_or(false)
        || effective.is_some_and(|e| e.contains(&Capability::SysAdmin))
}

fn compile(sc: &LinuxSeccomp, plan: &rules::Plan) -> Result<Program> {
    let mut filter =
        Filter::new(plan.default_action).map_err(Error::sys("build seccomp filter"))?;
    for (i, token) in plan.arches.iter().enumerate() {
        filter.add_arch(*token).map_err(|e| Error::InvalidConfig {
            field: format!("linux.seccomp.architectures[{i}]"),
            reason: format!("{}: not supported by libseccomp here ({e})", arch_name(sc, i)),
        })?;
    }
    // runc's threshold: libseccomp 2.5 misbuilds an optimised empty filter, and the tree only
    // pays off on long lists.
    if plan.rules.len() > 32 {
        filter.optimize_tree().map_err(Error::sys("build seccomp filter"))?;
    }
    let mut unknown: Vec<&str> = Vec::new();
    for rule in &plan.rules {
        let Some(nr) = sys::syscall_number(&rule.name) else {
            // As runc: a profile written for another kernel or architecture still works.
            unknown.push(&rule.name);
            continue;
        };
        match filter.add_rule(rule.action, nr, &rule.conds) {
            Ok(()) => {}
            // libseccomp refuses a rule it cannot merge with an earlier one for some
            // architecture of the filter (x86's multiplexed socketcall, with conditions on
            // different arguments, in podman's default profile). The earlier rule stands; the
            // calls this one would have allowed get the default action there: stricter, never
            // looser. runc's profiles load the same way.
            Err(e) if e.errno == berth_sys::error::Errno::EXIST => {
                debug!(syscall = %rule.name, "seccomp: rule overlaps an earlier one; kept the earlier");
            }
            Err(e) => return Err(Error::sys(format!("add seccomp rule for {}", rule.name))(e)),
        }
    }
    if !unknown.is_empty() {
        // One line, not one per name: engines (conmon) relay the runtime's output in a
        // bounded buffer, and Docker's default profile alone names dozens of newer syscalls.
        unknown.dedup();
        warn!(syscalls = %unknown.join(","), "seccomp: unknown syscalls ignored");
    }
    filter.export().map_err(Error::sys("compile seccomp filter"))
}

fn arch_name(sc: &LinuxSeccomp, i: usize) -> String {
    let arch = sc.architectures().as_ref().and_then(|a| a.get(i));
    arch.map(|a| a.to_string()).unwrap_or_default()
}

/// The init's seccomp step, called just before (`after_identity == false`) and just after
/// (`true`) the switch to the process's identity: it loads the filter in the one of the two
/// places that [`Prepared::after_identity`] chose, and does nothing in the other.
pub(crate) fn init_step(
    bundle: &Bundle,
    listener: Option<&OwnedFd>,
    pid: i32,
    after_identity: bool,
) -> std::result::Result<(), berth_sys::Error> {
    match &bundle.seccomp {
        Some(p) if p.after_identity == after_identity => {
            // `start` has returned by now: the container is running.
            install(p, listener, &crate::hooks::state_json(bundle, pid, "running"), pid)
        }
        _ => Ok(()),
    }
}

/// Loads the filter on the init; with a listener, hands it to the agent over `listener`
/// together with the container's state. `state` is the state JSON of the hooks.
///
/// Every allocation happens before the load: after it, each syscall goes through the filter.
pub(crate) fn install(
    p: &Prepared,
    listener: Option<&OwnedFd>,
    state: &str,
    pid: i32,
) -> std::result::Result<(), berth_sys::Error> {
    let message = notify::process_state(state, pid, p.metadata.as_deref());
    let fd = berth_sys::seccomp::load(&p.program, p.flags)?;
    let Some(fd) = fd else { return Ok(()) };
    // `create` connects whenever the filter has a listener; without the socket the notified
    // calls would wait forever.
    let sock = listener.ok_or_else(|| {
        berth_sys::Error::new("send seccomp listener", None, berth_sys::error::Errno::NOTCONN)
    })?;
    notify::send(sock, &message, &fd)
}

impl Prepared {
    /// Whether the filter hands a listener to an agent (a rule uses `SCMP_ACT_NOTIFY`).
    pub(crate) fn notifies(&self) -> bool {
        self.flags & sys::flag::NEW_LISTENER != 0
    }
}

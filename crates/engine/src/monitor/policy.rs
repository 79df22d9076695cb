//! The restart policy: after each exit of the init, whether to start the container again
//! (`--restart`, the `stopped-by-user` marker, Docker's back-off) and doing it.

use std::process::Stdio;

use super::log::append_log;
use super::setup::start;
use super::supervise::supervise;
use super::{network_plan, runtime, Args};
use crate::tty_relay::{ContainerIo, Relay};

/// Supervises the container and starts it again (runtime delete, create, start with the
/// same bundle) as its restart policy says, until it stays down; returns the last status.
/// A `stopped-by-user` marker (from `berth stop`) ends it whatever the policy.
pub(super) fn supervise_with_policy(
    args: &Args,
    plan: &crate::network::plan::Plan,
    first: (i32, ContainerIo),
    mut relay: Option<&mut Relay>,
) -> i32 {
    // The exit file's directory: its markers (oom, restarting, the policy file) live there.
    let run_dir = args.exit.parent().unwrap_or(std::path::Path::new("."));
    let marker = args.exit.with_file_name(crate::ops::restart::STOPPED_BY_USER);
    let (mut pid, mut io) = first;
    let mut done = 0u32;
    loop {
        // Found before the init is reaped, read before `runtime delete` removes the cgroup.
        let memory_cgroup = crate::oom::MemoryCgroup::of(pid);
        let code = supervise(args, pid, io, relay.as_deref_mut());
        crate::oom::record(run_dir, memory_cgroup.as_ref());
        // Read at each exit: `berth update --restart` may have changed it since.
        let policy = crate::ops::update::current_policy(run_dir, &args.restart);
        if marker.exists() || !policy.wants_restart(code, done) {
            return code;
        }
        crate::ops::restart::mark_restarting(run_dir, code, &crate::now());
        // Attempts until one starts, the policy gives up, or `stop` asks: a start that
        // fails (the container it shares namespaces with is not back yet, a full disk) is
        // tried again after the next back-off, as Docker's restart manager does, and
        // counts as a restart.
        loop {
            let _ =
                runtime(args).args(["delete", "--force", &args.id]).stdin(Stdio::null()).output();
            // In steps, so a `stop` during a long back-off (up to a minute) is not kept waiting.
            let until = std::time::Instant::now() + crate::ops::restart::backoff(done);
            while !marker.exists() && std::time::Instant::now() < until {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            if marker.exists() {
                crate::ops::restart::clear_restarting(run_dir);
                return code;
            }
            done += 1;
            // Before the new init exists, so whoever sees its pid also sees this restart's
            // time.
            crate::ops::restart::write(&args.restarts, done, &crate::now());
            match restart(args, run_dir, plan) {
                Ok(next) => {
                    (pid, io) = next;
                    crate::ops::restart::clear_restarting(run_dir);
                    break;
                }
                Err(msg) => append_log(args, &format!("restart failed: {msg}\n")),
            }
            let policy = crate::ops::update::current_policy(run_dir, &args.restart);
            if marker.exists() || !policy.wants_restart(code, done) {
                crate::ops::restart::clear_restarting(run_dir);
                return code;
            }
        }
        // `stop` came between the check and the start: its signal may have missed the
        // new init, so finish what it asked for.
        if marker.exists() {
            let _ = runtime(args).args(["kill", &args.id, "KILL"]).stdin(Stdio::null()).output();
        }
    }
}

/// One start by the restart policy, with what may have changed since the last one.
fn restart(
    args: &Args,
    run_dir: &std::path::Path,
    plan: &crate::network::plan::Plan,
) -> Result<(i32, ContainerIo), String> {
    // The containers it shares namespaces with may have new inits since its last start.
    crate::ops::shared_namespaces::refresh_for_restart(&args.bundle, run_dir, &args.id)
        .map_err(|e| crate::error::chain(&e))?;
    // `network connect`/`disconnect` may have changed it since the last start
    let current = network_plan(args);
    let plan = if current.ports == plan.ports { &current } else { plan };
    start(args, plan)
}

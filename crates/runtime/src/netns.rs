//! A new network namespace made on a short-lived helper thread while `create` does its other
//! work, for the init to enter with `setns` instead of `CLONE_NEWNET`.
//!
//! Making a network namespace is the dearest part of the init's clone3 (measured on the
//! bench host: 0.34 ms of 0.72 ms for all six namespaces: the namespace's sysctl tables,
//! its loopback device, every pernet subsystem). It depends on nothing `create` does
//! first, so a second thread makes it while the first parses the bundle, claims the id
//! and makes the cgroup; on a host with one free core that time leaves the critical path.
//!
//! The namespace is the one clone3 would have made: owned by the runtime's user namespace
//! (so only used when the container has no user namespace of its own, new or joined,
//! which must own its network namespace instead), charged to the runtime's memory cgroup
//! as the clone3 allocation was, with a down loopback and default sysctls. The thread is
//! joined before clone3, so the process is single-threaded when it forks (ADR 0003).

use std::os::fd::OwnedFd;
use std::path::Path;
use std::thread::JoinHandle;

use berth_sys::Context;
use oci_spec::runtime::LinuxNamespaceType;
use rustix::fs::{Mode, OFlags};

use crate::config::Bundle;
use crate::namespace::{clone_flag, NamespacePlan};

/// The helper thread's result: the namespace, or why it could not be made.
type Made = Result<OwnedFd, berth_sys::Error>;

/// A network namespace being made; [`Pending::wait`] returns it. Dropping it joins the
/// thread (and closes the namespace, which then goes away with its last reference).
#[derive(Debug, Default)]
pub(crate) struct Pending(Option<JoinHandle<Made>>);

/// Starts making the container's network namespace, when the bundle wants a new one that the
/// runtime's own user namespace may own, and nothing is moved into it from outside before
/// the init enters it (`linux.netDevices` are moved into the namespace of the init's pid,
/// before `Go`).
pub(crate) fn start(bundle: &Bundle) -> Pending {
    let linux = bundle.spec.linux().as_ref();
    let moves_devices = linux.is_some_and(|l| l.net_devices().is_some());
    start_for(&bundle.namespaces, moves_devices)
}

fn start_for(plan: &NamespacePlan, moves_devices: bool) -> Pending {
    let joins_user = plan.join.iter().any(|(t, _)| *t == LinuxNamespaceType::User);
    let wants_new = plan.clone_flags & clone_flag(LinuxNamespaceType::Network) != 0;
    if !wants_new || plan.new_user || joins_user || moves_devices {
        return Pending(None);
    }
    // The thread needs little stack; a spawn failure means clone3 makes it instead.
    let thread = std::thread::Builder::new().name("netns".into()).stack_size(64 * 1024);
    Pending(thread.spawn(make).ok())
}

impl Pending {
    /// The namespace, or `None` when clone3 must make it (not started, or the helper
    /// failed: clone3 then reports the kernel's refusal in the usual way).
    pub(crate) fn wait(mut self) -> Option<OwnedFd> {
        let made = self.0.take()?.join().ok()?;
        made.inspect_err(|e| tracing::debug!(error = %e, "network namespace helper")).ok()
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(t) = self.0.take() {
            let _ = t.join();
        }
    }
}

/// On the helper thread: leave the process's network namespace for a new one and keep a
/// descriptor of it. Only this thread moves; it exits right after.
fn make() -> Made {
    berth_sys::clone::unshare_namespaces(clone_flag(LinuxNamespaceType::Network))?;
    let path = Path::new("/proc/thread-self/ns/net");
    rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).op_path("open", path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxNamespaceBuilder;

    fn plan(types: &[(LinuxNamespaceType, Option<&str>)]) -> NamespacePlan {
        let list: Vec<_> = types
            .iter()
            .map(|(t, p)| {
                let mut b = LinuxNamespaceBuilder::default().typ(*t);
                if let Some(p) = p {
                    b = b.path(*p);
                }
                b.build().unwrap()
            })
            .collect();
        crate::namespace::plan(&list).unwrap()
    }

    #[test]
    fn only_a_new_netns_without_a_user_namespace_is_made_ahead() {
        use LinuxNamespaceType::{Mount, Network, User};
        assert!(start_for(&plan(&[(Mount, None)]), false).0.is_none());
        let joined = [(Mount, None), (Network, Some("/proc/1/ns/net"))];
        assert!(start_for(&plan(&joined), false).0.is_none());
        assert!(start_for(&plan(&[(Mount, None), (Network, None), (User, None)]), false)
            .0
            .is_none());
        let joined_user = [(Mount, None), (Network, None), (User, Some("/proc/1/ns/user"))];
        assert!(start_for(&plan(&joined_user), false).0.is_none());
        // Devices are moved into the init's namespace by pid, before it could enter ours.
        assert!(start_for(&plan(&[(Mount, None), (Network, None)]), true).0.is_none());
    }
}

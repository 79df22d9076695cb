//! The small steps of the init that are not about the filesystem or the process identity.

use std::io::Write;
use std::os::fd::AsFd;
use std::path::Path;

use berth_sys::{Context, Error as SysError};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use rustix::fs::{Mode, OFlags};
use rustix::process::Signal;
use rustix::thread::LinkNameSpaceType;

use crate::namespace::NamespacePlan;

use super::Init;

/// PR_SET_PDEATHSIG: while `create` runs, a killed runtime takes the half-made init with it.
///
/// A parent that died before this call is noticed anyway: its end of the sync channel closes,
/// and the next wait on it fails. (getppid cannot tell: in a new pid namespace it is 0.)
pub(super) fn die_with_parent() -> Result<(), SysError> {
    rustix::process::set_parent_process_death_signal(Some(Signal::KILL))
        .op("prctl PR_SET_PDEATHSIG")
}

/// Clears the parent-death signal once `create` has recorded the container.
pub(super) fn stop_watching_parent() -> Result<(), SysError> {
    rustix::process::set_parent_process_death_signal(None).op("prctl PR_SET_PDEATHSIG")
}

/// setns(2) into each namespace given by path, user namespace first (the plan's order).
pub(super) fn join_namespaces(plan: &NamespacePlan) -> Result<(), SysError> {
    for (t, path) in &plan.join {
        if *t == LinuxNamespaceType::Pid {
            continue; // joined by the parent before clone3: it only affects children
        }
        let fd = rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
            .op_path("open namespace", path)?;
        rustix::thread::move_into_link_name_space(fd.as_fd(), Some(link_type(*t)))
            .op_path("setns", path)?;
    }
    Ok(())
}

/// setns(2) into the network namespace the runtime made ahead (`crate::netns`).
pub(super) fn enter_network_namespace(ns: &impl AsFd) -> Result<(), SysError> {
    rustix::thread::move_into_link_name_space(ns.as_fd(), Some(LinkNameSpaceType::Network))
        .op("setns network namespace made ahead")
}

pub(crate) fn link_type(t: LinuxNamespaceType) -> LinkNameSpaceType {
    match t {
        LinuxNamespaceType::Mount => LinkNameSpaceType::Mount,
        LinuxNamespaceType::Cgroup => LinkNameSpaceType::ControlGroup,
        LinuxNamespaceType::Uts => LinkNameSpaceType::HostNameAndNISDomainName,
        LinuxNamespaceType::Ipc => LinkNameSpaceType::InterProcessCommunication,
        LinuxNamespaceType::User => LinkNameSpaceType::User,
        LinuxNamespaceType::Pid => LinkNameSpaceType::ProcessID,
        LinuxNamespaceType::Network => LinkNameSpaceType::Network,
        LinuxNamespaceType::Time => LinkNameSpaceType::Time,
    }
}

/// A time namespace created by clone3 would hold the child before its offsets could be
/// written, so: unshare (only future children enter it), write the offsets, then move this
/// process in through `/proc/self/ns/time_for_children`.
pub(super) fn enter_time_namespace(spec: &Spec) -> Result<(), SysError> {
    berth_sys::clone::unshare_namespaces(crate::namespace::clone_flag(LinuxNamespaceType::Time))?;
    let offsets = spec.linux().as_ref().and_then(|l| l.time_offsets().as_ref());
    if let Some(offsets) = offsets {
        let path = Path::new("/proc/self/timens_offsets");
        let mut f = std::fs::OpenOptions::new().write(true).open(path).op_path("open", path)?;
        for (clock, off) in offsets {
            let line =
                format!("{clock} {} {}\n", off.secs().unwrap_or(0), off.nanosecs().unwrap_or(0));
            f.write_all(line.as_bytes()).op_path("write", path)?;
        }
    }
    let path = Path::new("/proc/self/ns/time_for_children");
    let fd = rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
        .op_path("open", path)?;
    rustix::thread::move_into_link_name_space(fd.as_fd(), Some(LinkNameSpaceType::Time))
        .op_path("setns", path)
}

pub(super) fn set_hostname(spec: &Spec) -> Result<(), SysError> {
    if let Some(h) = spec.hostname() {
        rustix::system::sethostname(h.as_bytes()).op("sethostname")?;
    }
    if let Some(d) = spec.domainname() {
        rustix::system::setdomainname(d.as_bytes()).op("setdomainname")?;
    }
    Ok(())
}

/// Writes `linux.sysctl` under `/proc/sys` (the container's own /proc, after pivot_root).
pub(super) fn write_sysctls(spec: &Spec) -> Result<(), SysError> {
    let Some(map) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) else {
        return Ok(());
    };
    for (key, value) in map {
        let path = Path::new("/proc/sys").join(key.replace('.', "/"));
        std::fs::write(&path, value).op_path("write sysctl", &path)?;
    }
    Ok(())
}

/// A new cgroup namespace is rooted at the cgroup its creator is in, so it is made only once
/// the init is in the container's cgroup (unless clone3 put it there directly).
pub(super) fn enter_cgroup_namespace() -> Result<(), SysError> {
    berth_sys::clone::unshare_namespaces(crate::namespace::clone_flag(LinuxNamespaceType::Cgroup))
}

/// In a new user namespace the init starts with the overflow ids (its host ids are not
/// mapped); once the parent has written the maps, become the namespace's root.
pub(super) fn become_namespace_root() -> Result<(), SysError> {
    let gid = rustix::fs::Gid::ROOT;
    rustix::thread::set_thread_res_gid(gid, gid, gid).op("setresgid 0 in user namespace")?;
    let uid = rustix::fs::Uid::ROOT;
    rustix::thread::set_thread_res_uid(uid, uid, uid).op("setresuid 0 in user namespace")
}

/// Blocks until `start` opens the exec fifo for reading; returns it for [`release_start`].
///
/// The fifo is reopened through the host's `/proc/self/fd`: the O_PATH descriptor was opened
/// before pivot_root and the container may have no `/proc` of its own.
pub(super) fn wait_for_start(init: &Init<'_>) -> Result<std::fs::File, SysError> {
    use std::os::fd::AsRawFd;
    let rel = format!("self/fd/{}", init.fifo.as_raw_fd());
    let fd = rustix::fs::openat(
        &init.host_proc,
        rel.as_str(),
        OFlags::WRONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .op_path("open exec fifo", Path::new(&rel))?;
    Ok(std::fs::File::from(fd))
}

/// Writes the byte `start` waits for.
pub(super) fn release_start(mut fifo: std::fs::File) -> Result<(), SysError> {
    fifo.write_all(b"0").op("write exec fifo")
}

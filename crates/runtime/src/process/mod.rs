//! The process's identity, set last before exec: rlimits, oom score, umask, groups, uid and
//! gid, capabilities, no_new_privs, cwd, signals and descriptors.

pub mod affinity;
pub mod caps;
mod sched;

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use berth_sys::caps::CapSets;
use berth_sys::{Context, Error as SysError};
use oci_spec::runtime::{Linux, PosixRlimitType, Process};
use rustix::fs::Access;
use rustix::io::Errno;
use rustix::process::{Resource, Rlimit};

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Finds `args[0]` the way execvp would, in the container (after pivot_root), so a missing
/// program fails `create` with a clear message rather than the init after `start`.
pub(crate) fn find_program(process: &Process) -> Result<CString, SysError> {
    let arg0 = process.args().as_ref().and_then(|a| a.first()).cloned().unwrap_or_default();
    let candidates: Vec<PathBuf> = if arg0.contains('/') {
        vec![process.cwd().join(&arg0)]
    } else {
        let path = env_value(process, "PATH").unwrap_or_else(|| DEFAULT_PATH.to_string());
        path.split(':').map(|d| Path::new(if d.is_empty() { "." } else { d }).join(&arg0)).collect()
    };
    let mut last = Errno::NOENT;
    for c in &candidates {
        match rustix::fs::access(c, Access::EXEC_OK) {
            Ok(()) if !c.is_dir() => {
                return CString::new(c.as_os_str().as_bytes())
                    .map_err(|_| SysError::new("find executable", Some(c), Errno::INVAL))
            }
            Ok(()) => last = Errno::ACCESS,
            Err(Errno::NOENT) | Err(Errno::NOTDIR) => {}
            Err(e) => last = e,
        }
    }
    Err(SysError::new(
        format!("find executable {arg0:?} in"),
        Some(Path::new(&env_value(process, "PATH").unwrap_or_default())),
        last,
    ))
}

fn env_value(process: &Process, key: &str) -> Option<String> {
    process
        .env()
        .as_ref()?
        .iter()
        .rev()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=').map(str::to_string))
}

/// Switches to the process's identity. Order matters: rlimits and the oom score need
/// privileges; the bounding set needs CAP_SETPCAP; the uid switch would clear the permitted
/// set without PR_SET_KEEPCAPS; the final capability sets come after the uid switch.
pub(crate) fn become_process(
    process: &Process,
    linux: Option<&Linux>,
    preserve_fds: u32,
) -> Result<(), SysError> {
    set_rlimits(process)?;
    // Scheduling and personality while the process still has CAP_SYS_NICE.
    sched::apply(
        process,
        linux.and_then(|l| l.personality().as_ref()),
        linux.and_then(|l| l.memory_policy().as_ref()),
    )?;
    if let Some(adj) = process.oom_score_adj() {
        let p = Path::new("/proc/self/oom_score_adj");
        std::fs::write(p, adj.to_string()).op_path("write", p)?;
    }
    let caps = process.capabilities().as_ref();
    let bounding = caps.and_then(|c| c.bounding().as_ref()).map(caps::mask).unwrap_or(0);
    // Dropping a capability that is already out of the bounding set succeeds, so no need
    // to read the set first.
    for cap in (0..=berth_sys::caps::last_cap()).filter(|c| bounding & (1 << c) == 0) {
        berth_sys::caps::drop_bounding(cap)?;
    }
    switch_user(process)?;
    let sets = CapSets {
        effective: caps.and_then(|c| c.effective().as_ref()).map(caps::mask).unwrap_or(0),
        permitted: caps.and_then(|c| c.permitted().as_ref()).map(caps::mask).unwrap_or(0),
        inheritable: caps.and_then(|c| c.inheritable().as_ref()).map(caps::mask).unwrap_or(0),
    };
    berth_sys::caps::set(sets)?;
    // The kernel only lets a capability into the ambient set if it is permitted and
    // inheritable; like runc, skip the others rather than fail (runc's own template lists
    // ambient capabilities without inheritable ones).
    let ambient = caps.and_then(|c| c.ambient().as_ref()).map(caps::mask).unwrap_or(0)
        & sets.permitted
        & sets.inheritable;
    for cap in (0..64).filter(|c| ambient & (1 << c) != 0) {
        berth_sys::caps::raise_ambient(cap)?;
    }
    if process.no_new_privileges().unwrap_or(false) {
        rustix::thread::set_no_new_privs(true).op("prctl PR_SET_NO_NEW_PRIVS")?;
    }
    enter_cwd(process.cwd())?;
    berth_sys::signal::reset_dispositions();
    berth_sys::signal::set_mask(&berth_sys::signal::SigSet::empty())?;
    berth_sys::fd::cloexec_from(3 + preserve_fds)?;
    for fd in 3..3 + preserve_fds {
        berth_sys::fd::keep_across_exec(i32::try_from(fd).unwrap_or(i32::MAX))?;
    }
    Ok(())
}

/// chdir to the configured cwd, as the process's user, and check that it is inside the
/// container. CVE-2024-21626: a cwd of `/proc/self/fd/N` would follow a descriptor that is
/// still open in the init at this point (they are only closed by exec) to a host directory.
/// The kernel reports such a cwd as unreachable from the root: getcwd fails or does not start
/// with `/`.
pub(crate) fn enter_cwd(cwd: &Path) -> Result<(), SysError> {
    rustix::process::chdir(cwd).op_path("chdir", cwd)?;
    match rustix::process::getcwd(Vec::new()) {
        Ok(p) if p.as_bytes().first() == Some(&b'/') => Ok(()),
        Ok(_) | Err(_) => {
            Err(SysError::new("cwd is outside the container:", Some(cwd), Errno::NOENT))
        }
    }
}

fn set_rlimits(process: &Process) -> Result<(), SysError> {
    for r in process.rlimits().as_deref().unwrap_or_default() {
        let resource = rlimit_resource(r.typ());
        let limit = Rlimit { current: Some(r.soft()), maximum: Some(r.hard()) };
        let unlimited = |v: u64| if v == u64::MAX { None } else { Some(v) };
        let limit = Rlimit {
            current: limit.current.and_then(unlimited),
            maximum: limit.maximum.and_then(unlimited),
        };
        rustix::process::setrlimit(resource, limit)
            .op_path("setrlimit", Path::new(&r.typ().to_string()))?;
    }
    Ok(())
}

fn rlimit_resource(t: PosixRlimitType) -> Resource {
    match t {
        PosixRlimitType::RlimitCpu => Resource::Cpu,
        PosixRlimitType::RlimitFsize => Resource::Fsize,
        PosixRlimitType::RlimitData => Resource::Data,
        PosixRlimitType::RlimitStack => Resource::Stack,
        PosixRlimitType::RlimitCore => Resource::Core,
        PosixRlimitType::RlimitRss => Resource::Rss,
        PosixRlimitType::RlimitNproc => Resource::Nproc,
        PosixRlimitType::RlimitNofile => Resource::Nofile,
        PosixRlimitType::RlimitMemlock => Resource::Memlock,
        PosixRlimitType::RlimitAs => Resource::As,
        PosixRlimitType::RlimitLocks => Resource::Locks,
        PosixRlimitType::RlimitSigpending => Resource::Sigpending,
        PosixRlimitType::RlimitMsgqueue => Resource::Msgqueue,
        PosixRlimitType::RlimitNice => Resource::Nice,
        PosixRlimitType::RlimitRtprio => Resource::Rtprio,
        PosixRlimitType::RlimitRttime => Resource::Rttime,
    }
}

fn switch_user(process: &Process) -> Result<(), SysError> {
    let user = process.user();
    berth_sys::caps::keep_caps(true)?;
    let mut groups: Vec<rustix::fs::Gid> = user
        .additional_gids()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|g| rustix::fs::Gid::from_raw(*g))
        .collect();
    groups.dedup();
    match rustix::thread::set_thread_groups(&groups) {
        // In a user namespace whose setgroups is "deny" only an empty list could work anyway.
        Err(Errno::PERM) if groups.is_empty() => {}
        r => r.op("setgroups")?,
    }
    let gid = rustix::fs::Gid::from_raw(user.gid());
    rustix::thread::set_thread_res_gid(gid, gid, gid).op("setresgid")?;
    let uid = rustix::fs::Uid::from_raw(user.uid());
    rustix::thread::set_thread_res_uid(uid, uid, uid).op("setresuid")?;
    berth_sys::caps::keep_caps(false)?;
    let mask = user.umask().unwrap_or(0o022);
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(mask));
    Ok(())
}

/// Asks AppArmor to confine the process from its next exec on, with `profile`.
/// (`config::validate` has refused a profile on a host without AppArmor.)
pub(crate) fn set_apparmor_profile(profile: &str) -> Result<(), SysError> {
    for p in ["/proc/thread-self/attr/apparmor/exec", "/proc/thread-self/attr/exec"] {
        let path = Path::new(p);
        if path.exists() {
            return std::fs::write(path, format!("exec {profile}"))
                .op_path("set AppArmor profile via", path);
        }
    }
    Err(SysError::new("set AppArmor profile", None, Errno::NOTSUP))
}

/// execve of the program with the config's args and env. Returns only on failure.
pub(crate) fn exec(program: &CString, process: &Process) -> SysError {
    if let Some(profile) = process.apparmor_profile() {
        if let Err(e) = set_apparmor_profile(profile) {
            return e;
        }
    }
    let cstr = |s: &String| CString::new(s.as_bytes()).unwrap_or_default();
    let argv: Vec<CString> =
        process.args().as_deref().unwrap_or_default().iter().map(cstr).collect();
    let envp: Vec<CString> =
        process.env().as_deref().unwrap_or_default().iter().map(cstr).collect();
    berth_sys::exec::execve(program, &argv, &envp)
}

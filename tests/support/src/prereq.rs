//! Prerequisite probes for `require!`. Each returns `Err(reason)` when the test cannot run.

use std::path::Path;

use crate::runtime::{which, Runtime};

/// `BERTH_TEST_STRICT=1` turns skips into failures (set in CI).
pub fn strict() -> bool {
    std::env::var("BERTH_TEST_STRICT").is_ok_and(|v| v == "1")
}

fn status_field(key: &str) -> Option<String> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(':').map(|v| v.trim().to_string()))
}

/// Effective uid 0.
pub fn root() -> Result<(), String> {
    let euid = status_field("Uid").and_then(|v| v.split_whitespace().nth(1).map(String::from));
    if euid.as_deref() == Some("0") {
        Ok(())
    } else {
        Err("needs root (effective uid 0)".into())
    }
}

/// The runtime binary exists.
pub fn runtime() -> Result<(), String> {
    let rt = Runtime::from_env();
    if rt.exists() {
        Ok(())
    } else {
        Err(format!("runtime {} not found (set BERTH_TEST_RUNTIME)", rt.path.display()))
    }
}

/// At least two CPUs to run on (CPU affinity tests move a process from one to another).
pub fn two_cpus() -> Result<(), String> {
    match std::thread::available_parallelism().map(usize::from) {
        Ok(n) if n >= 2 => Ok(()),
        Ok(n) => Err(format!("needs two CPUs, this test may use {n}")),
        Err(e) => Err(format!("cannot count CPUs: {e}")),
    }
}

/// A statically linked busybox for the rootfs.
pub fn busybox() -> Result<(), String> {
    if Path::new("/bin/busybox").is_file() {
        Ok(())
    } else {
        Err("needs /bin/busybox (apt install busybox-static)".into())
    }
}

/// Pure cgroup v2 at /sys/fs/cgroup.
pub fn cgroup_v2() -> Result<(), String> {
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        Ok(())
    } else {
        Err("needs cgroup v2 mounted at /sys/fs/cgroup".into())
    }
}

/// cgroup v1 (legacy or hybrid) controllers.
pub fn cgroup_v1() -> Result<(), String> {
    if Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists() {
        Ok(())
    } else {
        Err("needs cgroup v1 controllers under /sys/fs/cgroup".into())
    }
}

/// User namespaces are enabled.
pub fn userns() -> Result<(), String> {
    let max = std::fs::read_to_string("/proc/sys/user/max_user_namespaces").unwrap_or_default();
    if max.trim().parse::<u64>().unwrap_or(0) > 0 {
        Ok(())
    } else {
        Err("needs user namespaces (user.max_user_namespaces > 0)".into())
    }
}

/// util-linux `unshare` to hold a namespace open.
pub fn unshare() -> Result<(), String> {
    which("unshare").map(|_| ()).ok_or_else(|| "needs unshare(1) from util-linux".into())
}

/// util-linux `setsid` with `-c` (make stdin the controlling terminal), which
/// [`crate::terminal::TerminalSession`] runs its command under.
pub fn setsid() -> Result<(), String> {
    let help = std::process::Command::new("setsid").arg("--help").output();
    match help {
        Ok(o) if String::from_utf8_lossy(&o.stdout).contains("--ctty") => Ok(()),
        _ => Err("needs setsid(1) from util-linux with -c/--ctty".into()),
    }
}

/// man-db's `man` (with groff), to render the generated man pages.
pub fn man() -> Result<(), String> {
    which("man").map(|_| ()).ok_or_else(|| "needs man(1) from man-db, with groff".into())
}

/// runc installed, for the tests that drive it as the engine's runtime.
pub fn runc() -> Result<(), String> {
    which("runc")
        .map(|_| ())
        .ok_or_else(|| "needs runc (scripts/install-deps.sh installs it)".into())
}

/// `nft` (Debian's nftables), `nsenter` and `ip` for the networking tests.
pub fn nft() -> Result<(), String> {
    for tool in ["nft", "nsenter", "ip"] {
        if which(tool).is_none() {
            return Err(format!(
                "needs {tool} (scripts/install-deps.sh installs nftables, util-linux, iproute2)"
            ));
        }
    }
    Ok(())
}

/// The host's `etcdctl` (Debian's etcd-client) for the etcd lab test.
pub fn etcdctl() -> Result<(), String> {
    which("etcdctl")
        .map(|_| ())
        .ok_or_else(|| "needs etcdctl (scripts/install-deps.sh installs etcd-client)".into())
}

/// The kernel knows `/dev/fuse` (char 10:229) so it can be added as a device.
pub fn fuse() -> Result<(), String> {
    if Path::new("/dev/fuse").exists() {
        Ok(())
    } else {
        Err("needs /dev/fuse on the host".into())
    }
}

/// Skips (or, under `BERTH_TEST_STRICT=1`, fails) the current test unless every named
/// prerequisite of [`prereq`](crate::prereq) holds:
/// `require!(root, runtime, busybox);`.
#[macro_export]
macro_rules! require {
    ($($cond:ident),+ $(,)?) => {
        $(
            if let Err(why) = $crate::prereq::$cond() {
                let test = std::thread::current().name().unwrap_or("?").to_string();
                if $crate::prereq::strict() {
                    panic!("{test}: requirement `{}` not met: {why}", stringify!($cond));
                }
                eprintln!("SKIP {test}: {why}");
                return;
            }
        )+
    };
}

/// `require!(root, runtime, busybox)`: what every container test needs.
#[macro_export]
macro_rules! require_container {
    ($($cond:ident),* $(,)?) => {
        $crate::require!(root, runtime, busybox $(, $cond)*);
    };
}

//! Process checks (config.md "Process", "POSIX process", "Linux Process"): capabilities,
//! rlimits, user, umask, cwd, env, noNewPrivileges, oomScoreAdj, and the inherited fds.

use std::collections::BTreeSet;
use std::os::unix::fs::FileTypeExt;

use serde_json::Value;

use crate::procfs::{limit, read, status_field};
use crate::Report;

/// Capability names in bit order (include/uapi/linux/capability.h).
const CAPS: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// `RLIMIT_*` names and their row labels in `/proc/self/limits`.
const RLIMITS: &[(&str, &str)] = &[
    ("RLIMIT_CPU", "Max cpu time"),
    ("RLIMIT_FSIZE", "Max file size"),
    ("RLIMIT_DATA", "Max data size"),
    ("RLIMIT_STACK", "Max stack size"),
    ("RLIMIT_CORE", "Max core file size"),
    ("RLIMIT_RSS", "Max resident set"),
    ("RLIMIT_NPROC", "Max processes"),
    ("RLIMIT_NOFILE", "Max open files"),
    ("RLIMIT_MEMLOCK", "Max locked memory"),
    ("RLIMIT_AS", "Max address space"),
    ("RLIMIT_LOCKS", "Max file locks"),
    ("RLIMIT_SIGPENDING", "Max pending signals"),
    ("RLIMIT_MSGQUEUE", "Max msgqueue size"),
    ("RLIMIT_NICE", "Max nice priority"),
    ("RLIMIT_RTPRIO", "Max realtime priority"),
    ("RLIMIT_RTTIME", "Max realtime timeout"),
];

/// Bitmask of the named capabilities the running kernel knows (runtimes drop unknown ones).
fn cap_mask(v: &Value, last_cap: u32) -> u64 {
    let mut mask = 0u64;
    for name in v.as_array().into_iter().flatten().filter_map(Value::as_str) {
        let short = name.strip_prefix("CAP_").unwrap_or(name);
        if let Some(bit) = CAPS.iter().position(|c| *c == short) {
            if u32::try_from(bit).is_ok_and(|b| b <= last_cap) {
                mask |= 1 << bit;
            }
        }
    }
    mask
}

fn status_hex(key: &str) -> u64 {
    status_field(key).and_then(|v| u64::from_str_radix(&v, 16).ok()).unwrap_or(u64::MAX)
}

/// Compares the five capability sets. The config describes the sets the runtime installs
/// *before* execve(2); the kernel then recomputes permitted and effective (capabilities(7)):
/// for uid 0 without file caps P'(perm) = P(inh) | P(bnd) | P'(amb) and P'(eff) = P'(perm);
/// for any other uid P'(perm) = P'(eff) = P'(amb). Ambient survives only for caps in both
/// permitted and inheritable; with noNewPrivileges the new permitted set is capped by the old.
pub(crate) fn capabilities(config: &Value, r: &mut Report) {
    let caps = &config["process"]["capabilities"];
    if caps.is_null() {
        return r.skip("capabilities", "process.capabilities not set");
    }
    let last: u32 = read("/proc/sys/kernel/cap_last_cap").trim().parse().unwrap_or(40);
    let bnd = cap_mask(&caps["bounding"], last);
    let inh = cap_mask(&caps["inheritable"], last);
    let perm_cfg = cap_mask(&caps["permitted"], last);
    let amb = cap_mask(&caps["ambient"], last) & perm_cfg & inh;
    let uid = config["process"]["user"]["uid"].as_u64().unwrap_or(0);
    let mut perm = if uid == 0 { inh | bnd | amb } else { amb };
    // With no_new_privs execve(2) never gains capabilities: P'(perm) &= P(perm).
    if config["process"]["noNewPrivileges"].as_bool().unwrap_or(false) {
        perm &= perm_cfg | amb;
    }
    let expected =
        [("CapBnd", bnd), ("CapInh", inh), ("CapPrm", perm), ("CapEff", perm), ("CapAmb", amb)];
    let problems: Vec<String> = expected
        .iter()
        .filter_map(|(key, want)| {
            let got = status_hex(key);
            (got != *want).then(|| format!("{key} {want:016x} got {got:016x}"))
        })
        .collect();
    r.result("capabilities", &problems);
}

pub(crate) fn rlimits(config: &Value, r: &mut Report) {
    let mut problems = Vec::new();
    for rl in config["process"]["rlimits"].as_array().into_iter().flatten() {
        let name = rl["type"].as_str().unwrap_or("");
        let Some((_, label)) = RLIMITS.iter().find(|(n, _)| *n == name) else {
            problems.push(format!("known rlimit got {name}"));
            continue;
        };
        let want = (rl["soft"].as_u64().unwrap_or(0), rl["hard"].as_u64().unwrap_or(0));
        match limit(label) {
            Some(got) if got == want => {}
            got => problems.push(format!("{name} {want:?} got {got:?}")),
        }
    }
    r.result("rlimits", &problems);
}

fn id_set(s: &str) -> BTreeSet<u64> {
    s.split_whitespace().filter_map(|v| v.parse().ok()).collect()
}

pub(crate) fn user(config: &Value, r: &mut Report) {
    let u = &config["process"]["user"];
    let uid = u["uid"].as_u64().unwrap_or(0);
    let gid = u["gid"].as_u64().unwrap_or(0);
    let mut problems = Vec::new();
    for (key, want) in [("Uid", uid), ("Gid", gid)] {
        let got = status_field(key).unwrap_or_default();
        // Real, effective, saved and filesystem ids must all be switched.
        if id_set(&got) != BTreeSet::from([want]) {
            problems.push(format!("{key} {want} got {got}"));
        }
    }
    if let Some(extra) = u["additionalGids"].as_array() {
        let want: BTreeSet<u64> = extra.iter().filter_map(Value::as_u64).collect();
        let got = status_field("Groups").unwrap_or_default();
        if id_set(&got) != want {
            problems.push(format!("Groups {want:?} got {got}"));
        }
    }
    r.result("user", &problems);
}

pub(crate) fn umask(config: &Value, r: &mut Report) {
    let Some(want) = config["process"]["user"]["umask"].as_u64() else {
        return r.skip("umask", "process.user.umask not set");
    };
    let got = status_field("Umask").and_then(|v| u64::from_str_radix(&v, 8).ok());
    if got == Some(want) {
        r.ok("umask");
    } else {
        r.fail("umask", format!("{want:04o} got {got:?}"));
    }
}

pub(crate) fn cwd(config: &Value, r: &mut Report) {
    let want = config["process"]["cwd"].as_str().unwrap_or("/");
    match std::env::current_dir() {
        Ok(got) if got == std::path::Path::new(want) => r.ok("cwd"),
        got => r.fail("cwd", format!("{want} got {got:?}")),
    }
}

pub(crate) fn env(config: &Value, r: &mut Report) {
    let vars: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
    let problems: Vec<String> = config["process"]["env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|e| !vars.iter().any(|v| v == e))
        .map(|e| format!("{e} got absent"))
        .collect();
    r.result("env", &problems);
}

pub(crate) fn no_new_privileges(config: &Value, r: &mut Report) {
    if !config["process"]["noNewPrivileges"].as_bool().unwrap_or(false) {
        return r.skip("no_new_privileges", "not requested (may be inherited)");
    }
    match status_field("NoNewPrivs").as_deref() {
        Some("1") => r.ok("no_new_privileges"),
        got => r.fail("no_new_privileges", format!("NoNewPrivs 1 got {got:?}")),
    }
}

pub(crate) fn oom_score_adj(config: &Value, r: &mut Report) {
    let Some(want) = config["process"]["oomScoreAdj"].as_i64() else {
        return r.skip("oom_score_adj", "process.oomScoreAdj not set");
    };
    let got = read("/proc/self/oom_score_adj");
    if got.trim().parse::<i64>().ok() == Some(want) {
        r.ok("oom_score_adj");
    } else {
        r.fail("oom_score_adj", format!("{want} got {}", got.trim()));
    }
}

/// Only stdio may reach the container process (runtime.md; runc CVE-2024-21626 leaked a
/// host fd). The fd `read_dir` itself holds on `/proc/self/fd` is not counted.
pub(crate) fn fds(_config: &Value, r: &mut Report) {
    let dir = match std::fs::read_dir("/proc/self/fd") {
        Ok(d) => d,
        Err(e) => return r.fail("fds", format!("readable /proc/self/fd got {e}")),
    };
    let mut extra = Vec::new();
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let target = std::fs::read_link(entry.path()).unwrap_or_default();
        let own = target.to_string_lossy().ends_with(&format!("{}/fd", std::process::id()));
        if !own && !matches!(name.as_str(), "0" | "1" | "2") {
            extra.push(format!("{name} -> {}", target.display()));
        }
    }
    if extra.is_empty() {
        r.ok("fds");
    } else {
        r.fail("fds", format!("only 0,1,2 got also {}", extra.join(", ")));
    }
}

/// `process.terminal: true`: stdin, stdout and stderr are the container's terminal,
/// `/dev/console` is a character device (config-linux.md: it is set up when a terminal is
/// requested), and `process.consoleSize` is the window size (config.md "consoleSize").
pub(crate) fn terminal(config: &Value, r: &mut Report) {
    if config["process"]["terminal"].as_bool() != Some(true) {
        return r.skip("terminal", "process.terminal is not true");
    }
    let mut problems = Vec::new();
    let stdio = [
        ("stdin", rustix::termios::isatty(rustix::stdio::stdin())),
        ("stdout", rustix::termios::isatty(rustix::stdio::stdout())),
        ("stderr", rustix::termios::isatty(rustix::stdio::stderr())),
    ];
    for (name, tty) in stdio {
        if !tty {
            problems.push(format!("{name} a tty got not a tty"));
        }
    }
    match std::fs::metadata("/dev/console") {
        Ok(md) if md.file_type().is_char_device() => {}
        Ok(md) => problems.push(format!("/dev/console a char device got {:?}", md.file_type())),
        Err(e) => problems.push(format!("/dev/console got {e}")),
    }
    let size = &config["process"]["consoleSize"];
    if let (Some(h), Some(w)) = (size["height"].as_u64(), size["width"].as_u64()) {
        match rustix::termios::tcgetwinsize(rustix::stdio::stdout()) {
            Ok(ws) if (u64::from(ws.ws_row), u64::from(ws.ws_col)) == (h, w) => {}
            Ok(ws) => problems.push(format!("size {h}x{w} got {}x{}", ws.ws_row, ws.ws_col)),
            Err(e) => problems.push(format!("TIOCGWINSZ got {e}")),
        }
    }
    r.result("terminal", &problems);
}

//! `runtimetest`: a static checker run *inside* a container (the role of youki's
//! `runtimetest` and crun's `tests/init.c`).
//!
//! It reads the bundle's `config.json` (copied into the rootfs, by default at
//! `/runtimetest/config.json`, overridable with `RUNTIMETEST_CONFIG`) and verifies from the
//! inside that the runtime applied it. Every check prints exactly one line:
//! `ok <name>`, `skip <name>: <why>` or `FAIL <name>: expected X got Y`; the exit status is 1
//! when any check failed, 2 on a usage or config error.
//!
//! # Layout
//! - `procfs`: parsers for `/proc/self/{mountinfo,status,limits,cgroup}`.
//! - `fs`: mounts, root readonly, masked/readonly paths, devices and `/dev` symlinks.
//! - `process`: capabilities, rlimits, user, umask, cwd, env, noNewPrivileges, oomScoreAdj,
//!   terminal, fds.
//! - `system`: hostname, domainname, sysctl, namespaces, cgroup limits.
//! - `syscall`: raw probes of calls a default container must be refused (`keyctl`).
//!
//! # Usage
//! `runtimetest all` runs every check; `runtimetest check <name>...` runs the named ones;
//! `runtimetest list` prints the names.

mod fs;
mod process;
mod procfs;
mod syscall;
mod system;

use std::process::ExitCode;

use serde_json::Value;

/// Collects check results and prints one line per result.
#[derive(Debug, Default)]
pub(crate) struct Report {
    failures: usize,
}

impl Report {
    pub(crate) fn ok(&mut self, name: &str) {
        println!("ok {name}");
    }

    pub(crate) fn fail(&mut self, name: &str, msg: impl std::fmt::Display) {
        self.failures += 1;
        println!("FAIL {name}: {msg}");
    }

    pub(crate) fn skip(&mut self, name: &str, why: &str) {
        println!("skip {name}: {why}");
    }

    /// Reports `ok` when `problems` is empty, else one `FAIL` line joining them.
    pub(crate) fn result(&mut self, name: &str, problems: &[String]) {
        if problems.is_empty() {
            self.ok(name);
        } else {
            self.fail(name, problems.join("; "));
        }
    }
}

type Check = fn(&Value, &mut Report);

/// Every check by name, in the order `all` runs them.
const CHECKS: &[(&str, Check)] = &[
    ("hostname", system::hostname),
    ("domainname", system::domainname),
    ("mounts", fs::mounts),
    ("root_readonly", fs::root_readonly),
    ("masked_paths", fs::masked_paths),
    ("readonly_paths", fs::readonly_paths),
    ("devices", fs::devices),
    ("dev_symlinks", fs::dev_symlinks),
    ("capabilities", process::capabilities),
    ("rlimits", process::rlimits),
    ("user", process::user),
    ("umask", process::umask),
    ("cwd", process::cwd),
    ("env", process::env),
    ("no_new_privileges", process::no_new_privileges),
    ("oom_score_adj", process::oom_score_adj),
    ("terminal", process::terminal),
    ("sysctl", system::sysctl),
    ("namespaces", system::namespaces),
    ("cgroups", system::cgroups),
];

/// Checks that only `check <name>` runs, because they are not spec requirements that hold
/// for every config (`fds` fails under a terminal or an inherited-fd setup by design).
const EXTRA_CHECKS: &[(&str, Check)] =
    &[("fds", process::fds), ("keyctl_refused", syscall::keyctl_refused)];

fn load_config() -> Result<Value, String> {
    let path = std::env::var("RUNTIMETEST_CONFIG")
        .unwrap_or_else(|_| "/runtimetest/config.json".to_string());
    let text = std::fs::read_to_string(&path).map_err(|e| format!("read {path}: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("parse {path}: {e}"))
}

fn usage() -> ExitCode {
    eprintln!("usage: runtimetest all | check <name>... | list");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first() else {
        return usage();
    };
    let all = CHECKS.iter().chain(EXTRA_CHECKS);
    let selected: Vec<&(&str, Check)> = match cmd.as_str() {
        "list" => {
            all.for_each(|(name, _)| println!("{name}"));
            return ExitCode::SUCCESS;
        }
        "all" => CHECKS.iter().collect(),
        "check" if args.len() > 1 => {
            let mut v = Vec::new();
            for name in &args[1..] {
                match all.clone().find(|(n, _)| n == name) {
                    Some(c) => v.push(c),
                    None => {
                        eprintln!("runtimetest: unknown check {name}");
                        return ExitCode::from(2);
                    }
                }
            }
            v
        }
        _ => return usage(),
    };
    let config = match load_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("runtimetest: {e}");
            return ExitCode::from(2);
        }
    };
    let mut report = Report::default();
    for (_, check) in selected {
        check(&config, &mut report);
    }
    if report.failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

//! `uid_map` and `gid_map` of a new user namespace, written by the runtime after clone3.
//!
//! As root any mapping can be written directly. An unprivileged runtime (rootless) may map
//! only its own uid and gid, one id each, and only after writing `deny` to `setgroups`
//! (user_namespaces(7)); ranges go through the setuid helpers `newuidmap`/`newgidmap` (Debian
//! package `uidmap`), which check `/etc/subuid` and `/etc/subgid`.

use std::path::PathBuf;
use std::process::Command;

use berth_sys::Context;
use oci_spec::runtime::LinuxIdMapping;

use crate::config::Bundle;
use crate::error::{Error, Result};

/// Writes the maps of the init `pid`'s new user namespace (nothing without one).
pub(crate) fn write(bundle: &Bundle, pid: i32) -> Result<()> {
    if !bundle.namespaces.new_user {
        return Ok(());
    }
    let Some(linux) = bundle.spec.linux().as_ref() else { return Ok(()) };
    let uids = linux.uid_mappings().clone().unwrap_or_default();
    let gids = linux.gid_mappings().clone().unwrap_or_default();
    let euid = rustix::process::geteuid().as_raw();
    let egid = rustix::process::getegid().as_raw();
    if euid == 0 {
        write_file(pid, "uid_map", &uids)?;
        return write_file(pid, "gid_map", &gids);
    }
    let only_self = |maps: &[LinuxIdMapping], id: u32| matches!(maps, [m] if m.host_id() == id && m.size() == 1);
    if only_self(&uids, euid) {
        write_file(pid, "uid_map", &uids)?;
    } else {
        helper("newuidmap", pid, &uids)?;
    }
    if only_self(&gids, egid) {
        // An unprivileged process may write gid_map only once setgroups is denied.
        let path = PathBuf::from(format!("/proc/{pid}/setgroups"));
        std::fs::write(&path, "deny")
            .op_path("write", &path)
            .map_err(Error::sys("write id mappings"))?;
        write_file(pid, "gid_map", &gids)
    } else {
        helper("newgidmap", pid, &gids)
    }
}

fn lines(maps: &[LinuxIdMapping]) -> String {
    maps.iter().map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size())).collect()
}

fn write_file(pid: i32, file: &str, maps: &[LinuxIdMapping]) -> Result<()> {
    let path = PathBuf::from(format!("/proc/{pid}/{file}"));
    std::fs::write(&path, lines(maps))
        .op_path("write", &path)
        .map_err(Error::sys("write id mappings"))
}

fn helper(tool: &'static str, pid: i32, maps: &[LinuxIdMapping]) -> Result<()> {
    let fail = |reason: String| Error::InvalidConfig {
        field: if tool == "newuidmap" { "linux.uidMappings" } else { "linux.gidMappings" }.into(),
        reason,
    };
    let mut cmd = Command::new(tool);
    cmd.arg(pid.to_string());
    for m in maps {
        cmd.args([m.container_id(), m.host_id(), m.size()].map(|n| n.to_string()));
    }
    let out = cmd.output().map_err(|e| {
        fail(format!(
            "an unprivileged user needs {tool} (Debian package uidmap) for these mappings: {e}"
        ))
    })?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(fail(format!("{tool} failed ({}): {msg}", out.status)));
    }
    Ok(())
}

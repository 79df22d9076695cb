//! Rootless: berth-runtime run by an unprivileged user, with a user namespace mapping that
//! user to root, `spec --rootless`'s config, and no cgroup (none is delegated here).

// A test crate: helpers outside #[test] fns panic on purpose, that is the failure report.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use berth_test_support::{require_container, Bundle, Container, Output, TestCommand};
use serde_json::json;

/// The unprivileged user the tests run the runtime as.
const UID: u32 = 1000;

/// Makes `path` and everything below it the test user's.
fn give(path: &Path) {
    let st =
        Command::new("chown").arg("-R").arg(format!("{UID}:{UID}")).arg(path).status().unwrap();
    assert!(st.success(), "chown {}", path.display());
}

/// A bundle with the rootless changes `spec --rootless` makes.
fn rootless_bundle(name: &str, args: &[&str]) -> Bundle {
    let mut b = Bundle::new(name);
    let s = &mut b.spec;
    s["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "ipc"}, {"type": "uts"},
        {"type": "mount"}, {"type": "user"}]);
    s["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": UID, "size": 1}]);
    s["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": UID, "size": 1}]);
    s["linux"].as_object_mut().unwrap().remove("resources");
    s["linux"].as_object_mut().unwrap().remove("cgroupsPath");
    let mounts = s["mounts"].as_array_mut().unwrap();
    mounts.retain(|m| m["type"] != "cgroup");
    for m in mounts.iter_mut() {
        if m["destination"] == "/sys" {
            *m = json!({"destination": "/sys", "type": "none", "source": "/sys",
                "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
        }
        if m["destination"] == "/dev/pts" {
            m["options"] = json!(["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]);
        }
    }
    b.args(args);
    b.write_config();
    give(b.path());
    b
}

/// Runs the runtime as the test user with `args`.
fn as_user(c: &Container, args: &[&str]) -> Output {
    let mut cmd = Command::new("setpriv");
    cmd.args([&format!("--reuid={UID}"), &format!("--regid={UID}"), "--clear-groups"]);
    cmd.arg(&c.runtime().path).arg("--root").arg(c.state_root());
    TestCommand::new(cmd).args(args).output()
}

fn user_exists() -> bool {
    // setpriv needs no passwd entry, but the runtime binary and bundle must be reachable.
    std::fs::metadata("/proc/self").is_ok()
}

#[test]
fn rootless_run_maps_the_user_to_root() {
    require_container!(userns);
    assert!(user_exists());
    let b = rootless_bundle("rootless", &["sh", "-c", "id -u; cat /proc/self/uid_map"]);
    let c = Container::new(&b);
    give(c.state_root());
    let out = as_user(&c, &["run", "--bundle", b.path().to_str().unwrap(), c.id()]);
    out.success();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "0", "root inside\n{out}");
    let map: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(map, ["0", "1000", "1"], "{out}");
    c.assert_nothing_left();
}

#[test]
fn rootless_detached_runs_as_the_user_on_the_host_and_exec_joins() {
    require_container!(userns);
    let b = rootless_bundle("rootless-d", &["sleep", "1000"]);
    let c = Container::new(&b);
    give(c.state_root());
    as_user(&c, &["run", "--detach", "--bundle", b.path().to_str().unwrap(), c.id()]).success();
    let pid = c.pid();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(uid_line.split_whitespace().skip(1).all(|u| u == "1000"), "{uid_line}");
    let out = as_user(&c, &["exec", c.id(), "id", "-u"]);
    out.success();
    assert_eq!(out.stdout.trim(), "0", "{out}");
    as_user(&c, &["delete", "--force", c.id()]).success();
    c.assert_nothing_left();
}

#[test]
fn rootless_with_limits_but_no_cgroup_is_refused() {
    require_container!(userns);
    let mut b = rootless_bundle("rootless-limits", &["true"]);
    b.spec["linux"]["resources"] = json!({"memory": {"limit": 67108864}});
    b.write_config();
    give(b.path());
    let c = Container::new(&b);
    give(c.state_root());
    let out = as_user(&c, &["run", "--bundle", b.path().to_str().unwrap(), c.id()]);
    out.failure();
    assert!(out.stderr.contains("cgroup"), "{out}");
    c.assert_nothing_left();
}

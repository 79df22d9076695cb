//! `berth run`/`create` flags for what of the host's kernel a container sees: `--pid`,
//! `--ipc`, `--uts` (the host's namespaces or another container's), `--shm-size`,
//! `--sysctl`, `--device` and `--group-add`, checked from inside the container and from the
//! host. Containers run with `--network none` (the test engine's default) unless a test
//! says otherwise.

// A test crate: helpers outside #[test] fns panic on purpose, that is the failure report.
#![allow(clippy::unwrap_used)]

use berth_test_support::engine::Engine;
use berth_test_support::require_container;

/// `readlink /proc/self/ns/KIND` of this (host) process.
fn host_ns(kind: &str) -> String {
    std::fs::read_link(format!("/proc/self/ns/{kind}")).unwrap().display().to_string()
}

/// The host pid of a running container's init.
fn pid_of(env: &Engine, name: &str) -> i64 {
    env.inspect(name)["State"]["Pid"].as_i64().unwrap()
}

/// Running again after a restart: out of the back-off, with an init other than `old`.
fn running_anew(d: &serde_json::Value, old: i64) -> bool {
    let s = &d["State"];
    s["Running"] == true
        && s["Restarting"] == false
        && s["Pid"].as_i64().is_some_and(|p| p > 0 && p != old)
}

/// `kill -KILL` of a container's running init from the host: its monitor sees a crash,
/// not a stop.
fn crash(env: &Engine, name: &str) -> i64 {
    let pid = pid_of(env, name);
    assert!(pid > 0, "{name} is not running: {}", env.inspect(name));
    let killed = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status();
    assert!(killed.unwrap().success());
    pid
}

#[test]
fn a_restart_joins_the_current_init_of_the_container_it_shares_with() {
    require_container!();
    let env = Engine::with_rootfs("ns");
    let always = ["-d", "--restart", "always"];
    env.run(&[&always[..], &["--name", "a"]].concat(), &["sleep", "1000"]).success();
    let flags = [&always[..], &["--name", "b", "--network", "container:a"]].concat();
    env.run(&flags, &["sleep", "1000"]).success();
    let ns = |name: &str| std::fs::read_link(format!("/proc/{}/ns/net", pid_of(&env, name)));
    assert_eq!(ns("b").unwrap(), ns("a").unwrap());
    // A restarts with a new init, in a new network namespace (B keeps the old one alive).
    let old_a = crash(&env, "a");
    env.wait_for("a", 30, |d| running_anew(d, old_a));
    // Then B crashes: its monitor must join A's current init, not the pid A had when B
    // last started (gone, or by now another process's).
    let first_b = crash(&env, "b");
    env.wait_for("b", 30, |d| d["RestartCount"] == 1 && running_anew(d, first_b));
    assert_eq!(ns("b").unwrap(), ns("a").unwrap(), "b shares a's current network namespace");
    // While a is stopped, b's restarts fail and are tried again (with Docker's back-off)
    // until a is back; b then joins a's new namespace.
    env.berth(["stop", "-t", "0", "a"]).success();
    let old_b = crash(&env, "b");
    let log = || env.berth(["logs", "b"]).stderr.clone() + &env.berth(["logs", "b"]).stdout;
    let start = std::time::Instant::now();
    while !log().contains("restart failed") {
        assert!(start.elapsed().as_secs() < 30, "b never tried while a was down: {}", log());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // Meanwhile it shows as Docker shows a container in its back-off.
    let state = &env.inspect("b")["State"];
    assert_eq!(
        (state["Status"].as_str(), state["Restarting"].as_bool()),
        (Some("restarting"), Some(true))
    );
    assert_eq!(state["Pid"], 0, "{state}");
    let ps = env.berth(["ps", "--format", "json", "-f", "name=^b$"]);
    assert!(ps.stdout.contains("\"Status\":\"Restarting (137) "), "{ps}");
    env.berth(["start", "a"]).success();
    env.wait_for("b", 60, |d| running_anew(d, old_b));
    assert_eq!(ns("b").unwrap(), ns("a").unwrap(), "b joined a's new namespace");
    // `stop` during a back-off ends it at once.
    env.berth(["stop", "-t", "0", "a"]).success();
    crash(&env, "b");
    let stop = std::time::Instant::now();
    env.berth(["stop", "b"]).success();
    assert!(stop.elapsed().as_secs() < 10, "stop waited for the back-off");
    env.finish();
}

#[test]
fn pid_host_sees_the_hosts_processes() {
    require_container!();
    let env = Engine::with_rootfs("ns");
    let script = "cat /proc/1/comm; readlink /proc/self/ns/pid";
    let out = env.run(&["--name", "hp", "--pid", "host"], &["sh", "-c", script]);
    out.success();
    let host_init = std::fs::read_to_string("/proc/1/comm").unwrap();
    assert_eq!(out.stdout, format!("{host_init}{}\n", host_ns("pid")), "{out}");
    // Without the flag pid 1 is the container's own init.
    let own = env.run(&["--rm"], &["sh", "-c", script]);
    own.success();
    assert!(own.stdout.starts_with("sh\n") && !own.stdout.contains(&host_ns("pid")), "{own}");
    assert_eq!(env.inspect("hp")["HostConfig"]["PidMode"], "host");
    env.finish();
}

#[test]
fn pid_container_sees_the_other_containers_processes_while_it_runs() {
    require_container!();
    let env = Engine::with_rootfs("ns");
    env.run(&["-d", "--name", "a"], &["sh", "-c", "exec sleep 1000"]).success();
    let a_ns = std::fs::read_link(format!("/proc/{}/ns/pid", pid_of(&env, "a"))).unwrap();
    let out = env.run(
        &["--rm", "--pid", "container:a"],
        &["sh", "-c", "cat /proc/1/comm; readlink /proc/self/ns/pid"],
    );
    out.success();
    assert_eq!(out.stdout, format!("sleep\n{}\n", a_ns.display()), "{out}");
    // Docker refuses to join a container that is not running; nothing is left behind.
    env.berth(["stop", "-t", "0", "a"]).success();
    let out = env.run(&["--name", "late", "--pid", "container:a"], &["true"]);
    assert_eq!(out.code(), Some(125), "{out}");
    assert!(out.stderr.contains("it is exited"), "{out}");
    assert_eq!(out.stderr_lines().len(), 1, "{out}");
    assert!(!env.berth(["ps", "-a"]).stdout.contains("late"), "no record");
    env.finish();
}

#[test]
fn uts_host_has_the_hosts_hostname_and_refuses_hostname() {
    require_container!();
    let env = Engine::with_rootfs("ns");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let out = env.run(
        &["--rm", "--uts", "host"],
        &["sh", "-c", "hostname; cat /etc/hostname; readlink /proc/self/ns/uts"],
    );
    out.success();
    assert_eq!(out.stdout, format!("{host}{host}{}\n", host_ns("uts")), "{out}");
    let out = env.run(&["--uts", "host", "--hostname", "web"], &["true"]);
    assert_eq!(out.code(), Some(125), "{out}");
    assert!(out.stderr.contains("conflicting options: hostname and the UTS mode"), "{out}");
    env.finish();
}

#[test]
fn ipc_host_shares_the_hosts_namespace_and_dev_shm() {
    require_container!();
    let env = Engine::with_rootfs("ns");
    let file = format!("berth-test-ipc-{}", std::process::id());
    let script = format!("readlink /proc/self/ns/ipc; echo hi > /dev/shm/{file}");
    let out = env.run(&["--rm", "--ipc", "host"], &["sh", "-c", &script]);
    let host_file = std::path::Path::new("/dev/shm").join(&file);
    let written = std::fs::read_to_string(&host_file);
    let _ = std::fs::remove_file(&host_file);
    out.success();
    assert_eq!(out.stdout, format!("{}\n", host_ns("ipc")), "{out}");
    assert_eq!(written.unwrap(), "hi\n", "the container's /dev/shm is the host's");
    env.finish();
}

#[test]
fn ipc_container_joins_a_shareable_container_and_its_dev_shm() {
    require_container!();
    let env = Engine::with_rootfs("ns");
    let donor = "echo shared > /dev/shm/f; exec sleep 1000";
    env.run(&["-d", "--name", "a", "--ipc", "shareable"], &["sh", "-c", donor]).success();
    env.wait_for("a", 10, |_| env.berth(["exec", "a", "cat", "/dev/shm/f"]).code() == Some(0));
    let a_ns = std::fs::read_link(format!("/proc/{}/ns/ipc", pid_of(&env, "a"))).unwrap();
    let out = env.run(
        &["--rm", "--ipc", "container:a"],
        &["sh", "-c", "readlink /proc/self/ns/ipc; cat /dev/shm/f"],
    );
    out.success();
    assert_eq!(out.stdout, format!("{}\nshared\n", a_ns.display()), "{out}");
    // Docker's default IPC mode is private, which cannot be joined.
    env.run(&["-d", "--name", "p"], &["sleep", "1000"]).success();
    let out = env.run(&["--ipc", "container:p"], &["true"]);
    assert_eq!(out.code(), Some(125), "{out}");
    assert!(out.stderr.contains("non-shareable IPC"), "{out}");
    let doc = env.inspect("p");
    assert_eq!(doc["HostConfig"]["IpcMode"], "private");
    assert_eq!(env.inspect("a")["HostConfig"]["IpcMode"], "shareable");
    // The shareable /dev/shm, a mount on the host, goes with its container.
    env.berth(["rm", "-f", "a"]).success();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(&env.dir().display().to_string()), "{mounts}");
    env.finish();
}

#[test]
fn shm_size_sets_the_size_of_dev_shm_and_none_has_none() {
    require_container!();
    let env = Engine::with_rootfs("ns");
    let df = "df -k /dev/shm | tail -1 | awk '{print $2}'";
    let out = env.run(&["--name", "s", "--shm-size", "16m"], &["sh", "-c", df]);
    out.success();
    assert_eq!(out.stdout, "16384\n", "{out}");
    assert_eq!(env.inspect("s")["HostConfig"]["ShmSize"], 16 << 20);
    let out = env.run(&["--rm"], &["sh", "-c", df]);
    assert_eq!(out.stdout, "65536\n", "Docker's default, 64m\n{out}");
    let out = env.run(&["--rm", "--ipc", "none"], &["ls", "/dev/shm"]);
    assert_ne!(out.code(), Some(0), "no /dev/shm with --ipc none\n{out}");
    env.finish();
}

#[test]
fn sysctls_are_set_in_the_containers_namespaces_and_others_refused() {
    require_container!();
    let env = Engine::with_rootfs("ns");
    let out = env.run(
        &["--name", "sc", "--network", "none", "--sysctl", "net.ipv4.ip_forward=1"],
        &["cat", "/proc/sys/net/ipv4/ip_forward"],
    );
    out.success();
    assert_eq!(out.stdout, "1\n", "{out}");
    let doc = env.inspect("sc");
    assert_eq!(doc["HostConfig"]["Sysctls"], serde_json::json!({"net.ipv4.ip_forward": "1"}));
    env.finish();
}

#[test]
fn a_device_is_made_and_allowed_by_the_device_cgroup() {
    require_container!();
    let env = Engine::with_rootfs("ns");
    let out = env.run(
        &["--name", "dev", "--device", "/dev/null:/dev/mynull"],
        &["sh", "-c", "echo hi > /dev/mynull && stat -c '%t:%T' /dev/mynull"],
    );
    out.success();
    assert_eq!(out.stdout, "1:3\n", "{out}");
    assert_eq!(
        env.inspect("dev")["HostConfig"]["Devices"],
        serde_json::json!([{"PathOnHost": "/dev/null", "PathInContainer": "/dev/mynull",
                            "CgroupPermissions": "rwm"}])
    );
    // A device outside the default set (fuse's numbers, from a node made here): denied by the
    // device cgroup unless --device allows it.
    let node = env.path("fuse");
    let made =
        std::process::Command::new("mknod").arg(&node).args(["c", "10", "229"]).status().unwrap();
    assert!(made.success());
    let open = "mknod /dev/f c 10 229 2>/dev/null; : > /dev/f";
    let denied = env.run(&["--rm"], &["sh", "-c", open]);
    assert!(denied.stderr.contains("Operation not permitted"), "{denied}");
    let spec = format!("{}:/dev/f", node.display());
    let allowed = env.run(&["--rm", "--device", &spec], &["sh", "-c", ": > /dev/f"]);
    assert!(!allowed.stderr.contains("Operation not permitted"), "{allowed}");
    // PERMS `r`: read, not write.
    let ro = format!("{}:/dev/f:r", node.display());
    let write = env.run(&["--rm", "--device", &ro], &["sh", "-c", ": > /dev/f"]);
    assert!(write.stderr.contains("Operation not permitted"), "{write}");
    let read = env.run(&["--rm", "--device", &ro], &["sh", "-c", "exec 3</dev/f"]);
    assert!(!read.stderr.contains("Operation not permitted"), "{read}");
    env.finish();
}

#[test]
fn group_add_names_and_numbers_show_in_id() {
    require_container!();
    let env = Engine::with_rootfs("ns");
    let out = env.run(
        &["--name", "g", "--group-add", "tty", "--group-add", "4242", "-u", "1000:1000"],
        &["id", "-G"],
    );
    out.success();
    assert_eq!(out.stdout, "1000 5 4242\n", "{out}");
    assert_eq!(env.inspect("g")["HostConfig"]["GroupAdd"], serde_json::json!(["tty", "4242"]));
    env.finish();
}

#[test]
fn bad_values_fail_with_125_in_one_line_and_create_nothing() {
    require_container!();
    let env = Engine::with_rootfs("ns");
    let cases: [(&[&str], &str); 13] = [
        (&["--pid", "private"], "--pid"),
        (&["--pid", "container:nosuch"], "nosuch"),
        (&["--ipc", "bogus"], "--ipc"),
        (&["--uts", "container:x"], "--uts"),
        (&["--shm-size", "lots"], "--shm-size"),
        (&["--shm-size", "-1"], "--shm-size"),
        (&["--sysctl", "kernel.hostname=x"], "sysctl 'kernel.hostname=x' is not allowed"),
        (&["--sysctl", "noequals"], "--sysctl"),
        (&["--network", "host", "--sysctl", "net.ipv4.ip_forward=1"], "host network"),
        (&["--device", "dev/null"], "--device"),
        (&["--device", "/dev/null:/dev/x:rwx"], "bad mode"),
        (&["--device", "/no/such/node"], "/no/such/node"),
        (&["--group-add", "nosuchgroup"], "unable to find group nosuchgroup"),
    ];
    for (flags, needle) in cases {
        for verb in ["run", "create"] {
            let out = env.make(verb, flags, &["true"]);
            assert_eq!(out.code(), Some(125), "{verb} {flags:?}\n{out}");
            assert!(out.stderr.contains(needle), "{needle}\n{out}");
            assert_eq!(out.stderr_lines().len(), 1, "{out}");
        }
    }
    assert_eq!(env.berth(["ps", "-aq"]).stdout, "", "no record");
    let dirs = std::fs::read_dir(env.path("data/containers")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(dirs, 0, "no container directory");
    env.finish();
}

//! Lifecycle operations (runtime.md "Operations", "Lifecycle", "Hooks"): create, start, state,
//! kill, delete, run, list, and the order and input of hooks.

// A test crate: helpers outside #[test] fns panic on purpose, that is the failure report.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use berth_test_support::{process, require_container, Bundle, Container};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(10);

fn sleeper(name: &str) -> Bundle {
    let mut b = Bundle::new(name);
    b.args(&["sleep", "1000"]);
    b.write_config();
    b
}

#[test]
fn create_start_kill_delete() {
    require_container!();
    let b = sleeper("lifecycle");
    let c = Container::new(&b);
    c.create().success();
    let state = c.state();
    assert_eq!(state["status"], "created", "{state}");
    assert_eq!(state["id"], c.id(), "{state}");
    assert!(state["ociVersion"].is_string(), "{state}");
    let bundle = std::fs::canonicalize(b.path()).unwrap();
    assert_eq!(state["bundle"].as_str().map(std::path::PathBuf::from), Some(bundle), "{state}");
    let pid = c.pid();
    assert!(pid > 0 && process::alive(pid), "created container has a live pid: {state}");

    c.start().success();
    assert_eq!(c.status(), "running");
    assert_eq!(c.pid(), pid, "start keeps the pid");

    c.kill("KILL").success();
    c.wait_status("stopped", WAIT);
    c.delete(false).success();
    c.state_output().failure();
    assert!(process::wait_gone(pid, WAIT));
    c.assert_nothing_left();
}

#[test]
fn start_twice_fails() {
    require_container!();
    let b = sleeper("start-twice");
    let c = Container::new(&b);
    c.create().success();
    c.start().success();
    c.start().failure();
    assert_eq!(c.status(), "running");
}

#[test]
fn delete_running_without_force_fails() {
    require_container!();
    let b = sleeper("delete-running");
    let c = Container::new(&b);
    c.run_detached().success();
    let pid = c.pid();
    c.delete(false).failure();
    assert_eq!(c.status(), "running", "a refused delete leaves the container alone");
    c.delete(true).success();
    assert!(process::wait_gone(pid, WAIT), "delete --force kills the container");
    c.state_output().failure();
    c.assert_nothing_left();
}

#[test]
fn delete_force_of_created_container() {
    require_container!();
    let b = sleeper("delete-created");
    let c = Container::new(&b);
    c.create().success();
    let pid = c.pid();
    c.delete(true).success();
    assert!(process::wait_gone(pid, WAIT));
    c.assert_nothing_left();
}

#[test]
fn state_of_unknown_id_fails() {
    require_container!();
    let b = Bundle::new("unknown");
    let c = Container::new(&b);
    let out = c.state_output();
    out.failure();
    assert!(!out.stderr.trim().is_empty(), "an error message is printed\n{out}");
}

#[test]
fn duplicate_id_fails() {
    require_container!();
    let b = sleeper("duplicate");
    let c = Container::new(&b);
    c.create().success();
    let pid = c.pid();
    c.create().failure();
    assert_eq!(c.status(), "created", "the first container is untouched");
    assert_eq!(c.pid(), pid);
}

#[test]
fn run_propagates_exit_status() {
    require_container!();
    let mut b = Bundle::new("exit-status");
    b.args(&["sh", "-c", "exit 7"]);
    b.write_config();
    let c = Container::new(&b);
    let out = c.run();
    assert_eq!(out.code(), Some(7), "{out}");
}

#[test]
fn run_foreground_passes_stdout() {
    require_container!();
    let mut b = Bundle::new("stdout");
    b.args(&["echo", "hello from the container"]);
    b.write_config();
    let c = Container::new(&b);
    let out = c.run();
    out.success();
    assert_eq!(out.stdout.trim(), "hello from the container", "{out}");
    c.assert_nothing_left();
}

#[test]
fn run_detach_leaves_it_running() {
    require_container!();
    let b = sleeper("detach");
    let c = Container::new(&b);
    c.run_detached().success();
    assert_eq!(c.status(), "running");
    assert!(process::alive(c.pid()));
}

#[test]
fn list_shows_container() {
    require_container!();
    let b = sleeper("list");
    let c = Container::new(&b);
    c.create().success();
    let out = c.cmd(["list"]).output();
    out.success();
    assert!(out.stdout.lines().any(|l| l.split_whitespace().next() == Some(c.id())), "{out}");
    let out = c.cmd(["list", "--format", "json"]).output();
    out.success();
    let list: Value = serde_json::from_str(&out.stdout).expect("list --format json is JSON");
    let ids: Vec<&str> =
        list.as_array().into_iter().flatten().filter_map(|e| e["id"].as_str()).collect();
    assert_eq!(ids, vec![c.id()], "{out}");
}

fn kill_with(signal: &str, args: &[&str]) {
    kill_after_ready(signal, args, None);
}

/// Runs `args` detached, waits until `ready` (an in-container path) exists if given, sends
/// `signal`, and expects the container to stop and be deletable.
fn kill_after_ready(signal: &str, args: &[&str], ready: Option<&str>) {
    let mut b = Bundle::new("kill");
    b.args(args);
    b.write_config();
    let c = Container::new(&b);
    c.run_detached().success();
    let pid = c.pid();
    if let Some(ready) = ready {
        // Seen through the init's root: works whatever the rootfs is mounted as.
        let path = format!("/proc/{pid}/root{ready}");
        let start = std::time::Instant::now();
        while !std::path::Path::new(&path).exists() {
            assert!(start.elapsed() < WAIT, "the container never signalled readiness at {ready}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    c.kill(signal).success();
    c.wait_status("stopped", WAIT);
    assert!(process::wait_gone(pid, WAIT));
    c.delete(false).success();
    c.assert_nothing_left();
}

#[test]
fn kill_by_name_term() {
    require_container!();
    // PID 1 of a pid namespace only receives signals it handles, so trap TERM, and only send
    // it once the trap is installed (the shell signals readiness by creating a file).
    let script = "trap 'exit 0' TERM; touch /dev/shm/ready; while true; do sleep 1; done";
    kill_after_ready("TERM", &["sh", "-c", script], Some("/dev/shm/ready"));
}

#[test]
fn kill_by_full_name_sigkill() {
    require_container!();
    kill_with("SIGKILL", &["sleep", "1000"]);
}

#[test]
fn kill_by_number_9() {
    require_container!();
    kill_with("9", &["sleep", "1000"]);
}

#[test]
fn kill_of_stopped_container_fails() {
    require_container!();
    let mut b = Bundle::new("kill-stopped");
    b.args(&["true"]);
    b.write_config();
    let c = Container::new(&b);
    c.run_detached().success();
    c.wait_status("stopped", WAIT);
    // runtime.md "kill": the container MUST be created or running; a runtime MUST generate an
    // error when it is not. runc answers "container not running".
    c.kill("KILL").failure();
    c.delete(false).success();
    c.assert_nothing_left();
}

const HOOKS: &[&str] =
    &["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"];

/// A hook saving its stdin (the state) and appending its name to the shared `order` file.
/// startContainer runs inside the container, so it writes through the `/hooklog` bind mount.
fn hook(dir: &str, name: &str) -> Value {
    let cmd = format!("cat > {dir}/{name}.json; echo {name} >> {dir}/order");
    json!([{"path": "/bin/sh", "args": ["sh", "-c", cmd]}])
}

/// Runs a container with every hook recording itself, through create, start, kill and
/// delete; returns the bundle, the container id, and the hook names in the order they ran.
fn run_with_hooks(name: &str) -> (Bundle, String, Vec<String>) {
    let mut b = sleeper(name);
    let host_dir = b.path().join("hooklog");
    std::fs::create_dir(&host_dir).unwrap();
    let host = host_dir.to_str().unwrap().to_string();
    let mut hooks = serde_json::Map::new();
    for name in HOOKS {
        let dir = if *name == "startContainer" { "/hooklog" } else { host.as_str() };
        hooks.insert(name.to_string(), hook(dir, name));
    }
    b.spec["hooks"] = Value::Object(hooks);
    b.spec["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/hooklog", "type": "bind", "source": host, "options": ["rbind", "rw"]
    }));
    b.write_config();
    let c = Container::new(&b);
    c.create().success();
    c.start().success();
    c.kill("KILL").success();
    c.wait_status("stopped", WAIT);
    c.delete(false).success();
    c.assert_nothing_left();
    let order = std::fs::read_to_string(host_dir.join("order")).unwrap_or_default();
    (b, c.id().to_string(), order.lines().map(String::from).collect())
}

#[test]
fn hooks_run_in_order_with_state() {
    require_container!();
    let (b, id, order) = run_with_hooks("hooks");
    // startContainer vs poststart is checked on its own below (runc races them).
    let without_start: Vec<&str> =
        order.iter().map(String::as_str).filter(|h| *h != "startContainer").collect();
    let expected: Vec<&str> = HOOKS.iter().copied().filter(|h| *h != "startContainer").collect();
    assert_eq!(without_start, expected, "hook order: {order:?}");
    let pos = |h: &str| order.iter().position(|x| x == h);
    assert!(
        pos("startContainer") > pos("createContainer") && pos("startContainer") < pos("poststop"),
        "startContainer runs during start: {order:?}"
    );
    let bundle = std::fs::canonicalize(b.path()).unwrap();
    for name in HOOKS {
        let text = std::fs::read_to_string(b.path().join(format!("hooklog/{name}.json"))).unwrap();
        let state: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{name} got invalid state JSON ({e}): {text:?}"));
        assert_eq!(state["id"], id.as_str(), "{name}: {state}");
        assert_eq!(state["bundle"].as_str().map(std::path::PathBuf::from), Some(bundle.clone()));
        if *name != "poststop" {
            assert!(state["pid"].as_u64().unwrap_or(0) > 0, "{name} state has the pid: {state}");
        }
    }
}

#[test]
fn hooks_start_container_before_poststart() {
    require_container!();
    // runtime.md "Lifecycle" step 8-10 of start: startContainer hooks, then the user
    // program, then poststart hooks. Known to fail with runc (it runs poststart from
    // `runc start` while `runc init` runs startContainer concurrently).
    let (_b, _id, order) = run_with_hooks("hooks-start");
    let pos = |h: &str| order.iter().position(|x| x == h);
    assert!(pos("startContainer") < pos("poststart"), "hook order: {order:?}");
}

#[test]
fn failing_prestart_hook_fails_create_and_cleans_up() {
    require_container!();
    let mut b = sleeper("hook-fails");
    b.spec["hooks"] = json!({"prestart": [{"path": "/bin/false", "args": ["false"]}]});
    b.write_config();
    let c = Container::new(&b);
    // runtime.md: if any prestart hook fails, the runtime MUST generate an error, stop the
    // container, and continue the lifecycle at step 12 (delete).
    c.create().failure();
    c.assert_nothing_left();
}

/// A hook running `sh -c script` (`/bin/sh` exists on the host and in the busybox rootfs).
fn sh_hook(script: &str) -> Value {
    json!({"path": "/bin/sh", "args": ["sh", "-c", script]})
}

/// A create whose `kind` hook fails must fail and leave nothing (runtime.md Lifecycle steps
/// 4-6 and config.md Hooks: on a prestart/createRuntime/createContainer failure the runtime
/// MUST generate an error, stop the container and continue at delete).
fn failing_create_hook(kind: &str) {
    let mut b = sleeper(&format!("hook-fail-{}", kind.to_lowercase()));
    b.spec["hooks"] = json!({ kind: [sh_hook("exit 3")] });
    b.write_config();
    let c = Container::new(&b);
    let out = c.create();
    out.failure();
    assert!(!out.stderr.trim().is_empty(), "an error message\n{out}");
    assert!(c.state_entries().is_empty(), "state root: {:?}", c.state_entries());
    c.assert_nothing_left();
}

#[test]
fn failing_create_runtime_hook_fails_create_and_cleans_up() {
    require_container!();
    failing_create_hook("createRuntime");
}

#[test]
fn failing_create_container_hook_fails_create_and_cleans_up() {
    require_container!();
    failing_create_hook("createContainer");
}

#[test]
fn failing_poststart_hook_does_not_fail_start() {
    require_container!();
    // config.md Hooks, poststart: "If any poststart hook fails, the runtime MUST log a
    // warning, but the remaining hooks and lifecycle continue as if the hook had succeeded."
    let mut b = sleeper("hook-poststart");
    b.spec["hooks"] = json!({"poststart": [sh_hook("exit 3")]});
    b.write_config();
    let c = Container::new(&b);
    c.create().success();
    c.start().success();
    assert_eq!(c.status(), "running");
    c.delete(true).success();
    c.assert_nothing_left();
}

#[test]
fn failing_poststop_hook_does_not_fail_delete() {
    require_container!();
    // config.md Hooks, poststop: "If any poststop hook fails, the runtime MUST log a warning,
    // but the remaining hooks and lifecycle continue as if the hook had succeeded."
    let mut b = Bundle::new("hook-poststop");
    b.args(&["true"]);
    b.spec["hooks"] = json!({"poststop": [sh_hook("exit 3")]});
    b.write_config();
    let c = Container::new(&b);
    c.create().success();
    c.start().success();
    c.wait_status("stopped", WAIT);
    c.delete(false).success();
    c.state_output().failure();
    c.assert_nothing_left();
}

#[test]
fn hook_timeout_is_enforced() {
    require_container!();
    let mut b = sleeper("hook-timeout");
    let pid_file = b.path().join("hook.pid");
    let script = format!("echo $$ > {}; exec sleep 10", pid_file.display());
    let mut hook = sh_hook(&script);
    hook["timeout"] = json!(1);
    b.spec["hooks"] = json!({"createRuntime": [hook]});
    b.write_config();
    let c = Container::new(&b);
    let start = std::time::Instant::now();
    let out = c.create();
    let took = start.elapsed();
    out.failure();
    assert!(took < Duration::from_secs(4), "a 1 s hook timeout fired after {took:?}\n{out}");
    let hook_pid: u32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    let gone = process::wait_gone(hook_pid, WAIT);
    process::kill(hook_pid, "KILL");
    assert!(gone, "the timed-out hook process is killed");
    assert!(c.state_entries().is_empty(), "state root: {:?}", c.state_entries());
    c.assert_nothing_left();
}

#[test]
fn hook_gets_its_args_and_env() {
    require_container!();
    // config.md Hooks: `args` with the same semantics as execv's argv, `env` as environ: the
    // hook sees exactly the configured environment, not the runtime's.
    let mut b = sleeper("hook-env");
    let out_file = b.path().join("hook.out");
    let env_file = b.path().join("hook.env");
    let script = format!(
        "printf '%s|%s|%s' \"$0\" \"$1\" \"$BERTH_HOOK_VAR\" > {}; env > {}",
        out_file.display(),
        env_file.display()
    );
    b.spec["hooks"] = json!({"createRuntime": [{
        "path": "/bin/sh", "args": ["sh", "-c", script, "zero", "one"],
        "env": ["BERTH_HOOK_VAR=value with spaces", "PATH=/usr/bin:/bin"]
    }]});
    b.write_config();
    let c = Container::new(&b);
    let create = c.cmd(["create", "--bundle"]).args([b.path().as_os_str()]).args([c.id()]);
    create.env("BERTH_RUNTIME_ONLY", "leaked").output().success();
    let got = std::fs::read_to_string(&out_file).unwrap_or_default();
    assert_eq!(got, "zero|one|value with spaces", "hook argv and env");
    let env = std::fs::read_to_string(&env_file).unwrap_or_default();
    assert!(!env.contains("BERTH_RUNTIME_ONLY"), "the runtime's environment leaked: {env}");
}

#[test]
fn create_killed_during_hook_leaves_nothing_after_delete() {
    require_container!();
    // A createRuntime hook that records the state (with the init pid) and its own pid, then
    // sleeps; the `create` process is SIGKILLed while it runs.
    let mut b = sleeper("create-killed");
    let state_file = b.path().join("hook-state.json");
    let pid_file = b.path().join("hook.pid");
    let script = format!(
        "cat > {}.tmp; mv {0}.tmp {0}; echo $$ > {}; exec sleep 30",
        state_file.display(),
        pid_file.display()
    );
    b.spec["hooks"] = json!({"createRuntime": [sh_hook(&script)]});
    b.write_config();
    let c = Container::new(&b);
    let create = c.cmd(["create", "--bundle"]).args([b.path().as_os_str()]).args([c.id()]);
    let mut child = create
        .into_command()
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while !pid_file.exists() || std::fs::read_to_string(&pid_file).unwrap().trim().is_empty() {
        if start.elapsed() > WAIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the createRuntime hook never ran");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // The runtime cannot reap its own hook after SIGKILL; the orphaned sleep is ours to end.
    let hook_pid: u32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    process::kill(hook_pid, "KILL");
    let state: Value = serde_json::from_str(&std::fs::read_to_string(&state_file).unwrap())
        .expect("hook got the state");
    let init = state["pid"].as_u64().and_then(|p| u32::try_from(p).ok()).unwrap_or(0);
    assert!(init > 0, "the hook's state has the init pid: {state}");

    let st = c.state_output();
    if st.status.success() {
        let v: Value = serde_json::from_str(&st.stdout).expect("state is JSON");
        assert_eq!(v["id"], c.id(), "{st}");
    }
    let del = c.delete(true);
    assert!(
        process::wait_gone(init, WAIT),
        "the init {init} of the half-created container is gone\nstate: {st}\ndelete: {del}"
    );
    c.state_output().failure();
    let start = std::time::Instant::now();
    let mut left = c.leftovers();
    while !left.is_empty() && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
        left = c.leftovers();
    }
    assert!(left.is_empty(), "left behind: {left:#?}\nstate: {st}\ndelete: {del}");
}

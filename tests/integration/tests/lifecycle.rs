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
    let mut b = Bundle::new("kill");
    b.args(args);
    b.write_config();
    let c = Container::new(&b);
    c.run_detached().success();
    let pid = c.pid();
    c.kill(signal).success();
    c.wait_status("stopped", WAIT);
    assert!(process::wait_gone(pid, WAIT));
    c.delete(false).success();
    c.assert_nothing_left();
}

#[test]
fn kill_by_name_term() {
    require_container!();
    // PID 1 of a pid namespace only receives signals it handles, so trap TERM.
    kill_with("TERM", &["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]);
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

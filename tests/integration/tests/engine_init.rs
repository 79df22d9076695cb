//! `berth run --init`: `berth-init` (built static) is pid 1, reaps orphans that a plain pid 1
//! leaves as zombies, and forwards the stop signal to the command; a dynamically linked init
//! is refused before anything is created.

// A test crate: helpers outside #[test] fns panic on purpose, that is the failure report.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use berth_test_support::engine::{self, Engine};
use berth_test_support::require_container;
use berth_test_support::runtimetest::berth_init_path;

/// Zombies in the container, counted from inside.
fn zombies(env: &Engine, name: &str) -> usize {
    let out = env.berth(["exec", name, "sh", "-c", "cat /proc/[0-9]*/stat"]);
    out.success();
    out.stdout.lines().filter(|l| l.split(") ").nth(1).is_some_and(|r| r.starts_with('Z'))).count()
}

#[test]
fn init_is_pid_1_reaps_orphans_and_forwards_signals() {
    require_container!();
    let init = berth_init_path().display().to_string();
    let env = Engine::with_rootfs("init");
    // The subshell exits at once: its `sleep 0.2` is orphaned to pid 1 and exits soon after.
    let script = ["sh", "-c", "(sleep 0.2 &); exec sleep 1000"];
    env.make_command("run", &["-d", "--name", "with", "--init"], &script)
        .env("BERTH_INIT", &init)
        .output()
        .success();
    // The control: `sleep` as pid 1 never waits for the orphan.
    env.run(&["-d", "--name", "without"], &script).success();
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(zombies(&env, "without"), 1, "a plain pid 1 leaves the orphan a zombie");
    assert_eq!(zombies(&env, "with"), 0, "the init reaped it");
    let comm = env.berth(["exec", "with", "cat", "/proc/1/comm"]);
    assert_eq!(comm.stdout, "berth-init\n", "{comm}");
    let doc = env.inspect("with");
    assert_eq!(doc["HostConfig"]["Init"], true);
    assert_eq!(doc["Path"], "sh", "inspect shows the command, not the init");
    // SIGTERM reaches `sleep`, which is not pid 1 here: it dies at once (128 + 15).
    let start = Instant::now();
    env.berth(["stop", "-t", "20", "with"]).success();
    assert!(start.elapsed() < Duration::from_secs(10), "{:?}", start.elapsed());
    assert_eq!(env.inspect("with")["State"]["ExitCode"], 143);
    env.finish();
}

#[test]
fn a_dynamically_linked_init_is_refused_with_nothing_created() {
    require_container!();
    let env = Engine::with_rootfs("init");
    let dynamic = engine::bin("berth").display().to_string();
    let out = env.make_command("run", &["--init"], &["true"]).env("BERTH_INIT", &dynamic).output();
    assert_eq!(out.code(), Some(125), "{out}");
    assert!(out.stderr.contains("dynamically linked"), "{out}");
    assert_eq!(env.berth(["ps", "-aq"]).stdout, "", "no record");
    env.finish();
}

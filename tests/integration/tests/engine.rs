//! The `berth` engine driven as a user would: `run` (foreground and `-d`), `ps` with the
//! init's host pid, `logs` (`--since`, `--until`, `--tail`, `--details`, `-f`), `exec`,
//! `stop`, `kill`, `rm`, `inspect`, `wait`; Docker's exit
//! codes for bad input; and nothing left behind. Each test has its own records, run state
//! and cgroup parent.

// A test crate: helpers outside #[test] fns panic on purpose, that is the failure report.
#![allow(clippy::unwrap_used)]

use berth_test_support::engine::Engine;
use berth_test_support::require_container;
use berth_test_support::runtime::which;

#[test]
fn run_in_the_foreground_passes_output_and_exit_status() {
    require_container!();
    let env = Engine::with_rootfs("engine");
    let out = env.run(
        &["--rm", "--hostname", "seed"],
        &["sh", "-c", "echo hello from $(hostname); echo oops >&2; exit 3"],
    );
    assert_eq!(out.code(), Some(3), "{out}");
    assert_eq!(out.stdout, "hello from seed\n", "{out}");
    assert_eq!(out.stderr, "oops\n", "{out}");
    assert_eq!(env.berth(["ps", "-aq"]).stdout, "", "--rm removed the record");
    assert!(env.leftovers().is_empty(), "{:?}", env.leftovers());
}

#[test]
fn detached_container_ps_pid_exec_logs_stop_rm() {
    require_container!();
    let env = Engine::with_rootfs("engine");
    let out = env.run(&["-d", "--name", "web"], &["sh", "-c", "echo started; exec sleep 1000"]);
    out.success();
    let id = out.stdout.trim().to_string();
    assert_eq!(id.len(), 64, "{out}");
    let ps = env.berth(["ps"]);
    let row = ps.stdout.lines().find(|l| l.contains("web")).unwrap_or_else(|| panic!("{ps}"));
    let pid: u32 = row.split_whitespace().last().unwrap().parse().unwrap();
    // The PID column is the init's host pid: its pid namespace is not ours and it sleeps.
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_eq!(comm.trim(), "sleep", "{ps}");
    let ex = env.berth(["exec", "web", "sh", "-c", "echo in $(hostname); exit 4"]);
    assert_eq!(ex.code(), Some(4), "{ex}");
    assert_eq!(ex.stdout, format!("in {}\n", &id[..12]), "{ex}");
    assert_eq!(env.berth(["logs", "web"]).stdout, "started\n");
    env.berth(["stop", "-t", "1", "web"]).success();
    let doc: serde_json::Value =
        serde_json::from_str(&env.berth(["inspect", "web"]).stdout).unwrap();
    assert_eq!(doc[0]["State"]["Status"], "exited", "{doc}");
    assert_eq!(doc[0]["State"]["ExitCode"], 137, "sleep as pid 1 ignores TERM: killed after -t 1");
    assert_eq!(env.berth(["wait", "web"]).stdout.trim(), "137");
    env.berth(["rm", "web"]).success();
    assert!(env.berth(["inspect", "web"]).status.code() == Some(125));
    assert!(env.leftovers().is_empty(), "{:?}", env.leftovers());
}

#[test]
fn limits_reach_the_cgroup() {
    require_container!();
    let env = Engine::with_rootfs("engine");
    let script = "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max";
    let out = env.run(
        &["--rm", "--memory", "64m", "--cpus", "0.5", "--pids-limit", "32"],
        &["sh", "-c", script],
    );
    out.success();
    assert_eq!(out.stdout.trim(), "67108864", "{out}");
}

#[test]
fn rm_of_a_running_container_needs_force() {
    require_container!();
    let env = Engine::with_rootfs("engine");
    env.run(&["-d", "--name", "busy"], &["sleep", "1000"]).success();
    let out = env.berth(["rm", "busy"]);
    assert_eq!(out.code(), Some(125), "{out}");
    assert!(out.stderr.contains("stop it first or use rm -f"), "{out}");
    env.berth(["rm", "-f", "busy"]).success();
    assert!(env.leftovers().is_empty(), "{:?}", env.leftovers());
}

#[test]
fn bad_input_gets_docker_exit_codes_and_leaves_nothing() {
    require_container!();
    let env = Engine::with_rootfs("engine");
    env.run(&["-d", "--name", "taken"], &["sleep", "1000"]).success();
    let cases: [(&[&str], &[&str], i32, &str); 5] = [
        (&["--name", "taken"], &["true"], 125, "already in use"),
        (&["--memory", "lots"], &["true"], 125, "--memory"),
        (&["--user", "nobody-here"], &["true"], 125, "unable to find user"),
        (&["-v", "/no/such/dir:/x"], &["true"], 125, "does not exist"),
        (&[], &["no-such-program"], 127, "no-such-program"),
    ];
    for (flags, cmd, code, needle) in cases {
        let out = env.run(flags, cmd);
        assert_eq!(out.code(), Some(code), "{flags:?} {cmd:?}\n{out}");
        assert!(out.stderr.contains(needle), "{needle}\n{out}");
    }
    let all = env.berth(["ps", "-aq"]);
    assert_eq!(all.stdout.lines().count(), 1, "only the first container has a record\n{all}");
    env.berth(["rm", "-f", "taken"]).success();
    assert!(env.leftovers().is_empty(), "{:?}", env.leftovers());
}

#[test]
fn runc_works_as_the_runtime_too() {
    require_container!(runc);
    let env = Engine::with_rootfs("engine");
    let runc = which("runc").unwrap();
    let runc = runc.to_str().unwrap();
    let out = env.run(&["--rm", "--runtime", runc], &["sh", "-c", "echo via runc; exit 2"]);
    assert_eq!(out.code(), Some(2), "{out}");
    assert_eq!(out.stdout, "via runc\n", "{out}");
}

#[test]
fn pull_images_run_from_an_image_and_rmi() {
    require_container!();
    let registry = &berth_test_support::require_registry!().plain.host;
    let env = Engine::with_rootfs("engine");
    let image = format!("{registry}/busybox:latest");
    let pulled = env.berth(["pull", "-q", &image]);
    pulled.success();
    assert!(pulled.stdout.trim().starts_with("sha256:"), "{pulled}");
    let images = env.berth(["images"]);
    assert!(images.stdout.contains(&format!("{registry}/busybox")), "{images}");
    let out = env.berth([
        "run",
        "--rm",
        "--cgroup-parent",
        env.parent(),
        "--memory",
        "32m",
        &image,
        "sh",
        "-c",
        "echo from the image; cat /etc/hostname",
    ]);
    out.success();
    assert!(out.stdout.starts_with("from the image\n"), "{out}");
    // A container holds its image against rmi.
    env.berth([
        "run",
        "-d",
        "--name",
        "holder",
        "--cgroup-parent",
        env.parent(),
        &image,
        "sleep",
        "1000",
    ])
    .success();
    let refused = env.berth(["rmi", &image]);
    assert_eq!(refused.code(), Some(125), "{refused}");
    env.berth(["rm", "-f", "holder"]).success();
    env.berth(["rmi", &image]).success();
    assert!(!env.berth(["images"]).stdout.contains("busybox"));
    let overlays = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!overlays.contains(&env.dir().display().to_string()), "no overlay left");
    assert!(env.leftovers().is_empty(), "{:?}", env.leftovers());
}

#[test]
fn unknown_image_with_pull_never_and_unknown_tag_fail_cleanly() {
    require_container!();
    let registry = &berth_test_support::require_registry!().plain.host;
    let env = Engine::with_rootfs("engine");
    let out = env.berth([
        "run",
        "--pull",
        "never",
        "--cgroup-parent",
        env.parent(),
        &format!("{registry}/busybox:latest"),
        "true",
    ]);
    assert_eq!(out.code(), Some(125), "{out}");
    assert!(out.stderr.contains("never"), "{out}");
    let out = env.berth(["pull", &format!("{registry}/busybox:no-such-tag")]);
    assert_eq!(out.code(), Some(125), "{out}");
    assert!(out.stderr.contains("404") || out.stderr.contains("unknown"), "{out}");
    assert_eq!(env.berth(["ps", "-aq"]).stdout, "");
    assert!(env.leftovers().is_empty(), "{:?}", env.leftovers());
}

#[test]
fn default_seccomp_profile_blocks_user_namespaces_and_unconfined_lifts_it() {
    require_container!();
    let env = Engine::with_rootfs("engine");
    // The busybox rootfs of the harness has `unshare`. Without CAP_SYS_ADMIN, creating a
    // user namespace is refused by the default profile (EPERM), as in Docker.
    let out = env.run(&["--rm"], &["sh", "-c", "unshare -U true 2>&1; echo rc=$?"]);
    out.success();
    assert!(out.stdout.contains("rc=1") && out.stdout.contains("Operation not permitted"), "{out}");
    let out = env.run(
        &["--rm", "--security-opt", "seccomp=unconfined"],
        &["sh", "-c", "unshare -U true; echo rc=$?"],
    );
    assert!(out.stdout.contains("rc=0"), "{out}");
    let bad = env.run(&["--rm", "--security-opt", "seccomp=/no/such/file"], &["true"]);
    assert_eq!(bad.code(), Some(125), "{bad}");
    assert!(env.leftovers().is_empty(), "{:?}", env.leftovers());
}

#[test]
fn completion_scripts_name_every_command() {
    let env = Engine::new("completion");
    for shell in ["bash", "zsh", "fish"] {
        let out = env.berth(["completion", shell]);
        out.success();
        for word in ["network", "connect", "attach", "volume", "publish"] {
            assert!(out.stdout.contains(word), "{shell} script lacks {word}");
        }
    }
    let bad = env.berth(["completion", "tcsh"]);
    assert_eq!(bad.code(), Some(125), "{bad}");
    assert!(bad.stderr.contains("possible values"), "{bad}");
}

#[test]
fn a_rm_containers_overlay_is_volatile_and_a_kept_ones_is_not() {
    require_container!();
    let registry = &berth_test_support::require_registry!().plain.host;
    let env = Engine::with_rootfs("engine");
    let image = format!("{registry}/busybox:latest");
    env.berth(["pull", "-q", &image]).success();
    // The container's root is the first mount whose mount point is `/`.
    let root_line = ["sh", "-c", "grep -m1 ' / / ' /proc/self/mountinfo"];
    let rm = env.run_image(&image, &root_line);
    rm.success();
    assert!(rm.stdout.contains(" - overlay "), "the root is the overlay\n{rm}");
    assert!(rm.stdout.contains("volatile"), "--rm: nothing of it needs syncing\n{rm}");
    let mut args = vec!["run", "--name", "kept", "--cgroup-parent", env.parent(), &image];
    args.extend_from_slice(&root_line);
    let kept = env.berth(args);
    kept.success();
    assert!(kept.stdout.contains(" - overlay "), "{kept}");
    assert!(!kept.stdout.contains("volatile"), "a kept container's writes are synced\n{kept}");
    env.berth(["rm", "kept"]).success();
    assert!(env.leftovers().is_empty(), "{:?}", env.leftovers());
}

#[test]
fn run_rm_calls_the_runtime_only_for_create_start_and_one_delete() {
    require_container!();
    let env = Engine::with_rootfs("engine");
    // A --runtime that logs each call's verb, then is berth-runtime.
    let log = env.path("calls.log");
    let wrapper = env.path("logging-runtime");
    let real = berth_test_support::engine::bin("berth-runtime");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nfor a; do case $a in create|start|run|kill|delete|state) echo $a >> {}; \
             break;; esac; done\nexec {} \"$@\"\n",
            log.display(),
            real.display()
        ),
    )
    .unwrap();
    let mut perm = std::fs::metadata(&wrapper).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(&wrapper, perm).unwrap();
    let wrapper = wrapper.display().to_string();
    let out = env.run(&["--rm", "--runtime", &wrapper], &["sh", "-c", "exit 7"]);
    assert_eq!(out.code(), Some(7), "{out}");
    let calls = std::fs::read_to_string(&log).unwrap();
    // The monitor's delete is the only one: rm sees its runtime-deleted marker and neither
    // kills (the container is gone) nor deletes again.
    assert_eq!(calls, "create\nstart\ndelete\n", "{out}");
    assert_eq!(env.berth(["ps", "-aq"]).stdout, "", "--rm removed the record");
    assert!(env.leftovers().is_empty(), "{:?}", env.leftovers());
}

/// `logs` of the lines of `name` with `args` before the name: stdout, after success.
fn logs_of(env: &Engine, name: &str, args: &[&str]) -> String {
    let mut all = vec!["logs"];
    all.extend_from_slice(args);
    all.push(name);
    let out = env.berth(all);
    out.success();
    out.stdout.clone()
}

/// `logs --since/--until/--tail/--details` pick lines by their recorded times, as Docker's
/// reader does. The boundaries come from the log itself (`logs -t`), and the pause only
/// puts the second pair at a later time than the first: nothing depends on how long the
/// container took or how long ago it ran.
#[test]
fn logs_since_until_and_tail_by_the_recorded_times() {
    require_container!();
    let env = Engine::with_rootfs("engine");
    let script = "echo one; echo two; sleep 1; echo three; echo four";
    env.run(&["--name", "talk"], &["sh", "-c", script]).success();
    let stamped = logs_of(&env, "talk", &["-t"]);
    let time_of = |text: &str| {
        let line = stamped.lines().find(|l| l.ends_with(&format!(" {text}")));
        line.and_then(|l| l.split_once(' ')).map(|(t, _)| t.to_string()).unwrap()
    };
    let (two, three) = (time_of("two"), time_of("three"));
    assert!(two < three, "the pause is in the times\n{stamped}");
    assert_eq!(logs_of(&env, "talk", &[]), "one\ntwo\nthree\nfour\n");
    assert_eq!(logs_of(&env, "talk", &["--since", &three]), "three\nfour\n");
    assert_eq!(logs_of(&env, "talk", &["--until", &two]), "one\ntwo\n");
    assert_eq!(logs_of(&env, "talk", &["--since", "1h"]), "one\ntwo\nthree\nfour\n");
    assert_eq!(logs_of(&env, "talk", &["--until", "0"]), "one\ntwo\nthree\nfour\n", "no until");
    // Docker takes the last N lines first, then the window: not the last N before --until.
    assert_eq!(logs_of(&env, "talk", &["--tail", "3", "--until", &two]), "two\n");
    assert_eq!(logs_of(&env, "talk", &["--tail", "1", "--since", &two]), "four\n");
    // No attributes recorded: Docker's --details prints a space where they would go.
    assert_eq!(logs_of(&env, "talk", &["--details", "--tail", "1"]), " four\n");
    let with_time = logs_of(&env, "talk", &["-t", "--details", "--since", &three, "--tail", "2"]);
    assert!(with_time.starts_with(&format!("{three}  three\n")), "{with_time}");
    let unix_ten = logs_of(&env, "talk", &["--since", "10"]);
    assert_eq!(unix_ten, "one\ntwo\nthree\nfour\n", "a bare number is Unix time");
    for (flag, bad) in [("--since", "yesterday"), ("--until", "2024-13-01"), ("--since", "5x")] {
        let out = env.berth(["logs", flag, bad, "talk"]);
        assert_eq!(out.code(), Some(125), "{out}");
        assert_eq!(out.stderr.lines().count(), 1, "{out}");
        assert!(out.stderr.contains(flag) && out.stderr.contains(bad), "{out}");
    }
    env.finish();
}

/// `logs -f --until` ends once that time has passed, though the container runs on and
/// writes nothing more (Docker's follower stops at the first line after it).
#[test]
fn logs_follow_stops_past_until() {
    require_container!();
    let env = Engine::with_rootfs("engine");
    env.run(&["-d", "--name", "quiet"], &["sh", "-c", "echo hello; exec sleep 1000"]).success();
    env.wait_for("quiet", 30, |_| logs_of(&env, "quiet", &[]) == "hello\n");
    let stamped = logs_of(&env, "quiet", &["-t"]);
    let (hello_time, _) = stamped.split_once(' ').unwrap();
    let timeout = std::time::Duration::from_secs(60);
    let past = env.command().timeout(timeout).args(["logs", "-f", "--until", hello_time, "quiet"]);
    let past = past.output();
    assert_eq!(past.stdout, "hello\n", "{past}");
    // A negative duration is ahead of now: followed until then, then ended.
    let ahead = env.command().timeout(timeout).args(["logs", "-f", "--until", "-2s", "quiet"]);
    let ahead = ahead.output();
    assert_eq!(ahead.stdout, "hello\n", "{ahead}");
    assert_eq!(env.inspect("quiet")["State"]["Status"], "running");
    env.finish();
}

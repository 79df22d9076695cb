//! `berth run`/`create` flags of Docker's beyond the first slice: `--env-file` (and `-e K`
//! taking the caller's value), `--ulimit`, `--label`/`--label-file`, `--stop-signal`,
//! `--stop-timeout`. Each test has its own records, run state and cgroup parent.

// A test crate: helpers outside #[test] fns panic on purpose, that is the failure report.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use berth_test_support::engine::Engine;
use berth_test_support::require_container;

#[test]
fn env_file_then_env_flags_and_bare_names_from_the_caller() {
    require_container!();
    let env = Engine::with_rootfs("runflags");
    let file = env.path("app.env");
    std::fs::write(&file, "# settings\nA=from file\n  B=two=parts\nFROM_CALLER\nNOT_SET\nC=file\n")
        .unwrap();
    let file = file.display().to_string();
    let out = env
        .make_command(
            "run",
            &["--rm", "--env-file", &file, "-e", "C=flag", "-e", "ALSO_CALLER"],
            &["sh", "-c", "env | sort"],
        )
        .env("FROM_CALLER", "caller value")
        .env("ALSO_CALLER", "x")
        .output();
    out.success();
    let lines: Vec<&str> = out.stdout.lines().collect();
    for want in
        ["A=from file", "B=two=parts", "FROM_CALLER=caller value", "C=flag", "ALSO_CALLER=x"]
    {
        assert!(lines.contains(&want), "{want}\n{out}");
    }
    assert!(!out.stdout.contains("NOT_SET"), "an unset bare name is left out\n{out}");
    assert!(!lines.contains(&"C=file"), "-e overrides the file\n{out}");
}

#[test]
fn bad_env_file_label_and_ulimit_fail_with_125_and_create_nothing() {
    require_container!();
    let env = Engine::with_rootfs("runflags");
    let bad_env = env.path("bad.env");
    std::fs::write(&bad_env, "OK=1\nMY VAR=2\n").unwrap();
    let bad_env = bad_env.display().to_string();
    let cases: [(&[&str], &str); 6] = [
        (&["--env-file", &bad_env], "line 2"),
        (&["--env-file", "/no/such/file.env"], "/no/such/file.env"),
        (&["--label-file", "/no/such/labels"], "/no/such/labels"),
        (&["--ulimit", "nofiles=10"], "unknown ulimit"),
        (&["--ulimit", "nofile=20:10"], "must not exceed"),
        (&["--stop-signal", "SIGNOPE"], "--stop-signal"),
    ];
    for (flags, needle) in cases {
        for verb in ["run", "create"] {
            let out = env.make(verb, flags, &["true"]);
            assert_eq!(out.code(), Some(125), "{verb} {flags:?}\n{out}");
            assert!(out.stderr.contains(needle), "{needle}\n{out}");
        }
    }
    assert_eq!(env.berth(["ps", "-aq"]).stdout, "", "no record");
    let dirs = std::fs::read_dir(env.path("data/containers")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(dirs, 0, "no container directory");
    env.finish();
}

#[test]
fn ulimits_reach_the_container_and_inspect() {
    require_container!();
    let env = Engine::with_rootfs("runflags");
    // Lowering only: raising a hard limit needs CAP_SYS_RESOURCE, which root may lack here.
    let out = env.run(
        &["--name", "lim", "--ulimit", "nofile=100:200", "--ulimit", "core=0"],
        &["sh", "-c", "echo $(ulimit -n) $(ulimit -Hn) $(ulimit -c)"],
    );
    out.success();
    assert_eq!(out.stdout, "100 200 0\n", "{out}");
    let doc = env.inspect("lim");
    let ulimits = &doc["HostConfig"]["Ulimits"];
    assert_eq!(
        *ulimits,
        serde_json::json!([{"Name": "nofile", "Hard": 200, "Soft": 100},
                           {"Name": "core", "Hard": 0, "Soft": 0}]),
        "{doc}"
    );
    env.finish();
}

#[test]
fn labels_from_flags_and_files_show_in_inspect() {
    require_container!();
    let env = Engine::with_rootfs("runflags");
    let file = env.path("labels");
    std::fs::write(&file, "tier=web\nowner=file\nflag-only\n").unwrap();
    let file = file.display().to_string();
    env.make(
        "create",
        &["--name", "lab", "--label-file", &file, "-l", "owner=flag", "--label", "x=1"],
        &["true"],
    )
    .success();
    let labels = &env.inspect("lab")["Config"]["Labels"];
    assert_eq!(
        *labels,
        serde_json::json!({"flag-only": "", "owner": "flag", "tier": "web", "x": "1"}),
        "--label overrides the file"
    );
    env.finish();
}

#[test]
fn stop_sends_the_stop_signal_and_waits_the_stop_timeout() {
    require_container!();
    let env = Engine::with_rootfs("runflags");
    // A shell as pid 1 gets only signals it handles: USR1 is trapped, TERM would be ignored.
    let script = "trap 'echo got USR1; exit 7' USR1; echo ready; while :; do sleep 0.1; done";
    env.run(&["-d", "--name", "usr1", "--stop-signal", "SIGUSR1"], &["sh", "-c", script]).success();
    env.wait_for("usr1", 10, |_| env.berth(["logs", "usr1"]).stdout == "ready\n");
    env.berth(["stop", "usr1"]).success();
    let doc = env.inspect("usr1");
    assert_eq!(doc["State"]["ExitCode"], 7, "the trap ran\n{doc}");
    assert_eq!(doc["Config"]["StopSignal"], "SIGUSR1");
    assert_eq!(env.berth(["logs", "usr1"]).stdout, "ready\ngot USR1\n");
    // sleep as pid 1 ignores SIGTERM: stop waits the container's timeout, not the default 10 s.
    env.run(&["-d", "--name", "slow", "--stop-timeout", "1"], &["sleep", "1000"]).success();
    assert_eq!(env.inspect("slow")["Config"]["StopTimeout"], 1);
    let start = Instant::now();
    env.berth(["stop", "slow"]).success();
    let took = start.elapsed();
    assert!(took >= Duration::from_secs(1) && took < Duration::from_secs(6), "{took:?}");
    assert_eq!(env.inspect("slow")["State"]["ExitCode"], 137);
    env.finish();
}

/// `--privileged` and `--cap-add ALL` grant what berth itself may grant: its bounding set,
/// as podman does. Root on this machine lacks CAP_SYS_RESOURCE, so a literal "every
/// capability" would make both fail to start here.
#[test]
fn privileged_and_cap_add_all_grant_the_callers_bounding_set() {
    require_container!();
    let env = Engine::with_rootfs("runflags");
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let bounding = status.lines().find_map(|l| l.strip_prefix("CapBnd:")).unwrap().trim();
    for flags in [&["--rm", "--privileged"][..], &["--rm", "--cap-add", "ALL"]] {
        let out = env.make("run", flags, &["grep", "^CapEff", "/proc/self/status"]);
        out.success();
        let got = out.stdout.trim().strip_prefix("CapEff:").unwrap().trim();
        assert_eq!(got, bounding, "{flags:?}\n{out}");
    }
    // And a privileged container can do what a default one cannot.
    let out = env.make(
        "run",
        &["--rm", "--privileged"],
        &["sh", "-c", "mkdir -p /m && mount -t tmpfs t /m"],
    );
    out.success();
    env.finish();
}

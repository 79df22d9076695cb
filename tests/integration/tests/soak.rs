//! Load and soak (issue 7): many containers started by parallel `berth run -d` loops,
//! sequential `berth run --rm`, parallel `exec`s into one container. Zero errors, every exit
//! code right, no lock timeouts or SQLite errors, the monitors' RSS and fd counts flat, and
//! zero leaks after `rm -f` of everything.
//!
//! Sizes scale with `BERTH_SOAK_SCALE` (default 1, CI's: 40 containers from 8 loops, 400
//! sequential runs, 10 parallel execs; 5 is the size: 200 containers from 20 loops,
//! 2000 runs, 50 execs).

// A test crate: helpers outside #[test] fns panic on purpose, that is the failure report.
#![allow(clippy::unwrap_used)]

use berth_test_support::engine::Engine;
use berth_test_support::require_container;

fn scale() -> usize {
    std::env::var("BERTH_SOAK_SCALE").ok().and_then(|v| v.parse().ok()).unwrap_or(1).max(1)
}

/// RSS (KiB) and open fds of a process.
fn rss_and_fds(pid: &str) -> (u64, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0);
    (rss, fds)
}

/// The monitor pids of the engine's running containers.
fn monitors(env: &Engine) -> Vec<String> {
    let Ok(dirs) = std::fs::read_dir(env.path("run/containers")) else { return Vec::new() };
    dirs.filter_map(|d| d.ok())
        .filter_map(|d| std::fs::read_to_string(d.path().join("monitor.pid")).ok())
        .map(|p| p.trim().to_string())
        .collect()
}

#[test]
fn parallel_run_loops_sequential_runs_and_parallel_execs() {
    require_container!();
    let env = Engine::with_rootfs("soak");
    let s = scale();
    // scale 1: 8 loops x 5; scale 5: 20 loops x 10 = the 200 containers
    let loops = 8 + 3 * (s - 1);
    let per_loop = (40 * s).div_ceil(loops);

    // many containers from parallel loops
    std::thread::scope(|sc| {
        for l in 0..loops {
            let env = &env;
            sc.spawn(move || {
                for i in 0..per_loop {
                    let name = format!("l{l}-{i}");
                    let out = env.run(&["-d", "--name", &name], &["sleep", "1000"]);
                    assert!(out.status.success(), "{name}: {out}");
                }
            });
        }
    });
    let running = env.berth(["ps", "-q"]).stdout.lines().count();
    assert_eq!(running, loops * per_loop, "every container runs");
    let before: Vec<(u64, usize)> = monitors(&env).iter().map(|p| rss_and_fds(p)).collect();
    let max_rss = before.iter().map(|m| m.0).max().unwrap_or(0);
    eprintln!("{} monitors: max RSS {max_rss} KiB, fds {:?}", before.len(), before.first());

    // parallel execs into one container, every exit code right
    let target = "l0-0";
    std::thread::scope(|sc| {
        for i in 0..10 * s {
            let env = &env;
            sc.spawn(move || {
                let code = (i % 7).to_string();
                let out = env.berth(["exec", target, "sh", "-c", &format!("exit {code}")]);
                assert_eq!(out.code(), i32::try_from(i % 7).ok(), "exec {i}: {out}");
            });
        }
    });

    // sequential runs, exit codes passed through
    for i in 0..400 * s {
        let code = i % 5;
        let out = env.run(&["--rm"], &["sh", "-c", &format!("exit {code}")]);
        assert_eq!(out.code(), i32::try_from(code).ok(), "run {i}: {out}");
    }

    // the monitors did not grow meanwhile (same pids: none restarted)
    let after: Vec<(u64, usize)> = monitors(&env).iter().map(|p| rss_and_fds(p)).collect();
    assert_eq!(after.len(), before.len());
    for (b, a) in before.iter().zip(&after) {
        assert!(a.0 <= b.0 + 256, "monitor RSS grew: {b:?} -> {a:?}");
        assert_eq!(a.1, b.1, "monitor fds changed: {b:?} -> {a:?}");
    }
    // `rm -f` of everything at once, then nothing left
    let ids: Vec<String> =
        env.berth(["ps", "-aq", "--no-trunc"]).stdout.lines().map(String::from).collect();
    let mut args = vec!["rm", "-f"];
    args.extend(ids.iter().map(String::as_str));
    env.berth(&args).success();
    let leaks = env.leaks();
    assert!(leaks.is_empty(), "{leaks:#?}");
    env.finish();
}

//! The kill -9 campaign of issue 7: `berth run`, `berth rm`/`stop` and `berth-runtime
//! create`/`exec` killed at random instants, many times over. After each kill the records
//! must tell the truth (`ps` answers, whatever it lists can be removed), and after `rm -f`
//! and `system prune` the leak counter (`Engine::leaks`: cgroups, runtime state, container
//! directories and records, addresses, veths, published ports, mounts, processes) must be
//! zero; the published port must be free again for the next trial.
//!
//! `BERTH_KILL_TRIALS` sets the trials per test (CI: the default, 12; nightly: 400, which
//! with the three tests is 1200 kills); `BERTH_KILL_SEED` replays a run (the seed is
//! printed). The named kill points of `tests/faults.rs` and `engine_network.rs` cover the
//! instants between steps; this covers the instants inside them.

// A test crate: helpers outside #[test] fns panic on purpose, that is the failure report.
#![allow(clippy::unwrap_used)]

use std::process::Stdio;
use std::time::{Duration, Instant};

use berth_test_support::engine::Engine;
use berth_test_support::{require_container, Bundle, Container};

fn trials() -> u64 {
    std::env::var("BERTH_KILL_TRIALS").ok().and_then(|v| v.parse().ok()).unwrap_or(12)
}

/// xorshift64*: reproducible from the printed seed, no dependency.
struct Rng(u64);

impl Rng {
    fn new(test: &str) -> Rng {
        let seed = std::env::var("BERTH_KILL_SEED")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| {
                let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
                t.map(|d| u64::from(d.subsec_nanos()) ^ d.as_secs()).unwrap_or(1) | 1
            });
        eprintln!("{test}: BERTH_KILL_SEED={seed}");
        Rng(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

/// Starts `cmd`, kills it with SIGKILL after `delay` (if it is still running), reaps it.
fn kill_after(mut cmd: std::process::Command, delay: Duration) -> Option<i32> {
    let mut child =
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    std::thread::sleep(delay);
    let _ = child.kill();
    child.wait().unwrap().code()
}

/// The records answer, everything they list is removed, prune finds the rest, nothing leaks.
fn settle(env: &Engine, what: &str) {
    let ps = env.berth(["ps", "-a"]);
    assert!(ps.status.success(), "{what}: ps does not answer: {ps}");
    for id in env.berth(["ps", "-aq", "--no-trunc"]).stdout.lines() {
        let rm = env.berth(["rm", "-f", id]);
        assert!(rm.status.success(), "{what}: rm -f {id}: {rm}");
    }
    env.berth(["system", "prune", "-f"]).success();
    // the monitor of a container whose `run` was killed may still be finishing
    let start = Instant::now();
    loop {
        let leaks = env.leaks();
        if leaks.is_empty() {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{what}: leaked {leaks:#?}");
        std::thread::sleep(Duration::from_millis(50));
        env.berth(["system", "prune", "-f"]);
    }
}

#[test]
fn berth_run_killed_at_random_instants_leaks_nothing() {
    require_container!(nft);
    let env = Engine::networked("kill-run");
    let mut rng = Rng::new("berth_run_killed_at_random_instants_leaks_nothing");
    let rootfs = env.rootfs().display().to_string();
    // one undisturbed run to learn how long a run takes here
    let t0 = Instant::now();
    env.run(&["-d", "--name", "probe", "-p", "18100:80"], &["sleep", "1000"]).success();
    let span = u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX);
    settle(&env, "probe");
    for t in 0..trials() {
        let delay = Duration::from_micros(rng.below(span + span / 4));
        let name = format!("k{t}");
        let cmd = env
            .command()
            .args([
                "run",
                "-d",
                "--name",
                &name,
                "-p",
                "18100:80",
                "--cgroup-parent",
                env.parent(),
                "--rootfs",
                &rootfs,
                "-",
                "sleep",
                "1000",
            ])
            .into_command();
        let code = kill_after(cmd, delay);
        settle(&env, &format!("trial {t} ({delay:?}, exit {code:?})"));
    }
    // and the port is still usable after all that
    env.run(&["--rm", "-p", "18100:80"], &["true"]).success();
    env.finish();
}

#[test]
fn berth_rm_and_stop_killed_at_random_instants_can_be_run_again() {
    require_container!();
    let env = Engine::with_rootfs("kill-rm");
    let mut rng = Rng::new("berth_rm_and_stop_killed_at_random_instants_can_be_run_again");
    for t in 0..trials() {
        let name = format!("v{t}");
        env.run(&["-d", "--name", &name], &["sleep", "1000"]).success();
        let verb = if t % 2 == 0 { "rm" } else { "stop" };
        let args: Vec<&str> =
            if verb == "rm" { vec!["rm", "-f", &name] } else { vec!["stop", "-t", "1", &name] };
        let delay = Duration::from_micros(rng.below(60_000));
        let code = kill_after(env.command().args(&args).into_command(), delay);
        settle(&env, &format!("trial {t}: {verb} killed after {delay:?} (exit {code:?})"));
    }
    env.finish();
}

#[test]
fn runtime_create_and_exec_killed_at_random_instants_leave_nothing_after_delete() {
    require_container!();
    let mut rng = Rng::new("runtime_create_and_exec_killed_at_random_instants");
    let mut b = Bundle::new("kill-create");
    b.args(&["sleep", "1000"]);
    b.write_config();
    for t in 0..trials() {
        let c = Container::new(&b);
        let delay = Duration::from_micros(rng.below(40_000));
        let bundle = b.path().to_str().unwrap().to_string();
        let cmd = c.cmd(["create", "--bundle", bundle.as_str(), c.id()]).into_command();
        let code = kill_after(cmd, delay);
        let _ = c.state_output();
        if t % 2 == 1 && c.state_output().status.success() {
            // created: start it and kill an exec half way too
            let _ = c.cmd(["start", c.id()]).output();
            let exec = c.cmd(["exec", c.id(), "sleep", "5"]).into_command();
            let _ = kill_after(exec, Duration::from_micros(rng.below(40_000)));
        }
        let del = c.delete(true);
        assert!(del.status.success(), "trial {t} ({delay:?}, exit {code:?}): {del}");
        c.assert_nothing_left();
    }
}

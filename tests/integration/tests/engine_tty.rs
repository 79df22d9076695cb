//! `berth run -it`, `run -i`, `attach`, `start -ai` and `exec -it`, driven through a real
//! pty the test owns ([`TerminalSession`]): the container's shell answers typed commands,
//! sees the window size and its changes, gets Ctrl-C as SIGINT, and its exit status
//! becomes `berth`'s; the detach keys leave it running for `attach`. Each test has its own
//! engine (records, run state, cgroup parent; `--network none`) and leaves nothing behind.

// A test crate: helpers outside #[test] fns panic on purpose, that is the failure report.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use berth_test_support::engine::Engine;
use berth_test_support::require_container;
use berth_test_support::terminal::TerminalSession;

const T: Duration = Duration::from_secs(20);
/// busybox sh's prompt as root (`~ # ` or `/ # ` depending on HOME).
const PROMPT: &str = " # ";

/// `berth run -it [flags] --rootfs ROOTFS - sh` on a `rows` × `cols` terminal, at its prompt.
fn shell(env: &Engine, flags: &[&str], rows: u16, cols: u16) -> TerminalSession {
    let mut all = vec!["-it"];
    all.extend_from_slice(flags);
    let cmd = env.make_command("run", &all, &["sh"]).into_command();
    let mut term = TerminalSession::spawn(&cmd, rows, cols);
    term.expect(PROMPT, T);
    term
}

#[test]
fn run_it_runs_a_shell_on_a_terminal_and_exits_with_its_status() {
    require_container!(setsid);
    let env = Engine::with_rootfs("tty-shell");
    let mut term = shell(&env, &["--rm"], 24, 80);
    // The answer, not the echo of the typed line.
    term.send(b"echo $((40+2))\r");
    term.expect("\n42\n", T);
    term.send(b"tty\r");
    term.expect("/dev/pts/", T);
    term.send(b"exit 3\r");
    assert_eq!(term.wait(T).code(), Some(3), "{}", term.text());
    // `--rm`: gone once `run` returned
    assert_eq!(env.berth(["ps", "-aq"]).stdout, "");
    env.finish();
}

#[test]
fn run_it_follows_the_window_size() {
    require_container!(setsid);
    let env = Engine::with_rootfs("tty-size");
    let mut term = shell(&env, &["--rm"], 33, 97);
    term.send(b"stty size\r");
    term.expect("\n33 97\n", T);
    term.resize(41, 123);
    // SIGWINCH to `berth`, a resize frame to the monitor, TIOCSWINSZ on the container's pty
    let start = std::time::Instant::now();
    loop {
        term.send(b"stty size\r");
        std::thread::sleep(Duration::from_millis(200));
        if term.text().contains("\n41 123\n") {
            break;
        }
        assert!(start.elapsed() < T, "the size did not follow:\n{}", term.text());
    }
    term.send(b"exit\r");
    assert_eq!(term.wait(T).code(), Some(0), "{}", term.text());
    env.finish();
}

#[test]
fn run_it_ctrl_c_interrupts_the_foreground_command() {
    require_container!(setsid);
    let env = Engine::with_rootfs("tty-intr");
    let mut term = shell(&env, &["--rm"], 24, 80);
    term.send(b"sleep 100\r");
    std::thread::sleep(Duration::from_millis(500));
    // raw mode: ^C is a byte for the container's line discipline, which sends SIGINT
    term.send(b"\x03");
    term.send(b"echo after $((6*7))\r");
    term.expect("after 42", Duration::from_secs(10));
    term.send(b"exit 0\r");
    assert_eq!(term.wait(T).code(), Some(0), "{}", term.text());
    env.finish();
}

#[test]
fn detach_keys_leave_it_running_and_attach_continues() {
    require_container!(setsid);
    let env = Engine::with_rootfs("tty-detach");
    let mut term = shell(&env, &["--name", "box"], 24, 80);
    term.send(b"X=kept\r");
    term.send(b"\x10\x11");
    assert_eq!(term.wait(T).code(), Some(0), "detach exits 0\n{}", term.text());
    // nothing odd printed on the way out
    assert!(!term.text().contains("berth:"), "{}", term.text());
    assert_eq!(env.inspect("box")["State"]["Status"], "running");
    // Docker's --detach-keys format, on attach
    let cmd = env.command().args(["attach", "--detach-keys", "ctrl-x,a", "box"]).into_command();
    let mut again = TerminalSession::spawn(&cmd, 30, 90);
    again.send(b"echo $X $((6*7))\r");
    again.expect("kept 42", T);
    again.send(b"stty size\r");
    again.expect("\n30 90\n", T);
    again.send(b"\x18a");
    assert_eq!(again.wait(T).code(), Some(0), "{}", again.text());
    assert_eq!(env.inspect("box")["State"]["Status"], "running");
    // and the exit status reaches the last attached client
    let cmd = env.command().args(["attach", "box"]).into_command();
    let mut last = TerminalSession::spawn(&cmd, 24, 80);
    last.send(b"exit 7\r");
    assert_eq!(last.wait(T).code(), Some(7), "{}", last.text());
    assert_eq!(env.inspect("box")["State"]["ExitCode"], 7);
    env.finish();
}

#[test]
fn start_ai_attaches_to_a_created_terminal_container() {
    require_container!(setsid);
    let env = Engine::with_rootfs("tty-start");
    env.make("create", &["-it", "--name", "later"], &["sh"]).success();
    let cmd = env.command().args(["start", "-ai", "later"]).into_command();
    let mut term = TerminalSession::spawn(&cmd, 24, 80);
    // the prompt came before `start` connected: the monitor kept it
    term.expect(PROMPT, T);
    term.send(b"exit 5\r");
    assert_eq!(term.wait(T).code(), Some(5), "{}", term.text());
    env.finish();
}

#[test]
fn run_i_pipes_stdin_and_closes_it_at_eof() {
    require_container!();
    let env = Engine::with_rootfs("tty-pipe");
    let input = env.path("input");
    std::fs::write(&input, "hi\nthere\n").unwrap();
    let out = env
        .make_command("run", &["-i", "--rm"], &["cat"])
        .stdin(std::fs::File::open(&input).unwrap())
        .output();
    out.success();
    assert_eq!(out.stdout, "hi\nthere\n", "{out}");
    env.finish();
}

#[test]
fn exec_it_gets_a_terminal_of_its_own() {
    require_container!(setsid);
    let env = Engine::with_rootfs("tty-exec");
    env.run(&["-d", "--name", "svc"], &["sleep", "100"]).success();
    let cmd = env.command().args(["exec", "-it", "svc", "sh"]).into_command();
    let mut term = TerminalSession::spawn(&cmd, 27, 101);
    term.expect(PROMPT, T);
    term.send(b"stty size; tty\r");
    term.expect("\n27 101\n/dev/pts/", T);
    term.send(b"exit 6\r");
    assert_eq!(term.wait(T).code(), Some(6), "{}", term.text());
    env.finish();
}

#[test]
fn bad_detach_keys_fail_before_anything_is_made() {
    require_container!();
    let env = Engine::with_rootfs("tty-keys");
    let out = env.run(&["-it", "--detach-keys", "ctrl-1"], &["sh"]);
    assert_eq!(out.code(), Some(125), "{out}");
    assert!(out.stderr.contains("--detach-keys"), "{out}");
    assert_eq!(env.berth(["ps", "-aq"]).stdout, "");
    env.finish();
}

#[test]
fn attach_refuses_a_stopped_container_and_run_i_survives_a_quick_exit() {
    require_container!();
    let env = Engine::with_rootfs("tty-stopped");
    // exits before (or while) `berth` connects: its output and status still come through
    let out = env.run(&["-i", "--name", "quick"], &["sh", "-c", "echo done; exit 4"]);
    assert_eq!(out.code(), Some(4), "{out}");
    assert_eq!(out.stdout, "done\n", "{out}");
    let out = env.berth(["attach", "quick"]);
    assert_eq!(out.code(), Some(125), "{out}");
    assert!(out.stderr.contains("not running"), "{out}");
    env.finish();
}

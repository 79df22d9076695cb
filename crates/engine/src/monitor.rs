//! The monitor: one small process per container (the role of podman's conmon). It outlives
//! the `berth` command, holds the container's stdout and stderr, writes them to the log
//! (Docker's json-file format), reaps the init (it is a child subreaper, so the init is
//! reparented to it when `runtime create` exits), records the exit status and time in the
//! exit file, and deletes the runtime's container.
//!
//! Protocol with the `berth` command that started it: one line on the monitor's stdout,
//! `ok PID` once the container runs or `error MESSAGE` if it could not be created or
//! started. After `error` the monitor closes its stdout. After `ok` it keeps it open (made
//! non-blocking) and, for a starter that still reads it (foreground `run`), writes one byte
//! after each append to the log and one once the exit file is in place, and closes it once
//! `runtime delete` is done: the starter follows the log and notices the exit without an
//! inotify instance, and `run --rm` waits for the end of the pipe rather than for the
//! monitor's exit, which comes after the veths' deletion (see [`crate::watch`]). A starter
//! that has gone (`run -d`) makes the first write fail with `EPIPE`, and the monitor then
//! closes its stdout.
//!
//! # Terminal and stdin (`-t`, `-i`), as conmon does them
//!
//! With `-t` the monitor listens on a console socket (`<run dir>/console`), passes it to
//! `runtime create --console-socket`, and receives the pty master the runtime makes (one
//! `SCM_RIGHTS` fd). The master's output goes to the log as `stdout` and to every attached
//! client; client input is written to the master. With `-i` and no `-t` the container's
//! stdin is a pipe whose write end the monitor keeps; without `-i` it is /dev/null.
//!
//! Clients connect to the attach socket `<run dir>/attach` (`tty_relay`), which exists
//! for `-t` and `-i` containers from before `ok PID` until the monitor exits, and speak the
//! framed protocol of [`crate::attach`]:
//!
//! | direction | frame | meaning |
//! |---|---|---|
//! | client → monitor | `[1][len: u32 BE][len bytes]` | stdin data |
//! | client → monitor | `[2][len = 4][rows: u16 BE][cols: u16 BE]` | window size (`TIOCSWINSZ` on the master; the kernel sends SIGWINCH) |
//! | client → monitor | `[3][len = 0]` | end of stdin: the stdin pipe is closed (ignored with a tty) |
//! | monitor → client | raw bytes | terminal output (tty containers only) |
//!
//! The monitor closes every client's connection when the container exits; a client that
//! closes its own (detach) leaves the container running with its stdin open. For a
//! non-tty `-i` container the output is not multiplexed on the socket: it keeps flowing
//! through the log, which `berth` follows as for any foreground `run`, so stdout and
//! stderr stay apart and in order with no second framing for them, and `run -i` differs
//! from `run` only by its stdin. With `--hold-output` (foreground `run -it`, `start -ai`)
//! the terminal output is kept until the first client connects, so the prompt the shell
//! prints before `berth` connects is not lost.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::process::{Pid, PidfdFlags, WaitOptions};

use crate::tty_relay::{ContainerIo, Relay};

/// The monitor's arguments (`berth-monitor --key value …`).
#[derive(Debug, Default, Clone)]
pub struct Args {
    /// Low-level runtime binary.
    pub runtime: PathBuf,
    /// Its `--root`.
    pub runtime_root: PathBuf,
    /// Bundle directory.
    pub bundle: PathBuf,
    /// Container id.
    pub id: String,
    /// json-file log.
    pub log: PathBuf,
    /// Exit file (`CODE\nTIME\n`).
    pub exit: PathBuf,
    /// The runtime's pid file.
    pub pid_file: PathBuf,
    /// The runtime's own log (`--log`).
    pub runtime_log: PathBuf,
    /// Restart policy (`--restart`'s value; empty: `no`).
    pub restart: String,
    /// Restart count file (`COUNT\nTIME\n`).
    pub restarts: PathBuf,
    /// The container's network plan (`network.json`; missing: no network to set up).
    pub network: PathBuf,
    /// `run -d --rm`: the monitor removes the container once it has exited (in the
    /// foreground `berth run --rm` does it after showing the output).
    pub auto_remove: bool,
    /// `-t`: the container gets a pty through `--console-socket`.
    pub tty: bool,
    /// `-i`: the container's stdin stays open for attached clients.
    pub interactive: bool,
    /// Keep the terminal output for the first client (foreground `run -it`, `start -ai`).
    pub hold_output: bool,
}

impl Args {
    /// The arguments as `berth-monitor` takes them.
    pub fn to_argv(&self) -> Vec<std::ffi::OsString> {
        let mut v = Vec::new();
        for (k, p) in [
            ("--runtime", &self.runtime),
            ("--runtime-root", &self.runtime_root),
            ("--bundle", &self.bundle),
            ("--log", &self.log),
            ("--exit", &self.exit),
            ("--pid-file", &self.pid_file),
            ("--runtime-log", &self.runtime_log),
            ("--restarts", &self.restarts),
            ("--network", &self.network),
        ] {
            v.push(k.into());
            v.push(p.clone().into_os_string());
        }
        v.push("--id".into());
        v.push(self.id.clone().into());
        for (k, on) in [
            ("--rm", self.auto_remove),
            ("--tty", self.tty),
            ("--interactive", self.interactive),
            ("--hold-output", self.hold_output),
        ] {
            if on {
                v.push(k.into());
                v.push("1".into());
            }
        }
        if !self.restart.is_empty() {
            v.push("--restart".into());
            v.push(self.restart.clone().into());
        }
        v
    }

    /// Parses `to_argv`'s output.
    pub fn parse(argv: impl Iterator<Item = std::ffi::OsString>) -> Option<Args> {
        let mut a = Args::default();
        let mut it = argv;
        while let Some(k) = it.next() {
            let v = it.next()?;
            match k.to_str()? {
                "--runtime" => a.runtime = v.into(),
                "--runtime-root" => a.runtime_root = v.into(),
                "--bundle" => a.bundle = v.into(),
                "--log" => a.log = v.into(),
                "--exit" => a.exit = v.into(),
                "--pid-file" => a.pid_file = v.into(),
                "--runtime-log" => a.runtime_log = v.into(),
                "--restarts" => a.restarts = v.into(),
                "--network" => a.network = v.into(),
                "--rm" => a.auto_remove = v == "1",
                "--tty" => a.tty = v == "1",
                "--interactive" => a.interactive = v == "1",
                "--hold-output" => a.hold_output = v == "1",
                "--restart" => a.restart = v.into_string().ok()?,
                "--id" => a.id = v.into_string().ok()?,
                _ => return None,
            }
        }
        (!a.id.is_empty()).then_some(a)
    }
}

/// Runs the monitor; returns its exit status.
pub fn run(args: &Args) -> i32 {
    // Its own session: a terminal hang-up or Ctrl-C to `berth` must not reach the monitor.
    let _ = rustix::process::setsid();
    let _ = rustix::process::set_child_subreaper(Some(rustix::process::getpid()));
    // A new run: the runtime's container exists again until this monitor deletes it.
    let _ = std::fs::remove_file(run_dir(args).join(RUNTIME_DELETED));
    // Who supervises the container, for `berth` to tell "exiting" from "crashed".
    if let Some(dir) = args.exit.parent() {
        let _ = std::fs::write(
            dir.join("monitor.pid"),
            rustix::process::getpid().as_raw_nonzero().to_string(),
        );
    }
    // The log exists before anyone is told the container runs (`logs -f` opens it).
    let _ = std::fs::OpenOptions::new().create(true).append(true).open(&args.log);
    let plan = network_plan(args);
    // Held until the monitor exits: the container's host ports are nobody else's.
    let held = match crate::network::setup::reserve(&plan) {
        Ok(h) => h,
        Err(msg) => {
            report(&format!("error {msg}"));
            return 1;
        }
    };
    // Before `ok PID`: a client that was told the container runs can connect.
    let mut relay = match (args.tty || args.interactive)
        .then(|| Relay::bind(&run_dir(args), args.hold_output))
    {
        Some(Err(msg)) => {
            report(&format!("error {msg}"));
            return 1;
        }
        r => r.and_then(Result::ok),
    };
    match start(args, &plan) {
        Ok((pid, io)) => {
            report_ok(pid);
            let code = supervise_with_policy(args, &plan, (pid, io), relay.as_mut());
            drop(relay);
            // The ports are free again before anyone hears of the exit: a script's next
            // `run -p` of the same port must not find it taken. Nothing to send without.
            crate::network::setup::withdraw_ports(&plan);
            drop(held);
            record_exit(args, code);
            finish(args, &plan);
            if args.auto_remove {
                remove_container(args);
            }
            0
        }
        Err(msg) => {
            report(&format!("error {msg}"));
            let _ = runtime(args).args(["delete", "--force", &args.id]).output();
            1
        }
    }
}

fn run_dir(args: &Args) -> PathBuf {
    args.exit.parent().map(PathBuf::from).unwrap_or_default()
}

fn network_plan(args: &Args) -> crate::network::plan::Plan {
    match args.network.parent() {
        Some(dir) if !args.network.as_os_str().is_empty() => crate::network::plan::load(dir),
        _ => crate::network::plan::Plan::default_none(),
    }
}

fn runtime(args: &Args) -> Command {
    let mut c = Command::new(&args.runtime);
    c.arg("--root")
        .arg(&args.runtime_root)
        .arg("--log")
        .arg(&args.runtime_log)
        .args(["--log-format", "json"]);
    c
}

/// `create` with the container's stdio on our pipes (or its pty), the network, then `start`.
fn start(args: &Args, plan: &crate::network::plan::Plan) -> Result<(i32, ContainerIo), String> {
    let pipe = || {
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(|e| format!("pipe: {e}"))
    };
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let (stdin_r, stdin_w) = match args.interactive && !args.tty {
        true => pipe().map(|(r, w)| (Some(r), Some(w)))?,
        false => (None, None),
    };
    let console_path = run_dir(args).join(crate::attach::CONSOLE_SOCKET);
    let console = match args.tty {
        true => Some(crate::attach::listen(&console_path).map_err(|e| crate::error::chain(&e))?),
        false => None,
    };
    let bundle = args.bundle.display().to_string();
    let pid_file = args.pid_file.display().to_string();
    let mut create = runtime(args);
    create.args(["create", "--bundle", &bundle, "--pid-file", &pid_file]);
    if console.is_some() {
        create.arg("--console-socket").arg(&console_path);
    }
    create.arg(&args.id).stdin(stdin_r.map_or_else(Stdio::null, Stdio::from));
    let status = create
        .stdout(Stdio::from(out_w))
        .stderr(Stdio::from(err_w))
        .status()
        .map_err(|e| format!("run {}: {e}", args.runtime.display()));
    // The Command holds our copies of the pipes' other ends: the container's EOF needs
    // them closed.
    drop(create);
    if !status?.success() {
        let _ = std::fs::remove_file(&console_path);
        // The runtime's error went to the container's stderr pipe: it never ran.
        let mut text = Vec::new();
        let _ = std::fs::File::from(err_r).read_to_end(&mut text);
        return Err(format!("{RUNTIME_FAILED}create {}", crate::runtime::message_of(&text)));
    }
    let io = match console {
        Some(listener) => {
            let master =
                crate::attach::receive_console(&listener, &console_path, Duration::from_secs(10));
            let _ = std::fs::remove_file(&console_path);
            ContainerIo::tty(master.map_err(|e| crate::error::chain(&e))?)?
        }
        None => ContainerIo { out: Some(out_r), err: Some(err_r), stdin: stdin_w, tty: false },
    };
    let pid: i32 = std::fs::read_to_string(&args.pid_file)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| format!("no pid in {}", args.pid_file.display()))?;
    crate::network::setup::attach_all(plan, pid)?;
    let out = runtime(args).args(["start", &args.id]).stdin(Stdio::null()).output();
    match out {
        Ok(o) if o.status.success() => Ok((pid, io)),
        Ok(o) => Err(format!("{RUNTIME_FAILED}start {}", crate::runtime::message_of(&o.stderr))),
        Err(e) => Err(format!("run {}: {e}", args.runtime.display())),
    }
}

/// Begins an `error` report whose cause is the runtime's `create` or `start` (the word
/// follows), not the monitor's own work (ports, networks, the console): `berth` says which
/// failed, and only the runtime's failures map to Docker's 126/127.
pub(crate) const RUNTIME_FAILED: &str = "runtime-failed ";

/// Supervises the container and starts it again (runtime delete, create, start with the
/// same bundle) as its restart policy says, until it stays down; returns the last status.
/// A `stopped-by-user` marker (from `berth stop`) ends it whatever the policy.
fn supervise_with_policy(
    args: &Args,
    plan: &crate::network::plan::Plan,
    first: (i32, ContainerIo),
    mut relay: Option<&mut Relay>,
) -> i32 {
    let policy = crate::ops::restart::Policy::parse(&args.restart).unwrap_or_default();
    let marker = args.exit.with_file_name(crate::ops::restart::STOPPED_BY_USER);
    let (mut pid, mut io) = first;
    let mut done = 0u32;
    loop {
        // Found before the init is reaped, read before `runtime delete` removes the cgroup.
        let memory_cgroup = crate::oom::MemoryCgroup::of(pid);
        let code = supervise(args, pid, io, relay.as_deref_mut());
        if let Some(run_dir) = args.exit.parent() {
            crate::oom::record(run_dir, memory_cgroup.as_ref());
        }
        if marker.exists() || !policy.wants_restart(code, done) {
            return code;
        }
        let _ = runtime(args).args(["delete", "--force", &args.id]).stdin(Stdio::null()).output();
        std::thread::sleep(crate::ops::restart::backoff(done));
        if marker.exists() {
            return code;
        }
        done += 1;
        // Before the new init exists, so whoever sees its pid also sees this restart's time.
        crate::ops::restart::write(&args.restarts, done, &crate::now());
        // `network connect`/`disconnect` may have changed it since the last start
        let current = network_plan(args);
        let plan = if current.ports == plan.ports { &current } else { plan };
        match start(args, plan) {
            Ok(next) => (pid, io) = next,
            Err(msg) => {
                append_log(args, &format!("restart failed: {msg}\n"));
                return code;
            }
        }
        // `stop` came between the check and the start: its signal may have missed the
        // new init, so finish what it asked for.
        if marker.exists() {
            let _ = runtime(args).args(["kill", &args.id, "KILL"]).stdin(Stdio::null()).output();
        }
    }
}

fn append_log(args: &Args, text: &str) {
    if let Ok(mut l) = std::fs::OpenOptions::new().append(true).open(&args.log) {
        let _ = l.write_all(json_lines(text.as_bytes(), "stderr").as_bytes());
    }
}

/// One line on stdout for the `berth` command, then stdout is closed.
fn report(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
    drop(out);
    close_stdout();
}

/// `ok PID`; stdout stays open for [`notify_starter`] and [`close_stdout`], non-blocking so
/// that a starter that stops reading (a full pipe) never holds the monitor up.
fn report_ok(pid: i32) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "ok {pid}");
    let _ = out.flush();
    let _ = rustix::fs::fcntl_setfl(&out, rustix::fs::OFlags::NONBLOCK);
}

/// Tells the starter the log grew: one byte; `EAGAIN` (it has not read the last ones yet)
/// is as good. `EPIPE`: nobody reads (`run -d` has returned), so stop writing.
fn notify_starter() {
    let out = std::io::stdout();
    if let Err(rustix::io::Errno::PIPE) = rustix::io::write(&out, b".") {
        close_stdout();
    }
}

/// Replaces stdout by /dev/null: the starter's pipe sees end-of-file.
fn close_stdout() {
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        let _ = rustix::stdio::dup2_stdout(&null);
    }
}

/// Copies output to the log (and a terminal's to the attached clients) and relays the
/// clients' input until the init exits; returns its status as a shell would.
fn supervise(args: &Args, pid: i32, io: ContainerIo, mut relay: Option<&mut Relay>) -> i32 {
    let mut log = std::fs::OpenOptions::new().create(true).append(true).open(&args.log).ok();
    let pidfd =
        Pid::from_raw(pid).and_then(|p| rustix::process::pidfd_open(p, PidfdFlags::empty()).ok());
    if let Some(r) = relay.as_deref_mut() {
        r.begin(io.stdin, io.tty);
    }
    let tty = io.tty;
    let mut open = [io.out, io.err];
    let mut exited: Option<i32> = None;
    let mut released = false;
    loop {
        let mut fds: Vec<PollFd<'_>> = Vec::new();
        let mut which = Vec::new();
        for (i, fd) in open.iter().enumerate() {
            if let Some(fd) = fd {
                fds.push(PollFd::new(fd, PollFlags::IN));
                which.push(i);
            }
        }
        let pidfd_at = fds.len();
        if let (None, Some(p)) = (exited, &pidfd) {
            fds.push(PollFd::new(p, PollFlags::IN));
        }
        let relay_at = fds.len();
        if let Some(r) = relay.as_deref() {
            r.poll_fds(&mut fds);
        }
        // After the init exited, give what is still buffered a short while, then stop.
        // Before, the init's pidfd wakes us: an idle container's monitor sleeps until then
        // (no timer, no pages touched), unless there is no pidfd to wait on or a relay.
        let timeout = match (exited, &pidfd, &relay) {
            (Some(_), _, _) => Some(Duration::from_millis(50)),
            (None, Some(_), None) => None,
            (None, _, _) => Some(Duration::from_secs(1)),
        }
        .map(|d| Timespec::try_from(d).unwrap_or(Timespec { tv_sec: 1, tv_nsec: 0 }));
        let mut n = poll(&mut fds, Some(&timeout.unwrap_or(Timespec { tv_sec: 0, tv_nsec: 0 })))
            .unwrap_or(0);
        if n == 0 && timeout.is_none() {
            // Nothing to do until the init exits: the code that started the container need
            // not stay mapped meanwhile (an idle monitor's RSS was its whole binary).
            if !released {
                released = true;
                let _ = berth_sys::mm::release_program_pages();
            }
            n = poll(&mut fds, None).unwrap_or(0);
        }
        let ready: Vec<bool> = fds.iter().map(|f| !f.revents().is_empty()).collect();
        drop(fds);
        if n == 0 && exited.is_some() {
            break;
        }
        // Input first: it may change the relay's fds, which `ready` no longer describes.
        if let Some(r) = relay.as_deref_mut() {
            r.handle(&ready[relay_at..]);
        }
        for (k, i) in which.iter().enumerate() {
            let stream = if *i == 0 { "stdout" } else { "stderr" };
            let to_clients = if tty && *i == 0 { relay.as_deref_mut() } else { None };
            if ready[k] && !copy_once(&mut open[*i], stream, &mut log, to_clients) {
                open[*i] = None;
            }
        }
        let pid_ready = pidfd_at < relay_at && ready[pidfd_at];
        if exited.is_none() && (pid_ready || pidfd.is_none()) {
            exited = reap(pid);
        }
        if exited.is_some() && open.iter().all(Option::is_none) {
            break;
        }
    }
    if let Some(r) = relay {
        r.end();
    }
    exited.unwrap_or(255)
}

/// Reads what is there and appends it to the log (and gives it to the terminal's
/// clients); false at end-of-file (`EIO` on a pty master whose slave is closed).
fn copy_once(
    fd: &mut Option<OwnedFd>,
    stream: &str,
    log: &mut Option<std::fs::File>,
    clients: Option<&mut Relay>,
) -> bool {
    let Some(f) = fd.as_ref() else { return false };
    let mut buf = [0u8; 16 * 1024];
    match rustix::io::read(f, &mut buf) {
        // The pty master is non-blocking (it is also the relay's stdin).
        Err(rustix::io::Errno::AGAIN | rustix::io::Errno::INTR) => true,
        Ok(0) | Err(_) => false,
        Ok(n) => {
            if let Some(l) = log.as_mut() {
                let _ = l.write_all(json_lines(&buf[..n], stream).as_bytes());
                notify_starter();
            }
            if let Some(r) = clients {
                r.output(&buf[..n]);
            }
            true
        }
    }
}

/// Docker's json-file lines: `{"log":"…\n","stream":"stdout","time":"…"}` per line.
pub fn json_lines(data: &[u8], stream: &str) -> String {
    let time = crate::now();
    let text = String::from_utf8_lossy(data);
    text.split_inclusive('\n')
        .map(|l| format!("{}\n", serde_json::json!({"log": l, "stream": stream, "time": time})))
        .collect()
}

/// The init's status once it is gone (a subreaper's waitpid), as 0–255 / 128+signal.
fn reap(pid: i32) -> Option<i32> {
    let p = Pid::from_raw(pid)?;
    match rustix::process::waitpid(Some(p), WaitOptions::NOHANG) {
        Ok(Some((_, st))) => st.exit_status().or_else(|| st.terminating_signal().map(|s| 128 + s)),
        Ok(None) => None,
        // Not our child (the runtime is not reparenting to us): read it through /proc instead.
        Err(_) => (!std::path::Path::new(&format!("/proc/{pid}")).exists()).then_some(255),
    }
}

/// `-d --rm`: the container goes by `berth rm -f`, run by the monitor (with the environment
/// of the `berth` that started it, so it finds the same records). A process of its own, not
/// a call: the monitor idles beside its container for the container's whole life, and
/// without the records and image store (SQLite) linked in it is about half the size and
/// maps fewer pages (docs/adr/0012-engine-fast-path.md).
fn remove_container(args: &Args) {
    // This monitor is finishing: `rm` must not wait for it to exit.
    let _ = std::fs::remove_file(run_dir(args).join("monitor.pid"));
    let berth = crate::runtime::sibling("berth");
    let _ = Command::new(&berth)
        .args(["rm", "-f", &args.id])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Records the exit and tells the starter (a byte on the pipe).
fn record_exit(args: &Args, code: i32) {
    let tmp = args.exit.with_extension("tmp");
    if std::fs::write(&tmp, format!("{code}\n{}\n", crate::now())).is_ok() {
        let _ = std::fs::rename(&tmp, &args.exit);
    }
    notify_starter();
}

/// After the exit is recorded: deletes the runtime's container (cgroup, state; the
/// engine's record stays until `rm`), then ends the starter's pipe; meanwhile, in a thread,
/// deletes the host ends of the veths, which can take longer (`delete_links`). Neither is
/// on the path of a command waiting for the exit, and the veths are not on `run --rm`'s:
/// its `rm` waits for the end of the pipe, not for this monitor's exit, and leaves the
/// links to it (`ops::rm`).
fn finish(args: &Args, plan: &crate::network::plan::Plan) {
    let run_dir = run_dir(args);
    std::thread::scope(|s| {
        // With nothing to withdraw (`none`, `host`, `container:`) there is no marker:
        // `rm`'s own withdrawal then has nothing to do either. The marker goes first,
        // before the pipe ends: `run --rm`'s `rm` removes the run directory right after,
        // and a file written into it then would keep the directory (its `remove_dir_all`
        // fails with ENOTEMPTY).
        if !plan.endpoints.is_empty() || !plan.ports.is_empty() {
            let _ = std::fs::write(run_dir.join(crate::network::setup::DETACHED), "");
            s.spawn(|| crate::network::setup::delete_links(plan));
        }
        let deleted =
            runtime(args).args(["delete", "--force", &args.id]).stdin(Stdio::null()).output();
        if deleted.is_ok_and(|o| o.status.success()) {
            let _ = std::fs::write(run_dir.join(RUNTIME_DELETED), "");
        }
        close_stdout();
    });
}

/// Marker in the run directory: the monitor's `runtime delete` of this run succeeded, so
/// `rm` and `start` need not call the runtime again (two processes fewer on `run --rm`).
pub const RUNTIME_DELETED: &str = "runtime-deleted";

/// Whether the monitor of the container whose run directory is `run_dir` has deleted the
/// runtime's container after its last run.
pub fn runtime_deleted(run_dir: &std::path::Path) -> bool {
    run_dir.join(RUNTIME_DELETED).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_round_trip() {
        let a = Args {
            id: "abc".into(),
            runtime: "/x/rt".into(),
            log: "/l".into(),
            tty: true,
            hold_output: true,
            ..Default::default()
        };
        let b = Args::parse(a.to_argv().into_iter()).unwrap();
        assert_eq!(b.id, "abc");
        assert!(b.tty && b.hold_output && !b.interactive);
        assert_eq!(b.runtime, PathBuf::from("/x/rt"));
    }

    #[test]
    fn json_file_lines() {
        let s = json_lines(b"a\nb", "stdout");
        let lines: Vec<serde_json::Value> =
            s.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines[0]["log"], "a\n");
        assert_eq!(lines[1]["log"], "b");
        assert_eq!(lines[1]["stream"], "stdout");
    }
}

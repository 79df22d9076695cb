//! Runs an engine command on a terminal, as a user typing `podman run -it` would: util-linux
//! `script` gives it a pty, the test types a line once a prompt appears and reads the screen.

use std::io::{Read, Write};
use std::process::{ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::command::Output;

/// Quotes `s` for `sh -c`.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// What the terminal showed so far.
type Screen = Arc<Mutex<Vec<u8>>>;

/// Copies `out` into `screen` until EOF.
fn spawn_reader(mut out: ChildStdout, screen: Screen) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 {
                break;
            }
            screen.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(&buf[..n]);
        }
    })
}

/// Runs `cmd` under `script -qec`, waits for `prompt` in its output, types `input`, and
/// returns when it exits (killing it after `timeout`). stdout is the terminal's text with `\r`
/// removed; the status is the command's (`script -e`).
pub fn run_on_tty(cmd: &Command, prompt: &str, input: &str, timeout: Duration) -> Output {
    let mut line = sh_quote(&cmd.get_program().to_string_lossy());
    for a in cmd.get_args() {
        line.push(' ');
        line.push_str(&sh_quote(&a.to_string_lossy()));
    }
    let cmdline = format!("script -qec {} /dev/null", sh_quote(&line));
    let mut child = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("TERM", "xterm")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn `{cmdline}`: {e}"));
    let screen: Screen = Arc::new(Mutex::new(Vec::new()));
    let reader = child.stdout.take().map(|out| spawn_reader(out, Arc::clone(&screen)));
    let text = |s: &Screen| {
        let v = s.lock().unwrap_or_else(|p| p.into_inner());
        String::from_utf8_lossy(&v).replace('\r', "")
    };
    let start = Instant::now();
    let mut stdin = child.stdin.take();
    let mut typed = false;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait for script") {
            break st;
        }
        if !typed && text(&screen).contains(prompt) {
            if let Some(w) = stdin.as_mut() {
                let _ = w.write_all(input.as_bytes());
                let _ = w.flush();
            }
            typed = true;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let st = child.wait().expect("wait for killed script");
            let shown = text(&screen);
            panic!("`{cmdline}` timed out after {timeout:?} ({st}); typed: {typed}\n{shown}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(stdin);
    if let Some(r) = reader {
        let _ = r.join();
    }
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    Output { cmdline, status, stdout: text(&screen), stderr }
}

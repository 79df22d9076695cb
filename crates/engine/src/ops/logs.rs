//! `berth logs`: the json-file log written by the monitor.

use std::io::{BufRead, BufReader, Seek, Write};

use super::Engine;
use crate::error::{Error, Result};

/// Options of `logs`.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// `-f`: keep following until the container exits.
    pub follow: bool,
    /// `--tail N`.
    pub tail: Option<usize>,
    /// `-t`: prefix each line with its time.
    pub timestamps: bool,
}

/// Writes the log of `key` to `out` (stdout lines) and `err` (stderr lines).
pub fn logs(
    e: &Engine,
    key: &str,
    o: &LogOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    let r = e.get(key)?;
    let path = e.paths.container(&r.id).join("container.log");
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    let mut pos = 0u64;
    match std::fs::File::open(&path) {
        Ok(f) => {
            let mut reader = BufReader::new(f);
            while reader.read_line(&mut line).map_err(Error::io("read", &path))? > 0 {
                if !line.ends_with('\n') {
                    break; // a line being written: `follow` reads it whole
                }
                pos += line.len() as u64;
                lines.push(std::mem::take(&mut line));
            }
            line.clear();
        }
        // Not written yet (the monitor has just started): nothing so far.
        Err(x) if x.kind() == std::io::ErrorKind::NotFound => {}
        Err(x) => return Err(Error::Io { op: "open", path, source: x }),
    }
    let skip = o.tail.map_or(0, |n| lines.len().saturating_sub(n));
    for l in &lines[skip..] {
        emit(l, o.timestamps, out, err);
    }
    if !o.follow {
        return Ok(());
    }
    follow(e, &r.id, pos, o.timestamps, out, err, None)
}

/// Writes the log of `id` from byte `pos` on as it grows, until the container has exited
/// (`logs -f`, `start -a` from where the log ended before the start, foreground `run`
/// from 0). `monitor`: the pipe of the monitor the caller started, which wakes it instead
/// of inotify.
pub fn follow(
    e: &Engine,
    id: &str,
    mut pos: u64,
    timestamps: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
    monitor: Option<&crate::watch::MonitorPipe>,
) -> Result<()> {
    let path = e.paths.container(id).join("container.log");
    let dir = e.paths.container(id);
    let run_dir = e.paths.container_run(id);
    // Set up before the first look, so nothing that happens after it is missed: the log
    // growing, or the monitor's exit file appearing (the state then turns `exited`); the
    // monitor's pipe says both (a byte per append, end-of-file after the exit file).
    let watch = crate::watch::Watch::monitor_or(monitor, &[&path], &[&dir, &run_dir]);
    let mut line = String::new();
    loop {
        let done = e.get(id)?.state != "running";
        let mut f = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(x) if x.kind() == std::io::ErrorKind::NotFound && !done => {
                watch.wait(NOTHING_SEEN);
                continue;
            }
            Err(x) if x.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(x) => return Err(Error::Io { op: "open", path, source: x }),
        };
        f.seek(std::io::SeekFrom::Start(pos)).map_err(Error::io("read", &path))?;
        let mut rd = BufReader::new(f);
        while rd.read_line(&mut line).map_err(Error::io("read", &path))? > 0 {
            if !line.ends_with('\n') {
                break; // a line being written: read it whole next time
            }
            pos += line.len() as u64;
            emit(&line, timestamps, out, err);
            line.clear();
        }
        line.clear();
        if done {
            return Ok(());
        }
        watch.wait(NOTHING_SEEN);
    }
}

/// How long a follower waits for a wake-up before it looks anyway: an init and monitor that
/// died without an exit file are only noticed by looking (`reconcile`).
const NOTHING_SEEN: std::time::Duration = std::time::Duration::from_millis(250);

fn emit(json_line: &str, timestamps: bool, out: &mut dyn Write, err: &mut dyn Write) {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(json_line) else { return };
    let text = v["log"].as_str().unwrap_or_default();
    let w: &mut dyn Write = if v["stream"] == "stderr" { err } else { out };
    if timestamps {
        let _ = write!(w, "{} ", v["time"].as_str().unwrap_or_default());
    }
    let _ = w.write_all(text.as_bytes());
    let _ = w.flush();
}

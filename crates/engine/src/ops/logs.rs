//! `berth logs`: the json-file log written by the monitor, its lines picked as Docker's
//! log reader picks them: `--tail` first, over the lines as recorded, then `--since` and
//! `--until` by each line's recorded time.

use std::io::{BufRead, BufReader, Seek, Write};
use std::time::SystemTime;

use super::Engine;
use crate::error::{Error, Result};

/// Options of `logs`.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// `-f`: keep following until the container exits (or `until` has passed).
    pub follow: bool,
    /// `--tail N`.
    pub tail: Option<usize>,
    /// `-t`: prefix each line with its time.
    pub timestamps: bool,
    /// `--details`: the line's attributes before it. berth records none, so this is
    /// Docker's output without any: a space before each line.
    pub details: bool,
    /// `--since`: lines from this time on.
    pub since: Option<SystemTime>,
    /// `--until`: lines up to this time; `-f` stops once it has passed.
    pub until: Option<SystemTime>,
}

impl LogOptions {
    /// The value of `--since` or `--until` (`flag`), read by [`crate::time_arg::parse`]
    /// against `now`. Empty is no time, and so is `0` for `--until`, as Docker's daemon
    /// takes them.
    pub fn time_flag(
        flag: &'static str,
        value: Option<&str>,
        now: SystemTime,
    ) -> Result<Option<SystemTime>> {
        let Some(value) = value.filter(|v| !v.is_empty()) else { return Ok(None) };
        if flag == "--until" && value == "0" {
            return Ok(None);
        }
        crate::time_arg::parse(value, now).map(Some).ok_or_else(|| Error::InvalidFlag {
            flag,
            value: value.to_string(),
            reason: "expected a time (2013-01-02T13:23:37Z), Unix seconds, or a duration before \
                     now (42m, 1h30m)"
                .into(),
        })
    }
}

/// Docker's log reader's choice of lines: those before `since` are skipped until the first
/// that is not (after it the times need not grow: a clock step hides nothing), and the
/// first line after `until` ends the reading.
#[derive(Debug, Clone)]
struct Window {
    since: Option<SystemTime>,
    until: Option<SystemTime>,
}

/// What [`Window::pick`] says of a line.
#[derive(Debug, PartialEq, Eq)]
enum Pick {
    Show,
    Skip,
    Stop,
}

impl Window {
    fn new(o: &LogOptions) -> Window {
        Window { since: o.since, until: o.until }
    }

    /// A line recorded at `time`; one whose time does not parse counts as the earliest
    /// (Go's zero time).
    fn pick(&mut self, time: Option<SystemTime>) -> Pick {
        if let Some(since) = self.since {
            if time.is_none_or(|t| t < since) {
                return Pick::Skip;
            }
            self.since = None;
        }
        match (self.until, time) {
            (Some(until), Some(t)) if t > until => Pick::Stop,
            _ => Pick::Show,
        }
    }

    fn needs_times(&self) -> bool {
        self.since.is_some() || self.until.is_some()
    }

    /// With `-f`: whether `until` has passed, so that no line to come can be shown.
    fn over(&self) -> bool {
        self.until.is_some_and(|u| SystemTime::now() > u)
    }
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
    let mut window = Window::new(o);
    let more = write_lines(&lines, o, &mut window, out, err);
    if !o.follow || !more {
        return Ok(());
    }
    follow_window(e, &r.id, pos, o, &mut window, out, err, None)
}

/// Writes the lines of the log so far (`json_lines`) that `logs` shows: the last
/// `--tail` of them, then those `window` picks. False once one was past `until`.
fn write_lines(
    json_lines: &[String],
    o: &LogOptions,
    window: &mut Window,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> bool {
    let skip = o.tail.map_or(0, |n| json_lines.len().saturating_sub(n));
    for l in &json_lines[skip..] {
        if !emit(l, o, window, out, err) {
            return false;
        }
    }
    true
}

/// Writes the log of `id` from byte `pos` on as it grows, until the container has exited
/// (`logs -f`, `start -a` from where the log ended before the start, foreground `run`
/// from 0), picked and printed as `o` says (`follow` and `tail` aside). `monitor`: the
/// pipe of the monitor the caller started, which wakes it instead of inotify.
pub fn follow(
    e: &Engine,
    id: &str,
    pos: u64,
    o: &LogOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
    monitor: Option<&crate::watch::MonitorPipe>,
) -> Result<()> {
    follow_window(e, id, pos, o, &mut Window::new(o), out, err, monitor)
}

/// [`follow`] going on with the `window` of the lines already written.
#[allow(clippy::too_many_arguments)] // `follow`'s own, and the window it continues
fn follow_window(
    e: &Engine,
    id: &str,
    mut pos: u64,
    o: &LogOptions,
    window: &mut Window,
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
        // Looked at before reading, so the last read takes in what came before: the lines
        // of an exited container, or those stamped up to `until`.
        let done = e.get(id)?.state != "running" || window.over();
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
            if !emit(&line, o, window, out, err) {
                return Ok(());
            }
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

/// Writes one json-file line if `window` picks it: Docker's order, the time (`-t`), the
/// attributes and a space (`--details`), the text. False once past `until`.
fn emit(
    json_line: &str,
    o: &LogOptions,
    window: &mut Window,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> bool {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(json_line) else { return true };
    let time = v["time"].as_str().unwrap_or_default();
    // Parsed only when it decides something: a plain `logs` of a long log stays a copy.
    let recorded = window.needs_times().then(|| crate::display::parse_rfc3339(time)).flatten();
    match window.pick(recorded) {
        Pick::Show => {}
        Pick::Skip => return true,
        Pick::Stop => return false,
    }
    let text = v["log"].as_str().unwrap_or_default();
    let w: &mut dyn Write = if v["stream"] == "stderr" { err } else { out };
    if o.timestamps {
        let _ = write!(w, "{time} ");
    }
    if o.details {
        let _ = w.write_all(b" ");
    }
    let _ = w.write_all(text.as_bytes());
    let _ = w.flush();
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    /// A json-file log of `(text, stream, seconds)` lines, times at 2024-01-01T00:00:SSZ.
    fn log(lines: &[(&str, &str, u32)]) -> Vec<String> {
        lines
            .iter()
            .map(|(text, stream, s)| {
                let time = format!("2024-01-01T00:00:{s:02}.5Z");
                format!(
                    "{}\n",
                    serde_json::json!({"log": format!("{text}\n"), "stream": stream, "time": time})
                )
            })
            .collect()
    }

    fn at(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_704_067_200 + s)
    }

    /// What `o` shows of `lines` (stdout, stderr), as `logs` without `-f` writes it.
    fn shown(lines: &[String], o: &LogOptions) -> (String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        write_lines(lines, o, &mut Window::new(o), &mut out, &mut err);
        (String::from_utf8(out).unwrap(), String::from_utf8(err).unwrap())
    }

    fn lines_of(lines: &[String], o: &LogOptions) -> String {
        shown(lines, o).0
    }

    #[test]
    fn since_and_until_by_each_lines_recorded_time() {
        let l =
            log(&[("a", "stdout", 1), ("b", "stdout", 2), ("c", "stdout", 3), ("d", "stdout", 4)]);
        let o = |since: Option<u64>, until: Option<u64>| LogOptions {
            since: since.map(at),
            until: until.map(at),
            ..Default::default()
        };
        assert_eq!(lines_of(&l, &o(None, None)), "a\nb\nc\nd\n");
        // Each line is at S.5 seconds: `--since 2` starts at b, `--until 3` ends after b.
        assert_eq!(lines_of(&l, &o(Some(2), None)), "b\nc\nd\n");
        assert_eq!(lines_of(&l, &o(None, Some(3))), "a\nb\n");
        assert_eq!(lines_of(&l, &o(Some(2), Some(4))), "b\nc\n");
        assert_eq!(lines_of(&l, &o(Some(9), None)), "");
        assert_eq!(lines_of(&l, &o(None, Some(0))), "");
        // A bound equal to a line's time includes it, as Docker's Before/After do.
        let exact = parse_rfc3339_ok("2024-01-01T00:00:02.5Z");
        let on = LogOptions { since: Some(exact), until: Some(exact), ..Default::default() };
        assert_eq!(lines_of(&l, &on), "b\n");
    }

    fn parse_rfc3339_ok(t: &str) -> SystemTime {
        crate::display::parse_rfc3339(t).unwrap()
    }

    #[test]
    fn tail_comes_first_then_the_window() {
        let l =
            log(&[("a", "stdout", 1), ("b", "stdout", 2), ("c", "stdout", 3), ("d", "stdout", 4)]);
        let o = |tail: usize, since: Option<u64>, until: Option<u64>| LogOptions {
            tail: Some(tail),
            since: since.map(at),
            until: until.map(at),
            ..Default::default()
        };
        // Docker's reader takes the last N lines of the file, then filters those.
        assert_eq!(lines_of(&l, &o(2, Some(1), None)), "c\nd\n");
        assert_eq!(lines_of(&l, &o(3, None, Some(3))), "b\n", "not the last lines before until");
        assert_eq!(lines_of(&l, &o(1, None, Some(3))), "");
        assert_eq!(lines_of(&l, &o(0, None, None)), "");
    }

    #[test]
    fn since_lets_everything_through_after_the_first_line_it_passes() {
        // A clock stepped back between b and c: Docker still shows c.
        let l =
            log(&[("a", "stdout", 1), ("b", "stdout", 5), ("c", "stdout", 2), ("d", "stdout", 6)]);
        let o = LogOptions { since: Some(at(4)), ..Default::default() };
        assert_eq!(lines_of(&l, &o), "b\nc\nd\n");
        // The first line past until ends the reading, even if a later one is earlier.
        let o = LogOptions { until: Some(at(4)), ..Default::default() };
        assert_eq!(lines_of(&l, &o), "a\n");
    }

    #[test]
    fn streams_timestamps_and_details_in_dockers_order() {
        let l = log(&[("out", "stdout", 1), ("err", "stderr", 2)]);
        assert_eq!(shown(&l, &LogOptions::default()), ("out\n".into(), "err\n".into()));
        let details = LogOptions { details: true, ..Default::default() };
        assert_eq!(shown(&l, &details), (" out\n".into(), " err\n".into()));
        let both = LogOptions { details: true, timestamps: true, ..Default::default() };
        assert_eq!(shown(&l, &both).0, "2024-01-01T00:00:01.5Z  out\n");
    }

    #[test]
    fn a_line_without_a_time_is_the_earliest() {
        let mut l = log(&[("a", "stdout", 3)]);
        l.insert(0, "{\"log\":\"untimed\\n\",\"stream\":\"stdout\"}\n".into());
        assert_eq!(lines_of(&l, &LogOptions::default()), "untimed\na\n");
        let since = LogOptions { since: Some(at(1)), ..Default::default() };
        assert_eq!(lines_of(&l, &since), "a\n");
        let until = LogOptions { until: Some(at(9)), ..Default::default() };
        assert_eq!(lines_of(&l, &until), "untimed\na\n");
    }

    #[test]
    fn time_flags_name_the_flag_and_value() {
        let now = at(100);
        assert_eq!(LogOptions::time_flag("--since", None, now).unwrap(), None);
        assert_eq!(LogOptions::time_flag("--since", Some(""), now).unwrap(), None);
        assert_eq!(
            LogOptions::time_flag("--until", Some("0"), now).unwrap(),
            None,
            "Docker's no-until"
        );
        assert_eq!(LogOptions::time_flag("--since", Some("0"), now).unwrap(), Some(UNIX_EPOCH));
        assert_eq!(LogOptions::time_flag("--since", Some("1m"), now).unwrap(), Some(at(40)));
        let bad = LogOptions::time_flag("--until", Some("yesterday"), now).unwrap_err().to_string();
        assert!(bad.starts_with("invalid --until \"yesterday\": "), "{bad}");
        assert!(!bad.contains('\n'), "{bad}");
    }
}

//! Logging: a small `tracing` subscriber writing one line per event to stderr or `--log`, as
//! text or runc's JSON lines; and the one place an error is reported.
//!
//! Not `tracing-subscriber`: a runtime process lives for milliseconds and logs a handful of
//! lines, and the registry and formatter machinery more than doubled the pages the binary
//! touches at start (peak RSS is a target of the runtime; see docs/adr/0005).

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

use super::args::LogFormat;

/// Where errors and logs go.
#[derive(Debug)]
pub(super) struct Logger {
    file: Option<PathBuf>,
    format: LogFormat,
}

impl Logger {
    /// Installs the subscriber: debug level with `--debug`, warnings and errors otherwise.
    pub(super) fn install(file: Option<&Path>, format: LogFormat, debug: bool) -> Logger {
        let max = if debug { Level::DEBUG } else { Level::WARN };
        let out = file.and_then(|p| OpenOptions::new().create(true).append(true).open(p).ok());
        let sub = LineSubscriber { max, format, out: Mutex::new(out) };
        let _ = tracing::subscriber::set_global_default(sub);
        Logger { file: file.map(Path::to_path_buf), format }
    }

    /// Reports the error that ends the command: once to stderr, and once to `--log` in its
    /// format (containerd and podman read the last error line of the log file).
    pub(super) fn report(&self, err: &anyhow::Error) {
        let msg = format!("{err:#}");
        eprintln!("berth-runtime: {msg}");
        let Some(path) = &self.file else { return };
        let Ok(mut f) = OpenOptions::new().create(true).append(true).open(path) else { return };
        let _ = writeln!(f, "{}", line(self.format, "error", &msg, ""));
    }
}

/// One log line in runc's shapes.
fn line(format: LogFormat, level: &str, msg: &str, fields: &str) -> String {
    let time = berth_runtime::state::now_rfc3339();
    match format {
        LogFormat::Json => {
            let mut v = serde_json::json!({"level": level, "msg": msg, "time": time});
            if !fields.is_empty() {
                v["fields"] = serde_json::Value::String(fields.to_string());
            }
            v.to_string()
        }
        LogFormat::Text => format!("time={time:?} level={level} msg={msg:?}{fields}"),
    }
}

struct LineSubscriber {
    max: Level,
    format: LogFormat,
    /// `--log` file; `None` writes to stderr. Locked per line (events may come from the
    /// hook-timeout path, but the runtime has one thread: the lock is never contended).
    out: Mutex<Option<File>>,
}

/// Collects an event's message and fields.
#[derive(Default)]
struct Fields {
    msg: String,
    rest: String,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.msg, "{value:?}");
        } else {
            let _ = write!(self.rest, " {}={value:?}", field.name());
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.msg.push_str(value);
        } else {
            let _ = write!(self.rest, " {}={value:?}", field.name());
        }
    }
}

impl Subscriber for LineSubscriber {
    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        // tracing orders levels by verbosity: ERROR < WARN < … < TRACE.
        *meta.level() <= self.max
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        // Spans are not tracked; every span gets the same (non-zero) id.
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut f = Fields::default();
        event.record(&mut f);
        let level = match *event.metadata().level() {
            Level::ERROR => "error",
            Level::WARN => "warning",
            Level::INFO => "info",
            Level::DEBUG => "debug",
            Level::TRACE => "trace",
        };
        let text = line(self.format, level, &f.msg, &f.rest);
        let Ok(mut out) = self.out.lock() else { return };
        let _ = match out.as_mut() {
            Some(file) => writeln!(file, "{text}"),
            None => writeln!(std::io::stderr(), "{text}"),
        };
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_line_has_level_msg_time() {
        let v: serde_json::Value =
            serde_json::from_str(&line(LogFormat::Json, "error", "boom", "")).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "boom");
        assert!(v["time"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn text_line_quotes_the_message() {
        let l = line(LogFormat::Text, "warning", "a \"b\"", " id=\"x\"");
        assert!(l.contains("level=warning msg=\"a \\\"b\\\"\" id=\"x\""), "{l}");
    }
}

//! Logging: tracing to stderr, or to `--log` as text or runc's JSON lines; and the one place
//! an error is reported.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use tracing_subscriber::fmt::writer::BoxMakeWriter;

use super::args::LogFormat;

/// Where errors and logs go.
#[derive(Debug)]
pub(super) struct Logger {
    file: Option<PathBuf>,
    format: LogFormat,
}

impl Logger {
    /// Installs the tracing subscriber. Debug level with `--debug`, warnings otherwise.
    pub(super) fn install(file: Option<&Path>, format: LogFormat, debug: bool) -> Logger {
        let level = if debug { tracing::Level::DEBUG } else { tracing::Level::WARN };
        let writer =
            match file.and_then(|p| OpenOptions::new().create(true).append(true).open(p).ok()) {
                Some(f) => BoxMakeWriter::new(std::sync::Mutex::new(f)),
                None => BoxMakeWriter::new(std::io::stderr),
            };
        let builder =
            tracing_subscriber::fmt().with_max_level(level).with_writer(writer).with_target(false);
        let _ = match format {
            LogFormat::Json => builder.json().flatten_event(true).try_init(),
            LogFormat::Text => builder.with_ansi(false).try_init(),
        };
        Logger { file: file.map(Path::to_path_buf), format }
    }

    /// Reports the error that ends the command: once to stderr, and once to `--log` in its
    /// format (containerd and podman read the last error line of the log file).
    pub(super) fn report(&self, err: &anyhow::Error) {
        let msg = format!("{err:#}");
        eprintln!("berth-runtime: {msg}");
        let Some(path) = &self.file else { return };
        let Ok(mut f) = OpenOptions::new().create(true).append(true).open(path) else {
            return;
        };
        let time = berth_runtime::state::now_rfc3339();
        let line = match self.format {
            LogFormat::Json => {
                serde_json::json!({"level": "error", "msg": msg, "time": time}).to_string()
            }
            LogFormat::Text => format!("time={time:?} level=error msg={msg:?}"),
        };
        let _ = writeln!(f, "{line}");
    }
}

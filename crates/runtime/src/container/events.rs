//! `events`: the container's resource usage as runc prints it (`{"type":"stats","id":…,
//! "data":{…}}`), once with `--stats` or every interval, and `{"type":"oom"}` when the OOM
//! killer strikes in the container's cgroup.
//!
//! The OOM counter (`oom_kill` of v2 `memory.events` or v1 `memory.oom_control`) is polled
//! every 100 ms rather than waited on: cheap, the same on v1 and v2, and it needs no
//! eventfd/inotify plumbing in a synchronous runtime.

use std::path::Path;
use std::time::{Duration, Instant};

use berth_cgroups::Stats;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::state::{self, Record, StateDir, Status};

/// How often the OOM counter and the container's status are checked.
const POLL: Duration = Duration::from_millis(100);

/// One line of `events` output.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// `stats` or `oom`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Container id.
    pub id: String,
    /// The stats, for `stats` events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Stats>,
}

/// The container's stats now; refused once it has stopped.
pub fn stats(root: &Path, id: &str) -> Result<Stats> {
    let rec = running_record(root, id, "read stats of")?;
    read(&rec)
}

/// Emits a stats event every `interval` and an oom event whenever the OOM kill count grows,
/// until the container stops or `emit` fails (e.g. the reader went away).
pub fn watch(
    root: &Path,
    id: &str,
    interval: Duration,
    emit: &mut dyn FnMut(&Event) -> std::io::Result<()>,
) -> Result<()> {
    let rec = running_record(root, id, "watch events of")?;
    let io = |e| Error::State { op: "write events of", path: root.join(id), source: e };
    let mut oom_kills = read(&rec)?.memory.oom_kills();
    let mut next_stats = Instant::now();
    loop {
        let stats = match read(&rec) {
            Ok(stats) => stats,
            // The cgroup went away under us: the container was deleted.
            Err(_) if !state::process_alive(rec.pid, rec.pid_start) => return Ok(()),
            Err(err) => return Err(err),
        };
        if stats.memory.oom_kills() > oom_kills {
            oom_kills = stats.memory.oom_kills();
            emit(&Event { kind: "oom", id: id.to_string(), data: None }).map_err(io)?;
        }
        if Instant::now() >= next_stats {
            emit(&Event { kind: "stats", id: id.to_string(), data: Some(stats) }).map_err(io)?;
            next_stats += interval;
        }
        if !state::process_alive(rec.pid, rec.pid_start) {
            return Ok(());
        }
        std::thread::sleep(POLL.min(interval));
    }
}

/// Reads the record without keeping the lock (a long `events` must not block other commands).
fn running_record(root: &Path, id: &str, op: &'static str) -> Result<Record> {
    let dir = StateDir::open(root, id)?;
    let rec = dir.read()?.ok_or_else(|| Error::NotFound { id: id.to_string() })?;
    let status = state::status(&dir, &rec);
    if status == Status::Stopped {
        return Err(Error::WrongState { op, id: id.to_string(), status: status.to_string() });
    }
    Ok(rec)
}

fn read(rec: &Record) -> Result<Stats> {
    crate::container::require_cgroup(rec, "read stats of")?;
    rec.cgroup.stats().map_err(|source| Error::Cgroup { id: rec.id.clone(), source })
}

/// A Go duration as runc's `--interval` takes it: `5s`, `500ms`, `1m30s`, `1.5h`.
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let bad = || format!("invalid duration {text:?}: use e.g. 500ms, 5s or 1m");
    let mut rest = text.trim();
    let mut total = Duration::ZERO;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let split = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(bad)?;
        let (number, tail) = rest.split_at(split);
        let unit_len = tail.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        let seconds = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        let value: f64 = number.parse().map_err(|_| bad())?;
        total += Duration::try_from_secs_f64(value * seconds).map_err(|_| bad())?;
        rest = next;
    }
    if total.is_zero() {
        return Err(format!("invalid duration {text:?}: must be positive"));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("1x").is_err());
    }

    #[test]
    fn event_json() {
        let oom = Event { kind: "oom", id: "c1".into(), data: None };
        assert_eq!(serde_json::to_string(&oom).unwrap(), r#"{"type":"oom","id":"c1"}"#);
        let stats = Event { kind: "stats", id: "c1".into(), data: Some(Stats::default()) };
        let value = serde_json::to_value(&stats).unwrap();
        assert_eq!(value["type"], "stats");
        assert!(value["data"]["memory"]["usage"].is_object());
    }
}

//! `ps --format json`: one object a line with Docker's field names and value shapes (strings
//! throughout, as `docker ps --format json` prints them), plus berth's `Pid`.

use berth_engine::db::Record;
use berth_engine::display;
use berth_engine::mounts::Kind;
use berth_engine::ops;
use berth_engine::spec::RunOptions;
use serde_json::{json, Value};

/// Docker's object for `r`; ids and commands truncated as in the table unless `no_trunc`.
/// `size`: the SIZE column of `-s`; without it Docker's `Size` is `0B`, as nothing counted.
pub(super) fn line(r: &Record, no_trunc: bool, size: Option<&str>) -> Value {
    let opts: RunOptions = serde_json::from_str(&r.config).unwrap_or_default();
    let labels: Vec<String> = opts.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    // Docker's Mounts column: volume names and bind sources; LocalVolumes counts volumes.
    let mounts: Vec<&str> = opts
        .mount_points
        .iter()
        .filter(|m| m.kind != Kind::Tmpfs)
        .map(|m| m.source.as_str())
        .collect();
    let volumes = opts.mount_points.iter().filter(|m| m.kind == Kind::Volume).count();
    let mut command = format!("\"{}\"", r.command.join(" "));
    if !no_trunc && command.chars().count() > 22 {
        command = format!("{}…\"", command.chars().take(20).collect::<String>());
    }
    json!({
        "Command": command,
        "CreatedAt": docker_time(&r.created),
        "ID": display::short_id(&r.id, no_trunc),
        "Image": r.image,
        "Labels": labels.join(","),
        "LocalVolumes": volumes.to_string(),
        "Mounts": mounts.join(","),
        "Names": r.name,
        "Networks": "",
        "Ports": "",
        "RunningFor": ops::ps::created_text(r),
        "Size": size.unwrap_or("0B"),
        "State": r.state,
        "Status": ops::ps::status_text(r),
        "Pid": r.pid,
    })
}

/// `2026-01-02T03:04:05.678Z` as Go prints a time: `2026-01-02 03:04:05 +0000 UTC`.
fn docker_time(rfc3339: &str) -> String {
    match rfc3339.get(..19) {
        Some(t) => format!("{} +0000 UTC", t.replacen('T', " ", 1)),
        None => rfc3339.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::docker_time;

    #[test]
    fn go_time_format() {
        assert_eq!(docker_time("2026-01-02T03:04:05.678Z"), "2026-01-02 03:04:05 +0000 UTC");
        assert_eq!(docker_time("x"), "x");
    }
}

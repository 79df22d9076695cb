//! `berth ps`: which containers exist, what each runs, and the host pid of its init (the
//! document's "which process does each container run").

use super::ps_filter::Filters;
use super::Engine;
use crate::db::Record;
use crate::error::Result;

/// Every container (only running ones unless `all`), up to date.
pub fn ps(e: &Engine, all: bool) -> Result<Vec<Record>> {
    ps_filtered(e, all, &Filters::default())
}

/// The containers `filters` pass (stopped ones only with `all` or a status filter).
pub fn ps_filtered(e: &Engine, all: bool, filters: &Filters) -> Result<Vec<Record>> {
    let all = all || filters.lists_stopped();
    let store = filters.needs_images().then(|| super::pull::store(e).ok()).flatten();
    let image_id = |name: &str| {
        let store = store.as_ref()?;
        let info = store.lookup(&super::images::resolve_name(store, name)).ok()?;
        Some(info.id.to_string())
    };
    let mut out = Vec::new();
    for r in e.db.list()? {
        let mut r = super::reconcile(e, r)?;
        // `ps` alone tells a paused container apart (the record says running).
        if r.state == "running" && super::pause::is_paused(e, &r) {
            r.state = "paused".into();
        }
        if (all || r.state == "running" || r.state == "paused") && filters.matches(&r, &image_id) {
            out.push(r);
        }
    }
    Ok(out)
}

/// Docker's PORTS column: the published ports of a running container.
pub fn ports_text(e: &Engine, r: &Record) -> String {
    if r.state != "running" && r.state != "paused" {
        return String::new();
    }
    let ports: Vec<String> =
        super::network::ports(e, &r.id).iter().map(ToString::to_string).collect();
    ports.join(", ")
}

/// Docker's STATUS column: `Up …`, `Exited (N) … ago`, `Created`.
pub fn status_text(r: &Record) -> String {
    match r.state.as_str() {
        "running" => format!("Up {}", ago(r.started_at.as_deref()).trim_end_matches(" ago")),
        "paused" => {
            format!("Up {} (Paused)", ago(r.started_at.as_deref()).trim_end_matches(" ago"))
        }
        "exited" => {
            format!("Exited ({}) {}", r.exit_code.unwrap_or(0), ago(r.finished_at.as_deref()))
        }
        _ => "Created".into(),
    }
}

/// "5 seconds ago" from an RFC 3339 time of this engine.
pub fn ago(t: Option<&str>) -> String {
    let Some(secs) = t.and_then(epoch) else { return String::new() };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let d = now.saturating_sub(secs);
    match d {
        0..=1 => "Less than a second ago".into(),
        2..=59 => format!("{d} seconds ago"),
        60..=3599 => format!("{} minutes ago", d / 60),
        3600..=86_399 => format!("{} hours ago", d / 3600),
        _ => format!("{} days ago", d / 86_400),
    }
}

/// Seconds since the epoch of `YYYY-MM-DDTHH:MM:SS…Z`.
pub fn epoch(t: &str) -> Option<u64> {
    let n = |a: usize, b: usize| t.get(a..b)?.parse::<i64>().ok();
    let (y, m, d) = (n(0, 4)?, n(5, 7)?, n(8, 10)?);
    let (hh, mm, ss) = (n(11, 13)?, n(14, 16)?, n(17, 19)?);
    // Days from civil (Howard Hinnant), the inverse of berth_sys::time's conversion.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + hh * 3600 + mm * 60 + ss).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs() {
        assert_eq!(epoch("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(epoch("2024-01-01T00:00:01.5Z"), Some(1_704_067_201));
        assert_eq!(epoch("garbage"), None);
    }
}

//! `berth ps`: which containers exist, what each runs, and the host pid of its init (the
//! document's "which process does each container run").

use super::ps_filter::Filters;
use super::Engine;
use crate::db::Record;
use crate::display;
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

/// Docker's STATUS column: `Up …`, `Exited (N) … ago`, `Created`. Unlike CREATED these
/// count from the full-precision start and finish times, as Docker's daemon does.
pub fn status_text(r: &Record) -> String {
    let since = |t: Option<&str>| t.and_then(display::parse_rfc3339).map(display::human_since);
    let up = since(r.started_at.as_deref()).map_or_else(|| "Up".into(), |d| format!("Up {d}"));
    match r.state.as_str() {
        "running" => up,
        "paused" => format!("{up} (Paused)"),
        "exited" => {
            let code = r.exit_code.unwrap_or(0);
            match since(r.finished_at.as_deref()) {
                Some(d) => format!("Exited ({code}) {d} ago"),
                None => format!("Exited ({code})"),
            }
        }
        _ => "Created".into(),
    }
}

/// Docker's CREATED column (`RunningFor` in JSON): "5 seconds ago"; empty for a record
/// whose time does not parse.
pub fn created_text(r: &Record) -> String {
    display::parse_rfc3339(&r.created).map_or_else(String::new, display::created_ago)
}

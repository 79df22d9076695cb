//! `berth ps`: which containers exist, what each runs, and the host pid of its init (the
//! document's "which process does each container run").

use super::ps_filter::Filters;
use super::Engine;
use crate::db::Record;
use crate::display;
use crate::error::Result;

/// Every container (only running ones unless `all`), up to date.
pub fn ps(e: &Engine, all: bool) -> Result<Vec<Record>> {
    ps_filtered(e, all, &Filters::default(), None)
}

/// The containers `filters` pass, newest first (stopped ones only with `all`, a status
/// filter or `last`); with `last` (`-n N`, `-l`), only the N most recently created, as
/// Docker's `Limit`.
pub fn ps_filtered(
    e: &Engine,
    all: bool,
    filters: &Filters,
    last: Option<usize>,
) -> Result<Vec<Record>> {
    let all = all || filters.lists_stopped() || last.is_some();
    let store = filters.needs_images().then(|| super::pull::store(e).ok()).flatten();
    let image_id = |name: &str| {
        let store = store.as_ref()?;
        let info = store.lookup(&super::images::resolve_name(store, name)).ok()?;
        Some(info.id.to_string())
    };
    let mut out = Vec::new();
    // The records come newest first: the limit's containers are the first to pass.
    for r in e.db.list()? {
        if last.is_some_and(|n| out.len() >= n) {
            break;
        }
        let mut r = super::reconcile(e, r)?;
        // `ps` alone tells a paused container apart (the record says running).
        if r.state == "running" && super::pause::is_paused(e, &r) {
            r.state = "paused".into();
        }
        // ...and one in its restart back-off (Docker lists it without -a too).
        super::restart::show_restarting(&e.paths.container_run(&r.id), &mut r);
        let live = matches!(r.state.as_str(), "running" | "paused" | "restarting");
        if (all || live) && filters.matches(&r, &image_id) {
            out.push(r);
        }
    }
    Ok(out)
}

/// Docker's `SizeRw` and `SizeRootFs` of a container (`ps -s`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Size {
    /// The bytes in its writable layer.
    pub rw: u64,
    /// Those plus its image's (its whole root filesystem); 0 without an image.
    pub root_fs: u64,
}

impl Size {
    /// Docker's SIZE column, `12B (virtual 4.26MB)`, the writable layer alone when there is
    /// no image size to add.
    pub fn text(&self) -> String {
        let rw = display::size_column(self.rw);
        match self.root_fs {
            0 => rw,
            all => format!("{rw} (virtual {})", display::size_column(all)),
        }
    }
}

/// The sizes of `list` (`ps -s`): each writable layer (the overlay's upper directory) is
/// walked as Docker's overlay2 driver walks it (`directory.Size`), and the image's size is
/// the one `images` shows. A `--rootfs` container has neither: its directory is the
/// caller's. A layer that cannot be walked counts 0, as Docker's daemon counts it.
pub fn sizes(e: &Engine, list: &[Record]) -> Vec<Size> {
    use rustix::fs::{Mode, OFlags};
    use std::os::fd::AsFd;
    let store = super::pull::store(e).ok();
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let size = |r: &Record| {
        let Ok(layers) = super::diff::Layers::of(e, r, "ps --size") else {
            return Size::default();
        };
        let upper = rustix::fs::open(&layers.upper, flags, Mode::empty()).ok();
        let rw = upper.and_then(|dir| crate::fstree::size(dir.as_fd()).ok()).unwrap_or(0);
        let image = store.as_ref().and_then(|s| {
            let info = super::commit::base_image(s, &layers, r).ok()?;
            Some(super::images::layer_sizes(s, &info).iter().sum::<u64>())
        });
        Size { rw, root_fs: image.map_or(0, |size| rw.saturating_add(size)) }
    };
    list.iter().map(size).collect()
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
        // Docker's: the exit that caused the restart, and how long ago.
        "restarting" => {
            let code = r.exit_code.unwrap_or(0);
            match since(r.finished_at.as_deref()) {
                Some(d) => format!("Restarting ({code}) {d} ago"),
                None => format!("Restarting ({code})"),
            }
        }
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

#[cfg(test)]
mod tests {
    use super::Size;

    #[test]
    fn size_column_as_dockers() {
        assert_eq!(Size { rw: 0, root_fs: 4_261_000 }.text(), "0B (virtual 4.26MB)");
        assert_eq!(Size { rw: 1_048_576, root_fs: 5_309_576 }.text(), "1.05MB (virtual 5.31MB)");
        // Nothing to add the writable layer to (a --rootfs container): Docker's rw alone.
        assert_eq!(Size { rw: 12, root_fs: 0 }.text(), "12B");
        assert_eq!(Size::default().text(), "0B");
    }
}

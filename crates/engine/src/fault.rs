//! Fault injection for the robustness tests: `BERTH_ENGINE_FAULT=<point>` makes `berth`
//! kill itself with SIGKILL when it reaches that named point, the way a crash or `kill -9`
//! would at that instant. The tests then check that the records tell the truth and that
//! `rm` / `system prune` remove whatever was left. Without the variable this is one
//! environment lookup per point.

use std::sync::OnceLock;

/// The points, in the order `run` passes them, then those of `pull`, then `commit`'s.
pub const POINTS: [&str; 11] = [
    "create-after-rootfs",
    "create-after-network-plan",
    "create-after-record",
    "start-after-monitor",
    // pull: the config and manifest blobs are stored, no layer yet
    "pull-after-config",
    // pull: part of a layer is written to its temp blob and partly unpacked
    "pull-layer-partial",
    // pull: a layer verified and unpacked in the work dir, not yet renamed into place
    "pull-layer-verified",
    // pull: a layer's blob is in blobs/, its snapshot still in the work dir
    "pull-layer-blob-published",
    // pull: every layer is in the store, the image record is not written
    "pull-before-record",
    // commit: the layer is written, the container still paused
    "commit-paused",
    // commit: config, layers and manifest are in the store, the image record is not written
    "commit-before-record",
];

/// Dies here if the environment asks for it.
pub fn point(name: &str) {
    static WANTED: OnceLock<Option<String>> = OnceLock::new();
    let wanted = WANTED.get_or_init(|| std::env::var("BERTH_ENGINE_FAULT").ok());
    if wanted.as_deref() == Some(name) {
        let _ =
            rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
    }
}

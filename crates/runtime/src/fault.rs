//! Fault injection for the robustness tests: `BERTH_RUNTIME_FAULT=<point>` makes the runtime
//! kill itself with SIGKILL when it reaches that named point of `create` or `delete`, the
//! way a crash or `kill -9` would at that instant. The tests then check that `delete` still
//! removes everything (tests/integration/tests/faults.rs). Without the variable this is one
//! environment lookup per point.

use std::sync::OnceLock;

/// The points, in the order `create` and `delete` pass them.
pub const POINTS: [&str; 9] = [
    "create-after-state-dir",
    "create-after-record",
    "create-after-cgroup",
    "create-after-clone",
    "create-after-go",
    "create-after-cgroup-join",
    "create-before-detach",
    "delete-after-kill",
    "delete-after-cgroup",
];

/// Dies here if the environment asks for it.
pub(crate) fn point(name: &str) {
    static WANTED: OnceLock<Option<String>> = OnceLock::new();
    let wanted = WANTED.get_or_init(|| std::env::var("BERTH_RUNTIME_FAULT").ok());
    if wanted.as_deref() == Some(name) {
        let me = rustix::process::getpid().as_raw_nonzero().get();
        let _ = berth_sys::process::kill(me, 9);
    }
}

//! After the container stayed down: the exit file, the runtime's container deleted (with
//! the marker that spares `rm` and `start` doing it again), the veths' host ends, and for
//! `-d --rm` the container itself.

use std::process::{Command, Stdio};

use super::starter::{close_stdout, notify_starter};
use super::{run_dir, runtime, Args};

/// Records the exit and tells the starter (a byte on the pipe).
pub(super) fn record_exit(args: &Args, code: i32) {
    let tmp = args.exit.with_extension("tmp");
    if std::fs::write(&tmp, format!("{code}\n{}\n", crate::now())).is_ok() {
        let _ = std::fs::rename(&tmp, &args.exit);
    }
    notify_starter();
}

/// After the exit is recorded: deletes the runtime's container (cgroup, state; the
/// engine's record stays until `rm`), then ends the starter's pipe; meanwhile, in a thread,
/// deletes the host ends of the veths, which can take longer (`delete_links`). Neither is
/// on the path of a command waiting for the exit, and the veths are not on `run --rm`'s:
/// its `rm` waits for the end of the pipe, not for this monitor's exit, and leaves the
/// links to it (`ops::rm`).
pub(super) fn finish(args: &Args, plan: &crate::network::plan::Plan) {
    let run_dir = run_dir(args);
    std::thread::scope(|s| {
        // With nothing to withdraw (`none`, `host`, `container:`) there is no marker:
        // `rm`'s own withdrawal then has nothing to do either. The marker goes first,
        // before the pipe ends: `run --rm`'s `rm` removes the run directory right after,
        // and a file written into it then would keep the directory (its `remove_dir_all`
        // fails with ENOTEMPTY).
        if !plan.endpoints.is_empty() || !plan.ports.is_empty() {
            let _ = std::fs::write(run_dir.join(crate::network::setup::DETACHED), "");
            s.spawn(|| crate::network::setup::delete_links(plan));
        }
        let deleted =
            runtime(args).args(["delete", "--force", &args.id]).stdin(Stdio::null()).output();
        if deleted.is_ok_and(|o| o.status.success()) {
            let _ = std::fs::write(run_dir.join(RUNTIME_DELETED), "");
        }
        close_stdout();
    });
}

/// `-d --rm`: the container goes by `berth rm -f`, run by the monitor (with the environment
/// of the `berth` that started it, so it finds the same records). A process of its own, not
/// a call: the monitor idles beside its container for the container's whole life, and
/// without the records and image store (SQLite) linked in it is about half the size and
/// maps fewer pages (docs/adr/0012-engine-fast-path.md).
pub(super) fn remove_container(args: &Args) {
    // This monitor is finishing: `rm` must not wait for it to exit.
    let _ = std::fs::remove_file(run_dir(args).join("monitor.pid"));
    let berth = crate::runtime::sibling("berth");
    let _ = Command::new(&berth)
        .args(["rm", "-f", &args.id])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Marker in the run directory: the monitor's `runtime delete` of this run succeeded, so
/// `rm` and `start` need not call the runtime again (two processes fewer on `run --rm`).
pub const RUNTIME_DELETED: &str = "runtime-deleted";

/// Whether the monitor of the container whose run directory is `run_dir` has deleted the
/// runtime's container after its last run.
pub fn runtime_deleted(run_dir: &std::path::Path) -> bool {
    run_dir.join(RUNTIME_DELETED).exists()
}

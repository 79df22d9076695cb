//! `Container`: drives one container through the runtime CLI with its own `--root` state dir,
//! and cleans everything up in `Drop`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

use crate::bundle::Bundle;
use crate::cgroup;
use crate::command::{Output, TestCommand};
use crate::process;
use crate::runtime::Runtime;

/// Name of the canary file kept beside each state root.
const CANARY: &str = "canary";

/// Live `Container`s in this process. The shared cgroup prefix is removed only when the last
/// one is dropped, under this lock, so it never vanishes while a runtime is creating
/// `<prefix>/<id>` for another test (a runtime's `mkdir -p` would race the `rmdir`).
static LIVE: Mutex<usize> = Mutex::new(0);

fn live_count() -> std::sync::MutexGuard<'static, usize> {
    LIVE.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One container id under test. Dropping it runs `kill KILL`, `delete --force`, removes any
/// cgroup the runtime left under the test prefix, and removes the state root.
#[derive(Debug)]
pub struct Container {
    runtime: Runtime,
    /// Holds `root/` (the `--root` state dir) and a canary file beside it: a runtime that
    /// resolves an id like `..` against the state dir reaches this tempdir, never `/tmp`.
    state_tmp: TempDir,
    state_root: PathBuf,
    id: String,
    /// The id the bundle's `cgroupsPath` was made for (differs from `id` for invalid ids).
    cgroup_id: String,
    bundle: PathBuf,
}

impl Container {
    /// A container for `bundle` (same id), with a fresh state root.
    pub fn new(bundle: &Bundle) -> Container {
        Container::with_id(bundle, bundle.id())
    }

    /// As [`Container::new`] but with an explicit (possibly invalid) id.
    pub fn with_id(bundle: &Bundle, id: &str) -> Container {
        let state_tmp =
            tempfile::Builder::new().prefix("berth-state-").tempdir().expect("state tempdir");
        let state_root = state_tmp.path().join("root");
        std::fs::create_dir(&state_root).expect("create state root");
        std::fs::write(state_tmp.path().join(CANARY), "").expect("create canary");
        *live_count() += 1;
        Container {
            runtime: Runtime::from_env(),
            state_tmp,
            state_root,
            id: id.to_string(),
            cgroup_id: bundle.id().to_string(),
            bundle: bundle.path().to_path_buf(),
        }
    }

    /// The container id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The `--root` state directory.
    pub fn state_root(&self) -> &Path {
        &self.state_root
    }

    /// Whether the canary beside the state root survived (an id such as `..` must never
    /// make the runtime touch anything outside its state root).
    pub fn canary_intact(&self) -> bool {
        self.state_tmp.path().join(CANARY).is_file() && self.state_root.is_dir()
    }

    /// Whether the id is a plain name that is safe to pass to a runtime for cleanup.
    fn id_is_plain(&self) -> bool {
        let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
        !self.id.is_empty() && self.id != "." && self.id != ".." && self.id.chars().all(ok)
    }

    /// The runtime used.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// `<runtime> --root <state> <args...>`, for anything not covered below.
    pub fn cmd<I, S>(&self, args: I) -> TestCommand
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.runtime.cmd(self.state_root(), args)
    }

    /// `create --bundle <bundle> <id>`.
    pub fn create(&self) -> Output {
        self.cmd(["create", "--bundle"]).args([self.bundle.as_os_str()]).args([&self.id]).output()
    }

    /// `create <extra...> --bundle <bundle> <id>`, e.g. with `--pid-file`, `--no-pivot`.
    pub fn create_with<I, S>(&self, extra: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let c = self.cmd(["create"]).args(extra).args([std::ffi::OsStr::new("--bundle")]);
        c.args([self.bundle.as_os_str()]).args([&self.id]).output()
    }

    /// The bundle directory.
    pub fn bundle(&self) -> &Path {
        &self.bundle
    }

    /// `start <id>`.
    pub fn start(&self) -> Output {
        self.cmd(["start", &self.id]).output()
    }

    /// `run --bundle <bundle> <id>` in the foreground: the container's stdout and stderr
    /// are captured and its exit status is the command's.
    pub fn run(&self) -> Output {
        self.cmd(["run", "--bundle"]).args([self.bundle.as_os_str()]).args([&self.id]).output()
    }

    /// `run --detach --bundle <bundle> <id>`.
    pub fn run_detached(&self) -> Output {
        let c = self.cmd(["run", "--detach", "--bundle"]).args([self.bundle.as_os_str()]);
        c.args([&self.id]).output()
    }

    /// `state <id>` as raw output.
    pub fn state_output(&self) -> Output {
        self.cmd(["state", &self.id]).output()
    }

    /// `state <id>` parsed; panics with the output if it fails or is not JSON.
    #[track_caller]
    pub fn state(&self) -> Value {
        let out = self.state_output();
        out.success();
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("state is not JSON: {e}\n{out}"))
    }

    /// The `status` field of `state`.
    #[track_caller]
    pub fn status(&self) -> String {
        self.state()["status"].as_str().unwrap_or("").to_string()
    }

    /// The `pid` field of `state`.
    #[track_caller]
    pub fn pid(&self) -> u32 {
        let s = self.state();
        s["pid"].as_u64().and_then(|p| u32::try_from(p).ok()).unwrap_or(0)
    }

    /// Polls `state` until `status` is `want`; panics after `timeout` with the last state.
    #[track_caller]
    pub fn wait_status(&self, want: &str, timeout: Duration) {
        let start = std::time::Instant::now();
        loop {
            let s = self.state_output();
            let status = serde_json::from_str::<Value>(&s.stdout)
                .ok()
                .and_then(|v| v["status"].as_str().map(String::from));
            if status.as_deref() == Some(want) {
                return;
            }
            assert!(start.elapsed() < timeout, "status never became {want}\n{s}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `kill <id> <signal>`.
    pub fn kill(&self, signal: &str) -> Output {
        self.cmd(["kill", &self.id, signal]).output()
    }

    /// `delete <id>`, with `--force` when asked.
    pub fn delete(&self, force: bool) -> Output {
        let args: Vec<&str> = if force { vec!["delete", "--force"] } else { vec!["delete"] };
        self.cmd(args).args([&self.id]).output()
    }

    /// Problems left behind for this container: a state dir entry, a cgroup dir under the
    /// test prefix, processes rooted in the bundle, host mounts of the bundle.
    pub fn leftovers(&self) -> Vec<String> {
        let mut found = Vec::new();
        let state_entry = self.state_root().join(&self.id);
        if !self.canary_intact() {
            found.push(format!("runtime removed files beside {}", self.state_root.display()));
        }
        if self.id_is_plain() && state_entry.exists() {
            found.push(format!("state entry {}", state_entry.display()));
        }
        found.extend(
            cgroup::leftover_dirs(&self.cgroup_id)
                .iter()
                .map(|d| format!("cgroup {}", d.display())),
        );
        let procs = process::processes_under(&self.bundle);
        found.extend(procs.iter().map(|(p, t)| format!("process {p} in {}", t.display())));
        found.extend(process::mounts_under(&self.bundle).into_iter().map(|m| format!("mount {m}")));
        found
    }

    /// Entries in the state root (a failed create must leave none).
    pub fn state_entries(&self) -> Vec<String> {
        std::fs::read_dir(self.state_root())
            .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default()
    }

    /// Panics unless [`Container::leftovers`] is empty (waiting briefly for exits).
    #[track_caller]
    pub fn assert_nothing_left(&self) {
        let start = std::time::Instant::now();
        loop {
            let left = self.leftovers();
            if left.is_empty() {
                return;
            }
            assert!(start.elapsed() < Duration::from_secs(5), "left behind: {left:#?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        // Best effort, in order: stop the processes, let the runtime clean up, then remove
        // whatever it left so one failing test does not poison the others.
        // Never hand an invalid id to the runtime here: `crun delete --force ..` removes the
        // parent of its state root. Such ids never created anything worth deleting.
        if self.id_is_plain() {
            let short = Duration::from_secs(10);
            let _ = self.cmd(["kill", &self.id, "KILL"]).timeout(short).output();
            let _ = self.cmd(["delete", "--force", &self.id]).timeout(short).output();
        }
        for (pid, _) in process::processes_under(&self.bundle) {
            process::kill(pid, "KILL");
        }
        cgroup::remove_container_dirs(&self.cgroup_id);
        let mut live = live_count();
        *live -= 1;
        if *live == 0 {
            cgroup::remove_prefix_if_empty();
        }
    }
}

//! [`Engine`]: a private `berth` engine for one test — its own records, run state, Docker
//! config, `HOME` and cgroup parent — that removes its containers and cgroups in `Drop`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::command::{Output, TestCommand};
use crate::{cgroup, workspace_root, Bundle};

static N: AtomicU32 = AtomicU32::new(0);

/// `<workspace>/target/debug/<name>`: the binaries `scripts/test.sh` builds first.
pub fn bin(name: &str) -> PathBuf {
    workspace_root().join("target/debug").join(name)
}

/// One test's engine. Containers made with [`Engine::make`] use a busybox rootfs
/// (`--rootfs`); image tests pass a reference to [`Engine::run_image`].
#[derive(Debug)]
pub struct Engine {
    tmp: tempfile::TempDir,
    parent: String,
    bundle: Option<Bundle>,
}

impl Engine {
    /// An engine with no rootfs of its own; `label` names its cgroup parent.
    pub fn new(label: &str) -> Engine {
        let parent = format!(
            "berth-test-{}-{label}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let tmp = tempfile::tempdir().expect("engine tempdir");
        Engine { tmp, parent, bundle: None }
    }

    /// An engine with a busybox rootfs for `--rootfs` containers.
    pub fn with_rootfs(label: &str) -> Engine {
        let mut engine = Engine::new(label);
        engine.bundle = Some(Bundle::new(&format!("{label}-rootfs")));
        engine
    }

    /// The cgroup parent every container of this engine is created under.
    pub fn parent(&self) -> &str {
        &self.parent
    }

    /// The engine's private directory (records under `data`, run state under `run`).
    pub fn dir(&self) -> &Path {
        self.tmp.path()
    }

    /// `name` inside the engine's private directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// `berth` with this engine's environment, no arguments yet.
    pub fn command(&self) -> TestCommand {
        let t = self.tmp.path();
        let mut c = Command::new(bin("berth"));
        c.env("BERTH_ROOT", t.join("data"))
            .env("BERTH_RUNROOT", t.join("run"))
            .env("DOCKER_CONFIG", t.join("docker"))
            .env("HOME", t)
            .env("XDG_CONFIG_HOME", t.join("config"))
            .env("XDG_RUNTIME_DIR", "")
            .env("REGISTRY_AUTH_FILE", "");
        TestCommand::new(c)
    }

    /// `berth ARGS…`.
    pub fn berth<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.command().args(args).output()
    }

    /// `berth VERB [flags] --rootfs ROOTFS - CMD…` (run or create) under this engine's
    /// cgroup parent.
    pub fn make(&self, verb: &str, flags: &[&str], cmd: &[&str]) -> Output {
        self.make_command(verb, flags, cmd).output()
    }

    /// [`Engine::make`] not run yet, for a test to add to its environment.
    pub fn make_command(&self, verb: &str, flags: &[&str], cmd: &[&str]) -> TestCommand {
        let rootfs = self.rootfs().display().to_string();
        let mut args = vec![verb, "--cgroup-parent", &self.parent];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["--rootfs", &rootfs, "-"]);
        args.extend_from_slice(cmd);
        self.command().args(args)
    }

    /// The busybox rootfs of [`Engine::with_rootfs`].
    pub fn rootfs(&self) -> PathBuf {
        let bundle = self.bundle.as_ref().expect("Engine::with_rootfs for --rootfs containers");
        bundle.rootfs()
    }

    /// `berth run [flags] --rootfs ROOTFS - CMD…`.
    pub fn run(&self, flags: &[&str], cmd: &[&str]) -> Output {
        self.make("run", flags, cmd)
    }

    /// `berth run --rm IMAGE CMD…` under this engine's cgroup parent.
    pub fn run_image(&self, image: &str, cmd: &[&str]) -> Output {
        let mut args = vec!["run", "--rm", "--cgroup-parent", &self.parent, image];
        args.extend_from_slice(cmd);
        self.berth(args)
    }

    /// `berth images --format json`.
    pub fn images(&self) -> String {
        self.berth(["images", "--format", "json"]).success().stdout.clone()
    }

    /// `berth inspect NAME`, the one document.
    pub fn inspect(&self, name: &str) -> serde_json::Value {
        let out = self.berth(["inspect", name]);
        out.success();
        let docs: serde_json::Value =
            serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("inspect: {e}\n{out}"));
        docs[0].clone()
    }

    /// Polls `inspect` until `ok` holds (or panics after `secs`).
    pub fn wait_for(&self, name: &str, secs: u64, ok: impl Fn(&serde_json::Value) -> bool) {
        let start = Instant::now();
        loop {
            let doc = self.inspect(name);
            if ok(&doc) {
                return;
            }
            assert!(start.elapsed() < Duration::from_secs(secs), "timed out: {doc}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Container cgroups under the parent and runtime state dirs still present.
    pub fn leftovers(&self) -> Vec<String> {
        let mut left = Vec::new();
        for d in cgroup::candidate_dirs(&self.parent) {
            if let Ok(rd) = std::fs::read_dir(&d) {
                left.extend(
                    rd.filter_map(|e| e.ok())
                        .filter(|e| e.path().is_dir())
                        .map(|e| e.path().display().to_string()),
                );
            }
        }
        if let Ok(rd) = std::fs::read_dir(self.path("run/runtime")) {
            left.extend(
                rd.filter_map(|e| e.ok()).map(|e| format!("runtime state {}", e.path().display())),
            );
        }
        left
    }

    /// Removes every container and checks that nothing is left.
    pub fn finish(&self) {
        for id in self.container_ids() {
            self.berth(["rm", "-f", &id]).success();
        }
        assert!(self.leftovers().is_empty(), "{:?}", self.leftovers());
    }

    fn container_ids(&self) -> Vec<String> {
        let ids = self.berth(["ps", "-aq", "--no-trunc"]);
        ids.stdout.lines().map(str::to_string).collect()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        for id in self.container_ids() {
            let _ = self.berth(["rm", "-f", &id]);
        }
        for d in cgroup::candidate_dirs(&self.parent) {
            let _ = std::fs::remove_dir(d);
        }
    }
}

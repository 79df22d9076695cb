//! The drop-in tier: container engines (podman, Docker, containerd) driving the runtime under
//! test instead of runc, each in a hermetic [`Sandbox`].
//!
//! A sandbox is a tempdir, a private mount namespace held open by a `sleep` process (the
//! engines mount things: they run inside it through `nsenter`, so no mount reaches the host),
//! a cgroup parent `/berth-test-<pid>/<name>` and a logging wrapper around the runtime
//! ([`wrapper`]). Inside the namespace `/run`, `/etc/docker`, `/etc/cni/net.d` and
//! `/var/lib`, `/var/tmp` are fresh tmpfs, so the engines' state outside their explicit roots
//! (Docker's `key.json`, podman's blob cache, shim sockets) never reaches the host either.
//!
//! - [`image`]: a busybox image (rootfs tarball for `import`, docker-archive for `ctr`).
//! - [`engines`]: [`Podman`], [`Docker`], [`Containerd`].
//!
//! Every engine constructor returns `None` after printing `SKIP …` when something is missing
//! (or panics under `BERTH_TEST_STRICT=1`). Teardown (engine first, then every process left in
//! the namespace or the cgroup subtree, then the namespace, the cgroups and the tempdir) runs in
//! `Drop`; [`Sandbox::leftovers`] lets a test assert that nothing survived.

pub mod engines;
pub mod image;
pub mod pty;
pub mod wrapper;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub use engines::{Containerd, Docker, Podman};

use crate::command::{Output, TestCommand};
use crate::runtime::{which, Runtime};
use crate::{cgroup, prereq, process};

/// Live sandboxes of this process: the shared `berth-test-<pid>` cgroup prefix is removed by
/// the last one, under this lock, never while an engine is creating its subtree.
static LIVE: Mutex<usize> = Mutex::new(0);

fn live_count() -> std::sync::MutexGuard<'static, usize> {
    LIVE.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Skips the current test (prints why) or, under `BERTH_TEST_STRICT=1`, fails it.
pub fn skip(why: &str) {
    let test = std::thread::current().name().unwrap_or("?").to_string();
    assert!(!prereq::strict(), "{test}: requirement not met: {why}");
    eprintln!("SKIP {test}: {why}");
}

/// `Err(reason)` unless every common prerequisite of the tier holds.
fn common_prereqs(tools: &[&str]) -> Result<(), String> {
    prereq::root()?;
    prereq::runtime()?;
    prereq::busybox()?;
    for t in ["unshare", "nsenter", "tar", "sha256sum"].iter().chain(tools) {
        if which(t).is_none() {
            return Err(format!("needs `{t}` (scripts/install-deps.sh installs the engines)"));
        }
    }
    Ok(())
}

/// Whether the runtime under test knows subcommand `cmd` (`<runtime> <cmd> --help` succeeds).
/// Lets a test assert the engine's error while a command is still being written.
pub fn runtime_has(cmd: &str) -> bool {
    let rt = Runtime::from_env();
    let mut c = Command::new(&rt.path);
    c.args([cmd, "--help"]);
    TestCommand::new(c).timeout(Duration::from_secs(10)).output().status.success()
}

/// Mount setup run in the new namespace before it is held open (see the module docs).
const NS_SETUP: &str = r#"set -e
mount -t tmpfs -o mode=0755 berth-dropin /run
for d in /etc/docker /etc/cni/net.d /var/lib /var/tmp; do
  if [ -d "$d" ]; then mount -t tmpfs -o mode=0700 berth-dropin "$d"; fi
done
echo ready
exec sleep 2147483647
"#;

/// One test's private world; see the module docs.
#[derive(Debug)]
pub struct Sandbox {
    name: String,
    /// `None` only while dropping (kept on disk if a host mount were found under it).
    dir: Option<TempDir>,
    dir_path: PathBuf,
    holder: Child,
    runtime: Runtime,
    wrapper: PathBuf,
}

impl Sandbox {
    /// A sandbox named `name` (unique per test; used for the cgroup parent), or the reason
    /// the tier cannot run here. `tools` are the engine's binaries that must be in `PATH`.
    pub fn new(name: &str, tools: &[&str]) -> Result<Sandbox, String> {
        common_prereqs(tools)?;
        let dir = tempfile::Builder::new()
            .prefix(&format!("berth-dropin-{name}-"))
            .tempdir()
            .map_err(|e| format!("tempdir: {e}"))?;
        let runtime = Runtime::from_env();
        let wrapper =
            wrapper::install(dir.path(), &runtime).map_err(|e| format!("wrapper: {e}"))?;
        let mut holder = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "--", "sh", "-c", NS_SETUP])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("spawn unshare: {e}"))?;
        let mut line = String::new();
        if let Some(out) = holder.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        if line.trim() != "ready" {
            let _ = holder.kill();
            let _ = holder.wait();
            return Err("could not set up a private mount namespace (unshare --mount)".into());
        }
        *live_count() += 1;
        let dir_path = dir.path().to_path_buf();
        Ok(Sandbox { name: name.to_string(), dir: Some(dir), dir_path, holder, runtime, wrapper })
    }

    /// The tempdir everything of this test lives in.
    pub fn dir(&self) -> &Path {
        &self.dir_path
    }

    /// The sandbox's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The runtime under test (the real binary, not the wrapper).
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The wrapper to hand to the engine as its runtime.
    pub fn wrapper(&self) -> &Path {
        &self.wrapper
    }

    /// The absolute cgroup parent for the engine's containers: `/berth-test-<pid>/<name>`.
    pub fn cgroup_parent(&self) -> String {
        format!("/{}/{}", cgroup::prefix(), self.name)
    }

    /// `program` run inside the sandbox's mount namespace.
    pub fn command(&self, program: &Path) -> Command {
        let mut c = Command::new("nsenter");
        c.arg("-t").arg(self.holder.id().to_string()).args(["-m", "--"]).arg(program);
        c
    }

    /// Every runtime invocation so far, with exit status and errors (see [`wrapper`]).
    pub fn runtime_log(&self) -> String {
        wrapper::read_log(self.dir())
    }

    /// The runtime log, labelled, for a failure message.
    pub fn report(&self) -> String {
        format!("--- {} invocations ({})\n{}", self.runtime.name, self.name, self.runtime_log())
    }

    /// Panics with the command output and the runtime log unless `out` succeeded.
    #[track_caller]
    pub fn ok(&self, out: &Output) {
        assert!(out.status.success(), "expected success\n{out}\n{}", self.report());
    }

    /// Panics with the output and the runtime log unless `cond` holds.
    #[track_caller]
    pub fn check(&self, cond: bool, what: &str, out: &Output) {
        assert!(cond, "{what}\n{out}\n{}", self.report());
    }

    /// Processes in the namespace other than its holder (engine daemons, conmon, shims).
    fn ns_processes(&self) -> Vec<u32> {
        let holder = self.holder.id();
        let Ok(ns) = std::fs::read_link(format!("/proc/{holder}/ns/mnt")) else {
            return Vec::new();
        };
        let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
        entries
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|&pid| pid != holder && process::alive(pid))
            .filter(|pid| {
                std::fs::read_link(format!("/proc/{pid}/ns/mnt")).ok() == Some(ns.clone())
            })
            .collect()
    }

    /// Processes in the sandbox's cgroup subtree (containers and their execs).
    fn cgroup_processes(&self) -> Vec<u32> {
        let rel = format!("{}/{}", cgroup::prefix(), self.name);
        let mut pids = Vec::new();
        for d in cgroup::candidate_dirs(&rel) {
            collect_procs(&d, &mut pids);
        }
        pids.sort_unstable();
        pids.dedup();
        pids.retain(|&p| process::alive(p));
        pids
    }

    /// What survived the engine's own cleanup: processes in the namespace or the cgroup
    /// subtree, processes rooted in the tempdir, host mounts mentioning it, cgroup dirs with
    /// member processes. Empty when the engine and the runtime cleaned up after themselves.
    pub fn leftovers(&self) -> Vec<String> {
        let mut left: Vec<String> = Vec::new();
        for pid in self.ns_processes().into_iter().chain(self.cgroup_processes()) {
            left.push(format!("process {pid} ({})", comm(pid)));
        }
        for (pid, p) in process::processes_under(self.dir()) {
            left.push(format!("process {pid} rooted at {}", p.display()));
        }
        for m in process::mounts_under(self.dir()) {
            left.push(format!("host mount: {m}"));
        }
        left.sort();
        left.dedup();
        left
    }

    /// Waits up to `timeout` for [`leftovers`](Self::leftovers) to be empty.
    pub fn wait_clean(&self, timeout: Duration) -> Vec<String> {
        let start = Instant::now();
        loop {
            let left = self.leftovers();
            if left.is_empty() || start.elapsed() > timeout {
                return left;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Panics (with the runtime log) if [`leftovers`](Self::leftovers) stay non-empty for
    /// 10 s, or if the runtime state root `state_root` still holds a container.
    #[track_caller]
    pub fn assert_clean(&self, state_root: &Path) {
        let left = self.wait_clean(Duration::from_secs(10));
        assert!(left.is_empty(), "left behind: {left:#?}\n{}", self.report());
        let states: Vec<String> = std::fs::read_dir(state_root)
            .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        assert!(
            states.is_empty(),
            "container state left in {}: {states:?}\n{}",
            state_root.display(),
            self.report()
        );
    }

    /// The state root the wrapper gives the runtime when the engine passes none (podman).
    pub fn default_state_root(&self) -> PathBuf {
        self.dir().join("runtime-root")
    }

    /// Kills whatever is left (namespace and cgroup members), then the holder.
    fn kill_everything(&mut self) {
        for _ in 0..20 {
            let pids: Vec<u32> =
                self.ns_processes().into_iter().chain(self.cgroup_processes()).collect();
            if pids.is_empty() {
                break;
            }
            for p in pids {
                process::kill(p, "KILL");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

fn collect_procs(dir: &Path, pids: &mut Vec<u32>) {
    let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
    pids.extend(procs.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                collect_procs(&e.path(), pids);
            }
        }
    }
}

fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
        .map(|s| s.replace('\0', " ").trim().to_string())
        .unwrap_or_default()
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.kill_everything();
        cgroup::remove_container_dirs(&self.name);
        // Only the host's view matters here: the namespace (and every mount in it) died with
        // its last process. A mount on the host under the tempdir would be a bug elsewhere;
        // never delete through it.
        if process::mounts_under(self.dir()).is_empty() {
            let _ = Command::new("rm")
                .args(["-rf", "--one-file-system", "--"])
                .arg(self.dir())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        } else if let Some(d) = self.dir.take() {
            eprintln!("dropin: mounts left under {}, not removing it", self.dir().display());
            let _ = d.keep();
        }
        let mut live = live_count();
        *live -= 1;
        if *live == 0 {
            cgroup::remove_prefix_if_empty();
        }
    }
}

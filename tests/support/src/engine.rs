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
///
/// Networks are host-wide (bridges, nftables), so an engine's containers get
/// `--network none` by default (`BERTH_NETWORK=none`); [`Engine::networked`] gives the
/// engine a network namespace of its own instead, where every `berth` it runs creates its
/// bridges and rules, and which vanishes with them when the engine is dropped.
#[derive(Debug)]
pub struct Engine {
    tmp: tempfile::TempDir,
    parent: String,
    bundle: Option<Bundle>,
    netns: Option<std::process::Child>,
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
        Engine { tmp, parent, bundle: None, netns: None }
    }

    /// An engine with a busybox rootfs for `--rootfs` containers.
    pub fn with_rootfs(label: &str) -> Engine {
        let mut engine = Engine::new(label);
        engine.bundle = Some(Bundle::new(&format!("{label}-rootfs")));
        engine
    }

    /// An engine with a busybox rootfs whose `berth` commands (and so its monitors, bridges
    /// and nftables rules) run in a network namespace of its own, with `lo` up; containers
    /// get the default network unless told otherwise. The registry fixture on the host's
    /// 127.0.0.1 is not reachable from there: pull with [`Engine::host_berth`].
    pub fn networked(label: &str) -> Engine {
        let mut engine = Engine::with_rootfs(label);
        let holder = Command::new("unshare")
            .args(["--net", "--", "sleep", "infinity"])
            .spawn()
            .expect("start the network namespace holder");
        let pid = holder.id();
        engine.netns = Some(holder);
        // unshare execs sleep once the namespace exists: wait for that
        let start = Instant::now();
        let own = std::fs::read_link("/proc/self/ns/net").ok();
        while std::fs::read_link(format!("/proc/{pid}/ns/net")).ok() == own {
            assert!(start.elapsed() < Duration::from_secs(5), "netns holder did not unshare");
            std::thread::sleep(Duration::from_millis(2));
        }
        engine.in_netns(&["ip", "link", "set", "lo", "up"]).success();
        engine
    }

    /// `nsenter --net=<the engine's netns>` prefix, if it has one.
    fn netns_path(&self) -> Option<String> {
        self.netns.as_ref().map(|c| format!("--net=/proc/{}/ns/net", c.id()))
    }

    /// Runs a host program in the engine's network namespace (a client of published ports).
    pub fn in_netns(&self, argv: &[&str]) -> Output {
        let ns = self.netns_path().expect("Engine::networked");
        let mut c = Command::new("nsenter");
        c.arg(ns).arg("--").args(argv);
        TestCommand::new(c).output()
    }

    /// `berth ARGS…` in the host's network namespace (for `pull` from the registry fixture).
    pub fn host_berth<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        TestCommand::new(self.base_command(Command::new(bin("berth")))).args(args).output()
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

    /// `berth` with this engine's environment (in its network namespace, if it has one),
    /// no arguments yet.
    pub fn command(&self) -> TestCommand {
        let c = match self.netns_path() {
            Some(ns) => {
                let mut c = Command::new("nsenter");
                c.arg(ns).arg("--").arg(bin("berth"));
                c
            }
            None => {
                let mut c = Command::new(bin("berth"));
                c.env("BERTH_NETWORK", "none");
                c
            }
        };
        TestCommand::new(self.base_command(c))
    }

    fn base_command(&self, mut c: Command) -> Command {
        let t = self.tmp.path();
        c.env("BERTH_ROOT", t.join("data"))
            .env("BERTH_RUNROOT", t.join("run"))
            .env("DOCKER_CONFIG", t.join("docker"))
            .env("HOME", t)
            .env("XDG_CONFIG_HOME", t.join("config"))
            .env("XDG_RUNTIME_DIR", "")
            .env("REGISTRY_AUTH_FILE", "");
        c
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
        if self.netns.is_some() {
            let links = self.in_netns(&["ip", "-o", "link", "show", "type", "veth"]);
            // the engine's own (`berth-<id>`), not a test's uplink
            left.extend(
                links
                    .stdout
                    .lines()
                    .filter(|l| l.contains(": berth-"))
                    .map(|l| format!("veth {l}")),
            );
            let maps = self.in_netns(&["nft", "list", "table", "ip", "berth"]);
            left.extend(
                maps.stdout.lines().filter(|l| l.contains("elements")).map(|l| format!("nft {l}")),
            );
        }
        left
    }

    /// Everything [`Engine::leftovers`] counts plus what only a crash can leave: container
    /// directories and records, addresses, mounts under the engine's directory, and
    /// processes (monitors, containers) that mention it. The kill campaign's leak counter:
    /// after `rm -f` of everything and `system prune`, it must be empty.
    pub fn leaks(&self) -> Vec<String> {
        let mut left = self.leftovers();
        let dir = self.tmp.path().display().to_string();
        if let Ok(rd) = std::fs::read_dir(self.path("data/containers")) {
            left.extend(
                rd.filter_map(|e| e.ok()).map(|e| format!("container dir {:?}", e.file_name())),
            );
        }
        let ps = self.berth(["ps", "-aq", "--no-trunc"]);
        left.extend(ps.stdout.lines().map(|l| format!("record {l}")));
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        left.extend(mountinfo.lines().filter(|l| l.contains(&dir)).map(|l| format!("mount {l}")));
        if let Ok(procs) = std::fs::read_dir("/proc") {
            let me = std::process::id().to_string();
            for p in procs.filter_map(|e| e.ok()) {
                let name = p.file_name().to_string_lossy().into_owned();
                if !name.bytes().all(|b| b.is_ascii_digit()) || name == me {
                    continue;
                }
                let cmd = std::fs::read(p.path().join("cmdline")).unwrap_or_default();
                let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
                if cmd.contains(&dir) && !cmd.starts_with("nsenter") {
                    left.push(format!("process {name}: {cmd}"));
                }
            }
        }
        if self.netns.is_some() {
            let net = self.berth(["network", "inspect", "berth"]);
            if !net.stdout.contains("\"Containers\": {}") {
                left.push(format!("addresses: {}", net.stdout));
            }
        }
        left
    }

    /// Removes every container and checks that nothing is left.
    pub fn finish(&self) {
        for id in self.container_ids() {
            self.berth(["rm", "-f", &id]).success();
        }
        // A `run --rm` returns before its monitor has deleted the host veths (it waits
        // only for the monitor's `runtime delete`): a veth still there 5 s later leaked.
        let start = Instant::now();
        while !self.leftovers().is_empty() && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
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
        // The namespace, its bridges and rules go with the last process in it.
        if let Some(mut holder) = self.netns.take() {
            let _ = holder.kill();
            let _ = holder.wait();
        }
    }
}

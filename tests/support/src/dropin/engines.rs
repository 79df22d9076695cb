//! The three engines, each started (or, for podman, configured) inside its own [`Sandbox`] and
//! pointed at the runtime wrapper. Constructors skip the test (see [`super::skip`]) when the
//! engine or a prerequisite is missing. `Drop` removes the engine's containers, stops its
//! daemon by pid, and leaves the rest to the sandbox.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::image::Image;
use super::pty::run_on_tty;
use super::{skip, Sandbox};
use crate::command::{Output, TestCommand};
use crate::runtime::which;

/// How long an engine command may take (dockerd's first container can be slow on a loaded
/// 2-core machine; in the software-emulated VM more so).
pub const ENGINE_TIMEOUT: Duration = Duration::from_secs(120);

/// The sandbox or a printed skip.
fn sandbox(name: &str, tools: &[&str]) -> Option<Sandbox> {
    Sandbox::new(name, tools).map_err(|why| skip(&why)).ok()
}

/// Builds the image, or fails the test (a missing busybox was already a skip).
fn image(sb: &Sandbox) -> Image {
    Image::build(sb.dir()).unwrap_or_else(|e| panic!("build the busybox image: {e}"))
}

/// Polls `probe` until it succeeds, `daemon` dies, or `timeout`: `Err(last output)`.
fn wait_ready(
    daemon: &mut Child,
    log: &Path,
    timeout: Duration,
    probe: impl Fn() -> Output,
) -> Result<(), String> {
    let start = Instant::now();
    loop {
        let out = probe();
        if out.status.success() {
            return Ok(());
        }
        let tail = || std::fs::read_to_string(log).unwrap_or_default();
        if let Ok(Some(st)) = daemon.try_wait() {
            return Err(format!("daemon exited ({st})\n{out}\n--- daemon log\n{}", tail()));
        }
        if start.elapsed() > timeout {
            return Err(format!("not ready after {timeout:?}\n{out}\n--- daemon log\n{}", tail()));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Spawns a daemon in the sandbox with stdout and stderr in `log`.
fn spawn_daemon(sb: &Sandbox, program: &Path, args: &[String], log: &Path) -> Child {
    let f = File::create(log).expect("create daemon log");
    let f2 = f.try_clone().expect("dup daemon log");
    sb.command(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(f)
        .stderr(f2)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", program.display()))
}

/// SIGTERM, then SIGKILL after `grace`.
fn stop_daemon(child: &mut Child, grace: Duration) {
    crate::process::kill(child.id(), "TERM");
    let start = Instant::now();
    while start.elapsed() < grace {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// podman with its own storage and run dirs, cgroupfs, file events, and the wrapper as
/// `--runtime`. Containers get `--network none`, explicit ulimits (root here lacks
/// CAP_SYS_RESOURCE, so podman's default of raising nofile fails) and the sandbox's cgroup parent.
#[derive(Debug)]
pub struct Podman {
    sb: Sandbox,
    bin: PathBuf,
}

impl Podman {
    /// A sandbox with the busybox image imported, or `None` (test skipped).
    pub fn new(name: &str) -> Option<Podman> {
        let sb = sandbox(name, &["podman", "conmon", "script"])?;
        let bin = which("podman")?;
        let p = Podman { sb, bin };
        let img = image(&p.sb);
        let out = p.cmd(["import", &path_str(&img.rootfs_tar), Image::TAG]).output();
        p.sb.ok(&out);
        Some(p)
    }

    /// The sandbox (runtime log, leftovers).
    pub fn sandbox(&self) -> &Sandbox {
        &self.sb
    }

    fn command(&self) -> Command {
        let d = self.sb.dir();
        let mut c = self.sb.command(&self.bin);
        c.arg("--root").arg(d.join("storage")).arg("--runroot").arg(d.join("run"));
        c.args(["--storage-driver", "vfs", "--cgroup-manager", "cgroupfs"]);
        c.args(["--events-backend", "file"]).arg("--tmpdir").arg(d.join("tmp"));
        c.arg("--runtime").arg(self.sb.wrapper());
        c
    }

    /// `podman <global flags> ARGS`.
    pub fn cmd<I, S>(&self, args: I) -> TestCommand
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        TestCommand::new(self.command()).args(args).timeout(ENGINE_TIMEOUT)
    }

    /// The flags every `podman run` of the tests needs.
    pub fn run_flags(&self) -> Vec<String> {
        let mut v: Vec<String> = ["--network", "none", "--ulimit", "nofile=1024:1024"]
            .into_iter()
            .chain(["--ulimit", "nproc=4096:4096", "--cgroup-parent"])
            .map(String::from)
            .collect();
        v.push(self.sb.cgroup_parent());
        v
    }

    /// `podman run <run_flags> ARGS` (ARGS include options, the image and the command).
    pub fn run(&self, args: &[&str]) -> TestCommand {
        self.cmd(["run"]).args(self.run_flags()).args(args)
    }

    /// `podman ARGS` on a terminal: types `input` once `prompt` appears (see [`run_on_tty`]).
    pub fn on_tty(&self, args: &[String], prompt: &str, input: &str) -> Output {
        let mut c = self.command();
        c.args(args);
        run_on_tty(&c, prompt, input, ENGINE_TIMEOUT)
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.cmd(["rm", "--all", "--force", "--time", "0"]).output();
    }
}

/// The kernel enforces AppArmor but `apparmor_parser` is missing (Debian's kernels with the
/// `apparmor` package not installed, as in the cgroup-v2 VM): dockerd then cannot load its
/// `docker-default` profile and refuses every container, whatever the runtime, unless the
/// container is unconfined.
fn apparmor_without_parser() -> bool {
    let on = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled");
    on.is_ok_and(|v| v.trim() == "Y") && which("apparmor_parser").is_none()
}

/// `docker -H unix://<dir>/docker.sock`, with its config dir under `dir`.
fn docker_command(client: &Path, dir: &Path) -> Command {
    let mut c = Command::new(client);
    c.arg("-H").arg(format!("unix://{}", dir.join("docker.sock").display()));
    c.env("DOCKER_CONFIG", dir.join("docker-cli"));
    c
}

/// dockerd started by the test: own config file, data root, exec root (and with it its
/// managed containerd's root and state), pid file and socket; no bridge, iptables or
/// masquerading; vfs storage; the wrapper registered as runtime `berth`.
#[derive(Debug)]
pub struct Docker {
    sb: Sandbox,
    client: PathBuf,
    daemon: Child,
}

impl Docker {
    /// The runtime name the wrapper is registered under.
    pub const RUNTIME: &'static str = "berth";

    /// A started dockerd with the busybox image imported, or `None` (test skipped).
    pub fn new(name: &str) -> Option<Docker> {
        let sb = sandbox(name, &["dockerd", "docker", "containerd", "containerd-shim-runc-v2"])?;
        // the client that matches the daemon: docker.io's, /usr/bin/docker (another docker
        // CLI may come first in PATH)
        let dockerd = which("dockerd")?;
        let packaged = ["/usr/bin/docker", "/bin/docker"].map(PathBuf::from);
        let client = packaged.into_iter().find(|p| p.is_file()).or_else(|| which("docker"))?;
        let d = sb.dir().to_path_buf();
        std::fs::write(d.join("daemon.json"), "{}\n").expect("write daemon.json");
        let sock = format!("unix://{}", d.join("docker.sock").display());
        let mut args: Vec<String> = vec![
            format!("--config-file={}", d.join("daemon.json").display()),
            format!("--data-root={}", d.join("data").display()),
            format!("--exec-root={}", d.join("exec").display()),
            format!("--pidfile={}", d.join("docker.pid").display()),
            format!("--host={sock}"),
            format!("--cgroup-parent={}", sb.cgroup_parent()),
            format!("--add-runtime={}={}", Docker::RUNTIME, sb.wrapper().display()),
        ];
        args.extend(
            ["--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-masq=false"]
                .into_iter()
                .chain(["--userland-proxy=false", "--storage-driver=vfs", "--debug"])
                .map(String::from),
        );
        let log = d.join("dockerd.log");
        let daemon = spawn_daemon(&sb, &dockerd, &args, &log);
        let dk = Docker { sb, client, daemon };
        let dk = dk.wait_up(&log);
        let out = dk.cmd(["import", &path_str(&image(&dk.sb).rootfs_tar), Image::TAG]).output();
        dk.sb.ok(&out);
        Some(dk)
    }

    fn wait_up(mut self, log: &Path) -> Docker {
        let (client, dir) = (&self.client, self.sb.dir());
        let probe = || {
            let c = TestCommand::new(docker_command(client, dir));
            c.args(["version"]).timeout(Duration::from_secs(10)).output()
        };
        if let Err(e) = wait_ready(&mut self.daemon, log, Duration::from_secs(90), probe) {
            panic!("dockerd did not come up: {e}");
        }
        self
    }

    /// The sandbox (runtime log, leftovers).
    pub fn sandbox(&self) -> &Sandbox {
        &self.sb
    }

    /// dockerd's log (started with `--debug`).
    pub fn daemon_log(&self) -> String {
        std::fs::read_to_string(self.sb.dir().join("dockerd.log")).unwrap_or_default()
    }

    /// `docker -H <socket> ARGS`, with a private client config dir.
    pub fn cmd<I, S>(&self, args: I) -> TestCommand
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let c = docker_command(&self.client, self.sb.dir());
        TestCommand::new(c).args(args).timeout(ENGINE_TIMEOUT)
    }

    /// `docker run --runtime berth --network none [--security-opt apparmor=unconfined]`:
    /// the options every test container gets, before the test's own.
    pub fn run_flags(&self) -> Vec<&'static str> {
        let mut v = vec!["--runtime", Docker::RUNTIME, "--network", "none"];
        if apparmor_without_parser() {
            v.extend(["--security-opt", "apparmor=unconfined"]);
        }
        v
    }

    /// `docker run <run_flags> ARGS`.
    pub fn run(&self, args: &[&str]) -> TestCommand {
        self.cmd(["run"]).args(self.run_flags()).args(args)
    }

    /// `docker ARGS` on a terminal: types `input` once `prompt` appears (see [`run_on_tty`]).
    pub fn on_tty(&self, args: &[&str], prompt: &str, input: &str) -> Output {
        let mut c = docker_command(&self.client, self.sb.dir());
        c.args(args);
        run_on_tty(&c, prompt, input, ENGINE_TIMEOUT)
    }

    /// Where dockerd tells the runtime to keep container state (`--root`).
    pub fn state_root(&self) -> PathBuf {
        self.sb.dir().join("exec/runtime-runc/moby")
    }

    /// Stops dockerd (SIGTERM by pid; it stops its containerd) and waits for it.
    pub fn stop_daemon(&mut self) {
        let ids = self.cmd(["ps", "--all", "--quiet"]).timeout(Duration::from_secs(30)).output();
        let ids: Vec<&str> = ids.stdout.split_whitespace().collect();
        if !ids.is_empty() {
            let _ = self.cmd(["rm", "--force"]).args(ids).output();
        }
        stop_daemon(&mut self.daemon, Duration::from_secs(30));
    }
}

impl Drop for Docker {
    fn drop(&mut self) {
        if let Ok(None) = self.daemon.try_wait() {
            self.stop_daemon();
        }
    }
}

/// containerd started by the test with its own config (root, state, gRPC/ttrpc/debug sockets
/// under the sandbox; CRI disabled), driven by `ctr` in namespace `berth` with the wrapper as
/// `--runc-binary` of the runc v2 shim. `ctr` runs inside the sandbox's mount namespace: it
/// creates the stdio FIFOs the shim opens by path under `/run/containerd`.
#[derive(Debug)]
pub struct Containerd {
    sb: Sandbox,
    ctr: PathBuf,
    daemon: Child,
}

impl Containerd {
    /// The containerd namespace the tests use.
    pub const NAMESPACE: &'static str = "berth";

    /// A started containerd with the busybox image imported, or `None` (test skipped).
    pub fn new(name: &str) -> Option<Containerd> {
        let sb = sandbox(name, &["containerd", "ctr", "containerd-shim-runc-v2"])?;
        let (bin, ctr) = (which("containerd")?, which("ctr")?);
        let d = sb.dir().to_path_buf();
        let config = format!(
            "version = 2\nroot = \"{root}\"\nstate = \"{state}\"\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = \"{sock}\"\n[ttrpc]\n  address = \"{sock}.ttrpc\"\n\
             [debug]\n  address = \"{dbg}\"\n  level = \"debug\"\n",
            root = d.join("root").display(),
            state = d.join("state").display(),
            sock = d.join("containerd.sock").display(),
            dbg = d.join("debug.sock").display(),
        );
        std::fs::write(d.join("config.toml"), config).expect("write containerd config");
        let args = vec!["--config".to_string(), path_str(&d.join("config.toml"))];
        let log = d.join("containerd.log");
        let daemon = spawn_daemon(&sb, &bin, &args, &log);
        let mut c = Containerd { sb, ctr, daemon };
        let (sb, ctr) = (&c.sb, &c.ctr);
        let probe = || TestCommand::new(ctr_command(sb, ctr)).args(["version"]).output();
        if let Err(e) = wait_ready(&mut c.daemon, &log, Duration::from_secs(60), probe) {
            panic!("containerd did not come up: {e}");
        }
        let img = image(&c.sb);
        let out = c.cmd(["images", "import"]).args([&img.docker_archive]).output();
        c.sb.ok(&out);
        Some(c)
    }

    /// The sandbox (runtime log, leftovers).
    pub fn sandbox(&self) -> &Sandbox {
        &self.sb
    }

    /// containerd's log (debug level; the shims log there too).
    pub fn daemon_log(&self) -> String {
        std::fs::read_to_string(self.sb.dir().join("containerd.log")).unwrap_or_default()
    }

    /// `ctr -a <socket> -n berth ARGS`, inside the sandbox.
    pub fn cmd<I, S>(&self, args: I) -> TestCommand
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        TestCommand::new(ctr_command(&self.sb, &self.ctr)).args(args).timeout(ENGINE_TIMEOUT)
    }

    /// `ctr run --runc-binary <wrapper> --runc-root <dir> --cgroup <parent>/<id> ARGS` where
    /// ARGS are options, then the image, `id` and the command; `id` must come from ARGS' caller.
    pub fn run(&self, id: &str, opts: &[&str], command: &[&str]) -> TestCommand {
        let root = self.sb.dir().join("runc-root");
        let cgroup = format!("{}/{id}", self.sb.cgroup_parent());
        self.cmd(["run", "--runc-binary"])
            .args([self.sb.wrapper()])
            .args([std::ffi::OsStr::new("--runc-root"), root.as_os_str()])
            .args(["--cgroup", &cgroup])
            .args(opts)
            .args([Image::TAG, id])
            .args(command)
    }

    /// Where the shim tells the runtime to keep container state (`--root`).
    pub fn state_root(&self) -> PathBuf {
        self.sb.dir().join("runc-root").join(Containerd::NAMESPACE)
    }

    /// Kills and deletes every task and container, then stops containerd by pid.
    pub fn stop_daemon(&mut self) {
        let short = Duration::from_secs(30);
        let ids = self.cmd(["containers", "list", "--quiet"]).timeout(short).output();
        for id in ids.stdout.split_whitespace() {
            let _ = self.cmd(["task", "kill", "--signal", "KILL", id]).timeout(short).output();
            let _ = self.cmd(["task", "delete", "--force", id]).timeout(short).output();
            let _ = self.cmd(["containers", "delete", id]).timeout(short).output();
        }
        stop_daemon(&mut self.daemon, short);
    }
}

/// `ctr` in the sandbox's mount namespace, on its socket, in namespace `berth`.
fn ctr_command(sb: &Sandbox, ctr: &Path) -> Command {
    let mut c = sb.command(ctr);
    c.arg("--address").arg(sb.dir().join("containerd.sock"));
    c.args(["--namespace", Containerd::NAMESPACE]);
    c
}

impl Drop for Containerd {
    fn drop(&mut self) {
        if let Ok(None) = self.daemon.try_wait() {
            self.stop_daemon();
        }
    }
}

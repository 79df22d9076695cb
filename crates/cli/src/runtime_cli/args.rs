//! The command line, as runc spells it (so podman, Docker and containerd can call us).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// berth-runtime: an OCI runtime-spec container runtime with runc's command line.
#[derive(Debug, Parser)]
#[command(name = "berth-runtime", version = crate::runtime_cli::VERSION_TEXT, disable_version_flag = true)]
pub struct Cli {
    /// Print the version.
    #[arg(short = 'v', long = "version", action = clap::ArgAction::Version)]
    pub version: Option<bool>,
    /// Enable debug logging.
    #[arg(long, global = true)]
    pub debug: bool,
    /// Write logs to this file instead of stderr.
    #[arg(long, global = true, value_name = "PATH")]
    pub log: Option<PathBuf>,
    /// Log format.
    #[arg(long = "log-format", global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Directory for the containers' state [default: /run/berth-runtime as root,
    /// $XDG_RUNTIME_DIR/berth-runtime otherwise].
    #[arg(long = "root", global = true, value_name = "DIR")]
    pub root_arg: Option<PathBuf>,
    /// Path to criu (accepted for compatibility; checkpointing is not supported).
    #[arg(long, global = true, hide = true)]
    pub criu: Option<PathBuf>,
    /// Use the systemd cgroup driver (not supported yet: refused with an error).
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
    /// Rootless mode: true, false or auto (accepted for compatibility).
    #[arg(long = "rootless", value_name = "VALUE", hide = true)]
    pub rootless_mode: Option<String>,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The state root: `--root`, or runc's defaults (rootless: the user's runtime dir).
    pub fn root(&self) -> PathBuf {
        if let Some(r) = &self.root_arg {
            return r.clone();
        }
        let uid = rustix::process::geteuid();
        if uid.is_root() {
            return PathBuf::from("/run/berth-runtime");
        }
        match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
            Some(dir) => PathBuf::from(dir).join("berth-runtime"),
            None => std::env::temp_dir().join(format!("berth-runtime-{}", uid.as_raw())),
        }
    }
}

/// The global options of [`Cli`] that take a value (as separate argument, `--root DIR`).
const GLOBAL_VALUE_OPTIONS: [&str; 5] = ["--log", "--log-format", "--root", "--criu", "--rootless"];

/// The subcommand's name as clap will see it, found without clap: the first argument that is
/// neither an option nor the value of a `GLOBAL_VALUE_OPTIONS` option. `None` when there is
/// none, or after `--`. Only a hint: clap still parses (and may refuse) the command line.
pub fn subcommand_of(args: impl Iterator<Item = std::ffi::OsString>) -> Option<String> {
    let mut args = args;
    while let Some(arg) = args.next() {
        let arg = arg.into_string().ok()?;
        if arg == "--" {
            return None;
        }
        if GLOBAL_VALUE_OPTIONS.contains(&arg.as_str()) {
            args.next()?;
        } else if !arg.starts_with('-') {
            return Some(arg);
        }
    }
    None
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// `time="…" level=… msg="…"` lines.
    Text,
    /// One JSON object per line, as runc writes them.
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a container (its init waits for `start`).
    Create(CreateArgs),
    /// Start a created container.
    Start(IdArg),
    /// Create and start a container; in the foreground, wait for it and exit with its status.
    Run(RunArgs),
    /// Run a new process in a running container.
    Exec(ExecArgs),
    /// Print the state of a container as JSON.
    State(IdArg),
    /// Send a signal to a container's init (default SIGTERM).
    Kill(KillArgs),
    /// Delete a container.
    Delete(DeleteArgs),
    /// List containers.
    #[command(visible_alias = "ps-list")]
    List(ListArgs),
    /// Write a template config.json.
    Spec(SpecArgs),
    /// Freeze every process of a container.
    Pause(IdArg),
    /// Thaw a paused container.
    Resume(IdArg),
    /// Change the resource limits of a running container.
    Update(UpdateArgs),
    /// Print a container's resource usage (and OOM events) as JSON lines.
    Events(EventsArgs),
    /// List the processes of a container.
    Ps(PsArgs),
    /// Print the runtime-spec features document of this runtime.
    Features,
}

/// A container id.
#[derive(Debug, Args)]
pub struct IdArg {
    /// Container id.
    pub id: String,
}

/// `create` options.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Bundle directory (holds config.json).
    #[arg(short = 'b', long, default_value = ".", value_name = "DIR")]
    pub bundle: PathBuf,
    /// Unix socket that receives the pty master when the process has a terminal.
    #[arg(long = "console-socket", value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Write the init's pid to this file.
    #[arg(long = "pid-file", value_name = "PATH")]
    pub pid_file: Option<PathBuf>,
    /// Use MS_MOVE + chroot instead of pivot_root (for a rootfs on a ramdisk).
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Do not create a new session keyring (berth never does).
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass N more descriptors (3 .. 3+N-1) to the container.
    #[arg(long = "preserve-fds", default_value_t = 0, value_name = "N")]
    pub preserve_fds: u32,
    /// Container id.
    pub id: String,
}

/// `run` options.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The create options.
    #[command(flatten)]
    pub create: CreateArgs,
    /// Return once the container is started.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Keep the container after it exits (do not delete it).
    #[arg(long)]
    pub keep: bool,
    /// Accepted for compatibility (berth does not make itself a subreaper).
    #[arg(long = "no-subreaper")]
    pub no_subreaper: bool,
}

/// `exec` options.
#[derive(Debug, Args)]
#[command(trailing_var_arg = true)]
pub struct ExecArgs {
    /// A process.json (runtime-spec `process`) to run; the options below are then ignored.
    #[arg(short = 'p', long, value_name = "FILE")]
    pub process: Option<PathBuf>,
    /// Allocate a pseudo-terminal (needs --console-socket).
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Unix socket that receives the pty master.
    #[arg(long = "console-socket", value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Return once the process runs.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Write the process's pid to this file.
    #[arg(long = "pid-file", value_name = "PATH")]
    pub pid_file: Option<PathBuf>,
    /// Set an environment variable (K=V); repeatable.
    #[arg(short = 'e', long = "env", value_name = "K=V")]
    pub env: Vec<String>,
    /// Working directory in the container.
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// User: `UID[:GID]`.
    #[arg(short = 'u', long, value_name = "UID[:GID]")]
    pub user: Option<String>,
    /// Additional group id; repeatable.
    #[arg(short = 'g', long = "additional-gids", value_name = "GID")]
    pub additional_gids: Vec<u32>,
    /// Add a capability; repeatable.
    #[arg(short = 'c', long = "cap", value_name = "CAP")]
    pub cap: Vec<String>,
    /// Set no_new_privs for the process.
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    /// Pass N more descriptors (3 .. 3+N-1) to the process.
    #[arg(long = "preserve-fds", default_value_t = 0, value_name = "N")]
    pub preserve_fds: u32,
    /// Exec even if the container is paused.
    #[arg(long = "ignore-paused")]
    pub ignore_paused: bool,
    /// AppArmor profile (not supported on this host: refused if given).
    #[arg(long, value_name = "PROFILE", hide = true)]
    pub apparmor: Option<String>,
    /// SELinux label (not supported on this host: refused if given).
    #[arg(long = "process-label", value_name = "LABEL", hide = true)]
    pub process_label: Option<String>,
    /// Container id.
    pub id: String,
    /// Command and arguments.
    pub command: Vec<String>,
}

/// `kill` options.
#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal every process of the container, not only its init.
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Container id.
    pub id: String,
    /// Signal name or number.
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
}

/// `delete` options.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Kill the container first if it is running.
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Container id.
    pub id: String,
}

/// `list` options.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// table or json.
    #[arg(short = 'f', long, default_value = "table")]
    pub format: String,
    /// Print only the ids.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// `spec` options.
#[derive(Debug, Args)]
pub struct SpecArgs {
    /// Where to write config.json.
    #[arg(short = 'b', long, default_value = ".", value_name = "DIR")]
    pub bundle: PathBuf,
    /// Write a template for an unprivileged user (user namespace, no cgroup mount).
    #[arg(long)]
    pub rootless: bool,
}

/// `update` options (runc's names; sizes accept k/m/g suffixes).
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// JSON LinuxResources file, or `-` for stdin; the other options are then ignored.
    #[arg(short = 'r', long, value_name = "FILE")]
    pub resources: Option<PathBuf>,
    /// Memory limit in bytes.
    #[arg(long, value_parser = parse_bytes)]
    pub memory: Option<i64>,
    /// Memory reservation (soft limit) in bytes.
    #[arg(long = "memory-reservation", value_parser = parse_bytes)]
    pub memory_reservation: Option<i64>,
    /// Memory plus swap in bytes; -1 for unlimited swap.
    #[arg(long = "memory-swap", value_parser = parse_bytes)]
    pub memory_swap: Option<i64>,
    /// CPU shares (relative weight).
    #[arg(long = "cpu-share", visible_alias = "cpu-shares")]
    pub cpu_shares: Option<u64>,
    /// CFS quota in microseconds per period.
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CFS period in microseconds.
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    /// Realtime runtime in microseconds per period.
    #[arg(long = "cpu-rt-runtime")]
    pub cpu_rt_runtime: Option<i64>,
    /// Realtime period in microseconds.
    #[arg(long = "cpu-rt-period")]
    pub cpu_rt_period: Option<u64>,
    /// CPUs to use (cpuset list).
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes to use.
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Maximum number of pids.
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Block I/O weight, 10 to 1000.
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// Intel RDT L3 cache schema (not supported: refused).
    #[arg(long = "l3-cache-schema")]
    pub l3_cache_schema: Option<String>,
    /// Intel RDT memory bandwidth schema (not supported: refused).
    #[arg(long = "mem-bw-schema")]
    pub mem_bw_schema: Option<String>,
    /// Container id.
    pub id: String,
}

impl UpdateArgs {
    /// The resources to apply: the `--resources` document, else the flags.
    pub fn to_resources(&self) -> anyhow::Result<oci_spec::runtime::LinuxResources> {
        use std::io::Read as _;
        if self.l3_cache_schema.is_some() || self.mem_bw_schema.is_some() {
            anyhow::bail!("Intel RDT (--l3-cache-schema, --mem-bw-schema) is not supported");
        }
        let Some(path) = &self.resources else {
            let flags = berth_runtime::container::update::Flags {
                memory: self.memory,
                memory_reservation: self.memory_reservation,
                memory_swap: self.memory_swap,
                cpu_shares: self.cpu_shares,
                cpu_quota: self.cpu_quota,
                cpu_period: self.cpu_period,
                cpu_rt_runtime: self.cpu_rt_runtime,
                cpu_rt_period: self.cpu_rt_period,
                cpuset_cpus: self.cpuset_cpus.clone(),
                cpuset_mems: self.cpuset_mems.clone(),
                pids_limit: self.pids_limit,
                blkio_weight: self.blkio_weight,
            };
            return Ok(flags.to_resources()?);
        };
        let mut text = String::new();
        if path.as_os_str() == "-" {
            std::io::stdin().read_to_string(&mut text)?;
        } else {
            text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("read {}: {e}", path.display()))?;
        }
        Ok(berth_runtime::container::update::parse_resources(&text, path)?)
    }
}

fn parse_bytes(text: &str) -> Result<i64, String> {
    berth_runtime::container::update::parse_bytes(text)
}

/// `events` options.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Time between stats events (Go duration: 500ms, 5s, 1m).
    #[arg(long, default_value = "5s", value_parser = parse_interval)]
    pub interval: std::time::Duration,
    /// Print the stats once and exit.
    #[arg(long)]
    pub stats: bool,
    /// Container id.
    pub id: String,
}

fn parse_interval(text: &str) -> Result<std::time::Duration, String> {
    berth_runtime::container::events::parse_duration(text)
}

/// `ps` options.
#[derive(Debug, Args)]
pub struct PsArgs {
    /// table or json.
    #[arg(short = 'f', long, default_value = "table")]
    pub format: String,
    /// Container id.
    pub id: String,
    /// Arguments for ps(1) (default -ef).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn name(c: &Command) -> &'static str {
        match c {
            Command::Create(_) => "create",
            Command::Run(_) => "run",
            Command::Exec(_) => "exec",
            Command::State(_) => "state",
            Command::Delete(_) => "delete",
            Command::Start(_) => "start",
            Command::Kill(_) => "kill",
            _ => "other",
        }
    }

    /// The scan before clap names the subcommand clap parses, for every global option.
    #[test]
    fn subcommand_of_agrees_with_clap() {
        let lines = [
            "run --bundle /b id",
            "--root /r run -d id",
            "--root run create id",
            "--log run --log-format json exec id true",
            "--debug --systemd-cgroup --criu /c state id",
            "--rootless false delete --force id",
            "--log-format=json --root=/r create --bundle /b id",
            "start id",
            "kill id KILL",
        ];
        for line in lines {
            let argv: Vec<&str> = std::iter::once("berth-runtime").chain(line.split(' ')).collect();
            let cli = Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{line}: {e}"));
            let scanned = subcommand_of(argv[1..].iter().map(|s| s.into()));
            assert_eq!(scanned.as_deref(), Some(name(&cli.command)), "{line}");
        }
    }

    #[test]
    fn subcommand_of_stops_at_double_dash_and_missing_values() {
        let scan = |s: &[&str]| subcommand_of(s.iter().map(|a| a.into()));
        assert_eq!(scan(&["--", "run"]), None);
        assert_eq!(scan(&["--root"]), None);
        assert_eq!(scan(&["--debug"]), None);
    }
}

//! `berth`'s command line: Docker's commands and flags.

use clap::{Args, Parser, Subcommand};

pub use super::run_args::RunArgs;

/// berth: a daemonless container engine with Docker's commands.
#[derive(Debug, Parser)]
#[command(name = "berth", version)]
pub struct Cli {
    /// Enable debug logging.
    #[arg(long, global = true)]
    pub debug: bool,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create and start a container from an image (or a directory with --rootfs).
    Run(Box<RunArgs>),
    /// List containers.
    Ps(super::ps::PsArgs),
    /// Pull an image from a registry.
    Pull(PullArgs),
    /// Push an image to a registry.
    Push(super::push::PushArgs),
    /// List images.
    Images(ImagesArgs),
    /// Remove images.
    Rmi(RmiArgs),
    /// Add a reference to an image.
    Tag(super::images::TagArgs),
    /// Manage images: inspect, prune, ls.
    #[command(subcommand)]
    Image(super::images::ImageCommand),
    /// Log in to a registry (credentials go to a credential helper or Docker's config.json).
    Login(super::login::LoginArgs),
    /// Log out from a registry.
    Logout(super::login::LogoutArgs),
    /// Save images to a docker-archive or oci-archive tarball.
    Save(super::images::SaveArgs),
    /// Load images from a docker-archive or oci-archive tarball.
    Load(super::images::LoadArgs),
    /// Create an image from a rootfs tarball.
    Import(super::images::ImportArgs),
    /// Show the history of an image.
    History(super::commit::HistoryArgs),
    /// Create a new image from a container's changes.
    Commit(super::commit::CommitArgs),
    /// Show what a container changed in its image's files (A added, C changed, D deleted).
    Diff(super::commit::DiffArgs),
    /// Write a container's filesystem as a tar archive.
    Export(super::commit::ExportArgs),
    /// Show a container's output.
    Logs(LogsArgs),
    /// Stop containers (SIGTERM, then SIGKILL after the timeout).
    Stop(StopArgs),
    /// Send a signal to containers.
    Kill(KillArgs),
    /// Remove containers.
    Rm(RmArgs),
    /// Run a command in a running container.
    Exec(ExecArgs),
    /// Attach this terminal to a running container's terminal or stdin and output.
    Attach(super::attach::AttachArgs),
    /// Show containers as JSON.
    Inspect(NamesArgs),
    /// Wait for containers to exit and print their exit codes.
    Wait(NamesArgs),
    /// Show the version.
    Version,
    /// Create a container without starting it.
    Create(Box<RunArgs>),
    /// Start created or stopped containers.
    Start(StartArgs),
    /// Stop and start containers again.
    Restart(StopArgs),
    /// Freeze every process of containers.
    Pause(NamesArgs),
    /// Thaw paused containers.
    Unpause(NamesArgs),
    /// Change containers' limits or restart policy (live when running).
    Update(UpdateArgs),
    /// Rename a container.
    Rename(RenameArgs),
    /// Show a container's processes.
    Top(TopArgs),
    /// Show containers' resource usage.
    Stats(StatsArgs),
    /// Show a container's published ports.
    Port(PortArgs),
    /// Manage containers (`container prune`).
    #[command(subcommand)]
    Container(ContainerCommand),
    /// Show a summary of the engine.
    Info,
    /// Manage networks: create, ls, inspect, rm, prune, connect, disconnect.
    #[command(subcommand)]
    Network(super::network::NetworkCommand),
    /// Engine-wide housekeeping: `system prune`.
    #[command(subcommand)]
    System(super::system::SystemCommand),
    /// Copy files between a container and the host (`-`: a tar stream).
    Cp(CpArgs),
    /// Manage volumes: create, ls, inspect, rm, prune.
    #[command(subcommand)]
    Volume(super::volumes::VolumeCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell), as
    /// `docker completion`: e.g. `berth completion bash > /etc/bash_completion.d/berth`.
    Completion(CompletionArgs),
}

/// `completion`.
#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
}

/// `pull`.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// Print only the image id.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Platform `os/arch[/variant]`.
    #[arg(long)]
    pub platform: Option<String>,
    /// Verify TLS certificates (`--tls-verify=false` skips the check).
    #[arg(long = "tls-verify", default_value_t = true, action = clap::ArgAction::Set)]
    pub tls_verify: bool,
    /// Image reference.
    pub image: String,
}

/// `images`.
#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Only images whose reference matches (`busybox`, `busybox:1.36`, `team/*`).
    pub reference: Option<String>,
    /// Every image (berth makes no intermediate images: the same list).
    #[arg(short = 'a', long)]
    pub all: bool,
    /// `dangling=true|false`, `reference=PATTERN` (repeatable).
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Full image ids.
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only ids.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Show digests.
    #[arg(long)]
    pub digests: bool,
    /// `table` or `json`.
    #[arg(long, default_value = "table")]
    pub format: String,
}

/// `logs --tail`'s value: Docker's `all` (or a negative number), or a count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tail {
    /// Every line.
    All,
    /// The last N.
    Last(usize),
}

impl Tail {
    /// The count, `None` for every line.
    pub fn count(self) -> Option<usize> {
        match self {
            Tail::All => None,
            Tail::Last(n) => Some(n),
        }
    }
}

fn parse_tail(s: &str) -> Result<Tail, String> {
    if s == "all" {
        return Ok(Tail::All);
    }
    match s.parse::<i64>() {
        Ok(n) if n < 0 => Ok(Tail::All),
        Ok(n) => usize::try_from(n).map(Tail::Last).map_err(|e| e.to_string()),
        Err(_) => Err(format!("expected a number of lines or `all`, got {s:?}")),
    }
}

/// `rmi`.
#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Remove even if a container uses it.
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Images.
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// `logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Follow the output.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Only the last N lines (`all`, the default, or a negative N: every line).
    #[arg(short = 'n', long, value_parser = parse_tail, allow_hyphen_values = true)]
    pub tail: Option<Tail>,
    /// Show timestamps.
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// Show logs since a time (2013-01-02T13:23:37Z, Unix seconds) or a duration before now
    /// (42m).
    #[arg(long, allow_hyphen_values = true)]
    pub since: Option<String>,
    /// Show logs up to a time (2013-01-02T13:23:37Z, Unix seconds) or a duration before now
    /// (42m).
    #[arg(long, allow_hyphen_values = true)]
    pub until: Option<String>,
    /// Show the extra attributes of each line (berth records none: a space before each).
    #[arg(long)]
    pub details: bool,
    /// Container.
    pub container: String,
}

/// `stop`.
#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait before SIGKILL (default: the container's --stop-timeout, or 10).
    #[arg(short = 't', long = "time")]
    pub time: Option<u64>,
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `kill`.
#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal.
    #[arg(short = 's', long, default_value = "KILL")]
    pub signal: String,
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `rm`.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Kill a running container first.
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Remove the container's anonymous volumes too.
    #[arg(short = 'v', long)]
    pub volumes: bool,
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `exec`.
#[derive(Debug, Args)]
#[command(trailing_var_arg = true)]
pub struct ExecArgs {
    /// Run in the background.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Keep stdin open (with -t: relay this terminal's keys).
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a terminal for the process.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Set an environment variable.
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Working directory.
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// User.
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Container.
    pub container: String,
    /// Command and arguments.
    #[arg(required = true)]
    pub command: Vec<String>,
}

/// `update`: Docker's flags for the limits `run` sets, and `--restart`.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// The limits, as `run` takes them.
    #[command(flatten)]
    pub limits: super::run_args::LimitArgs,
    /// Restart policy: `no`, `on-failure[:N]`, `always`, `unless-stopped`.
    #[arg(long)]
    pub restart: Option<String>,
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// Commands that take container names.
#[derive(Debug, Args)]
pub struct NamesArgs {
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `start`.
#[derive(Debug, Args)]
pub struct StartArgs {
    /// Follow the container's output and exit with its status.
    #[arg(short = 'a', long)]
    pub attach: bool,
    /// Attach this command's stdin (and output) to the container's.
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Keys that detach from the container's terminal (default ctrl-p,ctrl-q).
    #[arg(long = "detach-keys", value_name = "KEYS")]
    pub detach_keys: Option<String>,
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `rename`.
#[derive(Debug, Args)]
pub struct RenameArgs {
    /// Container.
    pub container: String,
    /// New name.
    pub new_name: String,
}

/// `top`.
#[derive(Debug, Args)]
#[command(trailing_var_arg = true)]
pub struct TopArgs {
    /// Container.
    pub container: String,
    /// ps(1) options (default -ef).
    #[arg(allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

/// `stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Print one sample and exit.
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// `table` or `json`.
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Containers (default: every running one).
    pub containers: Vec<String>,
}

/// `port`.
#[derive(Debug, Args)]
pub struct PortArgs {
    /// Container.
    pub container: String,
    /// `PRIVATE_PORT[/PROTO]`.
    pub port: Option<String>,
}

/// `cp`.
#[derive(Debug, Args)]
pub struct CpArgs {
    /// Keep the owners of the source (default: root's in the container, yours on the host).
    #[arg(short = 'a', long)]
    pub archive: bool,
    /// `CONTAINER:SRC`, a host path, or `-` (a tar stream on stdin).
    pub src: String,
    /// `CONTAINER:DEST`, a host path, or `-` (a tar stream on stdout).
    pub dest: String,
}

/// `container` subcommands.
#[derive(Debug, Subcommand)]
pub enum ContainerCommand {
    /// Remove every stopped container.
    Prune(PruneArgs),
}

/// `container prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Do not ask for confirmation.
    #[arg(short = 'f', long)]
    pub force: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_time_flags_take_negative_durations() {
        let argv = ["berth", "logs", "--since", "-5m", "--until", "0", "--details", "c"];
        let Command::Logs(a) = Cli::try_parse_from(argv).unwrap().command else { panic!() };
        assert_eq!((a.since.as_deref(), a.until.as_deref()), (Some("-5m"), Some("0")));
        assert!(a.details);
    }

    #[test]
    fn memory_swap_takes_minus_one_in_run_and_update() {
        let argv = ["berth", "run", "-m", "64m", "--memory-swap", "-1", "img"];
        let Command::Run(a) = Cli::try_parse_from(argv).unwrap().command else { panic!() };
        assert_eq!(a.limits.memory_swap.as_deref(), Some("-1"));
        let argv = ["berth", "update", "--memory-swap", "-1", "c"];
        let Command::Update(a) = Cli::try_parse_from(argv).unwrap().command else { panic!() };
        assert_eq!(a.limits.memory_swap.as_deref(), Some("-1"));
    }

    #[test]
    fn logs_tail_takes_all_a_count_or_a_negative_number() {
        let tail = |v: &str| {
            let argv = ["berth", "logs", "--tail", v, "c"];
            let Command::Logs(a) = Cli::try_parse_from(argv).unwrap().command else { panic!() };
            a.tail
        };
        assert_eq!(tail("all"), Some(Tail::All));
        assert_eq!(tail("-1"), Some(Tail::All));
        assert_eq!(tail("3"), Some(Tail::Last(3)));
        assert_eq!(tail("0"), Some(Tail::Last(0)));
        assert!(Cli::try_parse_from(["berth", "logs", "--tail", "some", "c"]).is_err());
    }
}

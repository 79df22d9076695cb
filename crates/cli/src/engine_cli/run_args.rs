//! `run`'s and `create`'s flags (the kernel-facing ones are in `run_flags`).

use std::path::PathBuf;

use clap::Args;

/// `run`.
#[derive(Debug, Args)]
#[command(trailing_var_arg = true)]
pub struct RunArgs {
    /// Run in the background and print the container id.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Remove the container when it exits.
    #[arg(long)]
    pub rm: bool,
    /// Keep stdin open and relay this command's stdin to the container.
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a terminal for the container.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Keys that detach from the container's terminal (Docker's format; default
    /// ctrl-p,ctrl-q).
    #[arg(long = "detach-keys", value_name = "KEYS")]
    pub detach_keys: Option<String>,
    /// Container name.
    #[arg(long)]
    pub name: Option<String>,
    /// Set an environment variable.
    #[arg(short = 'e', long = "env", value_name = "K=V")]
    pub env: Vec<String>,
    /// Working directory inside the container.
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// User, `name|uid[:group|gid]`.
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Container host name.
    #[arg(long)]
    pub hostname: Option<String>,
    /// The limits (`update` takes the same flags).
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Mount the root filesystem read-only.
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Mount `/HOST:DST`, a named volume `NAME:DST` or a new anonymous volume `DST`
    /// (`:ro`, `:nocopy`).
    #[arg(short = 'v', long = "volume")]
    pub volume: Vec<String>,
    /// Mount a tmpfs `DST[:OPTIONS]`.
    #[arg(long)]
    pub tmpfs: Vec<String>,
    /// Add a capability.
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,
    /// Drop a capability.
    #[arg(long = "cap-drop")]
    pub cap_drop: Vec<String>,
    /// Give the container every capability and device.
    #[arg(long)]
    pub privileged: bool,
    /// Network: `bridge` (the default network `berth`), `none`, `host`, `container:NAME` or
    /// a network's name (default: $BERTH_NETWORK, else `bridge`).
    #[arg(long = "network", alias = "net")]
    pub network: Option<String>,
    /// Publish a port: `[hostIP:][hostPort:]containerPort[/tcp|udp]` (ranges allowed).
    #[arg(short = 'p', long = "publish")]
    pub publish: Vec<String>,
    /// Publish every port the image exposes on a free host port.
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// A DNS server for the container's resolv.conf.
    #[arg(long)]
    pub dns: Vec<String>,
    /// Add `HOST:IP` to the container's /etc/hosts.
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
    /// Another name of the container on its network.
    #[arg(long = "network-alias", alias = "net-alias")]
    pub network_alias: Vec<String>,
    /// Security options: seccomp=unconfined|FILE, no-new-privileges.
    #[arg(long = "security-opt")]
    pub security_opt: Vec<String>,
    /// When to pull the image: always, missing, never.
    #[arg(long, default_value = "missing")]
    pub pull: String,
    /// Overwrite the image's entrypoint.
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Restart policy: no, on-failure[:max-retries], always, unless-stopped.
    #[arg(long, default_value = "no")]
    pub restart: String,
    /// Parent cgroup of the container's cgroup.
    #[arg(long = "cgroup-parent")]
    pub cgroup_parent: Option<String>,
    /// The low-level runtime (berth-runtime beside berth by default; runc, crun work).
    #[arg(long)]
    pub runtime: Option<PathBuf>,
    /// Run this directory as the root filesystem instead of an image (IMAGE must be `-`).
    #[arg(long)]
    pub rootfs: Option<PathBuf>,
    /// Read environment variables from a file of K=V lines.
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Vec<String>,
    /// Set a label on the container.
    #[arg(short = 'l', long = "label", value_name = "K=V")]
    pub label: Vec<String>,
    /// Read labels from a file of K=V lines.
    #[arg(long = "label-file", value_name = "FILE")]
    pub label_file: Vec<String>,
    /// Resource limit `NAME=SOFT[:HARD]` (nofile, nproc, core, memlock, stack, ...).
    #[arg(long = "ulimit", value_name = "NAME=SOFT[:HARD]")]
    pub ulimit: Vec<String>,
    /// Signal that stops the container (default SIGTERM, or the image's).
    #[arg(long = "stop-signal")]
    pub stop_signal: Option<String>,
    /// Seconds `stop` waits before SIGKILL (default 10; -1 waits for ever).
    #[arg(long = "stop-timeout", allow_negative_numbers = true)]
    pub stop_timeout: Option<i64>,
    /// Run an init (berth-init) as pid 1 that forwards signals and reaps zombies.
    #[arg(long)]
    pub init: bool,
    /// Mount `type=bind|volume|tmpfs,source=…,target=…[,readonly]`.
    #[arg(long = "mount", value_name = "SPEC")]
    pub mount: Vec<String>,
    /// `--pid`, `--ipc`, `--uts`, `--shm-size`, `--sysctl`, `--device`, `--group-add`.
    #[command(flatten)]
    pub kernel: super::run_flags::KernelArgs,
    /// Image (`-` with --rootfs) and command.
    #[arg(required = true, value_name = "IMAGE|- [COMMAND [ARG...]]")]
    pub image_and_command: Vec<String>,
}

/// The limit flags of `run`, `create` and `update`: the seed's `cgset` values.
#[derive(Debug, Args)]
pub struct LimitArgs {
    /// Memory limit (`512m`, `1g`).
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Memory plus swap limit (`-1`: unlimited).
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Number of CPUs (`0.5`).
    #[arg(long)]
    pub cpus: Option<f64>,
    /// CPU shares (relative weight).
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<u64>,
    /// CPUs in which to allow execution (`0-1`).
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Process limit (`-1`: unlimited; `update` also takes `0`).
    #[arg(long = "pids-limit", allow_negative_numbers = true)]
    pub pids_limit: Option<i64>,
}

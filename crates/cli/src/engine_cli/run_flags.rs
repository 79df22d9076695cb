//! `run`/`create` flags for what of the host's kernel a container sees: its pid, IPC and
//! UTS namespaces, `/dev/shm`, sysctls, devices and supplementary groups.

use clap::Args;

use berth_engine::spec::RunOptions;

/// The flags (flattened into `RunArgs`).
#[derive(Debug, Args)]
pub struct KernelArgs {
    /// PID namespace: `host` or `container:NAME` (default: its own).
    #[arg(long)]
    pub pid: Option<String>,
    /// IPC namespace: `none`, `private`, `shareable`, `host` or `container:NAME` (default
    /// private).
    #[arg(long)]
    pub ipc: Option<String>,
    /// UTS namespace: `host` (default: its own).
    #[arg(long)]
    pub uts: Option<String>,
    /// Size of /dev/shm (`64m`, the default).
    #[arg(long = "shm-size", value_name = "SIZE", allow_negative_numbers = true)]
    pub shm_size: Option<String>,
    /// Namespaced kernel parameter `KEY=VALUE` (kernel.msg*, kernel.sem, kernel.shm*,
    /// fs.mqueue.*, net.*).
    #[arg(long = "sysctl", value_name = "KEY=VALUE")]
    pub sysctl: Vec<String>,
    /// Add a host device `HOST[:CONTAINER][:PERMISSIONS]` (permissions of rwm).
    #[arg(long = "device", value_name = "HOST[:CONTAINER][:PERMS]")]
    pub device: Vec<String>,
    /// An additional group (a name in the container's /etc/group, or a number).
    #[arg(long = "group-add", value_name = "GROUP")]
    pub group_add: Vec<String>,
}

impl KernelArgs {
    /// Puts the flags in `opts`; syntax errors here, the rest is checked by create.
    pub fn apply(&self, opts: &mut RunOptions) -> anyhow::Result<()> {
        opts.pid = self.pid.clone().unwrap_or_default();
        opts.ipc = self.ipc.clone().unwrap_or_default();
        opts.uts = self.uts.clone().unwrap_or_default();
        opts.shm_size = super::size("--shm-size", &self.shm_size)?;
        opts.sysctls = berth_engine::spec::namespaces::parse_sysctls(&self.sysctl)?;
        for d in &self.device {
            berth_engine::spec::devices::DeviceMapping::parse(d)?;
        }
        opts.devices = self.device.clone();
        opts.group_add = self.group_add.clone();
        Ok(())
    }
}

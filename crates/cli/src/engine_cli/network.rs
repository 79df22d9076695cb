//! `berth network`: create, ls, inspect, rm, prune (Docker's flags and output).

use std::io::Write;

use berth_engine::ops::{network, Engine};
use clap::{Args, Subcommand};

/// `network` subcommands.
#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Create a bridge network.
    Create(CreateArgs),
    /// List networks.
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Show networks as JSON.
    Inspect(NamesArgs),
    /// Remove networks.
    #[command(alias = "remove")]
    Rm(NamesArgs),
    /// Remove every network no container uses.
    Prune(PruneArgs),
    /// Connect a container to a network.
    Connect(ConnectArgs),
    /// Disconnect a container from a network.
    Disconnect(DisconnectArgs),
}

/// `network connect`.
#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// Another name of the container on the network.
    #[arg(long)]
    pub alias: Vec<String>,
    /// Network.
    pub network: String,
    /// Container.
    pub container: String,
}

/// `network disconnect`.
#[derive(Debug, Args)]
pub struct DisconnectArgs {
    /// Accepted for Docker's command line.
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Network.
    pub network: String,
    /// Container.
    pub container: String,
}

/// `network create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Subnet in CIDR form (default: a free 10.89.N.0/24).
    #[arg(long)]
    pub subnet: Option<String>,
    /// The bridge's address (default: the subnet's first host).
    #[arg(long)]
    pub gateway: Option<String>,
    /// No traffic in or out of the network but published ports.
    #[arg(long)]
    pub internal: bool,
    /// Driver: only `bridge`.
    #[arg(short = 'd', long, default_value = "bridge")]
    pub driver: String,
    /// Driver option `KEY=VALUE`: `mtu=N` (Docker's `com.docker.network.driver.mtu=N`).
    #[arg(short = 'o', long = "opt")]
    pub opt: Vec<String>,
    /// Name.
    pub name: String,
}

/// `network ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// Only ids.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Do not truncate ids.
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
}

/// Networks named on the command line.
#[derive(Debug, Args)]
pub struct NamesArgs {
    /// Networks.
    #[arg(required = true)]
    pub networks: Vec<String>,
}

/// `network prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Do not ask for confirmation.
    #[arg(short = 'f', long)]
    pub force: bool,
}

/// Runs a `network` command.
pub(super) fn dispatch(
    e: &Engine,
    cmd: &NetworkCommand,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match cmd {
        NetworkCommand::Create(a) => {
            if a.driver != "bridge" {
                anyhow::bail!(
                    "network create {}: driver {:?} is not supported (bridge is)",
                    a.name,
                    a.driver
                );
            }
            let o = network::CreateOptions {
                subnet: a.subnet.clone(),
                gateway: a.gateway.clone(),
                internal: a.internal,
                options: a.opt.clone(),
            };
            let n = network::create(e, &a.name, &o)?;
            writeln!(out, "{}", n.id)?;
        }
        NetworkCommand::Ls(a) => {
            let nets = network::list(e)?;
            if !a.quiet {
                writeln!(
                    out,
                    "{:<14}{:<20}{:<10}{:<18}SCOPE",
                    "NETWORK ID", "NAME", "DRIVER", "SUBNET"
                )?;
            }
            for n in nets {
                let id = if a.no_trunc { n.id.as_str() } else { &n.id[..12.min(n.id.len())] };
                if a.quiet {
                    writeln!(out, "{id}")?;
                } else {
                    writeln!(
                        out,
                        "{id:<14}{:<20}{:<10}{:<18}local",
                        n.name,
                        "bridge",
                        n.subnet.to_string()
                    )?;
                }
            }
        }
        NetworkCommand::Inspect(a) => {
            let docs =
                a.networks.iter().map(|n| network::inspect(e, n)).collect::<Result<Vec<_>, _>>()?;
            writeln!(out, "{}", serde_json::to_string_pretty(&docs)?)?;
        }
        NetworkCommand::Rm(a) => {
            for n in &a.networks {
                network::rm(e, n)?;
                writeln!(out, "{n}")?;
            }
        }
        NetworkCommand::Connect(a) => network::connect(e, &a.network, &a.container, &a.alias)?,
        NetworkCommand::Disconnect(a) => network::disconnect(e, &a.network, &a.container)?,
        NetworkCommand::Prune(_) => {
            let gone = network::prune(e)?;
            if !gone.is_empty() {
                writeln!(out, "Deleted Networks:")?;
                for n in gone {
                    writeln!(out, "{n}")?;
                }
            }
        }
    }
    Ok(())
}

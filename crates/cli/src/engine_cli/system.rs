//! `berth system prune`: what Docker's does, for what berth has — stopped containers,
//! networks no container uses (and addresses left by a `berth` killed half way through a
//! `run`), with `--volumes` anonymous volumes no container uses, dangling images.

use std::io::Write;

use berth_engine::ops::{self, Engine};
use clap::{Args, Subcommand};

/// `system` subcommands.
#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Remove stopped containers, unused networks, dangling images (and with --volumes
    /// unused anonymous volumes).
    Prune(PruneArgs),
}

/// `system prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Do not ask for confirmation.
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Also remove anonymous volumes no container uses (as Docker 23 and later; named
    /// volumes stay: `volume prune -a` removes those).
    #[arg(long)]
    pub volumes: bool,
}

/// Runs a `system` command.
pub(super) fn dispatch(e: &Engine, cmd: &SystemCommand, out: &mut dyn Write) -> anyhow::Result<()> {
    let SystemCommand::Prune(a) = cmd;
    let mut warning = "This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n".to_string();
    if a.volumes {
        warning.push_str("  - all anonymous volumes not used by at least one container\n");
    }
    warning.push_str("  - all dangling images\n");
    if !a.force && !super::confirm(out, &warning)? {
        return Ok(());
    }
    let mut containers = ops::prune::prune(e)?;
    containers.extend(ops::prune::orphans(e)?);
    let networks = ops::network::prune(e)?;
    // After the containers: the volumes they used are unused now, as in Docker's order.
    let (volumes, volume_bytes) = match a.volumes {
        true => ops::volume::prune(e, false)?,
        false => (Vec::new(), 0),
    };
    let (images, bytes) = ops::images::prune(e)?;
    for (title, items) in [
        ("Deleted Containers:", containers),
        ("Deleted Networks:", networks),
        ("Deleted Volumes:", volumes),
        ("Deleted Images:", images),
    ] {
        if !items.is_empty() {
            writeln!(out, "{title}")?;
            for i in items {
                writeln!(out, "{i}")?;
            }
            writeln!(out)?;
        }
    }
    let total = bytes.saturating_add(volume_bytes);
    writeln!(out, "Total reclaimed space: {}", berth_engine::display::human_size(total))?;
    Ok(())
}

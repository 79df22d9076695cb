//! `berth system prune`: what Docker's does, for what berth has — stopped containers,
//! networks no container uses (and addresses left by a `berth` killed half way through a
//! `run`), dangling images.

use std::io::Write;

use berth_engine::ops::{self, Engine};
use clap::{Args, Subcommand};

/// `system` subcommands.
#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Remove stopped containers, unused networks and dangling images.
    Prune(PruneArgs),
}

/// `system prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Do not ask for confirmation.
    #[arg(short = 'f', long)]
    pub force: bool,
}

/// Runs a `system` command.
pub(super) fn dispatch(e: &Engine, cmd: &SystemCommand, out: &mut dyn Write) -> anyhow::Result<()> {
    let SystemCommand::Prune(a) = cmd;
    if !a.force
        && !super::confirm(
            out,
            "This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n  - all dangling images\n",
        )?
    {
        return Ok(());
    }
    let mut containers = ops::prune::prune(e)?;
    containers.extend(ops::prune::orphans(e)?);
    let networks = ops::network::prune(e)?;
    let (images, bytes) = ops::images::prune(e)?;
    for (title, items) in [
        ("Deleted Containers:", containers),
        ("Deleted Networks:", networks),
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
    writeln!(out, "Total reclaimed space: {}", super::images::size(bytes))?;
    Ok(())
}

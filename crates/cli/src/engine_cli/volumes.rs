//! `berth volume create|ls|inspect|rm|prune`: arguments and Docker's output.

use std::io::Write;

use berth_engine::ops::volume::{self, NewVolume};
use berth_engine::ops::Engine;
use clap::{Args, Subcommand};

/// `volume` subcommands.
#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// Create a volume (a random name when none is given).
    Create(CreateArgs),
    /// List volumes.
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Show volumes as JSON.
    Inspect(NamesArgs),
    /// Remove volumes no container uses.
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Remove unused anonymous volumes (every unused volume with --all).
    Prune(PruneArgs),
}

/// `volume create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Volume driver (only `local`).
    #[arg(short = 'd', long, default_value = "local")]
    pub driver: String,
    /// Set a label.
    #[arg(short = 'l', long = "label", value_name = "K=V")]
    pub label: Vec<String>,
    /// The name.
    pub name: Option<String>,
}

/// `volume ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// Only names.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// `table` or `json`.
    #[arg(long, default_value = "table")]
    pub format: String,
}

/// `volume inspect`.
#[derive(Debug, Args)]
pub struct NamesArgs {
    /// Volumes.
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// `volume rm`.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// No error for a missing volume.
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Volumes.
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// `volume prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove every unused volume, named ones too.
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do not ask for confirmation.
    #[arg(short = 'f', long)]
    pub force: bool,
}

/// Runs one `volume` command.
pub(super) fn dispatch(e: &Engine, cmd: &VolumeCommand, out: &mut dyn Write) -> anyhow::Result<()> {
    match cmd {
        VolumeCommand::Create(a) => {
            if a.driver != "local" {
                anyhow::bail!("volume create --driver {}: only local is supported", a.driver);
            }
            let labels = berth_engine::kvfile::labels(&[], &a.label)?;
            let new = NewVolume { name: a.name.as_deref(), labels, created_by: "" };
            let (name, _) = volume::create(e, &new)?;
            writeln!(out, "{name}")?;
        }
        VolumeCommand::Ls(a) => ls(e, a, out)?,
        VolumeCommand::Inspect(a) => {
            let docs =
                a.names.iter().map(|n| volume::inspect(e, n)).collect::<Result<Vec<_>, _>>()?;
            serde_json::to_writer_pretty(&mut *out, &docs)?;
            writeln!(out)?;
        }
        VolumeCommand::Rm(a) => {
            for n in &a.names {
                volume::rm(e, n, a.force)?;
                writeln!(out, "{n}")?;
            }
        }
        VolumeCommand::Prune(a) => prune(e, a, out)?,
    }
    Ok(())
}

fn ls(e: &Engine, a: &LsArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let list = volume::list(e)?;
    match (a.quiet, a.format.as_str()) {
        (true, _) => list.iter().try_for_each(|v| writeln!(out, "{}", v.name))?,
        (false, "json") => {
            for v in &list {
                let line = serde_json::json!({
                    "Driver": v.driver,
                    "Name": v.name,
                    "Labels": v.labels,
                    "Mountpoint": volume::data_dir(e, &v.name),
                    "Scope": "local",
                });
                writeln!(out, "{line}")?;
            }
        }
        (false, "table") => {
            writeln!(out, "{:<10}VOLUME NAME", "DRIVER")?;
            list.iter().try_for_each(|v| writeln!(out, "{:<10}{}", v.driver, v.name))?;
        }
        (false, f) => anyhow::bail!("volume ls --format {f:?}: only table and json are supported"),
    }
    Ok(())
}

fn prune(e: &Engine, a: &PruneArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    if !a.force {
        let what = if a.all { "all" } else { "all anonymous" };
        let text =
            format!("This will remove {what} local volumes not used by at least one container.");
        if !super::confirm(out, &text)? {
            return Ok(());
        }
    }
    let (removed, bytes) = volume::prune(e, a.all)?;
    if !removed.is_empty() {
        writeln!(out, "Deleted Volumes:")?;
        removed.iter().try_for_each(|n| writeln!(out, "{n}"))?;
        writeln!(out)?;
    }
    writeln!(out, "Total reclaimed space: {}", berth_engine::display::human_size(bytes))?;
    Ok(())
}

//! The container-to-image commands, with Docker's flags and output: `diff` (`A`/`C`/`D`
//! lines), `export` (a tar on stdout or `-o FILE`), `history` (a table, `-q`, `--format
//! json`) and `commit` (prints the new image id).

use std::io::Write;
use std::path::PathBuf;

use berth_engine::display;
use berth_engine::ops::{self, history, Engine};
use clap::Args;

/// `diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Container name or id.
    pub container: String,
}

/// `export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write to FILE instead of stdout (written whole, then renamed into place).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Container name or id.
    pub container: String,
}

/// `history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Do not truncate ids and CREATED BY.
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Print only the ids.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Sizes and dates in human form (`-H=false`: bytes and RFC 3339).
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set)]
    pub human: bool,
    /// `table` (default) or `json` (one object per line).
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Image reference or id.
    pub image: String,
}

/// `commit`.
#[derive(Debug, Args)]
pub struct CommitArgs {
    /// Commit message (the history entry's comment).
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// Author (e.g. "Name <mail@example.com>").
    #[arg(short = 'a', long)]
    pub author: Option<String>,
    /// Apply a Dockerfile instruction: CMD, ENTRYPOINT, ENV, LABEL, WORKDIR, USER, EXPOSE,
    /// VOLUME, STOPSIGNAL.
    #[arg(short = 'c', long = "change")]
    pub change: Vec<String>,
    /// Pause a running container while its changes are read.
    #[arg(short = 'p', long, default_value_t = true, action = clap::ArgAction::Set)]
    pub pause: bool,
    /// Container name or id.
    pub container: String,
    /// Reference for the new image.
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

pub(super) fn diff(engine: &Engine, a: &DiffArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    for c in ops::diff::diff(engine, &a.container)? {
        writeln!(out, "{} {}", c.kind.letter(), c.path)?;
    }
    Ok(())
}

pub(super) fn export(engine: &Engine, a: &ExportArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    super::archive_out::write_archive("export", a.output.as_deref(), out, |w, _| {
        Ok(ops::export::export(engine, &a.container, w)?)
    })
}

pub(super) fn history(engine: &Engine, a: &HistoryArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let rows = history::history(engine, &a.image)?;
    let created = |r: &history::Row| match (a.human, display::parse_rfc3339(&r.created)) {
        (true, Some(t)) => display::created_ago(t),
        _ => r.created.clone(),
    };
    let size = |n: u64| if a.human { display::size_column(n) } else { n.to_string() };
    if a.quiet {
        for r in &rows {
            writeln!(out, "{}", display::short_id(&r.id, a.no_trunc))?;
        }
        return Ok(());
    }
    if a.format == "json" {
        for r in &rows {
            let v = serde_json::json!({
                "Comment": r.comment,
                "CreatedAt": r.created,
                "CreatedBy": history::created_by(&r.created_by, a.no_trunc),
                "CreatedSince": created(r),
                "ID": display::short_id(&r.id, a.no_trunc),
                "Size": size(r.size),
            });
            writeln!(out, "{v}")?;
        }
        return Ok(());
    }
    if a.format != "table" {
        anyhow::bail!("invalid --format {:?}: expected table or json", a.format);
    }
    let mut table = vec![["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"].map(String::from)];
    for r in &rows {
        table.push([
            display::short_id(&r.id, a.no_trunc),
            created(r),
            history::created_by(&r.created_by, a.no_trunc),
            size(r.size),
            r.comment.clone(),
        ]);
    }
    out.write_all(history::tabulate(&table).as_bytes())?;
    Ok(())
}

pub(super) fn commit(engine: &Engine, a: &CommitArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let o = ops::commit::CommitOptions {
        message: a.message.clone(),
        author: a.author.clone(),
        changes: a.change.clone(),
        pause: a.pause,
    };
    let id = ops::commit::commit(engine, &a.container, a.reference.as_deref(), &o)?;
    writeln!(out, "{id}")?;
    Ok(())
}

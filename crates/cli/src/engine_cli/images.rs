//! `berth pull`, `images`, `image inspect|prune`, `save`, `load` and `import`: their flags
//! and output.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use berth_engine::display;
use berth_engine::ops::{self, Engine};
use clap::{Args, Subcommand};

use super::args;

/// `image`.
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Show images as Docker's JSON.
    Inspect(ImageNames),
    /// Remove dangling images (no tag, no container).
    Prune(PruneArgs),
    /// List images.
    #[command(alias = "list")]
    Ls(args::ImagesArgs),
}

/// Image names or ids.
#[derive(Debug, Args)]
pub struct ImageNames {
    /// Images.
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// `image prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Do not ask (berth never asks; accepted for Docker's scripts).
    #[arg(short = 'f', long)]
    pub force: bool,
}

/// `save`.
#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Write to this file instead of stdout.
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
    /// `docker-archive` (default) or `oci-archive`.
    #[arg(long, default_value = "docker-archive")]
    pub format: String,
    /// Images.
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// `load`.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read from this file instead of stdin.
    #[arg(short = 'i', long)]
    pub input: Option<PathBuf>,
    /// Print nothing.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// `tag`.
#[derive(Debug, Args)]
pub struct TagArgs {
    /// Existing image.
    pub source: String,
    /// New reference.
    pub target: String,
}

/// `import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A rootfs tarball (plain, gzip or zstd), `-` for stdin.
    pub file: String,
    /// Reference for the new image.
    pub reference: Option<String>,
}

/// Pull progress: one line per layer, rewritten in place on a terminal; on anything
/// else one line per finished layer.
struct Display {
    tty: bool,
    layers: Vec<String>,
    sizes: Vec<u64>,
    lines: Vec<String>,
}

impl Display {
    fn event(&mut self, image: &str, p: ops::pull::Progress) {
        use ops::pull::Progress as P;
        let (index, text) = match p {
            P::Resolved { digest, layers, sizes } => {
                eprintln!("{image}: resolved {digest} ({} layers)", layers.len());
                self.lines = layers.iter().map(|l| format!("{l}: Waiting")).collect();
                if self.tty {
                    for l in &self.lines {
                        eprintln!("{l}");
                    }
                }
                (self.layers, self.sizes) = (layers, sizes);
                return;
            }
            P::Note(text) => {
                eprintln!("warning: {text}");
                return;
            }
            P::LayerExists(i) => (i, "Already exists".to_string()),
            P::LayerDone(i) => (i, "Pull complete".to_string()),
            P::LayerBytes { index, done } => {
                if !self.tty {
                    return;
                }
                let total = self.sizes.get(index).copied().unwrap_or(0);
                let (done, total) = (display::human_size(done), display::human_size(total));
                (index, format!("Downloading {done}/{total}"))
            }
        };
        let Some(layer) = self.layers.get(index) else { return };
        let line = format!("{layer}: {text}");
        if self.tty {
            let up = self.lines.len() - index;
            eprint!("\x1b[{up}A\r\x1b[2K{line}\x1b[{up}B\r");
            let _ = std::io::stderr().flush();
        } else {
            eprintln!("{line}");
        }
        self.lines[index] = line;
    }
}

pub(super) fn pull(engine: &Engine, a: &args::PullArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let o = ops::pull::PullOptions { platform: a.platform.clone(), insecure_tls: !a.tls_verify };
    let mut display = Display {
        tty: std::io::stderr().is_terminal(),
        layers: Vec::new(),
        sizes: Vec::new(),
        lines: Vec::new(),
    };
    let quiet = a.quiet;
    let info = ops::pull::pull(engine, &a.image, &o, &mut |p| {
        // A broken mirror is worth a line on stderr even with -q.
        if !quiet || matches!(p, ops::pull::Progress::Note(_)) {
            display.event(&a.image, p);
        }
    })?;
    if quiet {
        writeln!(out, "{}", info.id)?;
    } else {
        writeln!(out, "Digest: {}", info.id)?;
    }
    Ok(())
}

pub(super) fn images(
    engine: &Engine,
    a: &args::ImagesArgs,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let filters = ops::images_filter::ImageFilters::parse(&a.filter, a.reference.as_deref())?;
    let mut list = ops::images::list(engine)?;
    list.retain(|s| filters.keeps_image(&s.info.references));
    let short = |d: &dyn std::fmt::Display| display::short_id(&d.to_string(), a.no_trunc);
    if a.quiet {
        for s in &list {
            writeln!(out, "{}", short(&s.info.id))?;
        }
        return Ok(());
    }
    if a.format == "json" {
        for s in &list {
            let i = &s.info;
            // Docker's API gives 0 for an image without a creation time.
            let v = serde_json::json!({"Id": i.id.to_string(), "RepoTags": i.references, "Size": s.size, "Created": s.created.unwrap_or(0), "Platform": i.platform});
            writeln!(out, "{v}")?;
        }
        return Ok(());
    }
    // The IMAGE ID column fits a full id with --no-trunc.
    let id_width = if a.no_trunc { 73 } else { 14 };
    writeln!(
        out,
        "{:<40}{:<16}{}{:<id_width$}{:<24}SIZE",
        "REPOSITORY",
        "TAG",
        if a.digests { format!("{:<73}", "DIGEST") } else { String::new() },
        "IMAGE ID",
        "CREATED"
    )?;
    for s in &list {
        let i = &s.info;
        let created = s.created.map_or_else(
            || "N/A".to_string(),
            |secs| display::created_ago(UNIX_EPOCH + Duration::from_secs(secs)),
        );
        let refs = if i.references.is_empty() {
            vec!["<none>:<none>".to_string()]
        } else {
            i.references.clone()
        };
        for r in refs.into_iter().filter(|r| i.references.is_empty() || filters.keeps_reference(r))
        {
            let (repo, tag) = r
                .rsplit_once(':')
                .filter(|(_, t)| !t.contains('/'))
                .unwrap_or((r.as_str(), "<none>"));
            let digest = if a.digests { format!("{:<73}", i.id) } else { String::new() };
            writeln!(
                out,
                "{repo:<40}{tag:<16}{digest}{:<id_width$}{created:<24}{}",
                short(&i.id),
                display::size_column(s.size)
            )?;
        }
    }
    Ok(())
}

pub(super) fn image(engine: &Engine, c: &ImageCommand, out: &mut dyn Write) -> anyhow::Result<()> {
    match c {
        ImageCommand::Inspect(a) => {
            let docs = a
                .images
                .iter()
                .map(|i| ops::images::inspect(engine, i))
                .collect::<Result<Vec<_>, _>>()?;
            serde_json::to_writer_pretty(&mut *out, &docs)?;
            writeln!(out)?;
        }
        ImageCommand::Prune(_) => {
            let (deleted, bytes) = ops::images::prune(engine)?;
            if !deleted.is_empty() {
                writeln!(out, "Deleted Images:")?;
                for d in &deleted {
                    writeln!(out, "deleted: {d}")?;
                }
                writeln!(out)?;
            }
            writeln!(out, "Total reclaimed space: {}", display::human_size(bytes))?;
        }
        ImageCommand::Ls(a) => images(engine, a, out)?,
    }
    Ok(())
}

pub(super) fn save(engine: &Engine, a: &SaveArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let format = match a.format.as_str() {
        "docker-archive" | "docker" => ops::save::Format::Docker,
        "oci-archive" | "oci" => ops::save::Format::Oci,
        f => anyhow::bail!("save --format {f:?}: expected docker-archive or oci-archive"),
    };
    super::archive_out::write_archive("save", a.output.as_deref(), out, |w, shown| {
        Ok(ops::save::save(engine, &a.images, format, w, shown)?)
    })
}

pub(super) fn load(engine: &Engine, a: &LoadArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let lines = match &a.input {
        Some(p) => {
            let shown = p.display().to_string();
            let f = std::fs::File::open(p).map_err(|x| anyhow::anyhow!("load {shown}: {x}"))?;
            ops::load::load(engine, std::io::BufReader::new(f), &shown)?
        }
        None => ops::load::load(engine, std::io::stdin().lock(), "-")?,
    };
    if !a.quiet {
        for l in lines {
            writeln!(out, "{l}")?;
        }
    }
    Ok(())
}

pub(super) fn import(engine: &Engine, a: &ImportArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let r = a.reference.as_deref();
    let id = if a.file == "-" {
        ops::load::import(engine, std::io::stdin().lock(), "-", r)?
    } else {
        let f =
            std::fs::File::open(&a.file).map_err(|x| anyhow::anyhow!("import {}: {x}", a.file))?;
        ops::load::import(engine, f, &a.file, r)?
    };
    writeln!(out, "{id}")?;
    Ok(())
}

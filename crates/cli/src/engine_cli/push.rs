//! `berth push`: Docker's flags and output. Progress goes to stderr as `pull`'s does (the
//! repository, then one line per layer as it is done); the result, Docker's
//! `TAG: digest: DIGEST size: N`, to stdout; with `-q` only the reference pushed.

use std::io::Write;

use berth_engine::ops::{self, Engine};
use clap::Args;

/// `push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// Push every stored tag of the repository (give NAME without a tag).
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Print only the reference pushed.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Verify TLS certificates (`--tls-verify=false` skips the check).
    #[arg(long = "tls-verify", default_value_t = true, action = clap::ArgAction::Set)]
    pub tls_verify: bool,
    /// Image reference: `REGISTRY[:PORT]/NAME[:TAG]`.
    pub image: String,
}

pub(super) fn push(engine: &Engine, a: &PushArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    use ops::push::{LayerPushed, Progress as P};
    let o = ops::push::PushOptions { all_tags: a.all_tags, insecure_tls: !a.tls_verify };
    let mut layers: Vec<String> = Vec::new();
    // The result lines go to stdout as they come; a write error ends the push there.
    let mut written: std::io::Result<()> = Ok(());
    let pushed = ops::push::push(engine, &a.image, &o, &mut |p| {
        if a.quiet {
            return;
        }
        match p {
            P::Repository(r) => eprintln!("The push refers to repository [{r}]"),
            P::Layers(ids) => layers = ids,
            P::Layer(i, done) => {
                let id = layers.get(i).map_or("?", String::as_str);
                match done {
                    LayerPushed::Exists => eprintln!("{id}: Layer already exists"),
                    LayerPushed::Mounted(from) => eprintln!("{id}: Mounted from {from}"),
                    LayerPushed::Pushed => eprintln!("{id}: Pushed"),
                }
            }
            P::Tagged { tag, digest, size } => {
                if written.is_ok() {
                    written = writeln!(out, "{tag}: digest: {digest} size: {size}");
                }
            }
        }
    })?;
    written?;
    if a.quiet {
        for r in pushed {
            writeln!(out, "{r}")?;
        }
    }
    Ok(())
}

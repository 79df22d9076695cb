//! Repository tasks that are not part of any shipped binary (the `cargo xtask` pattern):
//!
//! - `cargo run -p xtask -- man OUTDIR`: writes `OUTDIR/man1/berth.1` and a
//!   `berth-SUBCOMMAND.1` page for every subcommand, nested ones too
//!   (`berth-volume-create.1`), and `OUTDIR/man8/berth-runtime.8` with its
//!   `berth-runtime-SUBCOMMAND.8` pages, from the clap definitions the binaries parse with
//!   (clap_mangen), so the pages cannot drift from the flags. `OUTDIR` can be a `MANPATH`
//!   entry (`/usr/local/share/man`).
//!
//! A task here rather than a hidden `berth __man DIR` command: the shipped `berth` stays free
//! of clap_mangen and roff, and its command list (and completions) of internal commands.

#![forbid(unsafe_code)]

mod man;

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: cargo run -p xtask -- man OUTDIR";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [task, dir] if task == "man" => man::write_all(&PathBuf::from(dir)).map(|pages| {
            println!("{} man pages in {dir}", pages.len());
        }),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: {err:#}");
            ExitCode::FAILURE
        }
    }
}

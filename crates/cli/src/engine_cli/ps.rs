//! `berth ps`: Docker's flags and table; `--format json` lines are `ps_json`'s.

use std::io::Write;

use berth_engine::display;
use berth_engine::ops::{self, Engine};
use clap::Args;

use super::ps_json;

/// `ps`.
#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all containers (default: running ones).
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only ids.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Do not truncate ids and commands.
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// `table` or `json`.
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Only containers matching KEY=VALUE: id, name, label, status, ancestor (the same key
    /// repeated: any of its values; different keys: all of them).
    #[arg(short = 'f', long = "filter", value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
    /// Show the N most recently created containers (all states).
    #[arg(short = 'n', long, default_value_t = -1, allow_negative_numbers = true)]
    pub last: i64,
    /// Show the most recently created container (all states).
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// Show each container's size: its writable layer, and with its image (virtual).
    #[arg(short = 's', long)]
    pub size: bool,
}

impl PsArgs {
    /// Docker's `Limit`: `-n N` when positive, else 1 for `-l` when `-n` is not given;
    /// `-n 0` (or below) is no limit.
    pub fn limit(&self) -> Option<usize> {
        match self.last {
            n if n > 0 => usize::try_from(n).ok(),
            -1 if self.latest => Some(1),
            _ => None,
        }
    }
}

/// Lists the containers `a` asks for.
pub(super) fn ps(engine: &Engine, a: &PsArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    if !["table", "json"].contains(&a.format.as_str()) {
        anyhow::bail!("ps --format {:?}: only table and json are supported", a.format);
    }
    let filters = ops::ps_filter::Filters::parse(&a.filter)?;
    let list = ops::ps::ps_filtered(engine, a.all, &filters, a.limit())?;
    if a.quiet {
        for r in &list {
            writeln!(out, "{}", display::short_id(&r.id, a.no_trunc))?;
        }
        return Ok(());
    }
    // Only `-s` walks the writable layers: a plain `ps` reads records alone.
    let sizes: Vec<Option<String>> = match a.size {
        true => ops::ps::sizes(engine, &list).iter().map(|s| Some(s.text())).collect(),
        false => vec![None; list.len()],
    };
    if a.format == "json" {
        for (r, size) in list.iter().zip(&sizes) {
            writeln!(out, "{}", ps_json::line(r, a.no_trunc, size.as_deref()))?;
        }
        return Ok(());
    }
    let ports: Vec<String> = list.iter().map(|r| ops::ps::ports_text(engine, r)).collect();
    let w = ports.iter().map(|p| p.len() + 2).max().unwrap_or(0).max(8);
    // Docker's SIZE comes after NAMES; berth's PID stays last.
    let size_width = sizes.iter().flatten().map(|s| s.len() + 2).max().unwrap_or(6);
    let size_header = if a.size { format!("{:<size_width$}", "SIZE") } else { String::new() };
    writeln!(
        out,
        "{:<14}{:<22}{:<24}{:<24}{:<30}{:<w$}{:<24}{size_header}PID",
        "CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"
    )?;
    for ((r, ports), size) in list.iter().zip(&ports).zip(&sizes) {
        let id = display::short_id(&r.id, a.no_trunc);
        let mut cmd = format!("\"{}\"", r.command.join(" "));
        if !a.no_trunc && cmd.len() > 22 {
            cmd =
                format!("{}…\"", &cmd[..cmd.char_indices().nth(20).map_or(cmd.len(), |(i, _)| i)]);
        }
        let image = if r.image.len() > 20 && !a.no_trunc {
            format!("{}…", &r.image[..19])
        } else {
            r.image.clone()
        };
        let created = ops::ps::created_text(r);
        let pid = if r.pid > 0 { r.pid.to_string() } else { "-".into() };
        let size = size.as_ref().map_or_else(String::new, |s| format!("{s:<size_width$}"));
        writeln!(
            out,
            "{id:<14}{image:<22}{cmd:<24}{created:<24}{:<30}{ports:<w$}{:<24}{size}{pid}",
            ops::ps::status_text(r),
            r.name
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine_cli::args::{Cli, Command};
    use clap::Parser;

    fn ps(argv: &[&str]) -> PsArgs {
        let argv = ["berth", "ps"].iter().chain(argv);
        match Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{e}")).command {
            Command::Ps(a) => a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ps_last_and_latest_as_dockers_limit() {
        assert_eq!(ps(&[]).limit(), None);
        assert_eq!(ps(&["-n", "3"]).limit(), Some(3));
        assert_eq!(ps(&["--last", "2"]).limit(), Some(2));
        assert_eq!(ps(&["-l"]).limit(), Some(1));
        assert_eq!(ps(&["--latest"]).limit(), Some(1));
        // Docker's client: -l only when -n is left at -1; -n 0 or below is no limit.
        assert_eq!(ps(&["-l", "-n", "3"]).limit(), Some(3));
        assert_eq!(ps(&["-n", "0"]).limit(), None);
        assert_eq!(ps(&["-n", "0", "-l"]).limit(), None);
        assert_eq!(ps(&["-n", "-5"]).limit(), None);
        assert!(ps(&["-s"]).size);
    }
}

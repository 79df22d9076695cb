//! `berth-runtime`: parse the command line, protect the binary, dispatch, report the error
//! once, and map the outcome to an exit code.

pub mod args;
mod log;
pub mod spec_template;

use std::io::Write;

use anyhow::{bail, Context as _};
use berth_runtime::{CreateOptions, Error as RuntimeError};
use clap::Parser;

use args::{Cli, Command, CreateArgs};

/// `--version` text: runc's shape, so tools that parse it find the spec version.
pub const VERSION_TEXT: &str = concat!(env!("CARGO_PKG_VERSION"), "\nspec: 1.2.0");

/// Entry point of the `berth-runtime` binary (from C's `main`, `berth_sys::c_main!`):
/// returns the exit code.
pub fn main() -> u8 {
    // Before clap: the re-executed image parses the command line anyway, so the first image
    // need not (clap is three quarters of a short command's instructions).
    if args::subcommand_of(std::env::args_os().skip(1))
        .as_deref()
        .is_some_and(needs_sealed_binary_name)
    {
        // An error here is reported by `dispatch`, which tries again.
        let _ = berth_sys::exec::ensure_protected_self();
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 1 } else { 0 };
        }
    };
    let logger = log::Logger::install(cli.log.as_deref(), cli.log_format, cli.debug);
    match dispatch(&cli) {
        Ok(code) => code,
        Err(err) => {
            if crate::is_broken_pipe(&err) {
                return 0;
            }
            logger.report(&err);
            1
        }
    }
}

/// Commands that put a process into a container run from a protected image of this binary
/// (CVE-2019-5736); the others never expose it to a container and skip that.
fn needs_sealed_binary(cmd: &Command) -> bool {
    matches!(cmd, Command::Create(_) | Command::Run(_) | Command::Exec(_))
}

/// [`needs_sealed_binary`] by the subcommand's name, before clap has parsed anything.
fn needs_sealed_binary_name(name: &str) -> bool {
    matches!(name, "create" | "run" | "exec")
}

fn dispatch(cli: &Cli) -> anyhow::Result<u8> {
    if cli.systemd_cgroup {
        bail!(
            "--systemd-cgroup: the systemd cgroup driver is not supported yet; use cgroupfs paths"
        );
    }
    if needs_sealed_binary(&cli.command) {
        berth_sys::exec::ensure_protected_self().context("protect the runtime binary")?;
    }
    let root = &cli.root();
    match &cli.command {
        Command::Create(a) => {
            berth_runtime::create(&create_options(cli, a))
                .with_context(|| format!("create {}", a.id))?;
        }
        Command::Start(a) => {
            berth_runtime::start(root, &a.id).with_context(|| format!("start {}", a.id))?
        }
        Command::Run(a) => {
            let opts = create_options(cli, &a.create);
            if a.keep {
                bail!("run --keep is not supported yet");
            }
            let code =
                berth_runtime::run(&opts, a.detach).with_context(|| format!("run {}", opts.id))?;
            return Ok(u8::try_from(code).unwrap_or(255));
        }
        Command::Exec(a) => {
            let opts = exec_options(cli, a)?;
            let code = berth_runtime::exec(&opts).with_context(|| format!("exec {}", a.id))?;
            return Ok(u8::try_from(code).unwrap_or(255));
        }
        Command::State(a) => {
            let st =
                berth_runtime::state(root, &a.id).with_context(|| format!("state {}", a.id))?;
            print_json(&st)?;
        }
        Command::Kill(a) => {
            let sig = berth_runtime::signal::parse(&a.signal).map_err(anyhow::Error::msg)?;
            berth_runtime::kill(root, &a.id, sig, a.all)
                .with_context(|| format!("kill {}", a.id))?;
        }
        Command::Delete(a) => match berth_runtime::delete(root, &a.id, a.force) {
            // runc: `delete --force` of a container that does not exist succeeds.
            Err(RuntimeError::NotFound { .. }) if a.force => {}
            r => r.with_context(|| format!("delete {}", a.id))?,
        },
        Command::List(a) => list(cli, a)?,
        Command::Spec(a) => spec(a)?,
        Command::Pause(a) => {
            berth_runtime::pause(root, &a.id).with_context(|| format!("pause {}", a.id))?
        }
        Command::Resume(a) => {
            berth_runtime::resume(root, &a.id).with_context(|| format!("resume {}", a.id))?
        }
        Command::Update(a) => {
            let res = a.to_resources().with_context(|| format!("update {}", a.id))?;
            berth_runtime::update(root, &a.id, &res).with_context(|| format!("update {}", a.id))?
        }
        Command::Events(a) => events(root, a).with_context(|| format!("events {}", a.id))?,
        Command::Ps(a) => ps(root, a).with_context(|| format!("ps {}", a.id))?,
        Command::Features => print_json(&berth_runtime::features())?,
    }
    Ok(0)
}

fn create_options(cli: &Cli, a: &CreateArgs) -> CreateOptions {
    CreateOptions {
        root: cli.root(),
        id: a.id.clone(),
        bundle: a.bundle.clone(),
        pid_file: a.pid_file.clone(),
        console_socket: a.console_socket.clone(),
        no_pivot: a.no_pivot,
        preserve_fds: a.preserve_fds,
    }
}

fn exec_options(cli: &Cli, a: &args::ExecArgs) -> anyhow::Result<berth_runtime::ExecOptions> {
    if a.apparmor.is_some() || a.process_label.is_some() {
        bail!("exec {}: AppArmor and SELinux labels are not supported on this host", a.id);
    }
    let user = a.user.as_deref().map(parse_user).transpose()?;
    Ok(berth_runtime::ExecOptions {
        root: cli.root(),
        id: a.id.clone(),
        process_file: a.process.clone(),
        args: a.command.clone(),
        env: a.env.clone(),
        cwd: a.cwd.clone(),
        user,
        additional_gids: a.additional_gids.clone(),
        caps: a.cap.clone(),
        no_new_privs: a.no_new_privs,
        tty: a.tty,
        console_socket: a.console_socket.clone(),
        detach: a.detach,
        pid_file: a.pid_file.clone(),
        preserve_fds: a.preserve_fds,
        ignore_paused: a.ignore_paused,
    })
}

/// `UID[:GID]`, numeric as runc takes it.
fn parse_user(s: &str) -> anyhow::Result<(u32, Option<u32>)> {
    let bad = || anyhow::anyhow!("--user {s:?}: expected UID or UID:GID (numbers)");
    let (uid, gid) = match s.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (s, None),
    };
    let uid = uid.parse().map_err(|_| bad())?;
    let gid = gid.map(str::parse).transpose().map_err(|_| bad())?;
    Ok((uid, gid))
}

fn print_json(v: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v)?;
    writeln!(out)?;
    Ok(())
}

fn list(cli: &Cli, a: &args::ListArgs) -> anyhow::Result<()> {
    let all = berth_runtime::list(&cli.root()).context("list")?;
    let mut out = std::io::stdout().lock();
    if a.quiet {
        for c in &all {
            writeln!(out, "{}", c.id)?;
        }
        return Ok(());
    }
    match a.format.as_str() {
        "json" => {
            serde_json::to_writer(&mut out, &all)?;
            writeln!(out)?;
        }
        "table" => {
            writeln!(
                out,
                "{:<12} {:<10} {:<10} {:<40} {:<31} OWNER",
                "ID", "PID", "STATUS", "BUNDLE", "CREATED"
            )?;
            for c in &all {
                let b = c.bundle.display();
                writeln!(
                    out,
                    "{:<12} {:<10} {:<10} {:<40} {:<31} {}",
                    c.id, c.pid, c.status, b, c.created, c.owner
                )?;
            }
        }
        other => bail!("list --format {other:?}: use table or json"),
    }
    Ok(())
}

fn spec(a: &args::SpecArgs) -> anyhow::Result<()> {
    let path = a.bundle.join("config.json");
    if path.exists() {
        bail!("spec: {} exists; remove it first", path.display());
    }
    let v = if a.rootless {
        spec_template::rootless(
            rustix::process::getuid().as_raw(),
            rustix::process::getgid().as_raw(),
        )
    } else {
        spec_template::rootful()
    };
    let text = serde_json::to_string_pretty(&v)?;
    std::fs::write(&path, text + "\n").with_context(|| format!("spec: write {}", path.display()))
}

/// `events`: one compact JSON object per line, as runc prints them.
fn events(root: &std::path::Path, a: &args::EventsArgs) -> anyhow::Result<()> {
    use berth_runtime::container::events::{self as ev, Event};
    let mut emit = |event: &Event| -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer(&mut out, event)?;
        writeln!(out)?;
        out.flush()
    };
    if a.stats {
        let data = Some(ev::stats(root, &a.id)?);
        return Ok(emit(&Event { kind: "stats", id: a.id.clone(), data })?);
    }
    Ok(ev::watch(root, &a.id, a.interval, &mut emit)?)
}

/// `ps`: the pids as a JSON list, or ps(1)'s table filtered to the container.
fn ps(root: &std::path::Path, a: &args::PsArgs) -> anyhow::Result<()> {
    use berth_runtime::container::ps;
    let mut out = std::io::stdout().lock();
    match a.format.as_str() {
        "json" => {
            serde_json::to_writer(&mut out, &ps::pids(root, &a.id)?)?;
            writeln!(out)?;
        }
        "table" => out.write_all(ps::table(root, &a.id, &a.ps_args)?.as_bytes())?,
        other => bail!("ps --format {other:?}: use table or json"),
    }
    Ok(())
}

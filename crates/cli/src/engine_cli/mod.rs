//! `berth`: parse Docker's command line, run the engine operation, print the error once and
//! exit with Docker's codes (125 engine error, 126 cannot invoke, 127 not found, else the
//! container's own status).

mod archive_out;
pub mod args;
mod attach;
mod commit;
mod containers;
mod images;
mod login;
mod network;
mod ps;
mod ps_json;
mod push;
mod run_args;
mod run_flags;
mod system;
mod terminal;
mod volumes;

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use berth_engine::ops::{self, Engine};
use berth_engine::paths::Paths;
use berth_engine::spec::RunOptions;
use clap::Parser;

use args::{Cli, Command, RunArgs};

/// Entry point of the `berth` binary.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(125) } else { ExitCode::SUCCESS };
        }
    };
    match dispatch(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            if crate::is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            let code = err.downcast_ref::<berth_engine::Error>().map_or(125, |e| e.exit_code());
            eprintln!("berth: {err:#}");
            ExitCode::from(code)
        }
    }
}

fn dispatch(cli: &Cli) -> anyhow::Result<u8> {
    // needs no records
    if let Command::Completion(a) = &cli.command {
        let mut cmd = <Cli as clap::CommandFactory>::command();
        // into memory first: clap_complete panics on a write error (a closed pipe)
        let mut script = Vec::new();
        clap_complete::generate(a.shell, &mut cmd, "berth", &mut script);
        std::io::stdout().lock().write_all(&script).context("write the completion script")?;
        return Ok(0);
    }
    let engine = Engine::open(Paths::from_env()).context("open container records")?;
    let mut out = std::io::stdout().lock();
    match &cli.command {
        Command::Run(a) => return run(&engine, a),
        Command::Ps(a) => ps::ps(&engine, a, &mut out)?,
        Command::Pull(a) => images::pull(&engine, a, &mut out)?,
        Command::Push(a) => push::push(&engine, a, &mut out)?,
        Command::Images(a) => images::images(&engine, a, &mut out)?,
        Command::Rmi(a) => {
            for i in &a.images {
                for line in ops::images::rmi(&engine, i, a.force)? {
                    writeln!(out, "{line}")?;
                }
            }
        }
        Command::Tag(a) => ops::images::tag(&engine, &a.source, &a.target)?,
        Command::Image(c) => images::image(&engine, c, &mut out)?,
        Command::Login(a) => login::login(a, &mut out)?,
        Command::Logout(a) => login::logout(a, &mut out)?,
        Command::Save(a) => images::save(&engine, a, &mut out)?,
        Command::Load(a) => images::load(&engine, a, &mut out)?,
        Command::Import(a) => images::import(&engine, a, &mut out)?,
        Command::History(a) => commit::history(&engine, a, &mut out)?,
        Command::Commit(a) => commit::commit(&engine, a, &mut out)?,
        Command::Diff(a) => commit::diff(&engine, a, &mut out)?,
        Command::Export(a) => commit::export(&engine, a, &mut out)?,
        Command::Logs(a) => {
            let now = std::time::SystemTime::now();
            let time = |flag, v: &Option<String>| {
                ops::logs::LogOptions::time_flag(flag, v.as_deref(), now)
            };
            let o = ops::logs::LogOptions {
                follow: a.follow,
                tail: a.tail.and_then(args::Tail::count),
                timestamps: a.timestamps,
                details: a.details,
                since: time("--since", &a.since)?,
                until: time("--until", &a.until)?,
            };
            ops::logs::logs(&engine, &a.container, &o, &mut out, &mut std::io::stderr())?;
        }
        Command::Stop(a) => {
            for c in &a.containers {
                ops::stop::stop(&engine, c, a.time.map(Duration::from_secs))?;
                writeln!(out, "{c}")?;
            }
        }
        Command::Kill(a) => {
            for c in &a.containers {
                ops::stop::kill(&engine, c, &a.signal)?;
                writeln!(out, "{c}")?;
            }
        }
        Command::Rm(a) => {
            for c in &a.containers {
                match a.volumes {
                    true => ops::volume_mounts::rm_with_volumes(&engine, c, a.force)?,
                    false => ops::rm::rm(&engine, c, a.force)?,
                };
                writeln!(out, "{c}")?;
            }
        }
        Command::Exec(a) => {
            let o = ops::exec::ExecOptions {
                env: a.env.clone(),
                workdir: a.workdir.clone(),
                user: a.user.clone(),
                detach: a.detach,
            };
            if a.tty && !a.detach {
                let (child, master) = ops::exec::exec_tty(&engine, &a.container, &a.command, &o)?;
                return attach::exec_tty(child, master, a.interactive);
            }
            let code = ops::exec::exec(&engine, &a.container, &a.command, &o)?;
            return Ok(u8::try_from(code).unwrap_or(255));
        }
        Command::Attach(a) => return attach_cmd(&engine, a),
        Command::Inspect(a) => {
            let docs = a
                .containers
                .iter()
                .map(|c| ops::inspect::inspect(&engine, c))
                .collect::<Result<Vec<_>, _>>()?;
            serde_json::to_writer_pretty(&mut out, &docs)?;
            writeln!(out)?;
        }
        Command::Wait(a) => {
            for c in &a.containers {
                let code = ops::wait_exit(&engine, c, None)?.unwrap_or(255);
                writeln!(out, "{code}")?;
            }
        }
        Command::Create(_)
        | Command::Start(_)
        | Command::Restart(_)
        | Command::Pause(_)
        | Command::Unpause(_)
        | Command::Update(_)
        | Command::Rename(_)
        | Command::Top(_)
        | Command::Stats(_)
        | Command::Port(_)
        | Command::Container(_)
        | Command::Info
        | Command::Version => return containers::dispatch(&engine, &cli.command, &mut out),
        Command::Network(c) => network::dispatch(&engine, c, &mut out)?,
        Command::System(c) => system::dispatch(&engine, c, &mut out)?,
        Command::Completion(_) => unreachable!("handled before the records are opened"),
        Command::Volume(c) => volumes::dispatch(&engine, c, &mut out)?,
        Command::Cp(a) => {
            let (src, dst) = (ops::cp::Endpoint::parse(&a.src), ops::cp::Endpoint::parse(&a.dest));
            let opts = ops::cp::CpOptions { archive: a.archive };
            ops::cp::cp(&engine, &src, &dst, opts, &mut std::io::stdin().lock(), &mut out)?;
        }
    }
    Ok(0)
}

/// A `--memory`-style flag's value in bytes (`-1`: unlimited).
pub(crate) fn size(
    flag: &'static str,
    v: &Option<String>,
) -> Result<Option<i64>, berth_engine::Error> {
    v.as_deref()
        .map(|s| match s {
            "-1" => Ok(-1),
            _ => berth_engine::bytesize::parse(s).ok_or_else(|| berth_engine::Error::InvalidFlag {
                flag,
                value: s.to_string(),
                reason: "expected a size like 512m or 1g".into(),
            }),
        })
        .transpose()
}

fn run_options(a: &RunArgs) -> anyhow::Result<RunOptions> {
    if let Some(c) = a.limits.cpus.filter(|c| !(c.is_finite() && *c > 0.0)) {
        return Err(berth_engine::Error::InvalidFlag {
            flag: "--cpus",
            value: c.to_string(),
            reason: "must be a positive number".into(),
        }
        .into());
    }
    let (image, command) =
        a.image_and_command.split_first().map(|(i, c)| (i.clone(), c.to_vec())).unwrap_or_default();
    if a.rootfs.is_some() && image != "-" {
        anyhow::bail!("with --rootfs the image argument must be '-' (got {image:?})");
    }
    let mut opts = RunOptions {
        image,
        rootfs: a.rootfs.clone(),
        command,
        name: a.name.clone(),
        env: a.env.clone(),
        workdir: a.workdir.clone(),
        user: a.user.clone(),
        hostname: a.hostname.clone(),
        memory: size("--memory", &a.limits.memory)?,
        memory_swap: size("--memory-swap", &a.limits.memory_swap)?,
        cpus: a.limits.cpus,
        cpu_shares: a.limits.cpu_shares,
        cpuset_cpus: a.limits.cpuset_cpus.clone(),
        pids_limit: a.limits.pids_limit,
        read_only: a.read_only,
        volumes: a.volume.clone(),
        tmpfs: a.tmpfs.clone(),
        cap_add: a.cap_add.clone(),
        cap_drop: a.cap_drop.clone(),
        privileged: a.privileged,
        network: a
            .network
            .clone()
            .or_else(|| std::env::var("BERTH_NETWORK").ok().filter(|v| !v.is_empty()))
            .unwrap_or_else(|| "bridge".into()),
        publish: a.publish.clone(),
        publish_all: a.publish_all,
        dns: a.dns.clone(),
        add_host: a.add_host.clone(),
        network_aliases: a.network_alias.clone(),
        tty: a.tty,
        interactive: a.interactive,
        auto_remove: a.rm,
        detach: a.detach,
        cgroup_parent: a.cgroup_parent.clone(),
        pull: a.pull.clone(),
        security_opt: a.security_opt.clone(),
        entrypoint: a.entrypoint.clone(),
        restart: a.restart.clone(),
        ..Default::default()
    };
    env_labels_and_limits(a, &mut opts)?;
    a.kernel.apply(&mut opts)?;
    Ok(opts)
}

/// `--env-file`, `--label[-file]`, `--ulimit`, `--stop-signal`, `--stop-timeout`, `--mount`,
/// `--init`;
/// files are read here, by the caller, as Docker's client does (a bare `K` takes the
/// caller's value).
fn env_labels_and_limits(a: &RunArgs, opts: &mut RunOptions) -> anyhow::Result<()> {
    let lookup = |k: &str| std::env::var(k).ok();
    opts.env = berth_engine::kvfile::env(&a.env_file, &a.env, &lookup)?;
    opts.labels = berth_engine::kvfile::labels(&a.label_file, &a.label)?;
    opts.ulimits = a.ulimit.clone();
    berth_engine::ulimit::parse_all(&opts.ulimits)?;
    opts.stop_signal = a.stop_signal.clone();
    opts.stop_timeout = a.stop_timeout;
    opts.mounts = a.mount.clone();
    opts.init = a.init;
    Ok(())
}

fn run(engine: &Engine, a: &RunArgs) -> anyhow::Result<u8> {
    let opts = run_options(a)?;
    if opts.rootfs.is_none() && opts.pull == "always" {
        ops::pull::pull(engine, &opts.image, &Default::default(), &mut |_| {})?;
    }
    // A bad --detach-keys fails before anything is created.
    let keys = attach::detach_keys(a.detach_keys.as_deref())?;
    let started = ops::run::start_container(engine, &opts, a.runtime.as_deref())?;
    if a.detach {
        println!("{}", started.id);
        return Ok(0);
    }
    if a.interactive || a.tty {
        terminal::block_sigwinch();
        let forwarder = forward_signals(engine, &started.id);
        let ended = attach::attach_until_exit(engine, &started.id, a.interactive, keys, 0)?;
        drop(forwarder);
        let attach::Ended::Exited(code) = ended else { return Ok(0) };
        if a.rm {
            let monitor = started.monitor.as_ref();
            ops::volume_mounts::rm_with_volumes_on(engine, &started.id, true, monitor)?;
        }
        return Ok(code);
    }
    let forwarder = forward_signals(engine, &started.id);
    // Woken by the monitor's pipe, not inotify (crates/engine/src/watch.rs).
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    let monitor = started.monitor.as_ref();
    ops::logs::follow(engine, &started.id, 0, &Default::default(), &mut out, &mut err, monitor)?;
    let code = ops::wait_exit_on(engine, &started.id, None, monitor)?.unwrap_or(255);
    drop(forwarder);
    if a.rm {
        // Docker's --rm takes the anonymous volumes along.
        ops::volume_mounts::rm_with_volumes_on(engine, &started.id, true, monitor)?;
    }
    Ok(u8::try_from(code).unwrap_or(255))
}

/// `attach`: this terminal on a running container until it exits or the detach keys.
fn attach_cmd(engine: &Engine, a: &attach::AttachArgs) -> anyhow::Result<u8> {
    let keys = attach::detach_keys(a.detach_keys.as_deref())?;
    let r = engine.get(&a.container)?;
    if r.state != "running" {
        let reason = "it is not running: start it first".into();
        return Err(berth_engine::Error::WrongState { op: "attach to", id: r.id, reason }.into());
    }
    // Output from now on, as Docker's attach shows.
    let log = engine.paths.container(&r.id).join("container.log");
    let from = std::fs::metadata(&log).map_or(0, |m| m.len());
    terminal::block_sigwinch();
    let forwarder = if a.sig_proxy { forward_signals(engine, &r.id) } else { None };
    let ended = attach::attach_until_exit(engine, &r.id, !a.no_stdin, keys, from)?;
    drop(forwarder);
    Ok(match ended {
        attach::Ended::Exited(code) => code,
        attach::Ended::Detached => 0,
    })
}

/// Forwards SIGINT, SIGTERM and SIGHUP to the container while `run` follows it (Docker's
/// --sig-proxy). The signals are blocked here and taken by a thread with sigtimedwait.
fn forward_signals(engine: &Engine, id: &str) -> Option<std::thread::JoinHandle<()>> {
    let set = berth_sys::signal::SigSet::of(&[2, 15, 1]);
    berth_sys::signal::block(&set).ok()?;
    let rec = engine.db.get(id).ok()?;
    let rt = engine.runtime_of(&rec);
    let id = id.to_string();
    // The container has ended once its monitor wrote the exit file: a stat, where asking the
    // runtime (`state`) cost a process every 200 ms for the container's whole life.
    let exit = engine.paths.container_run(&id).join("exit");
    Some(std::thread::spawn(move || loop {
        match berth_sys::signal::wait(&set, Duration::from_millis(200)) {
            Ok(Some(sig)) => {
                let _ = rt.call(&["kill", &id, &sig.to_string()]);
            }
            Ok(None) if exit.exists() => return,
            Ok(None) => {}
            Err(_) => return,
        }
    }))
}

/// Docker's prune question: `WARNING! TEXT` and "Are you sure you want to continue?"; true
/// for y/yes on stdin.
fn confirm(out: &mut dyn Write, text: &str) -> anyhow::Result<bool> {
    use std::io::BufRead;
    write!(out, "WARNING! {text}\nAre you sure you want to continue? [y/N] ")?;
    out.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

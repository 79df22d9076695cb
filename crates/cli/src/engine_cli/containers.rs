//! Output of the container lifecycle commands: `create`, `start`, `restart`, `pause`,
//! `unpause`, `rename`, `top`, `stats`, `port`, `container prune`, `info`, `version`.

use std::io::Write;
use std::time::Duration;

use berth_engine::display;
use berth_engine::ops::{self, Engine};

use super::args::{self, Command, ContainerCommand};

/// Runs one of this file's commands; returns the exit status.
pub(super) fn dispatch(engine: &Engine, cmd: &Command, out: &mut dyn Write) -> anyhow::Result<u8> {
    match cmd {
        Command::Create(a) => create(engine, a, out),
        Command::Start(a) => start(engine, a, out),
        Command::Restart(a) => each(&a.containers, out, |c| {
            ops::start::restart(engine, c, a.time.map(Duration::from_secs))
        }),
        Command::Pause(a) => each(&a.containers, out, |c| ops::pause::pause(engine, c)),
        Command::Unpause(a) => each(&a.containers, out, |c| ops::pause::unpause(engine, c)),
        Command::Update(a) => {
            let u = ops::update::UpdateOptions {
                memory: super::size("--memory", &a.limits.memory)?,
                memory_swap: super::size("--memory-swap", &a.limits.memory_swap)?,
                cpus: a.limits.cpus,
                cpu_shares: a.limits.cpu_shares,
                cpuset_cpus: a.limits.cpuset_cpus.clone(),
                pids_limit: a.limits.pids_limit,
                restart: a.restart.clone(),
            };
            each(&a.containers, out, |c| ops::update::update(engine, c, &u))
        }
        Command::Rename(a) => {
            ops::rename::rename(engine, &a.container, &a.new_name)?;
            Ok(0)
        }
        Command::Top(a) => {
            out.write_all(ops::top::top(engine, &a.container, &a.ps_args)?.as_bytes())?;
            Ok(0)
        }
        Command::Stats(a) => stats(engine, a, out),
        Command::Port(a) => port(engine, a, out),
        Command::Container(ContainerCommand::Prune(a)) => prune(engine, a.force, out),
        Command::Info => info(engine, out),
        Command::Version => version(out),
        _ => anyhow::bail!("not a container lifecycle command"),
    }
}

/// `port C [PRIVATE[/PROTO]]`: Docker's `80/tcp -> 0.0.0.0:8080` lines, or just the host
/// side for one port; an unpublished port is an error.
fn port(engine: &Engine, a: &args::PortArgs, out: &mut dyn Write) -> anyhow::Result<u8> {
    let r = engine.get(&a.container)?;
    let want =
        a.port.as_deref().map(|p| if p.contains('/') { p.to_string() } else { format!("{p}/tcp") });
    let mut found = false;
    for p in ops::network::ports(engine, &r.id) {
        let key = format!("{}/{}", p.container_port, p.proto);
        let host =
            format!("{}:{}", p.host_ip.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED), p.host_port);
        match &want {
            Some(w) if *w == key => writeln!(out, "{host}")?,
            Some(_) => continue,
            None => writeln!(out, "{key} -> {host}")?,
        }
        found = true;
    }
    if let (Some(p), false) = (&a.port, found) {
        anyhow::bail!("no public port {p:?} published for {}", a.container);
    }
    Ok(0)
}

/// Docker prints each container as it was named on the command line.
fn each(
    keys: &[String],
    out: &mut dyn Write,
    op: impl Fn(&str) -> Result<String, berth_engine::Error>,
) -> anyhow::Result<u8> {
    for k in keys {
        op(k)?;
        writeln!(out, "{k}")?;
    }
    Ok(0)
}

fn create(engine: &Engine, a: &args::RunArgs, out: &mut dyn Write) -> anyhow::Result<u8> {
    let opts = super::run_options(a)?;
    if opts.rootfs.is_none() && opts.pull == "always" {
        ops::pull::pull(engine, &opts.image, &Default::default(), &mut |_| {})?;
    }
    let rec = ops::run::create_container(engine, &opts, a.runtime.as_deref())?;
    writeln!(out, "{}", rec.id)?;
    Ok(0)
}

fn start(engine: &Engine, a: &args::StartArgs, out: &mut dyn Write) -> anyhow::Result<u8> {
    if !a.attach && !a.interactive {
        return each(&a.containers, out, |c| ops::start::start(engine, c).map(|(id, _)| id));
    }
    let [key] = a.containers.as_slice() else {
        anyhow::bail!("you cannot start and attach multiple containers at once");
    };
    if a.interactive {
        let keys = super::attach::detach_keys(a.detach_keys.as_deref())?;
        let (id, from) = ops::start::start_with(engine, key, true)?;
        super::terminal::block_sigwinch();
        return Ok(match super::attach::attach_until_exit(engine, &id, true, keys, from)? {
            super::attach::Ended::Exited(code) => code,
            super::attach::Ended::Detached => 0,
        });
    }
    // Woken by the new monitor's pipe, not inotify (crates/engine/src/watch.rs).
    let (id, from, monitor) = ops::start::start_monitored(engine, key, false)?;
    let monitor = monitor.as_ref();
    ops::logs::follow(
        engine,
        &id,
        from,
        &Default::default(),
        out,
        &mut std::io::stderr(),
        monitor,
    )?;
    let code = ops::wait_exit_on(engine, &id, None, monitor)?.unwrap_or(255);
    Ok(u8::try_from(code).unwrap_or(255))
}

fn stats(engine: &Engine, a: &args::StatsArgs, out: &mut dyn Write) -> anyhow::Result<u8> {
    loop {
        let list = ops::stats::stats(engine, &a.containers, Duration::from_millis(500))?;
        if a.format == "json" {
            for u in &list {
                writeln!(out, "{}", stats_json(u))?;
            }
        } else {
            if !a.no_stream {
                // Docker redraws the table in place.
                write!(out, "\x1b[2J\x1b[H")?;
            }
            writeln!(
                out,
                "{:<15}{:<20}{:<10}{:<26}{:<10}PIDS",
                "CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %"
            )?;
            for u in &list {
                writeln!(
                    out,
                    "{:<15}{:<20}{:<10}{:<26}{:<10}{}",
                    u.id,
                    u.name,
                    format!("{:.2}%", u.cpu_percent),
                    format!(
                        "{} / {}",
                        display::bytes_size(u.mem_usage),
                        display::bytes_size(u.mem_limit)
                    ),
                    format!("{:.2}%", mem_percent(u)),
                    u.pids
                )?;
            }
        }
        out.flush()?;
        if a.no_stream {
            return Ok(0);
        }
    }
}

fn mem_percent(u: &ops::stats::Usage) -> f64 {
    if u.mem_limit == 0 {
        return 0.0;
    }
    u.mem_usage as f64 / u.mem_limit as f64 * 100.0
}

/// Docker's `stats --format json` line (values as the table shows them).
fn stats_json(u: &ops::stats::Usage) -> serde_json::Value {
    serde_json::json!({
        "ID": u.id,
        "Container": u.id,
        "Name": u.name,
        "CPUPerc": format!("{:.2}%", u.cpu_percent),
        "MemUsage": format!("{} / {}", display::bytes_size(u.mem_usage), display::bytes_size(u.mem_limit)),
        "MemPerc": format!("{:.2}%", mem_percent(u)),
        "PIDs": u.pids.to_string(),
        "NetIO": "0B / 0B",
        "BlockIO": "0B / 0B",
    })
}

fn prune(engine: &Engine, force: bool, out: &mut dyn Write) -> anyhow::Result<u8> {
    if !force && !super::confirm(out, "This will remove all stopped containers.")? {
        return Ok(0);
    }
    let removed = ops::prune::prune(engine)?;
    if !removed.is_empty() {
        writeln!(out, "Deleted Containers:")?;
        for id in &removed {
            writeln!(out, "{id}")?;
        }
        writeln!(out)?;
    }
    writeln!(out, "Total reclaimed space: 0B")?;
    Ok(0)
}

fn info(engine: &Engine, out: &mut dyn Write) -> anyhow::Result<u8> {
    let i = ops::info::info(engine)?;
    let uname = rustix::system::uname();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    writeln!(out, "Client:\n Version:    {}\n", env!("CARGO_PKG_VERSION"))?;
    writeln!(out, "Server:")?;
    writeln!(out, " Containers: {}", i.containers)?;
    writeln!(out, "  Running: {}\n  Paused: {}\n  Stopped: {}", i.running, i.paused, i.stopped)?;
    writeln!(out, " Images: {}", i.images)?;
    writeln!(out, " Server Version: {} (no daemon)", env!("CARGO_PKG_VERSION"))?;
    writeln!(out, " Storage Driver: {}", i.storage_driver)?;
    writeln!(out, " Cgroup Driver: {}", i.cgroup_driver)?;
    writeln!(out, " Cgroup Version: {}", i.cgroup_version)?;
    writeln!(out, " Default Runtime: {}", i.runtime)?;
    writeln!(out, " Runtime Version: {}", i.runtime_version)?;
    writeln!(out, " Kernel Version: {}", uname.release().to_string_lossy())?;
    writeln!(out, " Architecture: {}", uname.machine().to_string_lossy())?;
    writeln!(out, " CPUs: {cpus}")?;
    writeln!(out, " Total Memory: {}", display::bytes_size(ops::stats::host_memory()))?;
    writeln!(out, " Berth Root Dir: {}", i.root_dir)?;
    writeln!(out, " Berth Run Dir: {}", i.run_dir)?;
    Ok(0)
}

fn version(out: &mut dyn Write) -> anyhow::Result<u8> {
    let rt = berth_engine::runtime::Runtime::new(None, std::path::PathBuf::new());
    let line = ops::info::runtime_version(&rt.path);
    let name = rt.path.file_name().map_or(String::new(), |n| n.to_string_lossy().into_owned());
    writeln!(out, "Client:")?;
    writeln!(out, " Version:    {}", env!("CARGO_PKG_VERSION"))?;
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    writeln!(out, " OS/Arch:    linux/{arch}")?;
    writeln!(out, "\nRuntime:")?;
    writeln!(out, " Name:       {name}")?;
    writeln!(out, " Path:       {}", rt.path.display())?;
    writeln!(out, " Version:    {}", line.split_whitespace().last().unwrap_or("unknown"))?;
    Ok(0)
}

//! The monitor's command line: what `berth` passes to `berth-monitor` (`--key value`
//! pairs) and the monitor reads back, so both sides agree on one list of flags.

use std::path::PathBuf;

/// The monitor's arguments (`berth-monitor --key value …`).
#[derive(Debug, Default, Clone)]
pub struct Args {
    /// Low-level runtime binary.
    pub runtime: PathBuf,
    /// Its `--root`.
    pub runtime_root: PathBuf,
    /// Bundle directory.
    pub bundle: PathBuf,
    /// Container id.
    pub id: String,
    /// json-file log.
    pub log: PathBuf,
    /// Exit file (`CODE\nTIME\n`).
    pub exit: PathBuf,
    /// The runtime's pid file.
    pub pid_file: PathBuf,
    /// The runtime's own log (`--log`).
    pub runtime_log: PathBuf,
    /// Restart policy (`--restart`'s value; empty: `no`).
    pub restart: String,
    /// Restart count file (`COUNT\nTIME\n`).
    pub restarts: PathBuf,
    /// The container's network plan (`network.json`; missing: no network to set up).
    pub network: PathBuf,
    /// `run -d --rm`: the monitor removes the container once it has exited (in the
    /// foreground `berth run --rm` does it after showing the output).
    pub auto_remove: bool,
    /// `-t`: the container gets a pty through `--console-socket`.
    pub tty: bool,
    /// `-i`: the container's stdin stays open for attached clients.
    pub interactive: bool,
    /// Keep the terminal output for the first client (foreground `run -it`, `start -ai`).
    pub hold_output: bool,
}

impl Args {
    /// The arguments as `berth-monitor` takes them.
    pub fn to_argv(&self) -> Vec<std::ffi::OsString> {
        let mut v = Vec::new();
        for (k, p) in [
            ("--runtime", &self.runtime),
            ("--runtime-root", &self.runtime_root),
            ("--bundle", &self.bundle),
            ("--log", &self.log),
            ("--exit", &self.exit),
            ("--pid-file", &self.pid_file),
            ("--runtime-log", &self.runtime_log),
            ("--restarts", &self.restarts),
            ("--network", &self.network),
        ] {
            v.push(k.into());
            v.push(p.clone().into_os_string());
        }
        v.push("--id".into());
        v.push(self.id.clone().into());
        for (k, on) in [
            ("--rm", self.auto_remove),
            ("--tty", self.tty),
            ("--interactive", self.interactive),
            ("--hold-output", self.hold_output),
        ] {
            if on {
                v.push(k.into());
                v.push("1".into());
            }
        }
        if !self.restart.is_empty() {
            v.push("--restart".into());
            v.push(self.restart.clone().into());
        }
        v
    }

    /// Parses `to_argv`'s output.
    pub fn parse(argv: impl Iterator<Item = std::ffi::OsString>) -> Option<Args> {
        let mut a = Args::default();
        let mut it = argv;
        while let Some(k) = it.next() {
            let v = it.next()?;
            match k.to_str()? {
                "--runtime" => a.runtime = v.into(),
                "--runtime-root" => a.runtime_root = v.into(),
                "--bundle" => a.bundle = v.into(),
                "--log" => a.log = v.into(),
                "--exit" => a.exit = v.into(),
                "--pid-file" => a.pid_file = v.into(),
                "--runtime-log" => a.runtime_log = v.into(),
                "--restarts" => a.restarts = v.into(),
                "--network" => a.network = v.into(),
                "--rm" => a.auto_remove = v == "1",
                "--tty" => a.tty = v == "1",
                "--interactive" => a.interactive = v == "1",
                "--hold-output" => a.hold_output = v == "1",
                "--restart" => a.restart = v.into_string().ok()?,
                "--id" => a.id = v.into_string().ok()?,
                _ => return None,
            }
        }
        (!a.id.is_empty()).then_some(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_round_trip() {
        let a = Args {
            id: "abc".into(),
            runtime: "/x/rt".into(),
            log: "/l".into(),
            tty: true,
            hold_output: true,
            ..Default::default()
        };
        let b = Args::parse(a.to_argv().into_iter()).unwrap();
        assert_eq!(b.id, "abc");
        assert!(b.tty && b.hold_output && !b.interactive);
        assert_eq!(b.runtime, PathBuf::from("/x/rt"));
    }
}

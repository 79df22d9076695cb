//! `berth login` and `logout`: Docker's flags and prompts. The check against the registry
//! and where the credentials go (a credential helper, else `config.json`) are the engine's
//! (`ops::pull::login`).

use std::io::{BufRead, IsTerminal, Read, Write};

use berth_engine::ops;
use clap::Args;
use rustix::termios::{LocalModes, OptionalActions, Termios};

const DOCKER_HUB: &str = "docker.io";

/// `login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// User name (asked for on a terminal when omitted).
    #[arg(short = 'u', long)]
    pub username: Option<String>,
    /// Password (prefer --password-stdin; asked for on a terminal when omitted).
    #[arg(short = 'p', long)]
    pub password: Option<String>,
    /// Read the password from stdin.
    #[arg(long = "password-stdin")]
    pub password_stdin: bool,
    /// Verify TLS certificates (`--tls-verify=false` skips the check).
    #[arg(long = "tls-verify", default_value_t = true, action = clap::ArgAction::Set)]
    pub tls_verify: bool,
    /// Registry (`host[:port]`; Docker Hub when omitted).
    pub registry: Option<String>,
}

/// `logout`.
#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// Registry (`host[:port]`; Docker Hub when omitted).
    pub registry: Option<String>,
}

pub(super) fn login(a: &LoginArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let registry = a.registry.as_deref().unwrap_or(DOCKER_HUB);
    if a.password.is_some() && a.password_stdin {
        anyhow::bail!("--password and --password-stdin are mutually exclusive");
    }
    if a.password_stdin && a.username.is_none() {
        anyhow::bail!("login {registry}: must provide --username with --password-stdin");
    }
    // Docker's rule: without both a user and a password, ask on the terminal.
    let interactive = a.username.is_none() || (a.password.is_none() && !a.password_stdin);
    let stdin = std::io::stdin();
    if interactive && !stdin.is_terminal() {
        anyhow::bail!(
            "login {registry}: cannot perform an interactive login from a non TTY device \
             (use -u and --password-stdin)"
        );
    }
    let user = match &a.username {
        Some(u) => u.clone(),
        None => prompt(out, "Username: ")?,
    };
    if user.is_empty() {
        anyhow::bail!("login {registry}: the user name is empty");
    }
    let password = match (&a.password, a.password_stdin) {
        (Some(p), _) => {
            eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
            p.clone()
        }
        (None, true) => {
            let mut p = String::new();
            stdin.lock().read_to_string(&mut p)?;
            p.trim_end_matches(['\n', '\r']).to_string()
        }
        (None, false) => prompt_secret(out, "Password: ")?,
    };
    if password.is_empty() {
        anyhow::bail!("login {registry}: the password is empty");
    }
    let o = ops::pull::PullOptions { platform: None, insecure_tls: !a.tls_verify };
    ops::pull::login(registry, &user, &password, &o)?;
    writeln!(out, "Login Succeeded")?;
    Ok(())
}

pub(super) fn logout(a: &LogoutArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let registry = a.registry.as_deref().unwrap_or(DOCKER_HUB);
    if ops::pull::logout(registry)? {
        writeln!(out, "Removing login credentials for {registry}")?;
    } else {
        writeln!(out, "Not logged in to {registry}")?;
    }
    Ok(())
}

/// Prints `text` and reads one line from the terminal on stdin.
fn prompt(out: &mut dyn Write, text: &str) -> anyhow::Result<String> {
    write!(out, "{text}")?;
    out.flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim().to_string())
}

/// [`prompt`] with the terminal's echo off, restored on every way out.
fn prompt_secret(out: &mut dyn Write, text: &str) -> anyhow::Result<String> {
    let echo_off = EchoOff::enter()?;
    let line = prompt(out, text);
    drop(echo_off);
    // The Enter the user typed was not echoed.
    writeln!(out)?;
    Ok(line?.trim_end_matches(['\n', '\r']).to_string())
}

/// The terminal on stdin without echo until dropped.
struct EchoOff(Termios);

impl EchoOff {
    fn enter() -> anyhow::Result<EchoOff> {
        let stdin = std::io::stdin();
        let saved = rustix::termios::tcgetattr(&stdin)
            .map_err(|e| anyhow::anyhow!("tcgetattr on stdin: {e}"))?;
        let mut quiet = saved.clone();
        quiet.local_modes.remove(LocalModes::ECHO);
        rustix::termios::tcsetattr(&stdin, OptionalActions::Now, &quiet)
            .map_err(|e| anyhow::anyhow!("tcsetattr on stdin (echo off): {e}"))?;
        Ok(EchoOff(saved))
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        let _ = rustix::termios::tcsetattr(std::io::stdin(), OptionalActions::Now, &self.0);
    }
}

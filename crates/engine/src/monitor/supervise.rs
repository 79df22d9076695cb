//! The monitor's single poll loop while the init runs: the container's output to the log
//! (and a terminal's to the attached clients), the clients' input to the container, and
//! reaping the init when its pidfd says it has exited.

use std::io::Write;
use std::os::fd::OwnedFd;
use std::time::Duration;

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::process::{Pid, PidfdFlags, WaitOptions};

use super::log::json_lines;
use super::starter::notify_starter;
use super::Args;
use crate::tty_relay::{ContainerIo, Relay};

/// Copies output to the log (and a terminal's to the attached clients) and relays the
/// clients' input until the init exits; returns its status as a shell would.
pub(super) fn supervise(
    args: &Args,
    pid: i32,
    io: ContainerIo,
    mut relay: Option<&mut Relay>,
) -> i32 {
    let mut log = std::fs::OpenOptions::new().create(true).append(true).open(&args.log).ok();
    let pidfd =
        Pid::from_raw(pid).and_then(|p| rustix::process::pidfd_open(p, PidfdFlags::empty()).ok());
    if let Some(r) = relay.as_deref_mut() {
        r.begin(io.stdin, io.tty);
    }
    let tty = io.tty;
    let mut open = [io.out, io.err];
    let mut exited: Option<i32> = None;
    let mut released = false;
    loop {
        let mut fds: Vec<PollFd<'_>> = Vec::new();
        let mut which = Vec::new();
        for (i, fd) in open.iter().enumerate() {
            if let Some(fd) = fd {
                fds.push(PollFd::new(fd, PollFlags::IN));
                which.push(i);
            }
        }
        let pidfd_at = fds.len();
        if let (None, Some(p)) = (exited, &pidfd) {
            fds.push(PollFd::new(p, PollFlags::IN));
        }
        let relay_at = fds.len();
        if let Some(r) = relay.as_deref() {
            r.poll_fds(&mut fds);
        }
        // After the init exited, give what is still buffered a short while, then stop.
        // Before, the init's pidfd wakes us: an idle container's monitor sleeps until then
        // (no timer, no pages touched), unless there is no pidfd to wait on or a relay.
        let timeout = match (exited, &pidfd, &relay) {
            (Some(_), _, _) => Some(Duration::from_millis(50)),
            (None, Some(_), None) => None,
            (None, _, _) => Some(Duration::from_secs(1)),
        }
        .map(|d| Timespec::try_from(d).unwrap_or(Timespec { tv_sec: 1, tv_nsec: 0 }));
        let mut n = poll(&mut fds, Some(&timeout.unwrap_or(Timespec { tv_sec: 0, tv_nsec: 0 })))
            .unwrap_or(0);
        if n == 0 && timeout.is_none() {
            // Nothing to do until the init exits: the code that started the container need
            // not stay mapped meanwhile (an idle monitor's RSS was its whole binary).
            if !released {
                released = true;
                let _ = berth_sys::mm::release_program_pages();
            }
            n = poll(&mut fds, None).unwrap_or(0);
        }
        let ready: Vec<bool> = fds.iter().map(|f| !f.revents().is_empty()).collect();
        drop(fds);
        if n == 0 && exited.is_some() {
            break;
        }
        // Input first: it may change the relay's fds, which `ready` no longer describes.
        if let Some(r) = relay.as_deref_mut() {
            r.handle(&ready[relay_at..]);
        }
        for (k, i) in which.iter().enumerate() {
            let stream = if *i == 0 { "stdout" } else { "stderr" };
            let to_clients = if tty && *i == 0 { relay.as_deref_mut() } else { None };
            if ready[k] && !copy_once(&mut open[*i], stream, &mut log, to_clients) {
                open[*i] = None;
            }
        }
        let pid_ready = pidfd_at < relay_at && ready[pidfd_at];
        if exited.is_none() && (pid_ready || pidfd.is_none()) {
            exited = reap(pid);
        }
        if exited.is_some() && open.iter().all(Option::is_none) {
            break;
        }
    }
    if let Some(r) = relay {
        r.end();
    }
    exited.unwrap_or(255)
}

/// Reads what is there and appends it to the log (and gives it to the terminal's
/// clients); false at end-of-file (`EIO` on a pty master whose slave is closed).
fn copy_once(
    fd: &mut Option<OwnedFd>,
    stream: &str,
    log: &mut Option<std::fs::File>,
    clients: Option<&mut Relay>,
) -> bool {
    let Some(f) = fd.as_ref() else { return false };
    let mut buf = [0u8; 16 * 1024];
    match rustix::io::read(f, &mut buf) {
        // The pty master is non-blocking (it is also the relay's stdin).
        Err(rustix::io::Errno::AGAIN | rustix::io::Errno::INTR) => true,
        Ok(0) | Err(_) => false,
        Ok(n) => {
            if let Some(l) = log.as_mut() {
                let _ = l.write_all(json_lines(&buf[..n], stream).as_bytes());
                notify_starter();
            }
            if let Some(r) = clients {
                r.output(&buf[..n]);
            }
            true
        }
    }
}

/// The init's status once it is gone (a subreaper's waitpid), as 0–255 / 128+signal.
fn reap(pid: i32) -> Option<i32> {
    let p = Pid::from_raw(pid)?;
    match rustix::process::waitpid(Some(p), WaitOptions::NOHANG) {
        Ok(Some((_, st))) => st.exit_status().or_else(|| st.terminating_signal().map(|s| 128 + s)),
        Ok(None) => None,
        // Not our child (the runtime is not reparenting to us): read it through /proc instead.
        Err(_) => (!std::path::Path::new(&format!("/proc/{pid}")).exists()).then_some(255),
    }
}

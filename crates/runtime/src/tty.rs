//! The container's terminal: a pty made in the container's devpts, whose master goes to the
//! caller over `--console-socket` (SCM_RIGHTS) and whose slave becomes the process's stdio
//! and controlling terminal, and `/dev/console`.

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use berth_sys::{Context, Error as SysError};
use oci_spec::runtime::Process;
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
use rustix::pty::OpenptFlags;

/// Makes the pty, sends its master and takes the slave as stdio.
pub(crate) fn setup(socket: Option<&OwnedFd>, process: &Process) -> Result<(), SysError> {
    let socket = socket.ok_or_else(|| {
        SysError::new("terminal requested without --console-socket", None, Errno::INVAL)
    })?;
    let master =
        rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)
            .op_path("open", Path::new("/dev/ptmx"))?;
    rustix::pty::grantpt(&master).op("grantpt")?;
    rustix::pty::unlockpt(&master).op("unlockpt")?;
    let name = rustix::pty::ptsname(&master, Vec::new()).op("ptsname")?;
    let slave_path = Path::new(std::ffi::OsStr::from_bytes(name.as_bytes()));
    if let Some(size) = process.console_size() {
        let ws = rustix::termios::Winsize {
            ws_row: u16::try_from(size.height()).unwrap_or(u16::MAX),
            ws_col: u16::try_from(size.width()).unwrap_or(u16::MAX),
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        rustix::termios::tcsetwinsize(&master, ws).op("set console size")?;
    }
    let slave = rustix::fs::open(
        slave_path,
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .op_path("open", slave_path)?;
    bind_console(slave_path)?;
    send_fd(socket, &master)?;
    drop(master);
    rustix::process::setsid().op("setsid")?;
    rustix::process::ioctl_tiocsctty(&slave).op("ioctl TIOCSCTTY")?;
    rustix::stdio::dup2_stdin(&slave).op("dup2 stdin")?;
    rustix::stdio::dup2_stdout(&slave).op("dup2 stdout")?;
    rustix::stdio::dup2_stderr(&slave).op("dup2 stderr")
}

fn bind_console(slave: &Path) -> Result<(), SysError> {
    let console = Path::new("/dev/console");
    match rustix::fs::open(
        console,
        OFlags::CREATE | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    ) {
        Ok(_) | Err(Errno::EXIST) => {}
        Err(e) => return Err(SysError::new("create", Some(console), e)),
    }
    rustix::mount::mount_bind(slave, console).op_path("bind pty on", console)
}

fn send_fd(socket: &OwnedFd, fd: &OwnedFd) -> Result<(), SysError> {
    let fds = [fd.as_fd()];
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut ancillary = SendAncillaryBuffer::new(&mut space);
    ancillary.push(SendAncillaryMessage::ScmRights(&fds));
    let name = b"/dev/ptmx";
    rustix::net::sendmsg(
        socket,
        &[std::io::IoSlice::new(name)],
        &mut ancillary,
        SendFlags::empty(),
    )
    .op("send pty master to console socket")?;
    Ok(())
}

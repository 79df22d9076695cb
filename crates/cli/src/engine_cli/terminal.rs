//! The local terminal of `run -it`, `attach`, `start -ai` and `exec -it`: raw mode that is
//! undone on every way out (including a panic, even with `panic = "abort"`), and the
//! window size, followed through SIGWINCH.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustix::termios::{OptionalActions, Termios, Winsize};

/// SIGWINCH (signal(7)).
const SIGWINCH: i32 = 28;

/// The settings raw mode replaced, for the panic hook; `None` while not raw.
static SAVED: Mutex<Option<Termios>> = Mutex::new(None);

fn restore_saved() {
    let saved = SAVED.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(t) = saved {
        let _ = rustix::termios::tcsetattr(std::io::stdin(), OptionalActions::Now, &t);
    }
}

/// The terminal on stdin in raw mode (no echo, no line editing, no signals from Ctrl-C:
/// every key goes to the container) until dropped.
#[derive(Debug)]
pub(crate) struct RawMode(());

impl RawMode {
    /// Raw mode on stdin; `None` if stdin is not a terminal.
    pub(crate) fn enter() -> Option<RawMode> {
        let stdin = std::io::stdin();
        let original = rustix::termios::tcgetattr(&stdin).ok()?;
        let mut raw = original.clone();
        raw.make_raw();
        *SAVED.lock().unwrap_or_else(|p| p.into_inner()) = Some(original);
        static HOOK: std::sync::Once = std::sync::Once::new();
        HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                restore_saved();
                previous(info);
            }));
        });
        if rustix::termios::tcsetattr(&stdin, OptionalActions::Now, &raw).is_err() {
            restore_saved();
            return None;
        }
        Some(RawMode(()))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        restore_saved();
    }
}

/// The window size of the terminal on stdout, else stdin.
pub(crate) fn window_size() -> Option<(u16, u16)> {
    let size = |ws: Winsize| (ws.ws_row, ws.ws_col);
    rustix::termios::tcgetwinsize(std::io::stdout())
        .or_else(|_| rustix::termios::tcgetwinsize(std::io::stdin()))
        .ok()
        .map(size)
}

/// Blocks SIGWINCH in this thread and so in every thread started after: the kernel then
/// keeps it pending for [`follow_window`]'s `sigtimedwait` instead of discarding it (its
/// default action is to ignore it). Call before starting any thread.
pub(crate) fn block_sigwinch() {
    let _ = berth_sys::signal::block(&berth_sys::signal::SigSet::of(&[SIGWINCH]));
}

/// Calls `send` with each new window size until `stop` is set. It wakes on SIGWINCH and
/// also every 250 ms, since a terminal that is not our controlling terminal sends no
/// SIGWINCH.
pub(crate) fn follow_window(
    first: Option<(u16, u16)>,
    stop: Arc<AtomicBool>,
    send: impl Fn(u16, u16) -> bool + Send + 'static,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let set = berth_sys::signal::SigSet::of(&[SIGWINCH]);
        let mut last = first;
        while !stop.load(Ordering::Relaxed) {
            let _ = berth_sys::signal::wait(&set, Duration::from_millis(250));
            let now = window_size();
            if now.is_some() && now != last {
                last = now;
                if let Some((rows, cols)) = now {
                    if !send(rows, cols) {
                        return;
                    }
                }
            }
        }
    })
}

//! Probes of system calls a default container must be refused. They have no wrapper in
//! rustix, so they are made raw; the hygiene check allows `unsafe` in runtimetest.

use serde_json::Value;

use crate::Report;

/// `keyctl(KEYCTL_JOIN_SESSION_KEYRING, NULL)`: joins a new anonymous session keyring, which
/// any process may do unless seccomp refuses it. Docker's default profile denies `keyctl`
/// (the kernel keyring is not namespaced: keys would be shared with the host). Expects
/// EPERM; success or another errno fails.
pub(crate) fn keyctl_refused(_config: &Value, r: &mut Report) {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: keyctl with this operation reads one argument, a name pointer that may be
    // NULL (it is), and touches no memory of ours; the result is an integer.
    let ret = unsafe {
        libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, std::ptr::null::<u8>())
    };
    let err = std::io::Error::last_os_error();
    match (ret, err.raw_os_error()) {
        (-1, Some(libc::EPERM)) => r.ok("keyctl_refused"),
        (-1, _) => r.fail("keyctl_refused", format!("EPERM got {err}")),
        (serial, _) => r.fail("keyctl_refused", format!("EPERM got keyring {serial}")),
    }
}

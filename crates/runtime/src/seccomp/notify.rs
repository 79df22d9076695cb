//! The seccomp agent protocol (runtime.md, "containerProcessState"): one message on a
//! stream socket, the JSON state as payload and the listener fd as `SCM_RIGHTS`.

use std::io::IoSlice;
use std::os::fd::{AsFd, OwnedFd};

use berth_sys::{Context, Error as SysError};
use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};

use crate::error::Result;

/// Connects to `linux.seccomp.listenerPath` when the filter has a listener. Done by `create`
/// on the host before `clone3`: the path is the host's, and a missing agent fails `create`.
pub(crate) fn connect_listener(seccomp: Option<&super::Prepared>) -> Result<Option<OwnedFd>> {
    let Some(path) = seccomp.filter(|p| p.notifies()).and_then(|p| p.listener_path.as_deref())
    else {
        return Ok(None);
    };
    crate::socket::connect(path, "connect seccomp listener").map(Some)
}

/// The `containerProcessState` document: the state of the hooks plus the fd names, the pid
/// and `listenerMetadata`.
pub(super) fn process_state(state: &str, pid: i32, metadata: Option<&str>) -> Vec<u8> {
    let state: serde_json::Value = serde_json::from_str(state).unwrap_or_default();
    let mut doc = serde_json::json!({
        "ociVersion": state.get("ociVersion").cloned().unwrap_or_default(),
        "fds": ["seccompFd"],
        "pid": pid,
        "state": state,
    });
    if let (Some(m), Some(obj)) = (metadata, doc.as_object_mut()) {
        obj.insert("metadata".into(), m.into());
    }
    doc.to_string().into_bytes()
}

/// Sends `message` with `fd` attached to its first byte; the rest, if the socket takes it
/// in pieces, follows without.
pub(super) fn send(
    sock: &OwnedFd,
    message: &[u8],
    fd: &OwnedFd,
) -> std::result::Result<(), SysError> {
    let fds = [fd.as_fd()];
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut ancillary = SendAncillaryBuffer::new(&mut space);
    ancillary.push(SendAncillaryMessage::ScmRights(&fds));
    let op = "send seccomp listener to agent";
    let mut sent =
        rustix::net::sendmsg(sock, &[IoSlice::new(message)], &mut ancillary, SendFlags::NOSIGNAL)
            .op(op)?;
    while let Some(rest) = message.get(sent..).filter(|r| !r.is_empty()) {
        sent += rustix::net::send(sock, rest, SendFlags::NOSIGNAL).op(op)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_state_wraps_the_state() {
        let state = r#"{"ociVersion":"1.2.0","id":"c1","status":"running","pid":42}"#;
        let doc: serde_json::Value =
            serde_json::from_slice(&process_state(state, 42, Some("m=1"))).expect("json");
        assert_eq!(doc["ociVersion"], "1.2.0");
        assert_eq!(doc["fds"], serde_json::json!(["seccompFd"]));
        assert_eq!(doc["pid"], 42);
        assert_eq!(doc["metadata"], "m=1");
        assert_eq!(doc["state"]["id"], "c1");
        let doc: serde_json::Value =
            serde_json::from_slice(&process_state(state, 42, None)).expect("json");
        assert!(doc.get("metadata").is_none());
    }
}

//! `linux.netDevices`: host network interfaces moved into the container's network namespace
//! (and renamed), with one rtnetlink (protocol 0, NETLINK_ROUTE) `RTM_NEWLINK` request each, sent by the runtime after
//! clone3 and before the init goes on. When the namespace goes away, the kernel moves
//! physical devices back to the initial namespace and destroys virtual ones.

use std::collections::HashMap;

use berth_sys::{Context, Error as SysError};
use oci_spec::runtime::LinuxNetDevice;
use rustix::io::Errno;
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};

const RTM_NEWLINK: u16 = 16;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLMSG_ERROR: u16 = 2;
const IFLA_IFNAME: u16 = 3;
const IFLA_NET_NS_PID: u16 = 19;
/// IFNAMSIZ - 1.
const MAX_NAME: usize = 15;

/// Checks a device name as the kernel would (`dev_valid_name`).
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name != "."
        && name != ".."
        && !name.bytes().any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace())
}

/// Moves every device of `devices` (host name → settings) into the network namespace of
/// process `pid`, renamed to its `name` if given.
pub(crate) fn move_all(
    devices: &HashMap<String, LinuxNetDevice>,
    pid: i32,
) -> Result<(), SysError> {
    if devices.is_empty() {
        return Ok(());
    }
    let sock = rustix::net::socket_with(
        AddressFamily::NETLINK,
        SocketType::RAW,
        SocketFlags::CLOEXEC,
        None,
    )
    .op("socket AF_NETLINK")?;
    for (seq, (host, dev)) in (1u32..).zip(devices) {
        let what = std::path::PathBuf::from(host);
        let index = rustix::net::netdevice::name_to_index(&sock, host)
            .op_path("find network device", &what)?;
        let new_name = dev.name().as_deref().unwrap_or(host);
        let msg = new_link_request(seq, index, pid, new_name);
        rustix::net::send(&sock, &msg, SendFlags::empty())
            .op_path("send RTM_NEWLINK for", &what)?;
        let mut buf = [0u8; 1024];
        let (n, _) = rustix::net::recv(&sock, &mut buf[..], RecvFlags::empty())
            .op_path("recv netlink ack for", &what)?;
        match ack_errno(&buf[..n]) {
            Some(0) => {}
            Some(e) => {
                return Err(SysError::new(
                    "move network device",
                    Some(&what),
                    Errno::from_raw_os_error(e),
                ))
            }
            None => {
                return Err(SysError::new(
                    "move network device (bad netlink reply)",
                    Some(&what),
                    Errno::PROTO,
                ))
            }
        }
    }
    Ok(())
}

/// `RTM_NEWLINK` for ifindex `index` with IFLA_NET_NS_PID and IFLA_IFNAME.
fn new_link_request(seq: u32, index: u32, pid: i32, name: &str) -> Vec<u8> {
    let mut attrs = Vec::new();
    push_attr(&mut attrs, IFLA_NET_NS_PID, &pid.to_ne_bytes());
    let mut cname = name.as_bytes().to_vec();
    cname.push(0);
    push_attr(&mut attrs, IFLA_IFNAME, &cname);
    let mut ifinfo = [0u8; 16]; // family AF_UNSPEC, type, index, flags, change
    ifinfo[4..8].copy_from_slice(&index.to_ne_bytes());
    let len = 16 + ifinfo.len() + attrs.len();
    let mut msg = Vec::with_capacity(len);
    msg.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_ne_bytes());
    msg.extend_from_slice(&RTM_NEWLINK.to_ne_bytes());
    msg.extend_from_slice(&(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
    msg.extend_from_slice(&seq.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes());
    msg.extend_from_slice(&ifinfo);
    msg.extend_from_slice(&attrs);
    msg
}

fn push_attr(out: &mut Vec<u8>, kind: u16, data: &[u8]) {
    let len = 4 + data.len();
    out.extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(data);
    out.resize(out.len() + (4 - len % 4) % 4, 0);
}

/// The errno of an `NLMSG_ERROR` reply (0 is the ack), as a positive number.
fn ack_errno(reply: &[u8]) -> Option<i32> {
    let kind = u16::from_ne_bytes(reply.get(4..6)?.try_into().ok()?);
    if kind != NLMSG_ERROR {
        return None;
    }
    let err = i32::from_ne_bytes(reply.get(16..20)?.try_into().ok()?);
    Some(-err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_layout() {
        let m = new_link_request(7, 3, 1234, "eth1");
        assert_eq!(u32::from_ne_bytes(m[0..4].try_into().unwrap()) as usize, m.len());
        assert_eq!(u16::from_ne_bytes(m[4..6].try_into().unwrap()), RTM_NEWLINK);
        assert_eq!(u32::from_ne_bytes(m[20..24].try_into().unwrap()), 3, "ifindex");
        // First attribute: len 8, IFLA_NET_NS_PID, the pid.
        assert_eq!(&m[32..36], &[8, 0, 19, 0]);
        assert_eq!(i32::from_ne_bytes(m[36..40].try_into().unwrap()), 1234);
        // Second: "eth1\0" padded to 8 bytes of data.
        assert_eq!(&m[40..44], &[9, 0, 3, 0]);
        assert_eq!(&m[44..49], b"eth1\0");
        assert_eq!(m.len() % 4, 0);
    }

    #[test]
    fn ack_parsing() {
        let mut r = vec![0u8; 36];
        r[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        r[16..20].copy_from_slice(&(-17i32).to_ne_bytes());
        assert_eq!(ack_errno(&r), Some(17));
        assert_eq!(ack_errno(&[0u8; 4]), None);
    }

    #[test]
    fn names() {
        assert!(valid_name("eth0"));
        for bad in ["", ".", "..", "a/b", "a b", "x:1", "sixteen-chars-xx"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}

//! The few rtnetlink (NETLINK_ROUTE) requests berth needs, built by hand: each is one
//! `nlmsghdr`, a fixed family header and attributes, sent with `NLM_F_ACK` and answered by
//! one `NLMSG_ERROR` whose errno is 0 on success. Writing them is shorter than pulling in a
//! generic netlink stack, and keeps setup at a few syscalls per request. The same message
//! builder and socket carry nf_tables batches over NETLINK_NETFILTER (`crate::nftables`).

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::io::Errno;
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};
use rustix::thread::LinkNameSpaceType;

use crate::Error;

pub(crate) const RTM_NEWLINK: u16 = 16;
pub(crate) const RTM_DELLINK: u16 = 17;
pub(crate) const RTM_NEWADDR: u16 = 20;
pub(crate) const RTM_NEWROUTE: u16 = 24;
const NLMSG_ERROR: u16 = 2;
/// Set on a nested attribute's type (libmnl does; nfnetlink's parsers accept either).
pub(crate) const NLA_F_NESTED: u16 = 0x8000;

pub(crate) const NLM_F_REQUEST: u16 = 0x1;
pub(crate) const NLM_F_ACK: u16 = 0x4;
pub(crate) const NLM_F_REPLACE: u16 = 0x100;
pub(crate) const NLM_F_EXCL: u16 = 0x200;
pub(crate) const NLM_F_CREATE: u16 = 0x400;

pub(crate) const IFLA_ADDRESS: u16 = 1;
pub(crate) const IFLA_IFNAME: u16 = 3;
pub(crate) const IFLA_MTU: u16 = 4;
pub(crate) const IFLA_MASTER: u16 = 10;
pub(crate) const IFLA_LINKINFO: u16 = 18;
pub(crate) const IFLA_NET_NS_FD: u16 = 28;
pub(crate) const IFLA_INFO_KIND: u16 = 1;
pub(crate) const IFLA_INFO_DATA: u16 = 2;
pub(crate) const VETH_INFO_PEER: u16 = 1;
pub(crate) const IFA_ADDRESS: u16 = 1;
pub(crate) const IFA_LOCAL: u16 = 2;
pub(crate) const IFA_BROADCAST: u16 = 4;
pub(crate) const RTA_OIF: u16 = 4;
pub(crate) const RTA_GATEWAY: u16 = 5;
pub(crate) const RTA_METRICS: u16 = 8;
pub(crate) const RTAX_MTU: u16 = 2;
pub(crate) const IFF_UP: u32 = 1;
pub(crate) const AF_INET: u8 = 2;
const NLMSG_HDRLEN: usize = 16;

/// One request under construction.
#[derive(Debug)]
pub(crate) struct Msg {
    buf: Vec<u8>,
    nests: Vec<usize>,
}

impl Msg {
    /// A header of type `kind`; `NLM_F_REQUEST | NLM_F_ACK` are always added.
    pub(crate) fn new(kind: u16, flags: u16) -> Self {
        Self::with_flags(kind, flags | NLM_F_REQUEST | NLM_F_ACK)
    }

    /// A header of type `kind` with exactly `flags` (an nfnetlink batch's begin and end
    /// messages carry no `NLM_F_ACK`: the kernel answers for the messages inside).
    pub(crate) fn with_flags(kind: u16, flags: u16) -> Self {
        let mut buf = vec![0u8; NLMSG_HDRLEN];
        buf[4..6].copy_from_slice(&kind.to_ne_bytes());
        buf[6..8].copy_from_slice(&flags.to_ne_bytes());
        Self { buf, nests: Vec::new() }
    }

    /// Appends a fixed family header (`ifinfomsg`, `ifaddrmsg`, `rtmsg`), padded to 4.
    pub(crate) fn header(mut self, h: &[u8]) -> Self {
        self.buf.extend_from_slice(h);
        self.pad();
        self
    }

    pub(crate) fn attr(mut self, kind: u16, data: &[u8]) -> Self {
        self.buf.extend_from_slice(&len16(4 + data.len()).to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.pad();
        self
    }

    /// A NUL-terminated string attribute (link names, link kinds).
    pub(crate) fn attr_str(self, kind: u16, s: &str) -> Self {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        self.attr(kind, &v)
    }

    /// Opens a nested attribute, closed by [`Msg::end`].
    pub(crate) fn begin(mut self, kind: u16) -> Self {
        self.nests.push(self.buf.len());
        self.buf.extend_from_slice(&[0, 0]);
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self
    }

    pub(crate) fn end(mut self) -> Self {
        if let Some(at) = self.nests.pop() {
            let len = len16(self.buf.len() - at);
            self.buf[at..at + 2].copy_from_slice(&len.to_ne_bytes());
        }
        self
    }

    /// The bytes to send, with the total length and `seq` filled in.
    pub(crate) fn finish(mut self, seq: u32) -> Vec<u8> {
        let len = u32::try_from(self.buf.len()).unwrap_or(u32::MAX);
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf[8..12].copy_from_slice(&seq.to_ne_bytes());
        self.buf
    }

    fn pad(&mut self) {
        let n = self.buf.len();
        self.buf.resize(n + (4 - n % 4) % 4, 0);
    }
}

fn len16(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

/// `struct ifinfomsg`: family AF_UNSPEC, the link `index` (0 for a new one), flags and the
/// mask of flags to change.
pub(crate) fn ifinfomsg(index: u32, flags: u32, change: u32) -> [u8; 16] {
    let mut h = [0u8; 16];
    h[4..8].copy_from_slice(&index.to_ne_bytes());
    h[8..12].copy_from_slice(&flags.to_ne_bytes());
    h[12..16].copy_from_slice(&change.to_ne_bytes());
    h
}

/// The errno carried by the `NLMSG_ERROR` reply to `seq` in `reply` (0 is the ack), as a
/// positive number; `None` if the datagram holds no such reply.
pub(crate) fn ack_errno(reply: &[u8], seq: u32) -> Option<i32> {
    acks(reply).find(|(got, _)| *got == seq).map(|(_, errno)| errno)
}

/// Every `NLMSG_ERROR` reply in the datagram `reply`, as (sequence number, positive errno;
/// 0 is an ack), up to the first malformed message.
pub(crate) fn acks(mut reply: &[u8]) -> impl Iterator<Item = (u32, i32)> + '_ {
    std::iter::from_fn(move || {
        while reply.len() >= NLMSG_HDRLEN {
            let len = u32::from_ne_bytes(reply[0..4].try_into().ok()?) as usize;
            let kind = u16::from_ne_bytes(reply[4..6].try_into().ok()?);
            let seq = u32::from_ne_bytes(reply[8..12].try_into().ok()?);
            let err = reply.get(16..20).map(|e| i32::from_ne_bytes([e[0], e[1], e[2], e[3]]));
            let next = (len + 3) & !3;
            if len < NLMSG_HDRLEN || next > reply.len() {
                reply = &[];
            } else {
                reply = &reply[next..];
            }
            if kind == NLMSG_ERROR {
                return Some((seq, -err?));
            }
        }
        None
    })
}

/// A NETLINK_ROUTE socket. Its network namespace is the one it was created in, for its
/// whole life, whatever thread later uses it.
#[derive(Debug)]
pub(crate) struct Socket {
    fd: OwnedFd,
    seq: u32,
}

impl Socket {
    /// A NETLINK_ROUTE socket in the calling thread's network namespace.
    pub(crate) fn open() -> Result<Self, Errno> {
        Self::open_protocol(None)
    }

    /// A NETLINK_NETFILTER socket (nf_tables) in the calling thread's network namespace.
    /// Receives time out after 5 s: a batch whose replies never come is an error, not a
    /// hang of `run`.
    pub(crate) fn open_netfilter() -> Result<Self, Errno> {
        let nl = Self::open_protocol(Some(rustix::net::netlink::NETFILTER))?;
        rustix::net::sockopt::set_socket_timeout(
            &nl.fd,
            rustix::net::sockopt::Timeout::Recv,
            Some(std::time::Duration::from_secs(5)),
        )?;
        Ok(nl)
    }

    fn open_protocol(protocol: Option<rustix::net::Protocol>) -> Result<Self, Errno> {
        let fd = rustix::net::socket_with(
            AddressFamily::NETLINK,
            SocketType::RAW,
            SocketFlags::CLOEXEC,
            protocol,
        )?;
        Ok(Self { fd, seq: 0 })
    }

    /// A socket in the network namespace of the nsfs file `netns`, made on a short-lived
    /// thread that enters it, so the caller's threads never change namespace.
    pub(crate) fn open_in(netns: &File, path: &Path) -> Result<Self, Error> {
        let made = std::thread::scope(|s| {
            s.spawn(|| {
                rustix::thread::move_into_link_name_space(
                    netns.as_fd(),
                    Some(LinkNameSpaceType::Network),
                )
                .map_err(|source| Error::EnterNetns { path: path.to_owned(), source })?;
                Self::open().map_err(|source| Error::OpenSocket { netns: path.to_owned(), source })
            })
            .join()
        });
        made.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }

    /// Sends `msg` and waits for its ack; the kernel's errno on refusal.
    pub(crate) fn request(&mut self, msg: Msg) -> Result<(), Errno> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        rustix::net::send(&self.fd, &msg.finish(seq), SendFlags::empty())?;
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let (n, _) = rustix::net::recv(&self.fd, &mut buf[..], RecvFlags::empty())?;
            match ack_errno(&buf[..n.min(buf.len())], seq) {
                Some(0) => return Ok(()),
                Some(e) => return Err(Errno::from_raw_os_error(e)),
                // an ack to an earlier, abandoned request: keep reading
                None => continue,
            }
        }
    }

    /// Sends `msgs` in one datagram, numbered from the next sequence number on, and waits
    /// for the `NLMSG_ERROR` reply of every message that asked for one (`acked[i]`). Returns
    /// the refusals as (index into `msgs`, errno), in the kernel's order; empty if all went
    /// through. Used for nfnetlink batches, where the kernel answers each message inside the
    /// batch and applies all or none of them.
    pub(crate) fn request_batch(
        &mut self,
        msgs: Vec<Msg>,
        acked: &[bool],
    ) -> Result<Vec<(usize, Errno)>, Errno> {
        let first = self.seq.wrapping_add(1);
        let mut buf = Vec::new();
        for msg in msgs {
            self.seq = self.seq.wrapping_add(1);
            buf.extend_from_slice(&msg.finish(self.seq));
        }
        rustix::net::send(&self.fd, &buf, SendFlags::empty())?;
        let index = |seq: u32| seq.wrapping_sub(first) as usize;
        let mut waiting = acked.iter().filter(|a| **a).count();
        let mut refused = Vec::new();
        let mut reply = vec![0u8; 64 * 1024];
        while waiting > 0 {
            let (n, _) = rustix::net::recv(&self.fd, &mut reply[..], RecvFlags::empty())?;
            for (seq, errno) in acks(&reply[..n.min(reply.len())]) {
                let i = index(seq);
                match acked.get(i) {
                    // an answer to an earlier, abandoned request
                    None => continue,
                    Some(true) => waiting = waiting.saturating_sub(1),
                    // nfnetlink refuses a whole batch (no memory, a failed commit) in a
                    // reply to its first message, which asked for none: nothing else may
                    // come
                    Some(false) if errno != 0 => waiting = 0,
                    Some(false) => continue,
                }
                if errno != 0 {
                    refused.push((i, Errno::from_raw_os_error(errno)));
                }
            }
        }
        Ok(refused)
    }

    /// The index of link `name` in this socket's namespace.
    pub(crate) fn index(&self, name: &str) -> Result<u32, Errno> {
        rustix::net::netdevice::name_to_index(&self.fd, name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u16_at(m: &[u8], i: usize) -> u16 {
        u16::from_ne_bytes(m[i..i + 2].try_into().unwrap())
    }

    #[test]
    fn nested_layout() {
        let m = Msg::new(RTM_NEWLINK, NLM_F_CREATE)
            .header(&ifinfomsg(0, IFF_UP, IFF_UP))
            .attr_str(IFLA_IFNAME, "br0")
            .begin(IFLA_LINKINFO)
            .attr_str(IFLA_INFO_KIND, "bridge")
            .end()
            .finish(9);
        assert_eq!(u32::from_ne_bytes(m[0..4].try_into().unwrap()) as usize, m.len());
        assert_eq!(u16_at(&m, 4), RTM_NEWLINK);
        assert_eq!(u16_at(&m, 6), NLM_F_CREATE | NLM_F_REQUEST | NLM_F_ACK);
        assert_eq!(u32::from_ne_bytes(m[8..12].try_into().unwrap()), 9);
        // ifname: len 8 ("br0\0"), kind 3
        assert_eq!((u16_at(&m, 32), u16_at(&m, 34)), (8, IFLA_IFNAME));
        // linkinfo wraps kind "bridge\0" (4 + 7 = 11, padded to 12): 4 + 12 = 16
        assert_eq!((u16_at(&m, 40), u16_at(&m, 42)), (16, IFLA_LINKINFO));
        assert_eq!((u16_at(&m, 44), u16_at(&m, 46)), (11, IFLA_INFO_KIND));
        assert_eq!(&m[48..55], b"bridge\0");
        assert_eq!(m.len(), 56);
    }

    #[test]
    fn acks() {
        let mut r = vec![0u8; 36];
        r[0..4].copy_from_slice(&36u32.to_ne_bytes());
        r[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        r[8..12].copy_from_slice(&5u32.to_ne_bytes());
        r[16..20].copy_from_slice(&(-17i32).to_ne_bytes());
        assert_eq!(ack_errno(&r, 5), Some(17));
        assert_eq!(ack_errno(&r, 6), None, "another request's ack");
        assert_eq!(ack_errno(&[0u8; 4], 5), None);
        let mut two = r.clone();
        two[8..12].copy_from_slice(&4u32.to_ne_bytes());
        two.extend_from_slice(&r);
        assert_eq!(ack_errno(&two, 5), Some(17), "second message in the datagram");
    }
}

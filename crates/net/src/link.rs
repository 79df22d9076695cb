//! Bridges and veth attachments. The host side is configured through a netlink socket in
//! the caller's network namespace; the container side through a socket created inside the
//! container's namespace by a short-lived thread (see [`crate::netlink::Socket::open_in`]).

use std::fs::File;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use rustix::io::Errno;

use crate::addr::{Ipv4Net, Mac};
use crate::netlink::*;
use crate::Error;

/// IFNAMSIZ - 1.
const MAX_NAME: usize = 15;
/// The MTU berth gives its bridges and both ends of their veth pairs, whatever the
/// network's MTU: traffic that stays on the bridge (container to container, host to
/// container) then moves in segments as large as loopback's, and TCP over veth at 1500
/// costs about 1.6 times as much CPU per byte (docs/networking.md, ADR 0010). What leaves
/// the bridge network is held to the network's MTU by the container's default route
/// ([`AttachRequest::route_mtu`]).
pub const LINK_MTU: u32 = 65520;
const RT_TABLE_MAIN: u8 = 254;
const RTPROT_BOOT: u8 = 3;
const RT_SCOPE_UNIVERSE: u8 = 0;
const RTN_UNICAST: u8 = 1;

/// Checks a link name as the kernel would (`dev_valid_name`).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name != "."
        && name != ".."
        && !name.bytes().any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace())
}

fn check_name(name: &str) -> Result<(), Error> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(Error::InvalidName { name: name.to_owned() })
    }
}

fn host_socket() -> Result<Socket, Error> {
    Socket::open().map_err(|source| Error::OpenSocket { netns: PathBuf::new(), source })
}

/// A Linux bridge in the caller's network namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bridge {
    /// The link name, e.g. `berth0`.
    pub name: String,
    /// The gateway address on the bridge, with the subnet's prefix (`10.88.0.1/16`).
    pub gateway: Ipv4Net,
}

impl Bridge {
    /// Creates bridge `name` if missing, with `mtu`, gives it the address `gateway` (which
    /// also routes the subnet to it) and sets it up. Idempotent: an existing bridge is kept
    /// (and given `mtu`).
    pub fn ensure(name: &str, gateway: Ipv4Net, mtu: u32) -> Result<Self, Error> {
        check_name(name)?;
        let mut nl = host_socket()?;
        let link = || name.to_owned();
        // NLM_F_CREATE without EXCL: an existing bridge of that name is accepted as is.
        let create = Msg::new(RTM_NEWLINK, NLM_F_CREATE)
            .header(&ifinfomsg(0, IFF_UP, IFF_UP))
            .attr_str(IFLA_IFNAME, name)
            .attr(IFLA_MTU, &mtu.to_ne_bytes())
            .begin(IFLA_LINKINFO)
            .attr_str(IFLA_INFO_KIND, "bridge")
            .end();
        nl.request(create).map_err(|source| Error::CreateBridge { link: link(), source })?;
        let index = nl.index(name).map_err(|source| Error::FindLink { link: link(), source })?;
        add_address(&mut nl, name, index, gateway)?;
        set_up(&mut nl, name, index)?;
        Ok(Self { name: name.to_owned(), gateway })
    }

    /// Whether a link named `name` exists in the caller's namespace.
    pub fn exists(name: &str) -> Result<bool, Error> {
        check_name(name)?;
        match host_socket()?.index(name) {
            Ok(_) => Ok(true),
            Err(Errno::NODEV) => Ok(false),
            Err(source) => Err(Error::FindLink { link: name.to_owned(), source }),
        }
    }

    /// Deletes bridge `name` (its remaining ports are released by the kernel, their veths
    /// stay). A missing bridge is not an error.
    pub fn remove(name: &str) -> Result<(), Error> {
        check_name(name)?;
        delete_link(&mut host_socket()?, name)
    }
}

/// The network namespace a container end goes into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Netns {
    /// An nsfs file (`/proc/<pid>/ns/net`, a bind-mounted namespace).
    Path(PathBuf),
    /// The namespace of a running process.
    Pid(i32),
}

impl Netns {
    fn path(&self) -> PathBuf {
        match self {
            Self::Path(p) => p.clone(),
            Self::Pid(pid) => PathBuf::from(format!("/proc/{pid}/ns/net")),
        }
    }
}

/// What [`attach`] sets up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachRequest<'a> {
    /// The container's network namespace.
    pub netns: Netns,
    /// The bridge the host end joins.
    pub bridge: &'a str,
    /// The host end's name, unique on the host (see [`host_veth_name`]).
    pub host_ifname: String,
    /// The container end's name, usually `eth0`.
    pub ifname: &'a str,
    /// The container's address with the subnet prefix (`10.88.0.2/16`).
    pub address: Ipv4Net,
    /// The default route's next hop (the bridge's address).
    pub gateway: Ipv4Addr,
    /// Whether to add the default route (only the container's first network does).
    pub default_route: bool,
    /// The container end's MAC (see [`Mac::from_ipv4`]).
    pub mac: Mac,
    /// Both ends' MTU (the bridge's; [`LINK_MTU`] for the engine's networks).
    pub mtu: u32,
    /// The default route's MTU (`RTAX_MTU`), below `mtu`: the path MTU and TCP MSS of
    /// everything the container sends through the gateway, i.e. off its bridge network.
    /// `None`, or not below `mtu`: the link's.
    pub route_mtu: Option<u32>,
}

/// A container attached to a bridge: what [`detach`] needs, and what the engine records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The host end of the veth pair; deleting it deletes the container end.
    pub host_ifname: String,
    /// The bridge it is a port of.
    pub bridge: String,
    /// The container end's name.
    pub ifname: String,
    /// The container's address with prefix.
    pub address: Ipv4Net,
    pub mac: Mac,
}

/// `berth-` and the first 9 characters of `id` (link names are at most 15 bytes).
pub fn host_veth_name(id: &str) -> String {
    let short: String = id.chars().filter(|c| c.is_ascii_alphanumeric()).take(9).collect();
    format!("berth-{short}")
}

/// Connects a container to a bridge: a veth pair whose host end is a port of the bridge
/// and up, and whose other end is created directly inside the container's namespace (so
/// it never appears on the host under a clashing name), with its address, up, `lo` up and
/// a default route via the gateway. On failure after the pair exists it is deleted again.
pub fn attach(req: &AttachRequest<'_>) -> Result<Attachment, Error> {
    check_name(&req.host_ifname)?;
    check_name(req.ifname)?;
    let path = req.netns.path();
    let ns = File::open(&path).map_err(|source| Error::OpenNetns { path: path.clone(), source })?;
    let mut host = host_socket()?;
    let bridge = host
        .index(req.bridge)
        .map_err(|source| Error::FindLink { link: req.bridge.to_owned(), source })?;
    match create_veth(&mut host, req, bridge, &ns, &path) {
        Err(Error::CreateVeth { source: Errno::EXIST, .. }) => {
            // The pair of this container's previous run: when its namespace died the kernel
            // queued the pair's deletion, and the monitor deletes it too, both after the exit
            // is reported. The name is this container's own, but it is not deleted here (two
            // ids may share the prefix it is made from): wait for it to go, then once more.
            wait_gone(&mut host, &req.host_ifname, STALE_PAIR_WAIT);
            create_veth(&mut host, req, bridge, &ns, &path)?;
        }
        other => other?,
    }
    let inner = Socket::open_in(&ns, &path).and_then(|mut nl| configure_inside(&mut nl, req));
    if let Err(e) = inner {
        // best effort: the error that matters is the one that made us undo
        let _ = delete_link(&mut host, &req.host_ifname);
        return Err(e);
    }
    Ok(Attachment {
        host_ifname: req.host_ifname.clone(),
        bridge: req.bridge.to_owned(),
        ifname: req.ifname.to_owned(),
        address: req.address,
        mac: req.mac,
    })
}

/// How long `attach` waits for a pair of the same name, still being deleted, to go.
const STALE_PAIR_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// Returns once no link is named `link` in `nl`'s namespace, or after `limit`.
fn wait_gone(nl: &mut Socket, link: &str, limit: std::time::Duration) {
    let start = std::time::Instant::now();
    while nl.index(link).is_ok() && start.elapsed() < limit {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Sets `lo` up in `netns` (a container with no other network still has a loopback).
pub fn loopback_up(netns: &Netns) -> Result<(), Error> {
    let path = netns.path();
    let ns = File::open(&path).map_err(|source| Error::OpenNetns { path: path.clone(), source })?;
    let mut nl = Socket::open_in(&ns, &path)?;
    let lo = nl.index("lo").map_err(|source| Error::FindLink { link: "lo".into(), source })?;
    set_up(&mut nl, "lo", lo)
}

/// Deletes the host end of the pair; the kernel deletes the container end with it. A link
/// already gone (the namespace died and took the pair with it) is not an error.
pub fn detach(att: &Attachment) -> Result<(), Error> {
    delete_link(&mut host_socket()?, &att.host_ifname)
}

fn create_veth(
    nl: &mut Socket,
    req: &AttachRequest<'_>,
    bridge: u32,
    ns: &File,
    path: &Path,
) -> Result<(), Error> {
    use std::os::fd::AsRawFd;
    // Not up at creation: the kernel opens the peer before linking it to its partner and
    // veth_open then fails with ENOTCONN; it is set up from inside the namespace instead.
    let peer = Msg::new(0, 0)
        .header(&ifinfomsg(0, 0, 0))
        .attr_str(IFLA_IFNAME, req.ifname)
        .attr(IFLA_ADDRESS, &req.mac.0)
        .attr(IFLA_MTU, &req.mtu.to_ne_bytes())
        .attr(IFLA_NET_NS_FD, &ns.as_raw_fd().to_ne_bytes())
        .finish(0);
    // the peer attribute holds an ifinfomsg and attributes, without the nlmsghdr
    let msg = Msg::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL)
        .header(&ifinfomsg(0, IFF_UP, IFF_UP))
        .attr_str(IFLA_IFNAME, &req.host_ifname)
        .attr(IFLA_MTU, &req.mtu.to_ne_bytes())
        .attr(IFLA_MASTER, &bridge.to_ne_bytes())
        .begin(IFLA_LINKINFO)
        .attr_str(IFLA_INFO_KIND, "veth")
        .begin(IFLA_INFO_DATA)
        .attr(VETH_INFO_PEER, &peer[16..])
        .end()
        .end();
    nl.request(msg).map_err(|source| Error::CreateVeth {
        link: req.host_ifname.clone(),
        peer: req.ifname.to_owned(),
        netns: path.to_owned(),
        source,
    })
}

fn configure_inside(nl: &mut Socket, req: &AttachRequest<'_>) -> Result<(), Error> {
    let lo = nl.index("lo").map_err(|source| Error::FindLink { link: "lo".into(), source })?;
    set_up(nl, "lo", lo)?;
    let index = nl
        .index(req.ifname)
        .map_err(|source| Error::FindLink { link: req.ifname.into(), source })?;
    add_address(nl, req.ifname, index, req.address)?;
    set_up(nl, req.ifname, index)?;
    if !req.default_route {
        return Ok(());
    }
    nl.request(route_msg(req, index)).map_err(|source| Error::AddRoute {
        link: req.ifname.to_owned(),
        gateway: req.gateway,
        source,
    })
}

/// The default route via the gateway on link `index`, with `RTA_METRICS { RTAX_MTU }` when
/// the request's route MTU is below the link's.
fn route_msg(req: &AttachRequest<'_>, index: u32) -> Msg {
    let mut rtmsg = [0u8; 12];
    rtmsg[0] = AF_INET;
    rtmsg[4] = RT_TABLE_MAIN;
    rtmsg[5] = RTPROT_BOOT;
    rtmsg[6] = RT_SCOPE_UNIVERSE;
    rtmsg[7] = RTN_UNICAST;
    let route = Msg::new(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL)
        .header(&rtmsg)
        .attr(RTA_GATEWAY, &req.gateway.octets())
        .attr(RTA_OIF, &index.to_ne_bytes());
    match req.route_mtu.filter(|m| *m < req.mtu) {
        Some(mtu) => route.begin(RTA_METRICS).attr(RTAX_MTU, &mtu.to_ne_bytes()).end(),
        None => route,
    }
}

/// `ifaddrmsg` + IFA_LOCAL/IFA_ADDRESS/IFA_BROADCAST; REPLACE so a repeated call succeeds.
pub(crate) fn address_msg(index: u32, net: Ipv4Net) -> Msg {
    let mut ifa = [0u8; 8];
    ifa[0] = AF_INET;
    ifa[1] = net.prefix();
    ifa[4..8].copy_from_slice(&index.to_ne_bytes());
    let mut m = Msg::new(RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE)
        .header(&ifa)
        .attr(IFA_LOCAL, &net.addr().octets())
        .attr(IFA_ADDRESS, &net.addr().octets());
    if net.prefix() < 31 {
        m = m.attr(IFA_BROADCAST, &net.broadcast().octets());
    }
    m
}

fn add_address(nl: &mut Socket, link: &str, index: u32, net: Ipv4Net) -> Result<(), Error> {
    nl.request(address_msg(index, net)).map_err(|source| Error::AddAddress {
        link: link.to_owned(),
        address: net.to_string(),
        source,
    })
}

fn set_up(nl: &mut Socket, link: &str, index: u32) -> Result<(), Error> {
    let msg = Msg::new(RTM_NEWLINK, 0).header(&ifinfomsg(index, IFF_UP, IFF_UP));
    nl.request(msg).map_err(|source| Error::SetLinkUp { link: link.to_owned(), source })
}

fn delete_link(nl: &mut Socket, link: &str) -> Result<(), Error> {
    let msg = Msg::new(RTM_DELLINK, 0).header(&ifinfomsg(0, 0, 0)).attr_str(IFLA_IFNAME, link);
    match nl.request(msg) {
        Ok(()) | Err(Errno::NODEV) => Ok(()),
        Err(source) => Err(Error::DeleteLink { link: link.to_owned(), source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_name("eth0"));
        for bad in ["", ".", "..", "a/b", "a b", "x:1", "sixteen-chars-xx"] {
            assert!(!valid_name(bad), "{bad}");
        }
        assert_eq!(host_veth_name("0123456789abcdef"), "berth-012345678");
        assert!(valid_name(&host_veth_name("0123456789abcdef")));
    }

    #[test]
    fn route_mtu_is_a_metric() {
        let mut req = AttachRequest {
            netns: Netns::Pid(1),
            bridge: "b0",
            host_ifname: "berth-x".into(),
            ifname: "eth0",
            address: "10.88.0.2/16".parse().unwrap(),
            gateway: Ipv4Addr::new(10, 88, 0, 1),
            default_route: true,
            mac: Mac::from_ipv4(Ipv4Addr::new(10, 88, 0, 2)),
            mtu: LINK_MTU,
            route_mtu: Some(1500),
        };
        let m = route_msg(&req, 3).finish(1);
        // rtmsg (12) then gateway (8) and oif (8), then metrics: 4 + RTAX_MTU (8) = 12
        assert_eq!(&m[44..48], &[12, 0, 8, 0], "RTA_METRICS");
        assert_eq!(&m[48..52], &[8, 0, 2, 0], "RTAX_MTU");
        assert_eq!(u32::from_ne_bytes(m[52..56].try_into().unwrap()), 1500);
        req.route_mtu = Some(LINK_MTU);
        assert_eq!(route_msg(&req, 3).finish(1).len(), 44, "no metric at the link's MTU");
    }

    #[test]
    fn address_layout() {
        let m = address_msg(7, "10.88.0.2/16".parse().unwrap()).finish(1);
        assert_eq!(m[16], AF_INET);
        assert_eq!(m[17], 16, "prefix");
        assert_eq!(u32::from_ne_bytes(m[20..24].try_into().unwrap()), 7, "ifindex");
        // IFA_LOCAL, 4 + 4 bytes
        assert_eq!(&m[24..28], &[8, 0, 2, 0], "IFA_LOCAL");
        assert_eq!(&m[28..32], &[10, 88, 0, 2]);
        assert_eq!(&m[40..44], &[8, 0, 4, 0], "IFA_BROADCAST");
        assert_eq!(&m[44..48], &[10, 88, 255, 255]);
        let p2p = address_msg(7, "10.0.0.1/31".parse().unwrap()).finish(1);
        assert_eq!(p2p.len(), 40, "no broadcast on /31");
    }
}

//! The monitor's part: between `runtime create` and `runtime start` it connects the new
//! network namespace to its bridges and publishes the ports; while the container lives it
//! holds the host ports (bound, not listening, as podman's conmon does) so no other program
//! takes them; when the container is gone it withdraws the ports.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::OwnedFd;

use berth_net::{
    attach, detach as detach_link, nat, AttachRequest, Attachment, Mac, Netns, Proto, LINK_MTU,
};
use rustix::net::{AddressFamily, SocketType};

use super::plan::{Attached, Plan};

/// The file the monitor leaves in the container's run directory once it has withdrawn the
/// ports and is deleting the veths (so `rm` need not do either again). Written before the
/// deletion: a monitor killed during it leaves the veths to the kernel's teardown of the
/// namespace, which misses only a namespace another container still shares.
pub const DETACHED: &str = "network-detached";

/// Host ports held for the container's lifetime.
#[derive(Debug, Default)]
pub struct Held(#[allow(dead_code)] Vec<OwnedFd>);

/// Binds every published host port; an error names the port (Docker: "port is already
/// allocated").
pub fn reserve(plan: &Plan) -> Result<Held, String> {
    let mut held = Vec::new();
    for p in &plan.ports {
        let ip = p.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
        let ty = match p.proto {
            Proto::Tcp => SocketType::STREAM,
            Proto::Udp => SocketType::DGRAM,
        };
        let sock = rustix::net::socket_with(
            AddressFamily::INET,
            ty,
            rustix::net::SocketFlags::CLOEXEC,
            None,
        )
        .map_err(|e| {
            format!("open a socket for host port {ip}:{}/{}: {e}", p.host_port, p.proto)
        })?;
        rustix::net::bind(&sock, &SocketAddrV4::new(ip, p.host_port))
            .map_err(|e| format!("bind host port {ip}:{}/{} for {p}: {e}", p.host_port, p.proto))?;
        held.push(sock);
    }
    Ok(Held(held))
}

/// Connects the namespace of `pid` to the plan's bridges and publishes its ports; on
/// failure what was done is undone.
pub fn attach_all(plan: &Plan, pid: i32) -> Result<(), String> {
    if plan.mode == super::plan::Mode::None {
        return berth_net::loopback_up(&Netns::Pid(pid))
            .map_err(|e| format!("set up loopback: {}", berth_sys::error::chain(&e)));
    }
    let mut done: Vec<Attachment> = Vec::new();
    let result = (|| {
        for (i, ep) in plan.endpoints.iter().enumerate() {
            done.push(attach_one(ep, pid, i == 0)?);
        }
        publish(plan)
    })();
    if result.is_err() {
        for att in &done {
            let _ = detach_link(att);
        }
    }
    result
}

/// Publishes the plan's ports; if berth's nftables table is gone (a firewall reload that
/// flushed the ruleset), the networks' rules are made again first.
fn publish(plan: &Plan) -> Result<(), String> {
    let text = |e: &berth_net::Error| format!("publish ports: {}", berth_sys::error::chain(e));
    match nat::publish(&plan.ports) {
        Err(e) if e.is_missing_table() => {
            for ep in &plan.endpoints {
                if let Some(net) = ep.net() {
                    nat::ensure(net.trunc(), &ep.bridge, ep.internal).map_err(|e| text(&e))?;
                }
            }
            nat::publish(&plan.ports).map_err(|e| text(&e))
        }
        other => other.map_err(|e| text(&e)),
    }
}

/// Connects the namespace of `pid` to one bridge network.
pub fn attach_one(ep: &Attached, pid: i32, default_route: bool) -> Result<Attachment, String> {
    let address = ep.net().ok_or_else(|| format!("bad address {:?}", ep.address))?;
    let req = AttachRequest {
        netns: Netns::Pid(pid),
        bridge: &ep.bridge,
        host_ifname: ep.host_ifname.clone(),
        ifname: &ep.ifname,
        address,
        gateway: ep.gateway,
        default_route,
        mac: Mac::from_ipv4(address.addr()),
        // links at 65520 whatever the network's MTU; the default route carries that
        mtu: LINK_MTU.max(ep.mtu),
        route_mtu: Some(ep.mtu),
    };
    attach(&req)
        .map_err(|e| format!("connect to network {}: {}", ep.network, berth_sys::error::chain(&e)))
}

/// Withdraws the published ports and deletes the host ends of the veth pairs (the kernel
/// already did if the namespace is gone). Best effort, idempotent.
pub fn detach(plan: &Plan) {
    withdraw_ports(plan);
    delete_links(plan);
}

/// Withdraws the published ports (nothing to send when none were published).
pub fn withdraw_ports(plan: &Plan) {
    let _ = nat::unpublish(&plan.ports);
}

/// Deletes the host ends of the plan's veth pairs. When the container's namespace is still
/// being torn down the deletion is the caller's, and it waits for RCU grace periods in
/// `unregister_netdevice` (8–16 ms measured); when the kernel's `cleanup_net` got there
/// first it is an `ENODEV` at once.
pub fn delete_links(plan: &Plan) {
    for ep in &plan.endpoints {
        if let Some(address) = ep.net() {
            let _ = detach_link(&Attachment {
                host_ifname: ep.host_ifname.clone(),
                bridge: ep.bridge.clone(),
                ifname: ep.ifname.clone(),
                address,
                mac: Mac::from_ipv4(address.addr()),
            });
        }
    }
}

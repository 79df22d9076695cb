//! Container networking, Docker's way: bridge networks with NAT, published ports, and names.
//!
//! - [`records`]: networks and endpoints (one address per container and network) in the
//!   engine's SQLite database; a unique (network, address) key keeps concurrent `run`s from
//!   sharing an address.
//! - [`plan`]: what `--network`, `-p` and `-P` mean for one container, decided when it is
//!   created and written to its `network.json`; released on `rm`.
//! - [`connect`]: `network connect` / `disconnect` of an existing container.
//! - [`etc`]: the container's `/etc/hosts` (its own names, the other containers of its
//!   user-defined networks, `--add-host`) and `/etc/resolv.conf` (`--dns`, else the host's
//!   without loopback resolvers).
//! - [`setup`]: what the monitor does between `runtime create` and `runtime start`: the
//!   veth pair into the container's namespace (the kernel removes it with the namespace),
//!   the published ports, and holding the host ports while the container runs.
//!
//! The links, addresses and rules live in the network namespace of the `berth` command (and
//! its monitors): the host's, normally; a test's own in the tests.

pub mod connect;
pub mod etc;
pub mod plan;
pub mod records;
pub mod setup;

use std::net::Ipv4Addr;

use berth_net::Ipv4Net;

/// The default network's name (`--network bridge` means it).
pub const DEFAULT: &str = "berth";
/// The default network's bridge.
pub const DEFAULT_BRIDGE: &str = "berth0";
/// The default network's subnet.
pub const DEFAULT_SUBNET: &str = "10.88.0.0/16";
/// The MTU of a network unless `-o mtu=N` says otherwise: Ethernet's, which is always safe
/// for traffic that leaves the host. It is the MTU of the containers' default route, so of
/// everything that leaves the bridge network; the bridge and the veths themselves run at
/// [`berth_net::LINK_MTU`], so traffic that stays on the bridge (container to container,
/// host to container, published ports) is as fast as loopback (docs/networking.md, ADR 0010).
pub const DEFAULT_MTU: u32 = 1500;

/// One bridge network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    /// Unique name.
    pub name: String,
    /// 64-hex id.
    pub id: String,
    /// The Linux bridge (`berth0`, `br-<id12>`).
    pub bridge: String,
    /// The subnet, truncated (`10.88.0.0/16`).
    pub subnet: Ipv4Net,
    /// The bridge's address, every container's default route.
    pub gateway: Ipv4Addr,
    /// `--internal`: no traffic in or out of the subnet but published ports from the host.
    pub internal: bool,
    /// The MTU of traffic leaving the network (`-o mtu=N`; 1500 by default, as Docker): the
    /// containers' default route's. The links run at [`berth_net::LINK_MTU`].
    pub mtu: u32,
    /// Creation time, RFC 3339.
    pub created: String,
}

impl Network {
    /// The default network `berth` (bridge `berth0`, 10.88.0.0/16).
    pub fn default_network() -> Network {
        let subnet: Ipv4Net = DEFAULT_SUBNET.parse().expect("valid default subnet");
        Network {
            name: DEFAULT.into(),
            id: crate::ids::new_id(),
            bridge: DEFAULT_BRIDGE.into(),
            gateway: first_host(subnet),
            subnet,
            internal: false,
            mtu: DEFAULT_MTU,
            created: crate::now(),
        }
    }

    /// Whether containers on it find each other by name (Docker: user-defined networks).
    pub fn has_names(&self) -> bool {
        self.name != DEFAULT
    }

    /// The gateway with the subnet's prefix, the bridge's interface address.
    pub fn gateway_net(&self) -> Ipv4Net {
        self.subnet.with_addr(self.gateway)
    }
}

/// The first host address of `subnet` (`10.88.0.1` of `10.88.0.0/16`).
pub fn first_host(subnet: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(subnet.network()) + 1)
}

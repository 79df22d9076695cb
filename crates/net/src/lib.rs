//! berth-net: the foundation of berth's bridge networking, synchronous and without `ip`.
//!
//! - [`Bridge::ensure`] / [`Bridge::remove`]: a Linux bridge with the gateway address, up.
//! - [`attach`] / [`detach`]: a veth pair from a bridge into a container's network
//!   namespace, with address, `lo` up and default route ([`Attachment`] records it).
//! - [`Ipam`]: lowest-free address allocation over a caller-provided [`AllocationTable`]
//!   ([`MemoryTable`] for tests; the engine backs it with SQLite).
//! - [`nat`]: outbound masquerade and published ports ([`parse_publish`], [`Published`]) in
//!   berth's own nftables table `ip berth`.
//!
//! Links, addresses and routes go through rtnetlink requests built by hand (a handful of
//! message types, in the private `netlink` module); published ports through nf_tables
//! batches over the same kind of socket (private `nftables` module). Work inside a container's namespace is
//! done through a netlink socket created there by a short-lived thread, so no thread of
//! the caller ever changes namespace.
#![forbid(unsafe_code)]

mod addr;
mod error;
mod ipam;
mod link;
pub mod nat;
mod netlink;
mod nftables;
mod ports;

pub use addr::{Ipv4Net, Mac};
pub use error::{Error, TableError};
pub use ipam::{AllocationTable, Ipam, MemoryTable};
pub use link::{
    attach, detach, host_veth_name, loopback_up, valid_name, AttachRequest, Attachment, Bridge,
    Netns, LINK_MTU,
};
pub use ports::{parse_publish, PortSpec, Proto, Published};

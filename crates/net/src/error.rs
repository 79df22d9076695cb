//! The one error type of berth-net: each variant names the operation that failed and the
//! link, address or table it was applied to; the cause (an errno, an I/O error, `nft`'s
//! message) is the `source`, not part of the text.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use rustix::io::Errno;

/// A boxed error from a caller-provided [`crate::AllocationTable`].
pub type TableError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong in berth-net.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Text that is not `a.b.c.d/prefix`.
    #[error("parse IPv4 network {text:?}")]
    ParseNet { text: String },
    /// A link name the kernel would refuse (empty, over 15 bytes, `/`, `:` or blanks).
    #[error("invalid link name {name:?}")]
    InvalidName { name: String },
    /// `socket(AF_NETLINK)` failed; `netns` is empty for the caller's namespace.
    #[error("open netlink socket in network namespace {netns:?}")]
    OpenSocket { netns: PathBuf, source: Errno },
    #[error("open network namespace {path:?}")]
    OpenNetns { path: PathBuf, source: std::io::Error },
    #[error("enter network namespace {path:?}")]
    EnterNetns { path: PathBuf, source: Errno },
    #[error("find link {link}")]
    FindLink { link: String, source: Errno },
    #[error("create bridge {link}")]
    CreateBridge { link: String, source: Errno },
    #[error("set link {link} up")]
    SetLinkUp { link: String, source: Errno },
    #[error("add address {address} to link {link}")]
    AddAddress { link: String, address: String, source: Errno },
    #[error("create veth pair {link} (peer {peer} in {netns:?})")]
    CreateVeth { link: String, peer: String, netns: PathBuf, source: Errno },
    #[error("add default route via {gateway} on link {link}")]
    AddRoute { link: String, gateway: Ipv4Addr, source: Errno },
    #[error("delete link {link}")]
    DeleteLink { link: String, source: Errno },
    /// Every usable address of the subnet is allocated.
    #[error("no free address left in {subnet} of network {network}")]
    SubnetFull { network: String, subnet: String },
    /// A subnet too small to hold a network, a gateway, a host and a broadcast address.
    #[error("subnet {subnet} of network {network} is too small (at most /30)")]
    SubnetTooSmall { network: String, subnet: String },
    #[error("read allocations of network {network}")]
    ReadAllocations { network: String, source: TableError },
    #[error("claim address {address} in network {network} for {owner}")]
    ClaimAddress { network: String, address: Ipv4Addr, owner: String, source: TableError },
    #[error("release the address of {owner} in network {network}")]
    ReleaseAddress { network: String, owner: String, source: TableError },
    /// `nft` could not be started or waited for.
    #[error("run nft to {op}")]
    RunNft { op: &'static str, source: std::io::Error },
    /// `nft` exited with an error; `stderr` is its message.
    #[error("nft failed to {op} (exit {status}): {stderr}")]
    Nft { op: &'static str, status: String, stderr: String },
    /// The kernel refused an nf_tables request sent over netlink (or the socket failed);
    /// `op` names it, with the element and map (`add element { tcp . 8080 : 10.88.0.2 . 80 }
    /// to map ip berth ports_any`).
    #[error("nftables: {op}")]
    Nftables { op: String, source: Errno },
    #[error("parse nft output to {op}")]
    ParseNft { op: &'static str, source: serde_json::Error },
    /// A `-p` value that is not `[hostIP:][hostPort:]containerPort[/tcp|udp]`.
    #[error("invalid published port {spec:?}: {reason}")]
    ParsePublish { spec: String, reason: String },
    #[error("write {path:?}")]
    WriteSysctl { path: PathBuf, source: std::io::Error },
}

impl Error {
    /// Whether berth's nftables table (or one of its maps) does not exist: a firewall
    /// reload flushed the ruleset, or nothing made it yet.
    pub fn is_missing_table(&self) -> bool {
        match self {
            Self::Nftables { source, .. } => *source == Errno::NOENT,
            Self::Nft { stderr, .. } => stderr.contains("No such file or directory"),
            _ => false,
        }
    }
}

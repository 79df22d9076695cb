//! A container's network plan: what `--network`, `-p`, `-P` and `--network-alias` mean
//! for it, decided once when it is created (addresses allocated, free host ports chosen)
//! and written to `network.json` in its directory, where the monitor reads it at each start.

use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};

use berth_net::{nat, parse_publish, Bridge, Ipam, Ipv4Net, PortSpec, Proto, Published};
use serde::{Deserialize, Serialize};

use super::records::Endpoints;
use super::Network;
use crate::error::{Error, Result};
use crate::ops::Engine;
use crate::spec::RunOptions;

/// The network namespace a container gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Its own, with loopback only.
    None,
    /// The host's.
    Host,
    /// Its own, attached to a bridge network.
    #[default]
    Bridge,
    /// Another container's (its id).
    Container(String),
}

/// One interface of the container on a bridge network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attached {
    /// The network's name.
    pub network: String,
    /// Its bridge.
    pub bridge: String,
    /// The name inside (`eth0`).
    pub ifname: String,
    /// The host end of the veth pair.
    pub host_ifname: String,
    /// The container's address with the subnet's prefix.
    pub address: String,
    /// The default route's next hop.
    pub gateway: Ipv4Addr,
    /// The network's MTU: the default route's (the links run at [`berth_net::LINK_MTU`]).
    #[serde(default = "default_mtu")]
    pub mtu: u32,
    /// The network is `--internal` (for remaking its NAT rules).
    #[serde(default)]
    pub internal: bool,
}

fn default_mtu() -> u32 {
    super::DEFAULT_MTU
}

impl Attached {
    /// The address with its prefix.
    pub fn net(&self) -> Option<Ipv4Net> {
        self.address.parse().ok()
    }
}

/// What `network.json` holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The namespace.
    pub mode: Mode,
    /// The interfaces on bridge networks (the first has the default route).
    pub endpoints: Vec<Attached>,
    /// The published ports.
    pub ports: Vec<Published>,
}

impl Plan {
    /// No network setup at all (`--network none`, or a container made before networking).
    pub fn default_none() -> Plan {
        Plan { mode: Mode::None, ..Default::default() }
    }
}

/// The file a container's plan is kept in.
pub fn file(dir: &Path) -> PathBuf {
    dir.join("network.json")
}

/// The plan of the container whose directory is `dir` (`none` if it has none).
pub fn load(dir: &Path) -> Plan {
    std::fs::read(file(dir))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_else(Plan::default_none)
}

/// Parses `--network`: `none`, `host`, `bridge` (the default network), `container:NAME`,
/// or a network's name.
pub fn parse_mode(v: &str) -> (Mode, Option<&str>) {
    match v {
        "none" => (Mode::None, None),
        "host" => (Mode::Host, None),
        "" | "bridge" | "default" => (Mode::Bridge, Some(super::DEFAULT)),
        v => match v.strip_prefix("container:") {
            Some(c) => (Mode::Container(c.to_string()), None),
            None => (Mode::Bridge, Some(v)),
        },
    }
}

/// Decides and records the plan of container `id` (directory `dir`); on failure nothing
/// stays allocated. `exposed` is the image's `ExposedPorts` (for `-P`).
pub fn prepare(
    e: &Engine,
    opts: &RunOptions,
    id: &str,
    dir: &Path,
    exposed: &serde_json::Value,
) -> Result<Plan> {
    let (mode, network) = parse_mode(&opts.network);
    let wants_ports = !opts.publish.is_empty() || opts.publish_all;
    let plan = match (&mode, network) {
        (Mode::Bridge, Some(name)) => {
            let net = network_for(e, name)?;
            let made = bridge_plan(e, opts, id, &net, exposed);
            if made.is_err() {
                let _ = release_endpoints(e, id);
            }
            made?
        }
        (Mode::Container(key), _) => {
            if wants_ports {
                return Err(conflict("--publish", "a container sharing another's network"));
            }
            let other = e.db.get(key)?;
            Plan { mode: Mode::Container(other.id), ..Default::default() }
        }
        (Mode::None, _) if wants_ports => return Err(conflict("--publish", "--network none")),
        _ => Plan { mode, ..Default::default() },
    };
    // No file is the `none` plan (`load`): one file fewer to create and remove per container.
    if plan == Plan::default_none() {
        return Ok(plan);
    }
    if let Err(err) = save(dir, &plan) {
        let _ = release_endpoints(e, id);
        return Err(err);
    }
    Ok(plan)
}

fn conflict(flag: &'static str, with: &str) -> Error {
    Error::InvalidFlag {
        flag,
        value: String::new(),
        reason: format!("ports cannot be published with {with}"),
    }
}

/// Network `name`; the default network is recorded on first use.
pub(crate) fn network_for(e: &Engine, name: &str) -> Result<Network> {
    match e.db.network(name) {
        Ok(n) => Ok(n),
        Err(Error::NoSuchNetwork(_)) if name == super::DEFAULT => {
            match e.db.insert_network(&Network::default_network()) {
                Ok(()) | Err(Error::NetworkConflict { .. }) => e.db.network(name),
                Err(err) => Err(err),
            }
        }
        Err(err) => Err(err),
    }
}

fn bridge_plan(
    e: &Engine,
    opts: &RunOptions,
    id: &str,
    net: &Network,
    exposed: &serde_json::Value,
) -> Result<Plan> {
    ensure_bridge(e, net)?;
    let mut table = Endpoints(&e.db);
    let neterr = |op| move |source| Error::Network { op, network: net.name.clone(), source };
    let address = Ipam::new(&mut table, &net.name, net.subnet, net.gateway)
        .and_then(|mut ipam| ipam.allocate(id))
        .map_err(neterr("allocate an address on"))?;
    if !opts.network_aliases.is_empty() {
        e.db.set_aliases(&net.name, id, &opts.network_aliases)?;
    }
    let ports = resolve_ports(opts, exposed, address.addr())?;
    Ok(Plan {
        mode: Mode::Bridge,
        endpoints: vec![Attached {
            network: net.name.clone(),
            bridge: net.bridge.clone(),
            ifname: "eth0".into(),
            host_ifname: host_ifname(id, 0),
            address: address.to_string(),
            gateway: net.gateway,
            mtu: net.mtu,
            internal: net.internal,
        }],
        ports,
    })
}

/// Creates the bridge and its NAT rules when the bridge does not exist (first use, or
/// after a reboot); serialized by a lock so two `run`s do not both build the table.
pub fn ensure_bridge(e: &Engine, net: &Network) -> Result<()> {
    let neterr = |op| move |source| Error::Network { op, network: net.name.clone(), source };
    if Bridge::exists(&net.bridge).map_err(neterr("find the bridge of"))? {
        return Ok(());
    }
    crate::paths::mkdir(&e.paths.run)?;
    let lock_path = e.paths.run.join("network.lock");
    let lock = std::fs::File::create(&lock_path).map_err(Error::io("open", &lock_path))?;
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|err| Error::Io { op: "lock", path: lock_path.clone(), source: err.into() })?;
    Bridge::ensure(&net.bridge, net.gateway_net(), berth_net::LINK_MTU.max(net.mtu))
        .map_err(neterr("create the bridge of"))?;
    nat::enable_forwarding().map_err(neterr("enable forwarding for"))?;
    nat::ensure(net.subnet, &net.bridge, net.internal).map_err(neterr("set up NAT for"))
}

/// The bridges (and NAT rules) of every network in container directory `dir`'s plan, made
/// again if missing: after a reboot, or a bridge deleted by hand, `start` still works.
pub fn ensure_bridges(e: &Engine, dir: &Path) -> Result<()> {
    for ep in load(dir).endpoints {
        ensure_bridge(e, &e.db.network(&ep.network)?)?;
    }
    Ok(())
}

/// `-p` and `-P` as published ports to `address`; host port 0 becomes a free port now.
fn resolve_ports(
    opts: &RunOptions,
    exposed: &serde_json::Value,
    address: Ipv4Addr,
) -> Result<Vec<Published>> {
    let mut specs: Vec<PortSpec> = Vec::new();
    for p in &opts.publish {
        let parsed = parse_publish(p).map_err(|err| Error::InvalidFlag {
            flag: "--publish",
            value: p.clone(),
            reason: berth_sys::error::chain(&err),
        })?;
        specs.extend(parsed);
    }
    if opts.publish_all {
        for key in exposed.as_object().map(|m| m.keys().collect::<Vec<_>>()).unwrap_or_default() {
            let parsed = parse_publish(key).map_err(|err| Error::InvalidFlag {
                flag: "--publish-all",
                value: key.clone(),
                reason: format!("the image exposes {}", berth_sys::error::chain(&err)),
            })?;
            specs.extend(
                parsed.into_iter().filter(|s| !specs_has(&opts.publish, s.container_port, s.proto)),
            );
        }
    }
    specs
        .into_iter()
        .map(|s| {
            let host_port = match s.host_port {
                0 => free_port(s.proto, s.host_ip)?,
                p => p,
            };
            Ok(Published {
                proto: s.proto,
                host_ip: s.host_ip,
                host_port,
                container_ip: address,
                container_port: s.container_port,
            })
        })
        .collect()
}

/// Whether an explicit `-p` already publishes `port/proto` (then `-P` leaves it alone).
fn specs_has(publish: &[String], port: u16, proto: Proto) -> bool {
    publish
        .iter()
        .filter_map(|p| parse_publish(p).ok())
        .flatten()
        .any(|s| s.container_port == port && s.proto == proto)
}

/// A port the kernel considers free now (as Docker picks from the ephemeral range).
fn free_port(proto: Proto, ip: Option<Ipv4Addr>) -> Result<u16> {
    let addr = (ip.unwrap_or(Ipv4Addr::UNSPECIFIED), 0);
    let port = match proto {
        Proto::Tcp => TcpListener::bind(addr).and_then(|l| l.local_addr()),
        Proto::Udp => UdpSocket::bind(addr).and_then(|s| s.local_addr()),
    };
    port.map(|a| a.port()).map_err(|err| Error::Io {
        op: "find a free host port",
        path: PathBuf::from(format!("{}:0/{proto}", addr.0)),
        source: err,
    })
}

/// Forgets the addresses of container `id`; returns the networks it was on.
fn release_endpoints(e: &Engine, id: &str) -> Result<Vec<String>> {
    let eps = e.db.endpoints_of(id)?;
    for ep in &eps {
        release_address(e, &ep.network, id)?;
    }
    Ok(eps.into_iter().map(|ep| ep.network).collect())
}

/// Forgets the address of container `id` on `network`.
pub(super) fn release_address(e: &Engine, network: &str, id: &str) -> Result<()> {
    berth_net::AllocationTable::release(&mut Endpoints(&e.db), network, id).map(|_| ()).map_err(
        |source| Error::Network {
            op: "release the address on",
            network: network.to_string(),
            source: berth_net::Error::ReleaseAddress {
                network: network.to_string(),
                owner: id.to_string(),
                source,
            },
        },
    )
}

/// The host end of the container's `index`th veth: `berth-<id9>` for the first (see
/// [`berth_net::host_veth_name`]), `berth<index>-<id8>` for the others (15 bytes at most).
pub fn host_ifname(id: &str, index: usize) -> String {
    if index == 0 {
        return berth_net::host_veth_name(id);
    }
    let short: String = id.chars().filter(char::is_ascii_alphanumeric).take(8).collect();
    format!("berth{index}-{short}")
}

/// Writes `plan` as container directory `dir`'s `network.json` (a temporary file renamed
/// over it, so the monitor never reads half a plan).
pub fn save(dir: &Path, plan: &Plan) -> Result<()> {
    let path = file(dir);
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_vec_pretty(plan).unwrap_or_default();
    std::fs::write(&tmp, text).map_err(Error::io("write", &tmp))?;
    std::fs::rename(&tmp, &path).map_err(Error::io("rename", &path))
}

/// Undoes everything of container `id` (directory `dir`) but the record: its published
/// ports and host veths (normally already withdrawn by its monitor, and gone with its
/// namespace: `detached` says the monitor did it), its addresses; then the hosts files of
/// the containers that could see it. Idempotent.
pub fn release(e: &Engine, id: &str, dir: &Path, detached: bool) -> Result<()> {
    if !detached {
        super::setup::detach(&load(dir));
    }
    for net in release_endpoints(e, id)? {
        super::etc::refresh_network(e, &net);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(parse_mode("none").0, Mode::None);
        assert_eq!(parse_mode("bridge"), (Mode::Bridge, Some("berth")));
        assert_eq!(parse_mode("lab"), (Mode::Bridge, Some("lab")));
        assert_eq!(parse_mode("container:web").0, Mode::Container("web".into()));
    }

    #[test]
    fn ports_from_flags_and_image() {
        let opts = RunOptions {
            publish: vec!["8080:80".into(), "127.0.0.1::53/udp".into()],
            publish_all: true,
            ..Default::default()
        };
        let exposed = serde_json::json!({"80/tcp": {}, "443/tcp": {}});
        let a = Ipv4Addr::new(10, 88, 0, 2);
        let p = resolve_ports(&opts, &exposed, a).unwrap();
        assert_eq!(p.len(), 3, "{p:?}");
        assert_eq!((p[0].host_port, p[0].container_port), (8080, 80));
        assert!(p[1].host_port > 0 && p[1].proto == Proto::Udp);
        assert_eq!(p[2].container_port, 443);
        assert!(p[2].host_port > 0);
        let bad = RunOptions { publish: vec!["80:80:80:80".into()], ..Default::default() };
        assert!(resolve_ports(&bad, &exposed, a).is_err());
    }

    #[test]
    fn host_ifnames_fit() {
        let id = "0123456789abcdef";
        assert_eq!(host_ifname(id, 0), "berth-012345678");
        assert_eq!(host_ifname(id, 3), "berth3-01234567");
        assert!(host_ifname(id, 9).len() <= 15);
    }

    #[test]
    fn plan_round_trips() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(load(tmp.path()).mode, Mode::None, "no file: no network");
        let p = Plan { mode: Mode::Container("abc".into()), ..Default::default() };
        std::fs::write(file(tmp.path()), serde_json::to_vec(&p).unwrap()).unwrap();
        assert_eq!(load(tmp.path()), p);
    }
}

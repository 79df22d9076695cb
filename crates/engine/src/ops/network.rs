//! `berth network create|ls|inspect|rm|prune`, and what `inspect`, `ps` and `port` show of
//! a container's network.

use std::net::Ipv4Addr;

use berth_net::{nat, Bridge, Ipv4Net};
use serde_json::{json, Value};

use super::Engine;
use crate::error::{Error, Result};
use crate::network::{self, plan, Network};

/// `network create` options.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// `--subnet` (default: the first free 10.89.N.0/24).
    pub subnet: Option<String>,
    /// `--gateway` (default: the subnet's first host).
    pub gateway: Option<String>,
    /// `--internal`.
    pub internal: bool,
    /// `-o KEY=VALUE` driver options: `mtu` (or Docker's `com.docker.network.driver.mtu`).
    pub options: Vec<String>,
}

/// Creates network `name` with its bridge and NAT rules.
pub fn create(e: &Engine, name: &str, o: &CreateOptions) -> Result<Network> {
    let bad = |flag, value: &str, reason: &str| Error::InvalidFlag {
        flag,
        value: value.to_string(),
        reason: reason.to_string(),
    };
    if !crate::ids::valid_name(name) || ["none", "host", "bridge", "default"].contains(&name) {
        return Err(bad(
            "NAME",
            name,
            "a network name is [a-zA-Z0-9][a-zA-Z0-9_.-]* and not none, host, bridge or default",
        ));
    }
    let subnet = match &o.subnet {
        Some(s) => {
            let n: Ipv4Net =
                s.parse().map_err(|_| bad("--subnet", s, "expected a.b.c.d/prefix"))?;
            if n.prefix() > 30 || n.prefix() < 8 {
                return Err(bad("--subnet", s, "the prefix must be between /8 and /30"));
            }
            n.trunc()
        }
        None => free_subnet(e)?,
    };
    let gateway = match &o.gateway {
        Some(g) => {
            let a: Ipv4Addr = g.parse().map_err(|_| bad("--gateway", g, "not an IPv4 address"))?;
            if !subnet.contains(a) || a == subnet.network() || a == subnet.broadcast() {
                return Err(bad("--gateway", g, &format!("not a host address of {subnet}")));
            }
            a
        }
        None => network::first_host(subnet),
    };
    let mut mtu = network::DEFAULT_MTU;
    for opt in &o.options {
        match opt.split_once('=') {
            Some(("mtu" | "com.docker.network.driver.mtu", v)) => {
                mtu = v.parse().ok().filter(|m| (68..=65520).contains(m)).ok_or_else(|| {
                    bad("--opt", opt, "the MTU must be a number from 68 to 65520")
                })?;
            }
            _ => return Err(bad("--opt", opt, "the bridge driver takes mtu=N")),
        }
    }
    let id = crate::ids::new_id();
    let n = Network {
        name: name.to_string(),
        bridge: format!("br-{}", &id[..12]),
        id,
        subnet,
        gateway,
        internal: o.internal,
        mtu,
        created: crate::now(),
    };
    e.db.insert_network(&n)?;
    if let Err(err) = plan::ensure_bridge(e, &n) {
        let _ = teardown(&n);
        let _ = e.db.delete_network(&n.name);
        return Err(err);
    }
    Ok(n)
}

/// The first 10.89.N.0/24 that no network uses (podman's scheme).
fn free_subnet(e: &Engine) -> Result<Ipv4Net> {
    let used: Vec<Ipv4Net> = e.db.networks()?.into_iter().map(|n| n.subnet).collect();
    (0..=255u8)
        .map(|n| Ipv4Net::new(Ipv4Addr::new(10, 89, n, 0), 24).expect("valid /24"))
        .find(|c| !used.iter().any(|u| u.overlaps(c)))
        .ok_or_else(|| Error::NetworkConflict {
            op: "create",
            name: "?".into(),
            reason: "every 10.89.N.0/24 is taken: give --subnet".into(),
        })
}

/// Every network, the default one included (recorded here if no container used it yet).
pub fn list(e: &Engine) -> Result<Vec<Network>> {
    plan::network_for(e, network::DEFAULT)?;
    e.db.networks()
}

/// Docker's `network inspect` document of `key`.
pub fn inspect(e: &Engine, key: &str) -> Result<Value> {
    let n = plan::network_for(e, key)?;
    let mut containers = serde_json::Map::new();
    for ep in e.db.endpoints_on(&n.name)? {
        let name = e.db.get(&ep.container).map(|r| r.name).unwrap_or_default();
        containers.insert(
            ep.container.clone(),
            json!({
                "Name": name,
                "IPv4Address": n.subnet.with_addr(ep.address).to_string(),
                "MacAddress": berth_net::Mac::from_ipv4(ep.address).to_string(),
                "Aliases": ep.aliases,
            }),
        );
    }
    Ok(json!({
        "Name": n.name,
        "Id": n.id,
        "Created": n.created,
        "Driver": "bridge",
        "IPAM": {"Driver": "default", "Config": [{"Subnet": n.subnet.to_string(), "Gateway": n.gateway.to_string()}]},
        "Internal": n.internal,
        "Options": {
            "com.docker.network.bridge.name": n.bridge,
            "com.docker.network.driver.mtu": n.mtu.to_string(),
        },
        "Containers": containers,
    }))
}

/// `network connect NETWORK CONTAINER [--alias]`.
pub fn connect(e: &Engine, network: &str, container: &str, aliases: &[String]) -> Result<()> {
    crate::network::connect::connect(e, network, container, aliases)
}

/// `network disconnect NETWORK CONTAINER`.
pub fn disconnect(e: &Engine, network: &str, container: &str) -> Result<()> {
    crate::network::connect::disconnect(e, network, container)
}

/// Removes network `key`: refused while containers use it, and for the default network.
pub fn rm(e: &Engine, key: &str) -> Result<String> {
    let n = e.db.network(key)?;
    if n.name == network::DEFAULT {
        return Err(Error::NetworkConflict {
            op: "remove",
            name: n.name,
            reason: "it is the default network".into(),
        });
    }
    e.db.delete_network(&n.name)?;
    teardown(&n)?;
    Ok(n.name)
}

/// Removes every user-defined network no container uses, and the addresses of containers
/// whose record is gone (a `berth` killed half way through `run`); returns the names.
pub fn prune(e: &Engine) -> Result<Vec<String>> {
    for ep in e.db.orphan_endpoints()? {
        plan::release(e, &ep.container, &e.paths.container(&ep.container), false)?;
    }
    let mut gone = Vec::new();
    for n in e.db.networks()? {
        if n.name != network::DEFAULT && e.db.endpoints_on(&n.name)?.is_empty() {
            gone.push(rm(e, &n.name)?);
        }
    }
    Ok(gone)
}

/// The bridge and the NAT rules of `n` (both idempotent).
fn teardown(n: &Network) -> Result<()> {
    let neterr = |op| move |source| Error::Network { op, network: n.name.clone(), source };
    nat::remove(n.subnet, &n.bridge).map_err(neterr("remove the NAT rules of"))?;
    Bridge::remove(&n.bridge).map_err(neterr("remove the bridge of"))
}

/// Docker's `NetworkSettings` of container `id` (directory `dir`).
pub fn settings(e: &Engine, id: &str) -> Value {
    let p = plan::load(&e.paths.container(id));
    let mut ports = serde_json::Map::new();
    for pp in &p.ports {
        let key = format!("{}/{}", pp.container_port, pp.proto);
        let host_ip = pp.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED).to_string();
        let entry = json!({"HostIp": host_ip, "HostPort": pp.host_port.to_string()});
        match ports.get_mut(&key).and_then(Value::as_array_mut) {
            Some(list) => list.push(entry),
            None => {
                ports.insert(key, json!([entry]));
            }
        }
    }
    let mut networks = serde_json::Map::new();
    for ep in &p.endpoints {
        let Some(a) = ep.net() else { continue };
        networks.insert(
            ep.network.clone(),
            json!({
                "IPAddress": a.addr().to_string(),
                "IPPrefixLen": a.prefix(),
                "Gateway": ep.gateway.to_string(),
                "MacAddress": berth_net::Mac::from_ipv4(a.addr()).to_string(),
            }),
        );
    }
    let first = p.endpoints.first().and_then(|ep| ep.net().map(|a| (a, ep.gateway)));
    json!({
        "Mode": match &p.mode {
            plan::Mode::None => "none".to_string(),
            plan::Mode::Host => "host".to_string(),
            plan::Mode::Bridge => "bridge".to_string(),
            plan::Mode::Container(c) => format!("container:{c}"),
        },
        "IPAddress": first.map(|(a, _)| a.addr().to_string()).unwrap_or_default(),
        "IPPrefixLen": first.map(|(a, _)| a.prefix()).unwrap_or(0),
        "Gateway": first.map(|(_, g)| g.to_string()).unwrap_or_default(),
        "Ports": ports,
        "Networks": networks,
    })
}

/// The published ports of container `id`, Docker's `0.0.0.0:8080->80/tcp` form.
pub fn ports(e: &Engine, id: &str) -> Vec<berth_net::Published> {
    plan::load(&e.paths.container(id)).ports
}

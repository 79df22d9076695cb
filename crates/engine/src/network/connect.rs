//! `network connect` and `network disconnect`: a container joins or leaves a network after
//! it was created, live when it runs (the monitor rereads the plan at each restart).

use berth_net::Ipam;

use super::plan::{ensure_bridge, host_ifname, load, release_address, save, Attached, Mode, Plan};
use super::records::Endpoints;
use crate::error::{Error, Result};
use crate::ops::Engine;

/// `network connect`: container `key` joins network `name` (as interface `ethN`, no
/// default route); live if it runs, and at every later start.
pub fn connect(e: &Engine, name: &str, key: &str, aliases: &[String]) -> Result<()> {
    let rec = e.get(key)?;
    let net = e.db.network(name)?;
    let dir = e.paths.container(&rec.id);
    let mut plan = load(&dir);
    let refuse = |reason: String| Error::NetworkConflict {
        op: "connect to",
        name: net.name.clone(),
        reason,
    };
    if plan.mode != Mode::Bridge {
        return Err(refuse(format!("container {} does not use a bridge network", rec.name)));
    }
    if plan.endpoints.iter().any(|ep| ep.network == net.name) {
        return Err(refuse(format!("container {} is already connected", rec.name)));
    }
    ensure_bridge(e, &net)?;
    let mut table = Endpoints(&e.db);
    let address = Ipam::new(&mut table, &net.name, net.subnet, net.gateway)
        .and_then(|mut ipam| ipam.allocate(&rec.id))
        .map_err(|source| Error::Network {
            op: "allocate an address on",
            network: net.name.clone(),
            source,
        })?;
    let index = plan.endpoints.len();
    let ep = Attached {
        network: net.name.clone(),
        bridge: net.bridge.clone(),
        ifname: format!("eth{index}"),
        host_ifname: host_ifname(&rec.id, index),
        address: address.to_string(),
        gateway: net.gateway,
        mtu: net.mtu,
        internal: net.internal,
    };
    let done = (|| {
        if !aliases.is_empty() {
            e.db.set_aliases(&net.name, &rec.id, aliases)?;
        }
        if rec.state == "running" && rec.pid > 0 {
            let one = Plan { mode: Mode::Bridge, endpoints: vec![ep.clone()], ports: Vec::new() };
            super::setup::attach_one(&one.endpoints[0], rec.pid, false).map_err(|message| {
                Error::Runtime {
                    runtime: "berth".into(),
                    op: format!("connect {}", rec.name),
                    message,
                }
            })?;
        }
        plan.endpoints.push(ep.clone());
        save(&dir, &plan)
    })();
    if let Err(err) = done {
        let _ = release_address(e, &net.name, &rec.id);
        return Err(err);
    }
    super::etc::refresh(e, &rec.id)?;
    super::etc::refresh_network(e, &net.name);
    Ok(())
}

/// `network disconnect`: container `key` leaves network `name`. Its first network carries
/// the published ports and the default route: leaving it is refused while ports exist.
pub fn disconnect(e: &Engine, name: &str, key: &str) -> Result<()> {
    let rec = e.get(key)?;
    let net = e.db.network(name)?;
    let dir = e.paths.container(&rec.id);
    let mut plan = load(&dir);
    let refuse = |reason: String| Error::NetworkConflict {
        op: "disconnect from",
        name: net.name.clone(),
        reason,
    };
    let Some(i) = plan.endpoints.iter().position(|ep| ep.network == net.name) else {
        return Err(refuse(format!("container {} is not connected", rec.name)));
    };
    if i == 0 && !plan.ports.is_empty() {
        return Err(refuse(format!("container {} publishes ports on it", rec.name)));
    }
    let ep = plan.endpoints.remove(i);
    save(&dir, &plan)?;
    super::setup::detach(&Plan { mode: Mode::Bridge, endpoints: vec![ep], ports: Vec::new() });
    release_address(e, &net.name, &rec.id)?;
    super::etc::refresh(e, &rec.id)?;
    super::etc::refresh_network(e, &net.name);
    Ok(())
}

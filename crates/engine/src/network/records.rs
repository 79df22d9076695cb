//! Networks and endpoints in the engine's SQLite database.
//!
//! An endpoint is one container's address on one network. `UNIQUE (network, address)` is
//! what makes concurrent `run`s safe: the allocator reads the taken addresses, claims the
//! lowest free one with an `INSERT OR IGNORE`, and tries the next if another process won.

use std::net::Ipv4Addr;

use berth_net::{AllocationTable, Ipv4Net, TableError};
use rusqlite::{params, OptionalExtension, Row, TransactionBehavior};

use super::Network;
use crate::db::Db;
use crate::error::{Error, Result};

/// The network tables (created with the container table).
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS networks (
    name TEXT PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    bridge TEXT NOT NULL UNIQUE,
    subnet TEXT NOT NULL,
    gateway TEXT NOT NULL,
    internal INTEGER NOT NULL DEFAULT 0,
    created TEXT NOT NULL,
    mtu INTEGER NOT NULL DEFAULT 1500
);
CREATE TABLE IF NOT EXISTS endpoints (
    network TEXT NOT NULL,
    container TEXT NOT NULL,
    address TEXT NOT NULL,
    aliases TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (network, container),
    UNIQUE (network, address)
);";

/// One container's address on one network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The network's name.
    pub network: String,
    /// The container's id.
    pub container: String,
    /// Its address.
    pub address: Ipv4Addr,
    /// `--network-alias` names.
    pub aliases: Vec<String>,
}

fn network_row(r: &Row<'_>) -> rusqlite::Result<Network> {
    let text = |i: usize| r.get::<_, String>(i);
    let subnet: Ipv4Net = text(3)?.parse().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, Box::new(e))
    })?;
    let gateway: Ipv4Addr = text(4)?.parse().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(4, rusqlite::types::Type::Text, Box::new(e))
    })?;
    Ok(Network {
        name: text(0)?,
        id: text(1)?,
        bridge: text(2)?,
        subnet,
        gateway,
        internal: r.get(5)?,
        created: text(6)?,
        mtu: r.get(7)?,
    })
}

fn endpoint_row(r: &Row<'_>) -> rusqlite::Result<Endpoint> {
    let address: String = r.get(2)?;
    let aliases: String = r.get(3)?;
    Ok(Endpoint {
        network: r.get(0)?,
        container: r.get(1)?,
        address: address.parse().unwrap_or(Ipv4Addr::UNSPECIFIED),
        aliases: serde_json::from_str(&aliases).unwrap_or_default(),
    })
}

const NETWORK_COLUMNS: &str = "name, id, bridge, subnet, gateway, internal, created, mtu";

impl Db {
    /// Records `n` unless its name or bridge is taken or its subnet overlaps another
    /// network's; the check and the insert are one transaction.
    pub fn insert_network(&self, n: &Network) -> Result<()> {
        let path = self.path.clone();
        let err = |source| Error::db(&path, source);
        let tx = rusqlite::Transaction::new_unchecked(self.conn()?, TransactionBehavior::Immediate)
            .map_err(err)?;
        let existing: Vec<Network> = {
            let mut st =
                tx.prepare(&format!("SELECT {NETWORK_COLUMNS} FROM networks")).map_err(err)?;
            let rows = st.query_map([], network_row).map_err(err)?;
            rows.collect::<rusqlite::Result<_>>().map_err(err)?
        };
        let conflict =
            |reason: String| Error::NetworkConflict { op: "create", name: n.name.clone(), reason };
        for o in &existing {
            if o.name == n.name {
                return Err(conflict(format!("a network named {} exists", o.name)));
            }
            if o.subnet.overlaps(&n.subnet) {
                return Err(conflict(format!(
                    "subnet {} overlaps subnet {} of network {}",
                    n.subnet, o.subnet, o.name
                )));
            }
            if o.bridge == n.bridge {
                return Err(conflict(format!("bridge {} is used by network {}", o.bridge, o.name)));
            }
        }
        tx.execute(
            &format!(
                "INSERT INTO networks ({NETWORK_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
            ),
            params![
                n.name,
                n.id,
                n.bridge,
                n.subnet.to_string(),
                n.gateway.to_string(),
                n.internal,
                n.created,
                n.mtu
            ],
        )
        .map_err(err)?;
        tx.commit().map_err(err)
    }

    /// The network named `key`, or whose id starts with it.
    pub fn network(&self, key: &str) -> Result<Network> {
        let exact = self
            .conn()?
            .query_row(
                &format!("SELECT {NETWORK_COLUMNS} FROM networks WHERE name = ?1 OR id = ?1"),
                [key],
                network_row,
            )
            .optional()
            .map_err(self.err())?;
        if let Some(n) = exact {
            return Ok(n);
        }
        let mut found: Vec<Network> = self
            .networks()?
            .into_iter()
            .filter(|n| !key.is_empty() && n.id.starts_with(key))
            .collect();
        match found.len() {
            1 => Ok(found.remove(0)),
            _ => Err(Error::NoSuchNetwork(key.to_string())),
        }
    }

    /// Every network, by name.
    pub fn networks(&self) -> Result<Vec<Network>> {
        let mut st = self
            .conn()?
            .prepare(&format!("SELECT {NETWORK_COLUMNS} FROM networks ORDER BY name"))
            .map_err(self.err())?;
        let rows = st.query_map([], network_row).map_err(self.err())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.err())
    }

    /// Forgets network `name`; refused while a container has an endpoint on it.
    pub fn delete_network(&self, name: &str) -> Result<()> {
        let users = self.endpoints_on(name)?;
        if let Some(e) = users.first() {
            return Err(Error::NetworkConflict {
                op: "remove",
                name: name.to_string(),
                reason: format!(
                    "it is in use by {} container(s), e.g. {}",
                    users.len(),
                    &e.container[..12.min(e.container.len())]
                ),
            });
        }
        self.conn()?
            .execute("DELETE FROM networks WHERE name = ?1", [name])
            .map(|_| ())
            .map_err(self.err())
    }

    /// The endpoints on network `name`.
    pub fn endpoints_on(&self, name: &str) -> Result<Vec<Endpoint>> {
        self.endpoints_where("network = ?1", name)
    }

    /// The endpoints of container `id`, in the order they were made.
    pub fn endpoints_of(&self, id: &str) -> Result<Vec<Endpoint>> {
        self.endpoints_where("container = ?1", id)
    }

    fn endpoints_where(&self, cond: &str, v: &str) -> Result<Vec<Endpoint>> {
        let mut st = self
            .conn()?
            .prepare(&format!(
                "SELECT network, container, address, aliases FROM endpoints WHERE {cond} ORDER BY rowid"
            ))
            .map_err(self.err())?;
        let rows = st.query_map([v], endpoint_row).map_err(self.err())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.err())
    }

    /// Sets the aliases of container `id` on `network`.
    pub fn set_aliases(&self, network: &str, id: &str, aliases: &[String]) -> Result<()> {
        let text = serde_json::to_string(aliases).unwrap_or_else(|_| "[]".into());
        self.conn()?
            .execute(
                "UPDATE endpoints SET aliases = ?3 WHERE network = ?1 AND container = ?2",
                params![network, id, text],
            )
            .map(|_| ())
            .map_err(self.err())
    }

    /// Endpoints whose container has no record (a `berth` killed between allocating and
    /// recording): what `system prune` / `network prune` release.
    pub fn orphan_endpoints(&self) -> Result<Vec<Endpoint>> {
        let mut st = self
            .conn()?
            .prepare(
                "SELECT network, container, address, aliases FROM endpoints
                 WHERE container NOT IN (SELECT id FROM containers)",
            )
            .map_err(self.err())?;
        let rows = st.query_map([], endpoint_row).map_err(self.err())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.err())
    }
}

/// [`AllocationTable`] over the endpoints table.
#[derive(Debug)]
pub struct Endpoints<'a>(pub &'a Db);

impl AllocationTable for Endpoints<'_> {
    fn allocated(&mut self, network: &str) -> std::result::Result<Vec<Ipv4Addr>, TableError> {
        let mut st = self.0.conn()?.prepare("SELECT address FROM endpoints WHERE network = ?1")?;
        let rows = st.query_map([network], |r| r.get::<_, String>(0))?;
        let mut v = Vec::new();
        for a in rows {
            v.push(a?.parse()?);
        }
        Ok(v)
    }

    fn claim(
        &mut self,
        network: &str,
        address: Ipv4Addr,
        owner: &str,
    ) -> std::result::Result<bool, TableError> {
        let n = self.0.conn()?.execute(
            "INSERT OR IGNORE INTO endpoints (network, container, address) VALUES (?1, ?2, ?3)",
            params![network, owner, address.to_string()],
        )?;
        Ok(n == 1)
    }

    fn release(
        &mut self,
        network: &str,
        owner: &str,
    ) -> std::result::Result<Option<Ipv4Addr>, TableError> {
        let a: Option<String> = self
            .0
            .conn()?
            .query_row(
                "DELETE FROM endpoints WHERE network = ?1 AND container = ?2 RETURNING address",
                params![network, owner],
                |r| r.get(0),
            )
            .optional()?;
        Ok(a.and_then(|a| a.parse().ok()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_net::Ipam;

    fn db() -> (tempfile::TempDir, Db) {
        let tmp = tempfile::tempdir().unwrap();
        let paths = crate::paths::Paths { data: tmp.path().join("d"), run: tmp.path().join("r") };
        let db = Db::open(&paths).unwrap();
        (tmp, db)
    }

    fn net(name: &str, subnet: &str, bridge: &str) -> Network {
        let subnet: Ipv4Net = subnet.parse().unwrap();
        Network {
            name: name.into(),
            id: crate::ids::new_id(),
            bridge: bridge.into(),
            gateway: super::super::first_host(subnet),
            subnet,
            internal: false,
            created: "t".into(),
            mtu: 1500,
        }
    }

    #[test]
    fn networks_refuse_overlaps_and_names() {
        let (_t, db) = db();
        db.insert_network(&net("a", "10.1.0.0/16", "br-a")).unwrap();
        assert!(matches!(
            db.insert_network(&net("a", "10.2.0.0/16", "br-b")),
            Err(Error::NetworkConflict { .. })
        ));
        let e = db.insert_network(&net("b", "10.1.2.0/24", "br-b")).unwrap_err().to_string();
        assert!(e.contains("overlaps subnet 10.1.0.0/16 of network a"), "{e}");
        db.insert_network(&net("b", "10.2.0.0/16", "br-b")).unwrap();
        assert_eq!(db.networks().unwrap().len(), 2);
        assert_eq!(db.network("b").unwrap().subnet.to_string(), "10.2.0.0/16");
        assert!(matches!(db.network("zz"), Err(Error::NoSuchNetwork(_))));
    }

    #[test]
    fn allocation_is_unique_and_released() {
        let (_t, db) = db();
        let n = net("a", "10.1.0.0/30", "br-a");
        let mut t = Endpoints(&db);
        let mut ipam = Ipam::new(&mut t, "a", n.subnet, n.gateway).unwrap();
        assert_eq!(ipam.allocate("c1").unwrap().to_string(), "10.1.0.2/30");
        assert!(ipam.allocate("c2").is_err(), "a /30 has one host after the gateway");
        assert_eq!(ipam.release("c1").unwrap(), Some(Ipv4Addr::new(10, 1, 0, 2)));
        assert_eq!(ipam.allocate("c2").unwrap().to_string(), "10.1.0.2/30");
        db.set_aliases("a", "c2", &["web".into()]).unwrap();
        assert_eq!(db.endpoints_of("c2").unwrap()[0].aliases, vec!["web".to_string()]);
        let e = db.delete_network("a").unwrap_err().to_string();
        assert!(e.contains("in use"), "{e}");
        assert_eq!(db.orphan_endpoints().unwrap().len(), 1);
    }
}

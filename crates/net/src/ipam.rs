//! Address allocation over a table the caller owns. The engine backs it with SQLite (a
//! unique (network, address) key makes concurrent `run`s safe); [`MemoryTable`] serves
//! tests and short-lived tools.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use crate::addr::Ipv4Net;
use crate::error::TableError;
use crate::Error;

/// Where allocations live: one row per (network, address, owner).
pub trait AllocationTable {
    /// The addresses of `network` already allocated.
    fn allocated(&mut self, network: &str) -> Result<Vec<Ipv4Addr>, TableError>;
    /// Records `address` of `network` for `owner`; `Ok(false)` if another owner took it
    /// since [`AllocationTable::allocated`] was read (the allocator then tries the next).
    fn claim(&mut self, network: &str, address: Ipv4Addr, owner: &str) -> Result<bool, TableError>;
    /// Forgets the address of `owner` in `network`, returning it (`None` if it had none).
    fn release(&mut self, network: &str, owner: &str) -> Result<Option<Ipv4Addr>, TableError>;
}

/// Allocates the addresses of one network's subnet.
#[derive(Debug)]
pub struct Ipam<'t, T: AllocationTable> {
    table: &'t mut T,
    network: String,
    subnet: Ipv4Net,
    gateway: Ipv4Addr,
}

/// Attempts before giving up when other allocators keep winning the race for an address.
const MAX_RACES: usize = 64;

impl<'t, T: AllocationTable> Ipam<'t, T> {
    /// IPAM for `network` (its name in the table) over `subnet`, whose `gateway` is never
    /// handed out. The subnet must leave room for at least one host: at most /30.
    pub fn new(
        table: &'t mut T,
        network: &str,
        subnet: Ipv4Net,
        gateway: Ipv4Addr,
    ) -> Result<Self, Error> {
        if subnet.prefix() > 30 {
            return Err(Error::SubnetTooSmall {
                network: network.to_owned(),
                subnet: subnet.to_string(),
            });
        }
        Ok(Self { table, network: network.to_owned(), subnet: subnet.trunc(), gateway })
    }

    /// The lowest free address of the subnet, skipping the network, gateway and broadcast
    /// addresses, recorded for `owner`; returned with the subnet's prefix.
    pub fn allocate(&mut self, owner: &str) -> Result<Ipv4Net, Error> {
        for _ in 0..MAX_RACES {
            let taken = self.table.allocated(&self.network).map_err(|source| {
                Error::ReadAllocations { network: self.network.clone(), source }
            })?;
            let Some(address) = self.lowest_free(&taken) else {
                return Err(self.full());
            };
            let won = self.table.claim(&self.network, address, owner).map_err(|source| {
                Error::ClaimAddress {
                    network: self.network.clone(),
                    address,
                    owner: owner.to_owned(),
                    source,
                }
            })?;
            if won {
                return Ok(self.subnet.with_addr(address));
            }
        }
        Err(self.full())
    }

    /// Frees the address of `owner`; returns it, or `None` if it had none.
    pub fn release(&mut self, owner: &str) -> Result<Option<Ipv4Addr>, Error> {
        self.table.release(&self.network, owner).map_err(|source| Error::ReleaseAddress {
            network: self.network.clone(),
            owner: owner.to_owned(),
            source,
        })
    }

    fn lowest_free(&self, taken: &[Ipv4Addr]) -> Option<Ipv4Addr> {
        let mut taken: Vec<u32> = taken.iter().map(|a| u32::from(*a)).collect();
        taken.sort_unstable();
        let first = u32::from(self.subnet.network()) + 1;
        let last = u32::from(self.subnet.broadcast()) - 1;
        let gw = u32::from(self.gateway);
        (first..=last).find(|a| *a != gw && taken.binary_search(a).is_err()).map(Ipv4Addr::from)
    }

    fn full(&self) -> Error {
        Error::SubnetFull { network: self.network.clone(), subnet: self.subnet.to_string() }
    }
}

/// An in-memory [`AllocationTable`]: network → address → owner.
#[derive(Debug, Default, Clone)]
pub struct MemoryTable {
    rows: BTreeMap<String, BTreeMap<Ipv4Addr, String>>,
}

impl AllocationTable for MemoryTable {
    fn allocated(&mut self, network: &str) -> Result<Vec<Ipv4Addr>, TableError> {
        Ok(self.rows.get(network).map(|m| m.keys().copied().collect()).unwrap_or_default())
    }

    fn claim(&mut self, network: &str, address: Ipv4Addr, owner: &str) -> Result<bool, TableError> {
        let net = self.rows.entry(network.to_owned()).or_default();
        if net.contains_key(&address) {
            return Ok(false);
        }
        net.insert(address, owner.to_owned());
        Ok(true)
    }

    fn release(&mut self, network: &str, owner: &str) -> Result<Option<Ipv4Addr>, TableError> {
        let Some(net) = self.rows.get_mut(network) else { return Ok(None) };
        let found = net.iter().find(|(_, o)| *o == owner).map(|(a, _)| *a);
        if let Some(a) = found {
            net.remove(&a);
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn lowest_free_skips_network_gateway_broadcast() {
        let mut t = MemoryTable::default();
        let subnet: Ipv4Net = "10.88.0.0/29".parse().unwrap();
        let mut ipam = Ipam::new(&mut t, "berth", subnet, ip("10.88.0.1")).unwrap();
        let got: Vec<String> =
            (0..5).map(|i| ipam.allocate(&format!("c{i}")).unwrap().to_string()).collect();
        assert_eq!(
            got,
            ["10.88.0.2/29", "10.88.0.3/29", "10.88.0.4/29", "10.88.0.5/29", "10.88.0.6/29"]
        );
        assert!(matches!(ipam.allocate("c5"), Err(Error::SubnetFull { .. })));
        assert_eq!(ipam.release("c1").unwrap(), Some(ip("10.88.0.3")));
        assert_eq!(ipam.release("c1").unwrap(), None);
        assert_eq!(ipam.allocate("c6").unwrap().addr(), ip("10.88.0.3"), "reused lowest");
    }

    #[test]
    fn gateway_anywhere_and_networks_apart() {
        let mut t = MemoryTable::default();
        let subnet: Ipv4Net = "192.168.5.3/30".parse().unwrap();
        let mut a = Ipam::new(&mut t, "a", subnet, ip("192.168.5.2")).unwrap();
        assert_eq!(a.allocate("x").unwrap().addr(), ip("192.168.5.1"));
        assert!(a.allocate("y").is_err(), "/30 has two hosts, one is the gateway");
        let mut b = Ipam::new(&mut t, "b", subnet, ip("192.168.5.2")).unwrap();
        assert_eq!(b.allocate("x").unwrap().addr(), ip("192.168.5.1"), "other network");
        let small = "10.0.0.0/31".parse().unwrap();
        assert!(matches!(
            Ipam::new(&mut t, "c", small, ip("10.0.0.0")),
            Err(Error::SubnetTooSmall { .. })
        ));
    }

    /// A table where another allocator claims each address just before us, once.
    struct Racy(MemoryTable, usize);

    impl AllocationTable for Racy {
        fn allocated(&mut self, n: &str) -> Result<Vec<Ipv4Addr>, TableError> {
            self.0.allocated(n)
        }
        fn claim(&mut self, n: &str, a: Ipv4Addr, o: &str) -> Result<bool, TableError> {
            if self.1 > 0 {
                self.1 -= 1;
                self.0.claim(n, a, "other")?;
            }
            self.0.claim(n, a, o)
        }
        fn release(&mut self, n: &str, o: &str) -> Result<Option<Ipv4Addr>, TableError> {
            self.0.release(n, o)
        }
    }

    #[test]
    fn lost_race_takes_next() {
        let mut t = Racy(MemoryTable::default(), 2);
        let subnet = "10.88.0.0/24".parse().unwrap();
        let mut ipam = Ipam::new(&mut t, "n", subnet, ip("10.88.0.1")).unwrap();
        assert_eq!(ipam.allocate("me").unwrap().addr(), ip("10.88.0.4"));
    }
}

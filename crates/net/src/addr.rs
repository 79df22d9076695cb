//! IPv4 networks and MAC addresses: the few value types the API needs (no `ipnet` crate for
//! two methods).

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use crate::Error;

/// An IPv4 address with a prefix length, e.g. `10.88.0.1/16` (an interface address) or
/// `10.88.0.0/16` (a subnet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Net {
    addr: Ipv4Addr,
    prefix: u8,
}

impl Ipv4Net {
    /// `addr/prefix`; fails if `prefix` > 32.
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Result<Self, Error> {
        if prefix > 32 {
            return Err(Error::ParseNet { text: format!("{addr}/{prefix}") });
        }
        Ok(Self { addr, prefix })
    }

    /// The address as given (not masked).
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// The netmask as a number (`/16` → `0xffff_0000`).
    pub fn mask(&self) -> u32 {
        u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0)
    }

    /// The network address (host bits cleared).
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }

    /// The broadcast address (host bits set).
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !self.mask())
    }

    /// This network with the host bits cleared (`10.88.0.1/16` → `10.88.0.0/16`).
    pub fn trunc(&self) -> Self {
        Self { addr: self.network(), prefix: self.prefix }
    }

    /// Whether `a` lies in this network.
    pub fn contains(&self, a: Ipv4Addr) -> bool {
        u32::from(a) & self.mask() == u32::from(self.network())
    }

    /// Whether the two networks share any address (for refusing overlapping subnets).
    pub fn overlaps(&self, other: &Ipv4Net) -> bool {
        self.contains(other.network()) || other.contains(self.network())
    }

    /// The same prefix with another address in it (`10.88.0.0/16` + `10.88.0.5` →
    /// `10.88.0.5/16`), the form an interface address takes.
    pub fn with_addr(&self, a: Ipv4Addr) -> Self {
        Self { addr: a, prefix: self.prefix }
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Ipv4Net {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || Error::ParseNet { text: s.to_owned() };
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = a.parse().map_err(|_| bad())?;
        // `u8::from_str` takes a leading '+'; prefixes are plain digits.
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        Self::new(addr, prefix).map_err(|_| bad())
    }
}

/// An Ethernet address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// Docker's scheme: `02:42` (locally administered, unicast) then the IPv4 address, so a
    /// container's MAC is unique on its bridge as long as its address is.
    pub fn from_ipv4(a: Ipv4Addr) -> Self {
        let o = a.octets();
        Self([0x02, 0x42, o[0], o[1], o[2], o[3]])
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3], b[4], b[5])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_math() {
        let n: Ipv4Net = "10.88.0.1/16".parse().unwrap();
        assert_eq!(n.network(), Ipv4Addr::new(10, 88, 0, 0));
        assert_eq!(n.broadcast(), Ipv4Addr::new(10, 88, 255, 255));
        assert_eq!(n.trunc().to_string(), "10.88.0.0/16");
        assert!(n.contains(Ipv4Addr::new(10, 88, 3, 4)));
        assert!(!n.contains(Ipv4Addr::new(10, 89, 0, 1)));
        let inner: Ipv4Net = "10.88.5.0/24".parse().unwrap();
        let apart: Ipv4Net = "10.89.0.0/16".parse().unwrap();
        assert!(n.overlaps(&inner) && inner.overlaps(&n));
        assert!(!n.overlaps(&apart) && !apart.overlaps(&inner));
        let all: Ipv4Net = "1.2.3.4/0".parse().unwrap();
        assert_eq!(all.mask(), 0);
        let host: Ipv4Net = "1.2.3.4/32".parse().unwrap();
        assert_eq!(host.broadcast(), Ipv4Addr::new(1, 2, 3, 4));
        for bad in ["10.0.0.0", "10.0.0.0/33", "10.0.0/8", "10.0.0.0/+8", "10.0.0.0/", "x/8"] {
            assert!(bad.parse::<Ipv4Net>().is_err(), "{bad}");
        }
    }

    #[test]
    fn mac() {
        assert_eq!(Mac::from_ipv4(Ipv4Addr::new(10, 88, 0, 2)).to_string(), "02:42:0a:58:00:02");
    }
}

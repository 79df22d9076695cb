//! Published ports: Docker's `-p [hostIP:][hostPort:]containerPort[/proto]` syntax, with
//! port ranges, and the mapping it becomes once a container has an address.

use std::fmt;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::Error;

/// A transport protocol a port is published for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
        })
    }
}

/// One host port forwarded to one container port, as requested: `host_port` 0 means "any
/// free port", chosen when the container is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortSpec {
    pub proto: Proto,
    /// `None`: every local address of the host (Docker's `0.0.0.0`).
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub container_port: u16,
}

/// A published port of a running container: where traffic to the host port goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Published {
    pub proto: Proto,
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub container_ip: Ipv4Addr,
    pub container_port: u16,
}

impl fmt::Display for Published {
    /// Docker's `port`/`ps` form: `0.0.0.0:8080->80/tcp`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ip = self.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
        write!(f, "{ip}:{}->{}/{}", self.host_port, self.container_port, self.proto)
    }
}

/// Parses one `-p` value into the port pairs it names (a range gives several).
pub fn parse_publish(spec: &str) -> Result<Vec<PortSpec>, Error> {
    let bad = |reason: &str| Error::ParsePublish { spec: spec.to_owned(), reason: reason.into() };
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, "tcp")) => (r, Proto::Tcp),
        Some((r, "udp")) => (r, Proto::Udp),
        Some((_, p)) => return Err(bad(&format!("unknown protocol {p:?} (tcp or udp)"))),
        None => (spec, Proto::Tcp),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, host, container) = match parts.as_slice() {
        [c] => ("", "", *c),
        [h, c] => ("", *h, *c),
        [i, h, c] => (*i, *h, *c),
        _ => return Err(bad("expected [hostIP:][hostPort:]containerPort[/tcp|udp]")),
    };
    let host_ip = match ip {
        "" | "0.0.0.0" => None,
        ip => Some(ip.parse::<Ipv4Addr>().map_err(|_| bad("the host IP is not an IPv4 address"))?),
    };
    let (c_lo, c_hi) = range(container).ok_or_else(|| bad("invalid container port"))?;
    let (h_lo, h_hi) = match host {
        "" => (0, 0),
        h => range(h).ok_or_else(|| bad("invalid host port"))?,
    };
    let count = c_hi - c_lo;
    if !host.is_empty() && h_hi - h_lo != count {
        return Err(bad("the host and container port ranges differ in length"));
    }
    Ok((0..=count)
        .map(|i| PortSpec {
            proto,
            host_ip,
            host_port: if host.is_empty() { 0 } else { h_lo + i },
            container_port: c_lo + i,
        })
        .collect())
}

/// `N` or `LO-HI`, each 1–65535, `LO <= HI`.
fn range(s: &str) -> Option<(u16, u16)> {
    let port = |p: &str| -> Option<u16> {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        p.parse().ok().filter(|n| *n > 0)
    };
    match s.split_once('-') {
        None => port(s).map(|p| (p, p)),
        Some((a, b)) => Some((port(a)?, port(b)?)).filter(|(a, b)| a <= b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &str) -> PortSpec {
        let v = parse_publish(s).unwrap();
        assert_eq!(v.len(), 1, "{s}");
        v[0]
    }

    #[test]
    fn docker_forms() {
        let p = one("8080:80");
        assert_eq!(
            (p.host_ip, p.host_port, p.container_port, p.proto),
            (None, 8080, 80, Proto::Tcp)
        );
        let p = one("127.0.0.1:8080:80/udp");
        assert_eq!(p.host_ip, Some(Ipv4Addr::LOCALHOST));
        assert_eq!(p.proto, Proto::Udp);
        assert_eq!(one("80").host_port, 0);
        assert_eq!(one("127.0.0.1::80").host_port, 0);
        assert_eq!(one("0.0.0.0:1:2").host_ip, None);
        let r = parse_publish("8000-8002:80-82").unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!((r[2].host_port, r[2].container_port), (8002, 82));
        assert_eq!(parse_publish("80-81").unwrap().len(), 2);
    }

    #[test]
    fn refused() {
        for bad in [
            "",
            "x",
            "0",
            "65536",
            "80/sctp",
            "1:2:3:4",
            "a.b:1:2",
            "8000-8001:80",
            "9-8",
            "80:",
            ":80x",
            "-1",
            "+80",
        ] {
            assert!(parse_publish(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn display() {
        let p = Published {
            proto: Proto::Tcp,
            host_ip: None,
            host_port: 8080,
            container_ip: Ipv4Addr::new(10, 88, 0, 2),
            container_port: 80,
        };
        assert_eq!(p.to_string(), "0.0.0.0:8080->80/tcp");
    }
}

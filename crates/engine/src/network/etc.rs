//! The container's `/etc/hosts` and `/etc/resolv.conf`, which the engine writes into the
//! container's directory and bind-mounts (Docker's way).
//!
//! Names on user-defined networks come from `/etc/hosts` too: whenever a container joins
//! or leaves such a network, the hosts file of every container on it is rewritten in place
//! (the bind mount pins the file's inode, so a rename would not be seen).

use std::io::{Seek, SeekFrom, Write};
use std::net::Ipv4Addr;
use std::path::Path;

use crate::error::{Error, Result};
use crate::ops::Engine;
use crate::spec::RunOptions;

/// One line of a hosts file: an address and its names.
pub type HostEntry = (String, Vec<String>);

/// The hosts file of a container named `name` with hostname `hostname`: localhost, its own
/// addresses (127.0.1.1 with no network), the peers, then `--add-host` entries.
pub fn hosts(
    hostname: &str,
    name: &str,
    own: &[Ipv4Addr],
    peers: &[HostEntry],
    add_hosts: &[String],
) -> Result<String> {
    let mut s = String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    let mut me = vec![hostname.to_string()];
    if name != hostname && !name.is_empty() {
        me.push(name.to_string());
    }
    if own.is_empty() {
        s.push_str(&format!("127.0.1.1\t{}\n", me.join(" ")));
    }
    for a in own {
        s.push_str(&format!("{a}\t{}\n", me.join(" ")));
    }
    for (addr, names) in peers {
        s.push_str(&format!("{addr}\t{}\n", names.join(" ")));
    }
    for h in add_hosts {
        let (host, ip) = parse_add_host(h)?;
        s.push_str(&format!("{ip}\t{host}\n"));
    }
    Ok(s)
}

/// `--add-host HOST:IP` (Docker also takes `HOST=IP`); IPv6 addresses keep their colons.
pub fn parse_add_host(v: &str) -> Result<(String, String)> {
    let bad = |reason: &str| Error::InvalidFlag {
        flag: "--add-host",
        value: v.to_string(),
        reason: reason.into(),
    };
    let (host, ip) =
        v.split_once('=').or_else(|| v.split_once(':')).ok_or_else(|| bad("expected HOST:IP"))?;
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(bad("the host name is empty or has blanks"));
    }
    if ip.parse::<std::net::IpAddr>().is_err() && ip != "host-gateway" {
        return Err(bad("the address is not an IP address"));
    }
    Ok((host.to_string(), ip.to_string()))
}

/// `--dns` servers, else the host's resolv.conf without loopback resolvers (they cannot
/// work from another network namespace); the host's `search` and `options` lines are kept.
pub fn resolv(dns: &[String], host_resolv: &str) -> Result<String> {
    for d in dns {
        if d.parse::<std::net::IpAddr>().is_err() {
            return Err(Error::InvalidFlag {
                flag: "--dns",
                value: d.clone(),
                reason: "not an IP address".into(),
            });
        }
    }
    let keep = |l: &&str| {
        if !l.starts_with("nameserver") {
            return true;
        }
        dns.is_empty() && !(l.contains(" 127.") || l.contains(" ::1"))
    };
    let mut s: String = host_resolv.lines().filter(keep).map(|l| format!("{l}\n")).collect();
    for d in dns {
        s.push_str(&format!("nameserver {d}\n"));
    }
    Ok(s)
}

/// Writes `text` over `path` in place (same inode), then cuts it to length.
pub fn write_in_place(path: &Path, text: &str) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(Error::io("open", path))?;
    f.seek(SeekFrom::Start(0))
        .and_then(|_| f.write_all(text.as_bytes()))
        .and_then(|_| f.set_len(text.len() as u64))
        .map_err(Error::io("write", path))
}

/// The peers container `id` sees: the other containers on its user-defined networks.
pub fn peers_of(e: &Engine, id: &str) -> Result<Vec<HostEntry>> {
    let mut peers = Vec::new();
    for mine in e.db.endpoints_of(id)? {
        let net = match e.db.network(&mine.network) {
            Ok(n) if n.has_names() => n,
            _ => continue,
        };
        for other in e.db.endpoints_on(&net.name)? {
            if other.container == id {
                continue;
            }
            let Ok(rec) = e.db.get(&other.container) else { continue };
            let mut names = vec![rec.name.clone()];
            names.extend(other.aliases.iter().cloned());
            peers.push((other.address.to_string(), names));
        }
    }
    Ok(peers)
}

/// Rewrites the hosts file of container `id` from its record and the endpoints.
pub fn refresh(e: &Engine, id: &str) -> Result<()> {
    let rec = e.db.get(id)?;
    let opts: RunOptions = serde_json::from_str(&rec.config).unwrap_or_default();
    let own: Vec<Ipv4Addr> = e.db.endpoints_of(id)?.iter().map(|ep| ep.address).collect();
    let hostname = crate::spec::hostname_of(&opts, id);
    let text = hosts(&hostname, &rec.name, &own, &peers_of(e, id)?, &opts.add_host)?;
    write_in_place(&e.paths.container(id).join("hosts"), &text)
}

/// Rewrites the hosts files of every container on `network` that has names (best effort:
/// a container removed meanwhile is skipped). On the default network nobody sees anybody,
/// so nothing changes for the others when one comes or goes.
pub fn refresh_network(e: &Engine, network: &str) {
    if !e.db.network(network).is_ok_and(|n| n.has_names()) {
        return;
    }
    let Ok(eps) = e.db.endpoints_on(network) else { return };
    for ep in eps {
        let _ = refresh(e, &ep.container);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_file() {
        let a = Ipv4Addr::new(10, 89, 0, 2);
        let peers = vec![("10.89.0.3".to_string(), vec!["etcd-2".to_string(), "db".to_string()])];
        let h = hosts("etcd-1", "etcd-1", &[a], &peers, &["gw:10.0.0.1".into()]).unwrap();
        assert!(h.contains("10.89.0.2\tetcd-1\n"), "{h}");
        assert!(h.contains("10.89.0.3\tetcd-2 db\n"), "{h}");
        assert!(h.contains("10.0.0.1\tgw\n"), "{h}");
        assert!(!h.contains("127.0.1.1"));
        let none = hosts("abc", "name", &[], &[], &[]).unwrap();
        assert!(none.contains("127.0.1.1\tabc name\n"), "{none}");
        assert!(hosts("a", "a", &[], &[], &["nocolon".into()]).is_err());
        assert!(hosts("a", "a", &[], &[], &["x:notip".into()]).is_err());
        assert_eq!(parse_add_host("v6:::1").unwrap().1, "::1");
    }

    #[test]
    fn resolv_file() {
        let host = "search lan\nnameserver 127.0.0.53\nnameserver 10.0.0.1\noptions edns0\n";
        assert_eq!(resolv(&[], host).unwrap(), "search lan\nnameserver 10.0.0.1\noptions edns0\n");
        let r = resolv(&["1.1.1.1".into()], host).unwrap();
        assert_eq!(r, "search lan\noptions edns0\nnameserver 1.1.1.1\n");
        assert!(resolv(&["x".into()], host).is_err());
    }

    #[test]
    fn in_place_keeps_inode() {
        use std::os::unix::fs::MetadataExt;
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("hosts");
        write_in_place(&p, "a long first version\n").unwrap();
        let ino = std::fs::metadata(&p).unwrap().ino();
        write_in_place(&p, "short\n").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "short\n");
        assert_eq!(std::fs::metadata(&p).unwrap().ino(), ino);
    }
}

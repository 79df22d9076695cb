//! NAT through nftables, in berth's own table `ip berth` so no other program's rules are
//! read or changed:
//!
//! - per bridge network (rules tagged with the comment `berth:<bridge>:<subnet>`): masquerade
//!   for traffic leaving the subnet (not for `--internal` networks, which instead drop all
//!   forwarding in or out), and masquerade for published-port traffic that enters the bridge
//!   from the host's loopback or from the subnet itself (hairpin), whose replies would
//!   otherwise bypass the translation;
//! - published ports: two maps, `ports_any` (proto . port) and `ports_ip` (address . proto .
//!   port), looked up by fixed DNAT rules in `prerouting` (traffic from elsewhere) and
//!   `output` (traffic from the host itself). Publishing is adding map elements: one
//!   nf_tables batch over netlink per container (`crate::nftables`), no rule handles to
//!   track, no process started.
//!
//! The table goes when the last bridge network's rules do. The table, chains and rules,
//! made once per network, are driven by the `nft` binary (Debian package `nftables`):
//! scripts on stdin, applied as one transaction, and `-j` JSON listings to find our rules'
//! handles. Their netlink form (expressions, registers, the comment as userdata) is far
//! more code than these few fixed rules made once per boot are worth.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::addr::Ipv4Net;
use crate::nftables::{self, Elem, ElemOp};
use crate::ports::{Proto, Published};
use crate::Error;

/// The table's family and name.
pub const TABLE: &str = "ip berth";

/// The maps, chains and DNAT rules every bridge network shares; made with the table.
const BASE: &str = "\
add map ip berth ports_any { type inet_proto . inet_service : ipv4_addr . inet_service; }
add map ip berth ports_ip { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }
add chain ip berth prerouting { type nat hook prerouting priority dstnat; policy accept; }
add chain ip berth output { type nat hook output priority -100; policy accept; }
add chain ip berth postrouting { type nat hook postrouting priority srcnat; policy accept; }
add chain ip berth forward { type filter hook forward priority filter; policy accept; }
";

/// Sets up NAT for bridge network `bridge` with `subnet`: the table if missing, then the
/// network's rules (replacing stale ones of the same bridge), and `route_localnet` on the
/// bridge so that host-local traffic to a published port can be routed into it.
/// `internal`: no masquerade out; forwarding between the bridge and elsewhere is dropped.
/// Idempotent.
pub fn ensure(subnet: Ipv4Net, bridge: &str, internal: bool) -> Result<(), Error> {
    check_bridge(bridge)?;
    let subnet = subnet.trunc();
    let want = comment(bridge, subnet);
    let mut script = String::new();
    let rules = match list_rules("find nat rules")? {
        Some(rules) => rules,
        None => {
            script.push_str(&format!("add table {TABLE}\n{BASE}"));
            for chain in ["prerouting", "output"] {
                for (key, map) in [
                    ("ip daddr . meta l4proto . th dport", "ports_ip"),
                    ("meta l4proto . th dport", "ports_any"),
                ] {
                    script.push_str(&format!(
                        "add rule {TABLE} {chain} meta l4proto {{ tcp, udp }} fib daddr type local \
                         dnat ip to {key} map @{map} comment \"berth-ports\"\n"
                    ));
                }
            }
            Vec::new()
        }
    };
    let mine = rules.iter().filter(|r| r.comment == want).count();
    if mine == rules_for(subnet, bridge, internal).len() {
        return set_route_localnet(bridge);
    }
    // rules of this bridge for another subnet or mode are stale: replace them all at once
    for r in rules.iter().filter(|r| r.comment.starts_with(&prefix(bridge))) {
        script.push_str(&format!("delete rule {TABLE} {} handle {}\n", r.chain, r.handle));
    }
    for (chain, rule) in rules_for(subnet, bridge, internal) {
        script.push_str(&format!("add rule {TABLE} {chain} {rule} comment \"{want}\"\n"));
    }
    nft_script(&script, "add the bridge network's rules")?;
    set_route_localnet(bridge)
}

/// (chain, rule) of one bridge network.
fn rules_for(subnet: Ipv4Net, bridge: &str, internal: bool) -> Vec<(&'static str, String)> {
    let mut v = vec![(
        "postrouting",
        format!(
            "oifname \"{bridge}\" ct status dnat ip saddr {{ 127.0.0.0/8, {subnet} }} counter masquerade"
        ),
    )];
    if internal {
        v.push(("forward", format!("iifname \"{bridge}\" oifname != \"{bridge}\" drop")));
        v.push(("forward", format!("oifname \"{bridge}\" iifname != \"{bridge}\" drop")));
    } else {
        v.push((
            "postrouting",
            format!("ip saddr {subnet} oifname != \"{bridge}\" counter masquerade"),
        ));
    }
    v
}

/// Removes the rules of `bridge`, and the table once no bridge network has rules in it.
/// A missing table or rule is not an error.
pub fn remove(subnet: Ipv4Net, bridge: &str) -> Result<(), Error> {
    check_bridge(bridge)?;
    let want = comment(bridge, subnet.trunc());
    let Some(rules) = list_rules("find nat rules")? else { return Ok(()) };
    let networks = rules.iter().filter(|r| r.comment.starts_with("berth:"));
    let script = if networks.clone().all(|r| r.comment == want) {
        format!("delete table {TABLE}\n")
    } else {
        networks
            .filter(|r| r.comment == want)
            .map(|r| format!("delete rule {TABLE} {} handle {}\n", r.chain, r.handle))
            .collect()
    };
    if script.is_empty() {
        return Ok(());
    }
    nft_script(&script, "remove the bridge network's rules")
}

/// Publishes `ports` (the bridge network's [`ensure`] must have made the table): one
/// nf_tables batch over netlink, no `nft` process. A missing table is an error for which
/// [`Error::is_missing_table`] holds.
pub fn publish(ports: &[Published]) -> Result<(), Error> {
    let elems: Vec<Elem> = ports.iter().map(map_elem).collect();
    let ops: Vec<(ElemOp, &Elem)> = elems.iter().map(|e| (ElemOp::Add, e)).collect();
    nftables::apply(&ops)
}

/// Withdraws `ports`. Each element is added then deleted in one transaction, so one that
/// is already gone is not an error; a missing table is not either. One that maps the same
/// host port to another container (the port was taken over meanwhile) is refused, and
/// stays.
pub fn unpublish(ports: &[Published]) -> Result<(), Error> {
    let elems: Vec<Elem> = ports.iter().map(map_elem).collect();
    let ops: Vec<(ElemOp, &Elem)> =
        elems.iter().flat_map(|e| [(ElemOp::Add, e), (ElemOp::Delete, e)]).collect();
    match nftables::apply(&ops) {
        Err(e) if e.is_missing_table() => Ok(()),
        other => other,
    }
}

/// A published port as an element of `ports_any` (`proto . port : address . port`) or
/// `ports_ip` (`address . proto . port : ...`): each field in network byte order, padded to
/// 4 bytes.
fn map_elem(p: &Published) -> Elem {
    let word = |b: &[u8]| {
        let mut w = [0u8; 4];
        w[..b.len()].copy_from_slice(b);
        w
    };
    let proto = word(&[match p.proto {
        Proto::Tcp => 6,
        Proto::Udp => 17,
    }]);
    let port = word(&p.host_port.to_be_bytes());
    let to = format!("{} . {}", p.container_ip, p.container_port);
    let (map, key, text) = match p.host_ip {
        None => {
            ("ports_any", [proto, port].concat(), format!("{} . {} : {to}", p.proto, p.host_port))
        }
        Some(ip) => (
            "ports_ip",
            [ip.octets(), proto, port].concat(),
            format!("{ip} . {} . {} : {to}", p.proto, p.host_port),
        ),
    };
    let data = [p.container_ip.octets(), word(&p.container_port.to_be_bytes())].concat();
    Elem { table: "berth", map, key, data, text }
}

/// Whether berth's table exists in the caller's network namespace.
pub fn table_exists() -> Result<bool, Error> {
    Ok(list_rules("list the nat table")?.is_some())
}

/// Turns on IPv4 forwarding in the caller's network namespace, which masquerading needs
/// (`/proc/sys/net/ipv4/ip_forward`; the engine calls it once per bridge setup).
pub fn enable_forwarding() -> Result<(), Error> {
    write_sysctl(Path::new("/proc/sys/net/ipv4/ip_forward"))
}

/// Lets 127.0.0.0/8 addresses be routed out of `bridge` (DNAT of `-p 127.0.0.1:…`).
fn set_route_localnet(bridge: &str) -> Result<(), Error> {
    write_sysctl(&Path::new("/proc/sys/net/ipv4/conf").join(bridge).join("route_localnet"))
}

fn write_sysctl(path: &Path) -> Result<(), Error> {
    std::fs::write(path, "1").map_err(|source| Error::WriteSysctl { path: path.into(), source })
}

fn prefix(bridge: &str) -> String {
    format!("berth:{bridge}:")
}

fn comment(bridge: &str, subnet: Ipv4Net) -> String {
    format!("{}{subnet}", prefix(bridge))
}

/// Bridge names go into nft scripts inside quotes: allow only characters that need none.
fn check_bridge(bridge: &str) -> Result<(), Error> {
    let plain = bridge.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if plain && crate::link::valid_name(bridge) {
        Ok(())
    } else {
        Err(Error::InvalidName { name: bridge.to_owned() })
    }
}

/// One rule of our table, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    chain: String,
    handle: u64,
    comment: String,
}

/// Every rule of our table; `None` if the table does not exist.
fn list_rules(op: &'static str) -> Result<Option<Vec<Rule>>, Error> {
    let out = Command::new("nft")
        .args(["-j", "list", "table", "ip", "berth"])
        .stdin(Stdio::null())
        .output()
        .map_err(|source| Error::RunNft { op, source })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        if stderr.contains("No such file or directory") {
            return Ok(None);
        }
        return Err(Error::Nft { op, status: out.status.to_string(), stderr });
    }
    let json: Value =
        serde_json::from_slice(&out.stdout).map_err(|source| Error::ParseNft { op, source })?;
    Ok(Some(rules_of(&json)))
}

/// The rules in an `nft -j` listing.
fn rules_of(json: &Value) -> Vec<Rule> {
    let items = json.get("nftables").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    items
        .iter()
        .filter_map(|i| i.get("rule"))
        .filter_map(|r| {
            Some(Rule {
                chain: r.get("chain")?.as_str()?.to_owned(),
                handle: r.get("handle")?.as_u64()?,
                comment: r.get("comment").and_then(Value::as_str).unwrap_or("").to_owned(),
            })
        })
        .collect()
}

fn nft_script(script: &str, op: &'static str) -> Result<(), Error> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| Error::RunNft { op, source })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(script.as_bytes()).map_err(|source| Error::RunNft { op, source })?;
    }
    let out = child.wait_with_output().map_err(|source| Error::RunNft { op, source })?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    Err(Error::Nft { op, status: out.status.to_string(), stderr })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bridge_names_for_scripts() {
        assert!(check_bridge("berth0").is_ok());
        for bad in ["a\"b", "a;b", "", "x y", "sixteen-chars-xx"] {
            assert!(check_bridge(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parse_listing() {
        let json: Value = serde_json::from_str(
            r#"{"nftables":[{"metainfo":{"json_schema_version":1}},
            {"table":{"family":"ip","name":"berth","handle":1}},
            {"chain":{"family":"ip","table":"berth","name":"postrouting","handle":1}},
            {"rule":{"family":"ip","table":"berth","chain":"postrouting","handle":4,
              "comment":"berth:berth0:10.88.0.0/16","expr":[]}},
            {"rule":{"family":"ip","table":"berth","chain":"other","handle":5,"expr":[]}}]}"#,
        )
        .unwrap();
        let rules = rules_of(&json);
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].comment, "berth:berth0:10.88.0.0/16");
        assert_eq!((rules[0].chain.as_str(), rules[0].handle), ("postrouting", 4));
        assert_eq!(rules[1].comment, "");
        assert_eq!(comment("b0", "10.1.2.3/24".parse().unwrap()), "berth:b0:10.1.2.3/24");
    }
}

#[cfg(test)]
mod element_tests {
    use super::*;
    use crate::ports::Proto;
    use std::net::Ipv4Addr;

    #[test]
    fn map_elements() {
        let mut p = Published {
            proto: Proto::Udp,
            host_ip: None,
            host_port: 53,
            container_ip: Ipv4Addr::new(10, 88, 0, 2),
            container_port: 5353,
        };
        let e = map_elem(&p);
        assert_eq!((e.table, e.map), ("berth", "ports_any"));
        assert_eq!(e.key, [17, 0, 0, 0, 0, 53, 0, 0], "udp . 53");
        assert_eq!(e.data, [10, 88, 0, 2, 0x14, 0xe9, 0, 0], "10.88.0.2 . 5353");
        assert_eq!(e.text, "udp . 53 : 10.88.0.2 . 5353");
        p.host_ip = Some(Ipv4Addr::LOCALHOST);
        p.proto = Proto::Tcp;
        let e = map_elem(&p);
        assert_eq!(e.map, "ports_ip");
        assert_eq!(e.key, [127, 0, 0, 1, 6, 0, 0, 0, 0, 53, 0, 0], "127.0.0.1 . tcp . 53");
        assert_eq!(e.text, "127.0.0.1 . tcp . 53 : 10.88.0.2 . 5353");
        let r = rules_for("10.88.0.0/16".parse().unwrap(), "b0", true);
        assert!(r.iter().all(|(_, r)| !r.starts_with("ip saddr")), "internal: no masquerade out");
        assert_eq!(rules_for("10.88.0.0/16".parse().unwrap(), "b0", false).len(), 2);
    }
}

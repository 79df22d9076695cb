//! Outbound NAT through nftables, in berth's own table `ip berth` so no other program's
//! rules are read or changed. One masquerade rule per bridge network, tagged with the
//! comment `berth:<bridge>:<subnet>`; the table goes when its last rule does.
//!
//! Driven by the `nft` binary (Debian package `nftables`): scripts on stdin, which nft
//! applies as one transaction, and `-j` JSON listings to find our rules' handles.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::addr::Ipv4Net;
use crate::Error;

/// The table's family and name.
pub const TABLE: &str = "ip berth";
const CHAIN: &str = "postrouting";

/// Masquerades traffic from `subnet` that leaves through any interface but `bridge`
/// (container → container traffic on the bridge keeps its source address), counting the
/// packets it translates (`nft list table ip berth` shows them). Creates the
/// table and chain if missing; idempotent.
pub fn ensure(subnet: Ipv4Net, bridge: &str) -> Result<(), Error> {
    check_bridge(bridge)?;
    let subnet = subnet.trunc();
    let want = comment(bridge, subnet);
    let mut script = format!(
        "add table {TABLE}\n\
         add chain {TABLE} {CHAIN} {{ type nat hook postrouting priority srcnat; policy accept; }}\n"
    );
    nft_script(&script, "create the nat table")?;
    let rules = list_rules("find nat rules")?.unwrap_or_default();
    if rules.iter().any(|(_, c)| *c == want) {
        return Ok(());
    }
    // a rule of this bridge for another subnet is stale: replace it in the same transaction
    script.clear();
    for (handle, _) in rules.iter().filter(|(_, c)| c.starts_with(&prefix(bridge))) {
        script.push_str(&format!("delete rule {TABLE} {CHAIN} handle {handle}\n"));
    }
    script.push_str(&format!(
        "add rule {TABLE} {CHAIN} ip saddr {subnet} oifname != \"{bridge}\" counter \
         masquerade comment \"{want}\"\n"
    ));
    nft_script(&script, "add the masquerade rule")
}

/// Removes the masquerade rule of `bridge`, and the table once no rule is left in it.
/// A missing table or rule is not an error.
pub fn remove(subnet: Ipv4Net, bridge: &str) -> Result<(), Error> {
    check_bridge(bridge)?;
    let want = comment(bridge, subnet.trunc());
    let Some(rules) = list_rules("find nat rules")? else { return Ok(()) };
    let mine: Vec<u64> = rules.iter().filter(|(_, c)| *c == want).map(|(h, _)| *h).collect();
    let script = if mine.len() == rules.len() {
        format!("delete table {TABLE}\n")
    } else {
        mine.iter().map(|h| format!("delete rule {TABLE} {CHAIN} handle {h}\n")).collect()
    };
    if script.is_empty() {
        return Ok(());
    }
    nft_script(&script, "remove the masquerade rule")
}

/// Whether berth's table exists in the caller's network namespace.
pub fn table_exists() -> Result<bool, Error> {
    Ok(list_rules("list the nat table")?.is_some())
}

/// Turns on IPv4 forwarding in the caller's network namespace, which masquerading needs
/// (`/proc/sys/net/ipv4/ip_forward`; the engine calls it once per bridge setup).
pub fn enable_forwarding() -> Result<(), Error> {
    let path = Path::new("/proc/sys/net/ipv4/ip_forward");
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

/// (handle, comment) of every rule in our chain; `None` if the table does not exist.
fn list_rules(op: &'static str) -> Result<Option<Vec<(u64, String)>>, Error> {
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

/// Rules of our chain in an `nft -j` listing.
fn rules_of(json: &Value) -> Vec<(u64, String)> {
    let items = json.get("nftables").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    items
        .iter()
        .filter_map(|i| i.get("rule"))
        .filter(|r| r.get("chain").and_then(Value::as_str) == Some(CHAIN))
        .filter_map(|r| {
            let handle = r.get("handle")?.as_u64()?;
            let comment = r.get("comment").and_then(Value::as_str).unwrap_or("");
            Some((handle, comment.to_owned()))
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
        assert_eq!(rules_of(&json), vec![(4, "berth:berth0:10.88.0.0/16".to_owned())]);
        assert_eq!(comment("b0", "10.1.2.3/24".parse().unwrap()), "berth:b0:10.1.2.3/24");
    }
}

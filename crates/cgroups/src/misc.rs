//! Controllers with one file format on v1 and v2 (`rdma.max`) and the v1-only network
//! controllers (`net_cls.classid`, `net_prio.ifpriomap`).

use std::collections::HashMap;
use std::path::Path;

use oci_spec::runtime::{LinuxNetwork, LinuxRdma};

use crate::{file, Error};

/// Writes one `rdma.max` line per device: `mlx4_0 hca_handle=2 hca_object=2000`; an unset
/// value is `max`. Devices are written in name order so the result does not depend on the
/// map's order.
pub(crate) fn apply_rdma(dir: &Path, rdma: &HashMap<String, LinuxRdma>) -> Result<(), Error> {
    let mut devices: Vec<_> = rdma.iter().collect();
    devices.sort_by(|a, b| a.0.cmp(b.0));
    for (device, limit) in devices {
        if device.is_empty() || device.contains(char::is_whitespace) {
            return Err(Error::InvalidResource {
                name: "rdma",
                value: device.clone(),
                reason: "a device name must be one word",
            });
        }
        let value = |v: Option<u32>| v.map_or("max".to_owned(), |v| v.to_string());
        let line = format!(
            "{device} hca_handle={} hca_object={}",
            value(limit.hca_handles()),
            value(limit.hca_objects())
        );
        file::write(dir, "rdma.max", &line)?;
    }
    Ok(())
}

/// True if the network section asks for anything.
pub(crate) fn network_is_set(network: &LinuxNetwork) -> bool {
    network.class_id().is_some_and(|c| c != 0)
        || network.priorities().as_ref().is_some_and(|p| !p.is_empty())
}

/// `net_cls.classid` in `cls_dir`.
pub(crate) fn apply_net_cls(dir: &Path, network: &LinuxNetwork) -> Result<(), Error> {
    match network.class_id().filter(|c| *c != 0) {
        Some(class_id) => file::write(dir, "net_cls.classid", &class_id.to_string()),
        None => Ok(()),
    }
}

/// One `net_prio.ifpriomap` line per interface: `eth0 5`.
pub(crate) fn apply_net_prio(dir: &Path, network: &LinuxNetwork) -> Result<(), Error> {
    for prio in network.priorities().as_deref().unwrap_or(&[]) {
        file::write(dir, "net_prio.ifpriomap", &format!("{} {}", prio.name(), prio.priority()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxInterfacePriorityBuilder, LinuxNetworkBuilder, LinuxRdmaBuilder};

    #[test]
    fn rdma_lines() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("rdma.max"), "").unwrap();
        let limit = LinuxRdmaBuilder::default().hca_handles(2u32).build().unwrap();
        apply_rdma(tmp.path(), &HashMap::from([("mlx4_0".to_owned(), limit)])).unwrap();
        let text = std::fs::read_to_string(tmp.path().join("rdma.max")).unwrap();
        assert_eq!(text, "mlx4_0 hca_handle=2 hca_object=max");
        let bad = HashMap::from([("a b".to_owned(), LinuxRdma::default())]);
        assert!(apply_rdma(tmp.path(), &bad).is_err());
    }

    #[test]
    fn net_cls_and_prio() {
        let tmp = tempfile::tempdir().unwrap();
        for name in ["net_cls.classid", "net_prio.ifpriomap"] {
            std::fs::write(tmp.path().join(name), "").unwrap();
        }
        let prio = LinuxInterfacePriorityBuilder::default().name("lo").priority(7u32);
        let network = LinuxNetworkBuilder::default()
            .class_id(0x0010_0001u32)
            .priorities(vec![prio.build().unwrap()])
            .build()
            .unwrap();
        assert!(network_is_set(&network));
        apply_net_cls(tmp.path(), &network).unwrap();
        apply_net_prio(tmp.path(), &network).unwrap();
        let get = |name: &str| std::fs::read_to_string(tmp.path().join(name)).unwrap();
        assert_eq!(get("net_cls.classid"), "1048577");
        assert_eq!(get("net_prio.ifpriomap"), "lo 7");
    }
}

//! v2 io controller: `io.bfq.weight` (BFQ, same 1..1000 range as v1) or `io.weight`
//! (1..10000, converted), and `io.max` for throttling.

use std::path::Path;

use oci_spec::runtime::LinuxBlockIo;

use crate::{file, Error};

/// Converts a v1 blkio weight (10..1000) to `io.weight` (1..10000), as runc does:
/// `1 + (weight - 10) * 9999 / 990`; 0 stays 0 ("unset").
pub(crate) fn blkio_to_io_weight(weight: u16) -> u64 {
    if weight == 0 {
        return 0;
    }
    let weight = u64::from(weight.clamp(10, 1000));
    1 + (weight - 10) * 9999 / 990
}

/// Writes the blockIO settings in `dir`. `leafWeight` has no v2 equivalent and is skipped.
pub(crate) fn apply(dir: &Path, io: &LinuxBlockIo) -> Result<(), Error> {
    let bfq = file::exists(dir, "io.bfq.weight");
    let weight_line = |w: u16| if bfq { w.to_string() } else { blkio_to_io_weight(w).to_string() };
    let weight_file = if bfq { "io.bfq.weight" } else { "io.weight" };
    if let Some(weight) = io.weight().filter(|w| *w != 0) {
        file::write(dir, weight_file, &weight_line(weight))?;
    }
    if io.leaf_weight().is_some() {
        tracing::debug!("blockIO leafWeight has no cgroup v2 file: skipped");
    }
    for device in io.weight_device().as_deref().unwrap_or(&[]) {
        if let Some(weight) = device.weight() {
            let line = format!("{}:{} {}", device.major(), device.minor(), weight_line(weight));
            file::write(dir, weight_file, &line)?;
        }
    }
    let keys = [
        ("rbps", io.throttle_read_bps_device()),
        ("wbps", io.throttle_write_bps_device()),
        ("riops", io.throttle_read_iops_device()),
        ("wiops", io.throttle_write_iops_device()),
    ];
    for (key, list) in keys {
        for device in list.as_deref().unwrap_or(&[]) {
            // 0 lifts the limit, as in runc.
            let rate = match device.rate() {
                0 => "max".to_owned(),
                rate => rate.to_string(),
            };
            let line = format!("{}:{} {key}={rate}", device.major(), device.minor());
            file::write(dir, "io.max", &line)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{
        LinuxBlockIoBuilder, LinuxThrottleDeviceBuilder, LinuxWeightDeviceBuilder,
    };

    #[test]
    fn weight_conversion() {
        assert_eq!(blkio_to_io_weight(0), 0);
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(500), 4950);
        assert_eq!(blkio_to_io_weight(1000), 10_000);
    }

    #[test]
    fn io_weight_and_max() {
        let tmp = tempfile::tempdir().unwrap();
        for name in ["io.weight", "io.max"] {
            std::fs::write(tmp.path().join(name), "").unwrap();
        }
        let throttle = LinuxThrottleDeviceBuilder::default().major(8).minor(0).rate(4096u64);
        let io = LinuxBlockIoBuilder::default()
            .weight(500u16)
            .throttle_write_bps_device(vec![throttle.build().unwrap()])
            .build()
            .unwrap();
        apply(tmp.path(), &io).unwrap();
        let get = |name: &str| std::fs::read_to_string(tmp.path().join(name)).unwrap();
        assert_eq!(get("io.weight"), "4950");
        assert_eq!(get("io.max"), "8:0 wbps=4096");
    }

    #[test]
    fn bfq_device_weight() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("io.bfq.weight"), "default 100").unwrap();
        let device = LinuxWeightDeviceBuilder::default().major(8).minor(0).weight(200u16);
        let io =
            LinuxBlockIoBuilder::default().weight_device(vec![device.build().unwrap()]).build();
        apply(tmp.path(), &io.unwrap()).unwrap();
        let text = std::fs::read_to_string(tmp.path().join("io.bfq.weight")).unwrap();
        assert_eq!(text, "8:0 200");
    }
}

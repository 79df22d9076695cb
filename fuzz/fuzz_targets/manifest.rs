//! Manifest and index JSON as a registry serves it. berth-registry's classifier is
//! crate-private, so this drives what it is built on: serde into oci-spec's `ImageManifest`
//! and `ImageIndex` (the types berth-registry parses replies into), a serialise/parse round
//! trip, and `Platform::of` / `Platform::parse` on every index entry.
#![no_main]

use berth_registry::Platform;
use libfuzzer_sys::fuzz_target;
use oci_spec::image::{ImageIndex, ImageManifest};

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = serde_json::from_slice::<ImageManifest>(data) {
        let text = serde_json::to_vec(&m).expect("a parsed manifest serialises");
        let back: ImageManifest = serde_json::from_slice(&text).expect("round trip");
        assert_eq!(m, back);
    }
    if let Ok(index) = serde_json::from_slice::<ImageIndex>(data) {
        let text = serde_json::to_vec(&index).expect("a parsed index serialises");
        let back: ImageIndex = serde_json::from_slice(&text).expect("round trip");
        assert_eq!(index, back);
        for desc in index.manifests() {
            if let Some(p) = Platform::of(desc) {
                let _ = Platform::parse(&p.to_string());
            }
        }
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = Platform::parse(s);
    }
});

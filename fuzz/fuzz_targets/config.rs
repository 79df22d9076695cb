//! config.json → validated namespace plan: `berth_runtime::config::validate` on any `Spec`
//! serde accepts must return `Ok` or `Err`, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oci_spec::runtime::Spec;

fuzz_target!(|data: &[u8]| {
    // The runtime reads config.json with serde (config::read_spec adds only error paths).
    let Ok(spec) = serde_json::from_slice::<Spec>(data) else { return };
    if let Ok(plan) = berth_runtime::config::validate(&spec) {
        // The plan is plain data; formatting it walks every field.
        let _ = format!("{plan:?}");
    }
});

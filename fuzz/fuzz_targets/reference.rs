//! Image references: whatever `Reference::parse` accepts, `Display` prints the fully
//! qualified form, which parses back to an equal value and prints the same text.
#![no_main]

use berth_registry::Reference;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let Ok(r) = Reference::parse(s) else { return };
    let printed = r.to_string();
    let again = match Reference::parse(&printed) {
        Ok(again) => again,
        Err(e) => panic!("{s:?} parsed, its display {printed:?} did not: {e}"),
    };
    assert_eq!(r, again, "{s:?} -> {printed:?}");
    assert_eq!(printed, again.to_string());
    let _ = (r.familiar(), r.manifest_selector(), r.api_host());
});

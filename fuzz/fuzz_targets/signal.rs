//! Signal names as `kill` takes them: `berth_runtime::signal::parse` never panics, and what
//! it accepts is a real signal number.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(n) = berth_runtime::signal::parse(s) {
        assert!((1..=64).contains(&n), "{s:?} parsed to {n}");
        // A number always parses back to itself.
        assert_eq!(berth_runtime::signal::parse(&n.to_string()), Ok(n));
    }
});

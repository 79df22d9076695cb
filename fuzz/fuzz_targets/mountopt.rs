//! Mount options: `berth_runtime::mountopt::parse` on any list of options. The input is
//! split at commas (how options appear in fstab and `--mount`) and newlines.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let options: Vec<String> = s.split([',', '\n']).map(str::to_owned).collect();
    let Ok(parsed) = berth_runtime::mountopt::parse(&options) else { return };
    // Everything not a flag lands in data: it never holds more than the input did.
    assert!(parsed.data.len() <= s.len(), "data {:?} longer than input {s:?}", parsed.data);
    // Parsing is a function of the options: the same input, the same result.
    assert_eq!(berth_runtime::mountopt::parse(&options), Ok(parsed));
    for o in &options {
        let _ = berth_runtime::mountopt::propagation(o);
    }
});

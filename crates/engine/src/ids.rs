//! Container ids (64 hex digits, Docker's shape) and generated names.

/// A fresh random id.
pub fn new_id() -> String {
    let mut buf = [0u8; 32];
    let mut filled = 0;
    while filled < buf.len() {
        match rustix::rand::getrandom(&mut buf[filled..], rustix::rand::GetRandomFlags::empty()) {
            Ok(n) => filled += n,
            Err(_) => {
                // getrandom cannot fail on a running Linux system short of EINTR; mix the
                // time in rather than loop forever.
                let t = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                buf[filled] = t.subsec_nanos().to_le_bytes()[0];
                filled += 1;
            }
        }
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

const ADJECTIVES: [&str; 16] = [
    "brave", "calm", "eager", "fond", "gentle", "happy", "jolly", "keen", "lucid", "merry",
    "nimble", "proud", "quiet", "sharp", "tidy", "witty",
];
const NOUNS: [&str; 16] = [
    "anchor", "buoy", "cove", "dock", "ferry", "galley", "harbor", "jetty", "keel", "mast", "pier",
    "quay", "rudder", "sail", "tide", "wharf",
];

/// A generated name from the id, like Docker's `adjective_noun`, with a suffix to keep it
/// unique enough.
pub fn name_for(id: &str) -> String {
    let b = |i: usize| usize::from_str_radix(id.get(i..i + 1).unwrap_or("0"), 16).unwrap_or(0);
    format!("{}_{}_{}", ADJECTIVES[b(0)], NOUNS[b(1)], id.get(2..6).unwrap_or("0000"))
}

/// Checks a user-given name: Docker's `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_64_hex_and_differ() {
        let (a, b) = (new_id(), new_id());
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert!(valid_name(&name_for(&a)));
    }

    #[test]
    fn names() {
        assert!(valid_name("web-1.a_b"));
        for bad in ["", "-x", "a b", "a/b", "é"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}

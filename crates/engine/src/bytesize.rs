//! Docker's size strings: `512`, `64k`, `512m`, `1g`, `1.5g` (binary units, as Docker).

/// Parses a size in bytes; `None` for anything malformed or not positive.
pub fn parse(s: &str) -> Option<i64> {
    let s = s.trim().to_ascii_lowercase();
    let s = s.strip_suffix('b').unwrap_or(&s);
    let (num, mult) = match s.chars().last()? {
        'k' => (&s[..s.len() - 1], 1i64 << 10),
        'm' => (&s[..s.len() - 1], 1 << 20),
        'g' => (&s[..s.len() - 1], 1 << 30),
        't' => (&s[..s.len() - 1], 1 << 40),
        _ => (s, 1),
    };
    let v: f64 = num.parse().ok()?;
    let bytes = v * mult as f64;
    (v.is_finite() && bytes >= 1.0 && bytes < i64::MAX as f64).then_some(to_i64(bytes))
}

/// A float flag value (`--cpus 0.5`, sizes) as an integer. Rust's `as` from f64 saturates
/// and maps NaN to 0, which is what a flag value out of range should become; callers check
/// the ranges that matter to them first.
#[allow(clippy::cast_possible_truncation)]
pub fn to_i64(v: f64) -> i64 {
    v as i64
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn sizes() {
        assert_eq!(parse("512"), Some(512));
        assert_eq!(parse("64k"), Some(65536));
        assert_eq!(parse("512m"), Some(512 << 20));
        assert_eq!(parse("1G"), Some(1 << 30));
        assert_eq!(parse("1.5g"), Some(3 << 29));
        assert_eq!(parse("256mb"), Some(256 << 20));
        for bad in ["", "m", "-1m", "abc", "0", "1x"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}

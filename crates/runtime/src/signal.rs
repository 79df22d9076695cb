//! Signal names as `kill` accepts them: `TERM`, `SIGTERM`, `15`, `RTMIN+3`.

const NAMES: [(&str, i32); 31] = [
    ("HUP", 1),
    ("INT", 2),
    ("QUIT", 3),
    ("ILL", 4),
    ("TRAP", 5),
    ("ABRT", 6),
    ("IOT", 6),
    ("BUS", 7),
    ("FPE", 8),
    ("KILL", 9),
    ("USR1", 10),
    ("SEGV", 11),
    ("USR2", 12),
    ("PIPE", 13),
    ("ALRM", 14),
    ("TERM", 15),
    ("STKFLT", 16),
    ("CHLD", 17),
    ("CONT", 18),
    ("STOP", 19),
    ("TSTP", 20),
    ("TTIN", 21),
    ("TTOU", 22),
    ("URG", 23),
    ("XCPU", 24),
    ("XFSZ", 25),
    ("VTALRM", 26),
    ("PROF", 27),
    ("WINCH", 28),
    ("IO", 29),
    ("PWR", 30),
];
const SIGRTMIN: i32 = 34;
const SIGRTMAX: i32 = 64;

/// Parses a signal name or number; `Err` explains what is accepted.
pub fn parse(s: &str) -> Result<i32, String> {
    let bad = || format!("invalid signal {s:?}: use a name like TERM or SIGKILL, or a number 1-64");
    if let Ok(n) = s.parse::<i32>() {
        return if (1..=SIGRTMAX).contains(&n) { Ok(n) } else { Err(bad()) };
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    if let Some((_, n)) = NAMES.iter().find(|(k, _)| *k == name) {
        return Ok(*n);
    }
    let rt = |base: i32, off: &str, sign: i32| -> Result<i32, String> {
        let off: i32 = if off.is_empty() { 0 } else { off.parse().map_err(|_| bad())? };
        let n = base + sign * off;
        if (SIGRTMIN..=SIGRTMAX).contains(&n) {
            Ok(n)
        } else {
            Err(bad())
        }
    };
    if let Some(off) = name.strip_prefix("RTMIN") {
        return rt(SIGRTMIN, off.trim_start_matches('+'), 1);
    }
    if let Some(off) = name.strip_prefix("RTMAX") {
        return rt(SIGRTMAX, off.trim_start_matches('-'), -1);
    }
    Err(bad())
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn names_numbers_and_realtime() {
        assert_eq!(parse("TERM"), Ok(15));
        assert_eq!(parse("SIGKILL"), Ok(9));
        assert_eq!(parse("sigusr1"), Ok(10));
        assert_eq!(parse("9"), Ok(9));
        assert_eq!(parse("RTMIN+3"), Ok(37));
        assert_eq!(parse("SIGRTMAX-1"), Ok(63));
        assert_eq!(parse("RTMIN"), Ok(34));
    }

    #[test]
    fn refusals() {
        for s in ["", "0", "65", "-1", "NOPE", "RTMIN+40", "SIGRTMAX-31"] {
            assert!(parse(s).is_err(), "{s}");
        }
    }
}

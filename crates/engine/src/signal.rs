//! `--stop-signal` and the image's `StopSignal`: checked when the container is created, so
//! a typo fails `run` instead of a later `stop`. The runtime's `kill` takes the same forms.

use crate::error::{Error, Result};

/// Signal names by number (index + 1), as kill(1) spells them without `SIG`.
const NAMES: [&str; 31] = [
    "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2",
    "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG",
    "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
];

/// The signal number of `TERM`, `SIGTERM`, `15`, `RTMIN+2`, `SIGRTMAX-1`.
pub fn number(s: &str) -> Result<i32> {
    let bad = || Error::InvalidFlag {
        flag: "--stop-signal",
        value: s.to_string(),
        reason: "use a name like SIGTERM or TERM, or a number 1-64".into(),
    };
    if let Ok(n) = s.parse::<i32>() {
        return (1..=64).contains(&n).then_some(n).ok_or_else(bad);
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    if let Some(i) = NAMES.iter().position(|n| *n == name) {
        return i32::try_from(i + 1).map_err(|_| bad());
    }
    let offset = |rest: &str, sign: char| -> Option<i32> {
        match rest {
            "" => Some(0),
            r => r.strip_prefix(sign)?.parse().ok(),
        }
    };
    let n = if let Some(rest) = name.strip_prefix("RTMIN") {
        offset(rest, '+').map(|o| 34 + o)
    } else if let Some(rest) = name.strip_prefix("RTMAX") {
        offset(rest, '-').map(|o| 64 - o)
    } else {
        None
    };
    n.filter(|n| (34..=64).contains(n)).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::number;

    #[test]
    fn names_numbers_and_realtime() {
        assert_eq!(number("SIGTERM").unwrap(), 15);
        assert_eq!(number("usr1").unwrap(), 10);
        assert_eq!(number("9").unwrap(), 9);
        assert_eq!(number("SIGSYS").unwrap(), 31);
        assert_eq!(number("RTMIN+2").unwrap(), 36);
        assert_eq!(number("SIGRTMAX-1").unwrap(), 63);
        for bad in ["", "0", "65", "SIGNOPE", "RTMIN+40", "RTMIN2"] {
            assert!(number(bad).is_err(), "{bad}");
        }
    }
}

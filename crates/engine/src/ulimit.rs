//! `--ulimit NAME=SOFT[:HARD]` → OCI `process.rlimits`, with Docker's names and checks
//! (go-units `ParseUlimit`): HARD defaults to SOFT, `-1` is unlimited, SOFT ≤ HARD.
//!
//! The runtime sets them with setrlimit(2) in the container before exec, so raising a hard
//! limit above the caller's needs CAP_SYS_RESOURCE in the caller's user namespace.

use serde_json::{json, Value};

use crate::error::{Error, Result};

/// Docker's names and the OCI types they mean.
const NAMES: [(&str, &str); 15] = [
    ("core", "RLIMIT_CORE"),
    ("cpu", "RLIMIT_CPU"),
    ("data", "RLIMIT_DATA"),
    ("fsize", "RLIMIT_FSIZE"),
    ("locks", "RLIMIT_LOCKS"),
    ("memlock", "RLIMIT_MEMLOCK"),
    ("msgqueue", "RLIMIT_MSGQUEUE"),
    ("nice", "RLIMIT_NICE"),
    ("nofile", "RLIMIT_NOFILE"),
    ("nproc", "RLIMIT_NPROC"),
    ("rss", "RLIMIT_RSS"),
    ("rtprio", "RLIMIT_RTPRIO"),
    ("rttime", "RLIMIT_RTTIME"),
    ("sigpending", "RLIMIT_SIGPENDING"),
    ("stack", "RLIMIT_STACK"),
];

/// One parsed `--ulimit`, as inspect's `HostConfig.Ulimits` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ulimit {
    /// Docker's name (`nofile`).
    pub name: String,
    /// Soft limit; -1 unlimited.
    pub soft: i64,
    /// Hard limit; -1 unlimited.
    pub hard: i64,
}

impl Ulimit {
    /// Parses `NAME=SOFT[:HARD]`.
    pub fn parse(s: &str) -> Result<Ulimit> {
        let bad =
            |reason: String| Error::InvalidFlag { flag: "--ulimit", value: s.to_string(), reason };
        let (name, values) =
            s.split_once('=').ok_or_else(|| bad("expected NAME=SOFT[:HARD]".into()))?;
        if !NAMES.iter().any(|(n, _)| *n == name) {
            let names: Vec<&str> = NAMES.iter().map(|(n, _)| *n).collect();
            return Err(bad(format!("unknown ulimit {name:?}: use one of {}", names.join(", "))));
        }
        let number = |v: &str| match v.parse::<i64>() {
            Ok(n) if n >= -1 => Ok(n),
            _ => Err(bad(format!("{v:?} is not a limit (a number, or -1 for unlimited)"))),
        };
        let (soft, hard) = match values.split(':').collect::<Vec<_>>().as_slice() {
            [soft] => (number(soft)?, number(soft)?),
            [soft, hard] => (number(soft)?, number(hard)?),
            _ => return Err(bad("at most two values, SOFT[:HARD]".into())),
        };
        if hard != -1 && (soft == -1 || soft > hard) {
            return Err(bad(format!(
                "the soft limit must not exceed the hard limit: {soft} > {hard}"
            )));
        }
        Ok(Ulimit { name: name.to_string(), soft, hard })
    }

    /// inspect's `{"Name", "Hard", "Soft"}`.
    pub fn to_docker(&self) -> Value {
        json!({"Name": self.name, "Hard": self.hard, "Soft": self.soft})
    }

    fn to_oci(&self) -> Value {
        let typ = NAMES.iter().find(|(n, _)| *n == self.name).map_or("", |(_, t)| *t);
        // RLIM_INFINITY is all ones, which -1 becomes as an unsigned 64-bit number.
        let unsigned = |v: i64| u64::try_from(v).unwrap_or(u64::MAX);
        json!({"type": typ, "soft": unsigned(self.soft), "hard": unsigned(self.hard)})
    }
}

/// The ulimits of `flags`, one per name, the last given winning (Docker).
pub fn parse_all(flags: &[String]) -> Result<Vec<Ulimit>> {
    let mut out: Vec<Ulimit> = Vec::new();
    for f in flags {
        let u = Ulimit::parse(f)?;
        out.retain(|o| o.name != u.name);
        out.push(u);
    }
    Ok(out)
}

/// Sets `process.rlimits` of `spec` from `flags` (left unset without flags: the container
/// inherits the monitor's limits, as Docker's without daemon defaults).
pub fn apply(spec: &mut Value, flags: &[String]) -> Result<()> {
    let limits = parse_all(flags)?;
    if !limits.is_empty() {
        spec["process"]["rlimits"] = limits.iter().map(Ulimit::to_oci).collect();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_forms() {
        let u = Ulimit::parse("nofile=512:1024").unwrap();
        assert_eq!((u.soft, u.hard), (512, 1024));
        let u = Ulimit::parse("core=0").unwrap();
        assert_eq!((u.soft, u.hard), (0, 0), "hard defaults to soft");
        let u = Ulimit::parse("memlock=-1:-1").unwrap();
        assert_eq!(
            u.to_oci(),
            json!({"type": "RLIMIT_MEMLOCK", "soft": u64::MAX, "hard": u64::MAX})
        );
        assert_eq!(Ulimit::parse("stack=1:-1").unwrap().hard, -1);
    }

    #[test]
    fn refused() {
        for bad in [
            "nofile",
            "nofiles=1",
            "nofile=x",
            "nofile=1:2:3",
            "nofile=2:1",
            "nofile=-1:5",
            "nofile=-2",
            "=1",
        ] {
            assert!(Ulimit::parse(bad).is_err(), "{bad}");
        }
        let msg = Ulimit::parse("bogus=1").unwrap_err().to_string();
        assert!(msg.contains("unknown ulimit") && msg.contains("nofile"), "{msg}");
    }

    #[test]
    fn last_flag_per_name_wins_and_reaches_the_spec() {
        let mut spec = json!({"process": {}});
        apply(&mut spec, &["nofile=10".into(), "nproc=20:30".into(), "nofile=40:50".into()])
            .unwrap();
        assert_eq!(
            spec["process"]["rlimits"],
            json!([
                {"type": "RLIMIT_NPROC", "soft": 20, "hard": 30},
                {"type": "RLIMIT_NOFILE", "soft": 40, "hard": 50},
            ])
        );
        let mut none = json!({"process": {}});
        apply(&mut none, &[]).unwrap();
        assert!(none["process"].get("rlimits").is_none());
    }
}

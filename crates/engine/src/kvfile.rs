//! `--env-file` and `--label-file`: Docker's `K=V` files, and `-e K` taking the caller's value.
//!
//! The format is docker/cli's `opts/envfile.go`: one `K=V` a line, leading white space
//! trimmed, the value passed through untouched (no quotes, no escapes), blank lines and lines
//! starting with `#` skipped, a UTF-8 BOM on the first line dropped. A bare `K` in an env file
//! (and `-e K`) takes the caller's value of `K`; when the caller has no `K`, the variable is
//! left out (podman's behaviour; Docker passes a bare `K` to the daemon, which drops it too).
//! In a label file a bare `K` is the label `K` with an empty value.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, Result};

/// What a bare `K` means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bare {
    /// Take the caller's value (env files), dropped when unset.
    FromCaller,
    /// An empty value (label files).
    Empty,
}

/// The environment from `--env-file` files (in order) then `-e` flags, later ones overriding:
/// `K=V` entries, bare names resolved through `lookup` (the caller's environment).
pub fn env(
    files: &[String],
    flags: &[String],
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for f in files {
        let text = read(f, "--env-file")?;
        out.extend(parse(&text, f, "--env-file", Bare::FromCaller, lookup)?);
    }
    for kv in flags {
        match kv.split_once('=') {
            Some(("", _)) => return Err(bad("--env", kv, "no variable name")),
            Some(_) => out.push(kv.clone()),
            None => out.extend(lookup(kv).map(|v| format!("{kv}={v}"))),
        }
    }
    Ok(out)
}

/// The labels from `--label-file` files (in order) then `--label` flags, later ones
/// overriding.
pub fn labels(files: &[String], flags: &[String]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut put = |kv: String| {
        let (k, v) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
        out.insert(k.to_string(), v.to_string());
    };
    for f in files {
        let text = read(f, "--label-file")?;
        parse(&text, f, "--label-file", Bare::Empty, &|_| None)?.into_iter().for_each(&mut put);
    }
    for kv in flags {
        if kv.is_empty() || kv.starts_with('=') {
            return Err(bad("--label", kv, "no label name"));
        }
        put(kv.clone());
    }
    Ok(out)
}

fn read(path: &str, flag: &'static str) -> Result<String> {
    let bytes = std::fs::read(path).map_err(Error::io("read", Path::new(path)))?;
    String::from_utf8(bytes).map_err(|e| {
        bad(flag, path, &format!("invalid UTF-8 at byte {}", e.utf8_error().valid_up_to()))
    })
}

/// The `K=V` entries of one file's `text`; `name` and `flag` are for errors.
fn parse(
    text: &str,
    name: &str,
    flag: &'static str,
    bare: Bare,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (line.trim_end(), None),
        };
        let at = || format!("{name}, line {}", n + 1);
        if key.is_empty() {
            return Err(bad(flag, &at(), &format!("no variable name in {line:?}")));
        }
        if key.contains(char::is_whitespace) {
            return Err(bad(flag, &at(), &format!("variable {key:?} contains white space")));
        }
        match (value, bare) {
            (Some(v), _) => out.push(format!("{key}={v}")),
            (None, Bare::Empty) => out.push(format!("{key}=")),
            (None, Bare::FromCaller) => out.extend(lookup(key).map(|v| format!("{key}={v}"))),
        }
    }
    Ok(out)
}

fn bad(flag: &'static str, value: &str, reason: &str) -> Error {
    Error::InvalidFlag { flag, value: value.to_string(), reason: reason.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(k: &str) -> Option<String> {
        (k == "FROM_CALLER").then(|| "yes".to_string())
    }

    #[test]
    fn env_file_format_as_docker() {
        let text = "\u{feff}# comment\n\n  A=1\nB= spaced value \nC=x=y\nFROM_CALLER\nUNSET\nD=\n";
        let got = parse(text, "f", "--env-file", Bare::FromCaller, &caller).unwrap();
        assert_eq!(got, ["A=1", "B= spaced value ", "C=x=y", "FROM_CALLER=yes", "D="]);
    }

    #[test]
    fn bad_lines_name_the_file_and_line() {
        let err = parse("A=1\n=2\n", "envs", "--env-file", Bare::FromCaller, &caller);
        let msg = err.unwrap_err().to_string();
        assert!(msg.contains("envs, line 2") && msg.contains("no variable name"), "{msg}");
        let err = parse("MY VAR=1\n", "envs", "--env-file", Bare::FromCaller, &caller);
        assert!(err.unwrap_err().to_string().contains("white space"));
    }

    #[test]
    fn flags_override_files_and_bare_flags_take_the_callers_value() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("e");
        std::fs::write(&f, "A=file\nB=file\n").unwrap();
        let f = f.display().to_string();
        let flags = ["A=flag".to_string(), "FROM_CALLER".into(), "UNSET".into()];
        let got = env(&[f], &flags, &caller).unwrap();
        // spec::build keeps the last of each name.
        assert_eq!(got, ["A=file", "B=file", "A=flag", "FROM_CALLER=yes"]);
        assert!(env(&["/no/such/env-file".into()], &[], &caller).is_err());
        assert!(env(&[], &["=x".into()], &caller).is_err());
    }

    #[test]
    fn labels_from_files_and_flags() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("l");
        std::fs::write(&f, "# labels\ntier=web\nbare\nowner=file\n").unwrap();
        let got = labels(&[f.display().to_string()], &["owner=flag".into(), "x".into()]).unwrap();
        let want: BTreeMap<String, String> =
            [("bare", ""), ("owner", "flag"), ("tier", "web"), ("x", "")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        assert_eq!(got, want);
        assert!(labels(&[], &["=v".into()]).is_err());
    }
}

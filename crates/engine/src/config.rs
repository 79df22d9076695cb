//! `berth.toml`, the engine's configuration file: `/etc/berth/berth.toml`, or the file named
//! by `BERTH_CONFIG`. A missing default file is an empty configuration; a missing
//! `BERTH_CONFIG` file, a syntax error, an unknown key or a bad value is an error naming the
//! file and the line.
//!
//! ```toml
//! [registries]
//! # host[:port]s reached like Docker's insecure-registries: https without verifying the
//! # certificate, then plain http when https gets no answer
//! insecure = ["registry.lan:5000"]
//!
//! [registries.mirrors]
//! # tried in order before the registry itself; `http://` for a plain-http mirror, a path
//! # is put before the repository
//! "docker.io" = ["mirror.lan:5000", "http://10.0.0.2:5000/hub"]
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::error::{Error, Result};

/// The file read when `BERTH_CONFIG` is not set.
pub const DEFAULT_PATH: &str = "/etc/berth/berth.toml";
/// The environment variable naming another file.
pub const ENV: &str = "BERTH_CONFIG";

/// The validated configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// Registry → mirror endpoints (`[http://|https://]host[:port][/prefix]`), in order.
    pub mirrors: BTreeMap<String, Vec<String>>,
    /// `host[:port]`s reached without TLS verification, then over plain http.
    pub insecure: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    registries: RegistriesTable,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistriesTable {
    #[serde(default)]
    mirrors: BTreeMap<String, Vec<Spanned<String>>>,
    #[serde(default)]
    insecure: Vec<Spanned<String>>,
}

/// Reads the configuration file (see the module docs for which).
pub fn load() -> Result<Config> {
    let named = std::env::var_os(ENV).filter(|v| !v.is_empty()).map(PathBuf::from);
    let path = named.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_PATH));
    match std::fs::read_to_string(&path) {
        Ok(text) => parse(&path, &text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && named.is_none() => {
            Ok(Config::default())
        }
        Err(source) => Err(Error::Io { op: "read config file", path, source }),
    }
}

/// Parses and validates `text`, the content of `path`.
pub fn parse(path: &Path, text: &str) -> Result<Config> {
    let bad = |span: Option<std::ops::Range<usize>>, message: String| Error::Config {
        path: path.to_owned(),
        line: span.map_or(1, |s| line_of(text, s.start)),
        message,
    };
    let file: File = toml::from_str(text).map_err(|e| bad(e.span(), e.message().to_owned()))?;
    let mut out = Config::default();
    for (registry, endpoints) in file.registries.mirrors {
        let mut list = Vec::with_capacity(endpoints.len());
        for ep in endpoints {
            check_endpoint(ep.get_ref()).map_err(|why| {
                bad(Some(ep.span()), format!("mirror {:?} of {registry}: {why}", ep.get_ref()))
            })?;
            list.push(ep.into_inner());
        }
        out.mirrors.insert(hub_alias(&registry).to_owned(), list);
    }
    for host in file.registries.insecure {
        check_host(host.get_ref()).map_err(|why| {
            bad(Some(host.span()), format!("insecure {:?}: {why}", host.get_ref()))
        })?;
        out.insecure.push(host.into_inner());
    }
    Ok(out)
}

/// References name Docker Hub `docker.io`; its other names are accepted as keys.
fn hub_alias(registry: &str) -> &str {
    match registry {
        "index.docker.io" | "registry-1.docker.io" => "docker.io",
        other => other,
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())].iter().filter(|b| **b == b'\n').count() + 1
}

/// `[http://|https://]host[:port][/prefix]`.
fn check_endpoint(spec: &str) -> std::result::Result<(), String> {
    let rest = match spec.split_once("://") {
        Some(("http" | "https", rest)) => rest,
        Some((scheme, _)) => return Err(format!("scheme {scheme:?} is not http or https")),
        None => spec,
    };
    check_host(rest.split('/').next().unwrap_or(rest))
}

/// `host[:port]`, nothing else.
fn check_host(host: &str) -> std::result::Result<(), String> {
    let (name, port) = match host.find(']').filter(|_| host.starts_with('[')) {
        Some(end) => {
            let (name, rest) = host.split_at(end + 1);
            match rest {
                "" => (name, None),
                _ => (name, Some(rest.strip_prefix(':').unwrap_or(rest))),
            }
        }
        None => match host.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        },
    };
    if name.is_empty() {
        return Err("no host name".into());
    }
    if let Some(bad) =
        host.chars().find(|c| c.is_whitespace() || matches!(c, '/' | '@' | '?' | '#'))
    {
        return Err(format!("{bad:?} is not allowed in host[:port]"));
    }
    if let Some(p) = port.filter(|p| p.parse::<u16>().is_err()) {
        return Err(format!("port {p:?} is not a number up to 65535"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Result<Config> {
        parse(Path::new("/etc/berth/berth.toml"), text)
    }

    #[test]
    fn an_empty_file_is_the_default() {
        assert_eq!(parsed("").unwrap(), Config::default());
    }

    #[test]
    fn mirrors_and_insecure_are_read_in_order() {
        let c = parsed(
            "[registries]\ninsecure = [\"r.lan:5000\"]\n[registries.mirrors]\n\
             \"index.docker.io\" = [\"m1:5000\", \"http://10.0.0.2:5000/hub\"]\n",
        )
        .unwrap();
        assert_eq!(c.insecure, ["r.lan:5000"]);
        assert_eq!(c.mirrors["docker.io"], ["m1:5000", "http://10.0.0.2:5000/hub"]);
    }

    fn error_text(text: &str) -> String {
        let e = parsed(text).unwrap_err();
        crate::error::chain(&e)
    }

    #[test]
    fn errors_name_the_file_and_the_line() {
        let syntax = error_text("[registries]\ninsecure = [\"a:1\",\n  oops]\n");
        assert!(syntax.starts_with("config file /etc/berth/berth.toml, line 3:"), "{syntax}");
        let unknown = error_text("\n[registries]\nmirror = {}\n");
        assert!(
            unknown.contains("line 3") && unknown.contains("unknown field `mirror`"),
            "{unknown}"
        );
        let kind = error_text("[registries]\ninsecure = \"a:1\"\n");
        assert!(kind.contains("line 2") && kind.contains("invalid type"), "{kind}");
        let scheme = error_text("[registries.mirrors]\n\"docker.io\" = [\n  \"ftp://m:1\"]\n");
        assert!(scheme.contains("line 3") && scheme.contains("\"ftp\""), "{scheme}");
        let port = error_text("[registries]\ninsecure = [\"r.lan:99999\"]\n");
        assert!(port.contains("line 2") && port.contains("99999"), "{port}");
        let path = error_text("[registries]\ninsecure = [\"http://r.lan\"]\n");
        assert!(path.contains("line 2") && path.contains("not allowed"), "{path}");
    }
}

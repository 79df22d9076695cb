//! `berth.toml`, the engine's configuration: the file named by `BERTH_CONFIG` alone, else
//! `/etc/berth/berth.toml` and then the user's `$XDG_CONFIG_HOME/berth/berth.toml` (default
//! `~/.config/berth/berth.toml`), the user's keys overriding the system's, as podman layers
//! `containers.conf` (system files, then the user's; `CONTAINERS_CONF` alone when set). A
//! missing default file is skipped; a missing `BERTH_CONFIG` file, a syntax error, an unknown
//! key or a bad value is an error naming the file and the line.
//!
//! Layering is per key: `insecure` in a later file replaces the whole list (`insecure = []`
//! clears it), a registry under `[registries.mirrors]` replaces that registry's list and
//! leaves the other registries' as they were.
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

/// The system file, read first when `BERTH_CONFIG` is not set.
pub const DEFAULT_PATH: &str = "/etc/berth/berth.toml";
/// The environment variable naming the one file to read instead of the default ones.
pub const ENV: &str = "BERTH_CONFIG";
/// The user's file, under `$XDG_CONFIG_HOME` (default `~/.config`).
const USER_FILE: &str = "berth/berth.toml";

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
    insecure: Option<Vec<Spanned<String>>>,
}

/// One file's settings: what it left out stays as the earlier files set it.
#[derive(Debug, Default)]
struct Layer {
    mirrors: BTreeMap<String, Vec<String>>,
    insecure: Option<Vec<String>>,
}

impl Config {
    /// `layer` over `self`: its keys win.
    fn apply(&mut self, layer: Layer) {
        self.mirrors.extend(layer.mirrors);
        if let Some(insecure) = layer.insecure {
            self.insecure = insecure;
        }
    }
}

/// The files [`load`] reads when `BERTH_CONFIG` is not set, in order: the system file, then
/// the user's (left out when neither `XDG_CONFIG_HOME` nor `HOME` is set).
pub fn default_paths() -> Vec<PathBuf> {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    // The XDG base directory spec: a relative $XDG_CONFIG_HOME is invalid and ignored.
    let xdg = env("XDG_CONFIG_HOME").filter(|p| p.is_absolute());
    let user = xdg.or_else(|| env("HOME").map(|h| h.join(".config")));
    let mut paths = vec![PathBuf::from(DEFAULT_PATH)];
    paths.extend(user.map(|dir| dir.join(USER_FILE)));
    paths
}

/// Reads the configuration (see the module docs for which files).
pub fn load() -> Result<Config> {
    match std::env::var_os(ENV).filter(|v| !v.is_empty()) {
        Some(named) => load_files(&[PathBuf::from(named)], true),
        None => load_files(&default_paths(), false),
    }
}

/// Reads `paths` in order, each over the ones before; a missing file is skipped unless
/// `required`.
pub fn load_files(paths: &[PathBuf], required: bool) -> Result<Config> {
    let mut config = Config::default();
    for path in paths {
        match std::fs::read_to_string(path) {
            Ok(text) => config.apply(parse_layer(path, &text)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {}
            Err(source) => {
                return Err(Error::Io { op: "read config file", path: path.clone(), source })
            }
        }
    }
    Ok(config)
}

/// Parses and validates `text`, the content of `path`.
pub fn parse(path: &Path, text: &str) -> Result<Config> {
    let mut config = Config::default();
    config.apply(parse_layer(path, text)?);
    Ok(config)
}

fn parse_layer(path: &Path, text: &str) -> Result<Layer> {
    let bad = |span: Option<std::ops::Range<usize>>, message: String| Error::Config {
        path: path.to_owned(),
        line: span.map_or(1, |s| line_of(text, s.start)),
        message,
    };
    let file: File = toml::from_str(text).map_err(|e| bad(e.span(), e.message().to_owned()))?;
    let mut out = Layer::default();
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
    if let Some(hosts) = file.registries.insecure {
        let mut list = Vec::with_capacity(hosts.len());
        for host in hosts {
            check_host(host.get_ref()).map_err(|why| {
                bad(Some(host.span()), format!("insecure {:?}: {why}", host.get_ref()))
            })?;
            list.push(host.into_inner());
        }
        out.insecure = Some(list);
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
    fn later_files_override_earlier_ones_key_by_key() {
        let d = tempfile::tempdir().unwrap();
        let system = d.path().join("system.toml");
        let user = d.path().join("user.toml");
        std::fs::write(
            &system,
            "[registries]\ninsecure = [\"sys:1\"]\n[registries.mirrors]\n\
             \"docker.io\" = [\"sys-hub:1\"]\n\"quay.io\" = [\"sys-quay:1\"]\n",
        )
        .unwrap();
        std::fs::write(&user, "[registries.mirrors]\n\"index.docker.io\" = [\"user-hub:1\"]\n")
            .unwrap();
        let both = [system.clone(), user.clone()];
        let c = load_files(&both, false).unwrap();
        assert_eq!(c.mirrors["docker.io"], ["user-hub:1"], "the user's registry wins");
        assert_eq!(c.mirrors["quay.io"], ["sys-quay:1"], "the others stay");
        assert_eq!(c.insecure, ["sys:1"], "a key the user left out stays");
        std::fs::write(&user, "[registries]\ninsecure = []\n").unwrap();
        let c = load_files(&both, false).unwrap();
        assert!(c.insecure.is_empty(), "an empty list clears it: {c:?}");
        assert_eq!(c.mirrors["docker.io"], ["sys-hub:1"]);
        // missing default files are skipped, a missing named file is an error
        let missing = [d.path().join("none.toml"), user.clone()];
        assert!(load_files(&missing, false).unwrap().mirrors.is_empty());
        let e = crate::error::chain(&load_files(&missing[..1], true).unwrap_err());
        assert!(e.contains("none.toml") && e.contains("No such file"), "{e}");
        // a bad user file names itself, even when the system file is good
        std::fs::write(&user, "[registries]\ninsecure = 3\n").unwrap();
        let e = crate::error::chain(&load_files(&both, false).unwrap_err());
        assert!(e.starts_with(&format!("config file {}, line 2:", user.display())), "{e}");
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

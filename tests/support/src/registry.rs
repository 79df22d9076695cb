//! The real-registry fixture (`tests/fixtures/registry/fixture.sh`): four Debian
//! `docker-registry` instances and a token server on free `127.0.0.1` ports, holding images built
//! from Debian packages. Tests find them through [`fixture()`], which reads the state file the
//! fixture writes (see `tests/fixtures/registry/README.md` for its format).
//!
//! - `BERTH_TEST_REGISTRY`: the state file (default `<workspace>/target/registry-fixture/state.json`;
//!   `scripts/test.sh` sets it).
//! - `BERTH_TEST_REGISTRY_START=1`: start the fixture (as root) when it is not running.
//!
//! ```no_run
//! # fn t() {
//! let fx = berth_test_support::require_registry!();
//! let busybox = fx.image(berth_test_support::registry::BUSYBOX).expect("busybox");
//! let reference = fx.plain.reference("busybox:latest"); // "127.0.0.1:PORT/busybox:latest"
//! assert_eq!(busybox.layers.len(), 1);
//! # }
//! ```

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;

/// Env var: the state file's path.
pub const STATE_ENV: &str = "BERTH_TEST_REGISTRY";
/// Env var: `1` starts the fixture when it is not running.
pub const START_ENV: &str = "BERTH_TEST_REGISTRY_START";

/// `busybox:latest`: OCI manifest, one gzip layer (Debian busybox-static). On all four
/// registries; also `library/busybox:latest`, `busybox:<version>` and, on `bearer` only,
/// `private/busybox:latest` (no anonymous pull).
pub const BUSYBOX: &str = "busybox:latest";
/// OCI index: linux/amd64 and linux/arm64/v8 busybox.
pub const BUSYBOX_MULTIARCH: &str = "busybox:multiarch";
/// Docker manifest list of the same two platforms (schema2 manifests).
pub const BUSYBOX_MULTIARCH_V2S2: &str = "busybox:multiarch-v2s2";
/// The arm64/v8 busybox manifest alone.
pub const BUSYBOX_ARM64: &str = "busybox:arm64";
/// Docker schema2 busybox (same layer and config bytes as [`BUSYBOX`]).
pub const BUSYBOX_V2S2: &str = "busybox:v2s2";
/// busybox with a `tar+zstd` layer.
pub const BUSYBOX_ZSTD: &str = "busybox:zstd";
/// debootstrap'd bookworm minbase, slimmed: one ~28 MB gzip layer (~77 MB tar). Also on `tls`.
pub const DEBIAN: &str = "debian:bookworm-slim";
/// The same layer as `tar+zstd` (same diff_id).
pub const DEBIAN_ZSTD: &str = "debian:bookworm-slim-zstd";
/// The same image as Docker schema2.
pub const DEBIAN_V2S2: &str = "debian:bookworm-slim-v2s2";
/// Four layers: debian, `hello`, whiteouts (file, directory), an opaque dir, a hardlink and a
/// symlink, then `/etc/motd` re-added (see the fixture README for the expected rootfs).
pub const LAYERS: &str = "layers:latest";
/// etcd-like two layers: debian + etcd-server/etcd-client (absent with `--no-extras`).
pub const ETCD: &str = "etcd:latest";
/// debian + haproxy (absent with `--no-extras`).
pub const HAPROXY: &str = "haproxy:latest";

/// How a registry authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// Anonymous.
    None,
    /// HTTP Basic (htpasswd, bcrypt) with this realm.
    Basic {
        /// The `realm` of the challenge.
        realm: String,
    },
    /// Bearer tokens from the token server.
    Bearer {
        /// The token endpoint (`http://127.0.0.1:PORT/token`).
        realm: String,
        /// The `service` of the challenge (`127.0.0.1:PORT` of the registry).
        service: String,
    },
}

/// One running registry.
#[derive(Debug, Clone)]
pub struct Registry {
    /// `plain`, `basic`, `bearer` or `tls`.
    pub name: String,
    /// `127.0.0.1:PORT`: the registry part of a reference.
    pub host: String,
    /// `http://127.0.0.1:PORT` (`https://` for `tls`).
    pub url: String,
    /// The server's pid.
    pub pid: u32,
    /// Its authentication.
    pub auth: Auth,
}

impl Registry {
    /// `HOST:PORT/<image>`, e.g. `reference("busybox:latest")`.
    pub fn reference(&self, image: &str) -> String {
        format!("{}/{image}", self.host)
    }

    /// Served over TLS (with the fixture's CA).
    pub fn is_tls(&self) -> bool {
        self.url.starts_with("https://")
    }
}

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    /// `sha256:<hex>`.
    pub digest: String,
    /// Bytes.
    pub size: u64,
    /// Media type.
    pub media_type: String,
}

/// A layer of a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// The compressed blob.
    pub blob: Descriptor,
    /// sha256 of the uncompressed tar.
    pub diff_id: String,
    /// Size of the uncompressed tar, when the fixture built the layer itself.
    pub uncompressed_size: Option<u64>,
}

/// os/architecture/variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// `linux`.
    pub os: String,
    /// `amd64`, `arm64`.
    pub architecture: String,
    /// `v8` for arm64.
    pub variant: Option<String>,
}

/// What a tag (or a platform entry of an index) resolves to.
#[derive(Debug, Clone)]
pub struct Image {
    /// Repository (`busybox`, `library/busybox`, `private/busybox`); empty for index entries.
    pub repository: String,
    /// Tag; empty for index entries.
    pub tag: String,
    /// Names of the registries holding it.
    pub registries: Vec<String>,
    /// The manifest (or index) itself.
    pub manifest: Descriptor,
    /// Config of an image manifest; `None` for an index or manifest list.
    pub config: Option<Descriptor>,
    /// Layers, base first (empty for an index).
    pub layers: Vec<Layer>,
    /// Platform (from the config, or from the index entry).
    pub platform: Option<Platform>,
    /// The entries of an index or manifest list.
    pub manifests: Vec<Image>,
}

impl Image {
    /// An OCI index or Docker manifest list.
    pub fn is_index(&self) -> bool {
        self.config.is_none()
    }

    /// The index entry for this platform.
    pub fn for_platform(&self, os: &str, arch: &str, variant: Option<&str>) -> Option<&Image> {
        self.manifests.iter().find(|m| {
            m.platform.as_ref().is_some_and(|p| {
                p.os == os
                    && p.architecture == arch
                    && (variant.is_none() || p.variant.as_deref() == variant)
            })
        })
    }

    /// The layers' diff_ids, base first.
    pub fn diff_ids(&self) -> Vec<&str> {
        self.layers.iter().map(|l| l.diff_id.as_str()).collect()
    }

    /// Sum of the compressed layer sizes.
    pub fn compressed_size(&self) -> u64 {
        self.layers.iter().map(|l| l.blob.size).sum()
    }
}

/// The running fixture.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// The state file this was read from.
    pub state_path: PathBuf,
    /// Anonymous, plain http; holds every image.
    pub plain: Registry,
    /// HTTP Basic ([`Fixture::user`]/[`Fixture::password`]); `busybox:latest`.
    pub basic: Registry,
    /// Bearer tokens (anonymous pull except `private/`); `busybox`, `private/busybox`.
    pub bearer: Registry,
    /// TLS with the fixture's CA; `busybox:latest`, `debian:bookworm-slim`.
    pub tls: Registry,
    /// The token server's endpoint.
    pub token_url: String,
    /// The token server's pid.
    pub token_pid: u32,
    /// The CA certificate (PEM) that signed the TLS registry's certificate.
    pub ca_cert: PathBuf,
    /// A Docker `certs.d` directory: `<tls host:port>/ca.crt`.
    pub certs_dir: PathBuf,
    /// The user name for `basic` and `bearer`.
    pub user: String,
    /// Its password.
    pub password: String,
    /// Every pushed tag, by `repository:tag`.
    pub images: BTreeMap<String, Image>,
}

impl Fixture {
    /// The image `repository:tag`; the error lists what the fixture has.
    pub fn image(&self, name: &str) -> Result<&Image, String> {
        self.images.get(name).ok_or_else(|| {
            let have: Vec<&str> = self.images.keys().map(String::as_str).collect();
            format!("the registry fixture has no {name} (it has {}; etcd and haproxy need a start without --no-extras)", have.join(", "))
        })
    }

    /// The four registries.
    pub fn registries(&self) -> [&Registry; 4] {
        [&self.plain, &self.basic, &self.bearer, &self.tls]
    }

    /// Reads a state file (no liveness check).
    pub fn load(path: &Path) -> Result<Fixture, String> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            format!("cannot read the registry fixture state {}: {e}", path.display())
        })?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
        parse(path, &v).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Every server's pid runs the expected program and its port accepts connections.
    pub fn check_alive(&self) -> Result<(), String> {
        let mut servers: Vec<(&str, u32, &str, &str)> = self
            .registries()
            .iter()
            .map(|r| (r.name.as_str(), r.pid, r.host.as_str(), "docker-registry"))
            .collect();
        let token_host = host_of(&self.token_url);
        servers.push(("token server", self.token_pid, token_host, "tokenserver.py"));
        for (name, pid, host, program) in servers {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if !String::from_utf8_lossy(&cmdline).contains(program) {
                return Err(format!("registry fixture: {name} (pid {pid}) is not running"));
            }
            let addr: SocketAddr = host
                .parse()
                .map_err(|e| format!("registry fixture: {name} address {host}: {e}"))?;
            TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| {
                format!("registry fixture: {name} at {host} refuses connections: {e}")
            })?;
        }
        Ok(())
    }
}

fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest)
}

/// The state file: `$BERTH_TEST_REGISTRY` or `<workspace>/target/registry-fixture/state.json`.
pub fn state_path() -> PathBuf {
    match std::env::var_os(STATE_ENV) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => crate::workspace_root().join("target/registry-fixture/state.json"),
    }
}

/// The fixture script.
pub fn script() -> PathBuf {
    crate::workspace_root().join("tests/fixtures/registry/fixture.sh")
}

/// The running fixture, read once per process. With `BERTH_TEST_REGISTRY_START=1` it is started
/// (as root) when it does not run; otherwise the error says how to start it.
pub fn fixture() -> Result<&'static Fixture, String> {
    static FIXTURE: OnceLock<Result<Fixture, String>> = OnceLock::new();
    FIXTURE.get_or_init(find).as_ref().map_err(Clone::clone)
}

fn load_alive(path: &Path) -> Result<Fixture, String> {
    let f = Fixture::load(path)?;
    f.check_alive()?;
    Ok(f)
}

fn find() -> Result<Fixture, String> {
    let path = state_path();
    let why = match load_alive(&path) {
        Ok(f) => return Ok(f),
        Err(why) => why,
    };
    if std::env::var(START_ENV).as_deref() != Ok("1") {
        return Err(format!(
            "{why}; start it with `sudo {} start` or set {START_ENV}=1",
            script().display()
        ));
    }
    start(&path)?;
    load_alive(&path)
}

/// Runs `fixture.sh start` for the state file `path` (its directory becomes the fixture's
/// `BERTH_REGISTRY_DIR`). Needs root; idempotent (the script takes a lock).
pub fn start(path: &Path) -> Result<(), String> {
    crate::prereq::root().map_err(|e| format!("starting the registry fixture {e}"))?;
    if path.file_name().is_none_or(|n| n != "state.json") {
        return Err(format!("{STATE_ENV}={} must name a state.json", path.display()));
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let out = Command::new(script())
        .arg("start")
        .env("BERTH_REGISTRY_DIR", dir)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script().display()))?;
    if out.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> =
        err.lines().rev().take(15).collect::<Vec<_>>().into_iter().rev().collect();
    Err(format!("{} start failed ({}):\n{}", script().display(), out.status, tail.join("\n")))
}

/// `let fx = require_registry!();` — the running fixture, or skip the test saying why. A
/// skip fails under `BERTH_TEST_STRICT=1` when `BERTH_TEST_REGISTRY` is set, i.e. when the
/// caller (scripts/test.sh) started the fixture for this run; the cgroup-v2 VM shares the
/// checkout, state file included, but has its own loopback and no such variable: it skips.
#[macro_export]
macro_rules! require_registry {
    () => {
        match $crate::registry::fixture() {
            Ok(f) => f,
            Err(why) => {
                let test = std::thread::current().name().unwrap_or("?").to_string();
                let expected = std::env::var_os($crate::registry::STATE_ENV).is_some();
                if expected && $crate::prereq::strict() {
                    panic!("{test}: requirement `registry fixture` not met: {why}");
                }
                eprintln!("SKIP {test}: {why}");
                return;
            }
        }
    };
}

// ---------------------------------------------------------------- state file parsing

fn field<'a>(v: &'a Value, key: &str) -> Result<&'a Value, String> {
    v.get(key).ok_or_else(|| format!("missing \"{key}\""))
}

fn string(v: &Value, key: &str) -> Result<String, String> {
    field(v, key)?.as_str().map(str::to_string).ok_or_else(|| format!("\"{key}\" is not a string"))
}

fn number(v: &Value, key: &str) -> Result<u64, String> {
    field(v, key)?.as_u64().ok_or_else(|| format!("\"{key}\" is not a number"))
}

fn pid(v: &Value) -> Result<u32, String> {
    u32::try_from(number(v, "pid")?).map_err(|e| format!("pid: {e}"))
}

fn parse(path: &Path, v: &Value) -> Result<Fixture, String> {
    if number(v, "version")? != 1 {
        return Err("unknown state file version (expected 1)".into());
    }
    let regs = field(v, "registries")?;
    let reg = |name: &str| -> Result<Registry, String> {
        let r = field(regs, name)?;
        let auth = match string(r, "auth")?.as_str() {
            "none" => Auth::None,
            "basic" => Auth::Basic { realm: string(r, "realm")? },
            "bearer" => Auth::Bearer { realm: string(r, "realm")?, service: string(r, "service")? },
            other => return Err(format!("registry {name}: unknown auth {other}")),
        };
        Ok(Registry {
            name: name.to_string(),
            host: string(r, "host")?,
            url: string(r, "url")?,
            pid: pid(r)?,
            auth,
        })
    };
    let token = field(v, "token_server")?;
    let mut images = BTreeMap::new();
    for (name, img) in field(v, "images")?.as_object().ok_or("\"images\" is not an object")? {
        images.insert(name.clone(), image(img).map_err(|e| format!("image {name}: {e}"))?);
    }
    Ok(Fixture {
        state_path: path.to_path_buf(),
        plain: reg("plain")?,
        basic: reg("basic")?,
        bearer: reg("bearer")?,
        tls: reg("tls")?,
        token_url: string(token, "url")?,
        token_pid: pid(token)?,
        ca_cert: string(v, "ca_cert")?.into(),
        certs_dir: string(v, "certs_dir")?.into(),
        user: string(v, "user")?,
        password: string(v, "password")?,
        images,
    })
}

fn descriptor(v: &Value) -> Result<Descriptor, String> {
    Ok(Descriptor {
        digest: string(v, "digest")?,
        size: number(v, "size")?,
        media_type: string(v, "media_type")?,
    })
}

fn platform(v: &Value) -> Result<Platform, String> {
    Ok(Platform {
        os: string(v, "os")?,
        architecture: string(v, "architecture")?,
        variant: v.get("variant").and_then(Value::as_str).map(str::to_string),
    })
}

fn image(v: &Value) -> Result<Image, String> {
    let opt_str = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    let list = |k: &str| v.get(k).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let layers = list("layers")
        .iter()
        .map(|l| {
            Ok(Layer {
                blob: descriptor(l)?,
                diff_id: string(l, "diff_id")?,
                uncompressed_size: l.get("uncompressed_size").and_then(Value::as_u64),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Image {
        repository: opt_str("repository"),
        tag: opt_str("tag"),
        registries: list("registries")
            .iter()
            .filter_map(|r| r.as_str().map(String::from))
            .collect(),
        manifest: descriptor(v)?,
        config: v.get("config").map(descriptor).transpose()?,
        layers,
        platform: v.get("platform").map(platform).transpose()?,
        manifests: list("manifests").iter().map(image).collect::<Result<_, _>>()?,
    })
}

#[cfg(test)]
mod tests;

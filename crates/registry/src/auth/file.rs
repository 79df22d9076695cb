//! Credentials in Docker's `config.json` and containers' `auth.json` (the same `auths` map):
//! `{"auths": {"KEY": {"auth": base64("user:password"), "identitytoken": "…"}}}`.
//!
//! Keys are `host[:port]`, Docker's URL form (`https://index.docker.io/v1/`), or, in
//! auth.json, `host/namespace/repo` for one repository; the most specific key wins.
//!
//! Credential helpers (`auth/helper.rs`): a registry in `credHelpers` asks its helper first
//! (a missing helper is an error, as in Docker); then the `auths` entry; then the
//! `credsStore` helper, if any. A `credsStore` helper that is not installed counts as having
//! nothing (Docker fails the pull instead: a `config.json` copied from Docker Desktop names
//! `desktop`, and a public pull should not depend on it). `login` and `logout` store in and
//! erase from the helper the file names (`credHelpers`, else `credsStore`), as Docker's
//! native store does, and keep an empty `auths` entry for the registry in the file.

use std::fmt;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::helper;
use crate::base64;
use crate::error::Error;
use crate::reference::DOCKER_HUB;

/// The key Docker's CLI reads and writes for Docker Hub.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// A user name and password (or an OAuth2 refresh token as `identity_token`).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password or personal access token.
    pub password: String,
    /// An OAuth2 refresh token (Docker's `identitytoken`), exchanged by POST for access tokens.
    pub identity_token: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print secrets, even in debug logs.
        f.debug_struct("Credentials").field("username", &self.username).finish_non_exhaustive()
    }
}

/// The auth files berth reads by default, in order: `$REGISTRY_AUTH_FILE`,
/// `$XDG_RUNTIME_DIR/containers/auth.json`, `$XDG_CONFIG_HOME/containers/auth.json`
/// (default `~/.config`), then `$DOCKER_CONFIG/config.json` (default `~/.docker`).
pub fn default_auth_files() -> Vec<PathBuf> {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    let home = env("HOME");
    let mut files = Vec::new();
    files.extend(env("REGISTRY_AUTH_FILE"));
    files.extend(env("XDG_RUNTIME_DIR").map(|d| d.join("containers/auth.json")));
    let config = env("XDG_CONFIG_HOME").or_else(|| home.as_ref().map(|h| h.join(".config")));
    files.extend(config.map(|d| d.join("containers/auth.json")));
    let docker = env("DOCKER_CONFIG").or_else(|| home.as_ref().map(|h| h.join(".docker")));
    files.extend(docker.map(|d| d.join("config.json")));
    files
}

/// The file `login` writes by default: the first of [`default_auth_files`] that exists, else
/// Docker's `config.json`.
pub fn default_login_file() -> Option<PathBuf> {
    let files = default_auth_files();
    files.iter().find(|p| p.is_file()).or(files.last()).cloned()
}

/// Normalises an `auths` key to `host[:port][/path]` with Docker Hub's aliases as `docker.io`.
fn normalize_key(key: &str) -> String {
    let (had_scheme, rest) = match key.split_once("://") {
        Some((_, rest)) => (true, rest),
        None => (false, key),
    };
    // URL keys (`https://host/v1/`) name a registry, never a repository.
    let rest = if had_scheme { rest.split('/').next().unwrap_or(rest) } else { rest };
    let rest = rest.trim_end_matches('/');
    let (host, path) = rest.split_once('/').map_or((rest, None), |(h, p)| (h, Some(p)));
    let host = match host {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => DOCKER_HUB,
        h => h,
    };
    match path {
        Some(p) => format!("{host}/{p}"),
        None => host.to_owned(),
    }
}

/// Credentials for `registry` (and `repository`, for repository-scoped keys), from the first
/// file in `files` that has any.
pub(crate) fn lookup(
    files: &[PathBuf],
    registry: &str,
    repository: Option<&str>,
) -> Result<Option<Credentials>, Error> {
    let mut wanted = Vec::new();
    if let Some(repo) = repository {
        let mut path = format!("{registry}/{repo}");
        loop {
            wanted.push(path.clone());
            match path.rfind('/') {
                Some(i) if i > registry.len() => path.truncate(i),
                _ => break,
            }
        }
    }
    wanted.push(registry.to_owned());
    for file in files {
        let Some(doc) = read_doc(file)? else { continue };
        if let Some(helper) = cred_helper(&doc, registry) {
            if let Some(creds) = helper::get(helper, registry)? {
                return Ok(Some(creds));
            }
        }
        let auths = doc.get("auths").and_then(Value::as_object);
        let mut best: Option<(usize, &Value)> = None;
        for (key, entry) in auths.into_iter().flatten() {
            let key = normalize_key(key);
            if let Some(rank) = wanted.iter().position(|w| *w == key) {
                if best.is_none_or(|(r, _)| rank < r) {
                    best = Some((rank, entry));
                }
            }
        }
        if let Some(creds) = best.and_then(|(_, entry)| decode_entry(entry)) {
            return Ok(Some(creds));
        }
        if let Some(store) = doc.get("credsStore").and_then(Value::as_str).filter(|s| !s.is_empty())
        {
            match helper::get(store, registry) {
                Ok(Some(creds)) => return Ok(Some(creds)),
                Ok(None) => {}
                Err(Error::CredentialHelper { source, helper, .. })
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    tracing::debug!(%helper, file = ?file, "credsStore helper not installed");
                }
                Err(e) => return Err(e),
            }
        }
    }
    Ok(None)
}

/// The `credHelpers` entry naming `registry`'s helper, if any.
fn cred_helper<'a>(doc: &'a Value, registry: &str) -> Option<&'a str> {
    let helpers = doc.get("credHelpers")?.as_object()?;
    let name = helpers.iter().find(|(k, _)| normalize_key(k) == registry)?.1.as_str()?;
    Some(name).filter(|n| !n.is_empty())
}

fn decode_entry(entry: &Value) -> Option<Credentials> {
    let field = |k: &str| entry.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    let identity_token = field("identitytoken").map(str::to_owned);
    let (username, password) = match field("auth") {
        Some(auth) => {
            let raw = base64::decode(auth.trim())?;
            let text = String::from_utf8(raw).ok()?;
            let (u, p) = text.split_once(':')?;
            (u.to_owned(), p.to_owned())
        }
        None => (field("username")?.to_owned(), field("password").unwrap_or_default().to_owned()),
    };
    Some(Credentials { username, password, identity_token })
}

fn read_doc(path: &Path) -> Result<Option<Value>, Error> {
    let err = |source| Error::ReadAuthFile { path: path.to_owned(), source };
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(err(e)),
    };
    if text.iter().all(u8::is_ascii_whitespace) {
        return Ok(Some(Value::Object(Map::new())));
    }
    let doc: Value = serde_json::from_slice(&text)
        .map_err(|e| err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
    if !doc.is_object() {
        let msg = "not a JSON object";
        return Err(err(std::io::Error::new(std::io::ErrorKind::InvalidData, msg)));
    }
    Ok(Some(doc))
}

/// Stores credentials for `registry` in `path` (Docker `config.json` format, mode 0600),
/// keeping everything else in the file. Other keys for the same registry are replaced.
///
/// When the file names a helper for `registry` (`credHelpers`, else `credsStore`), the
/// helper stores the secret and the file gets an empty entry for the registry, as Docker's
/// native store writes (`logout` finds the login by it); a helper that fails leaves the
/// file untouched.
pub fn store_credentials(path: &Path, registry: &str, creds: &Credentials) -> Result<(), Error> {
    let key = normalize_key(registry);
    let mut entry = Map::new();
    match read_doc(path)?.as_ref().and_then(|doc| store_helper(doc, &key)) {
        Some(name) => helper::store(name, &key, creds)?,
        None => {
            let pair = format!("{}:{}", creds.username, creds.password);
            entry.insert("auth".into(), Value::String(base64::encode(pair.as_bytes())));
            if let Some(token) = &creds.identity_token {
                entry.insert("identitytoken".into(), Value::String(token.clone()));
            }
        }
    }
    let write_key = if key == DOCKER_HUB { DOCKER_HUB_KEY.to_owned() } else { key.clone() };
    edit(path, |auths| {
        auths.retain(|k, _| normalize_key(k) != key);
        auths.insert(write_key, Value::Object(entry));
    })
}

/// Removes `registry`'s credentials from `path`, and from its helper when the file names
/// one (`erase`); false if the file had no entry for it (Docker's "Not logged in"). A helper
/// that fails leaves the file untouched, so `logout` can be tried again; a `credsStore` that
/// is not installed is skipped (it cannot hold anything).
pub fn remove_credentials(path: &Path, registry: &str) -> Result<bool, Error> {
    let key = normalize_key(registry);
    let Some(doc) = read_doc(path)? else { return Ok(false) };
    let auths = doc.get("auths").and_then(Value::as_object);
    if !auths.is_some_and(|a| a.keys().any(|k| normalize_key(k) == key)) {
        return Ok(false);
    }
    if let Some(name) = store_helper(&doc, &key) {
        match helper::erase(name, &key) {
            // As for `lookup`: a `credsStore` that is not installed holds nothing.
            Err(Error::CredentialHelper { source, helper, .. })
                if source.kind() == std::io::ErrorKind::NotFound
                    && cred_helper(&doc, &key).is_none() =>
            {
                tracing::debug!(%helper, file = ?path, "credsStore helper not installed");
            }
            erased => erased?,
        }
    }
    edit(path, |auths| auths.retain(|k, _| normalize_key(k) != key))?;
    Ok(true)
}

/// The helper that keeps `registry`'s secret: its `credHelpers` entry, else `credsStore`.
fn store_helper<'a>(doc: &'a Value, registry: &str) -> Option<&'a str> {
    let store = || doc.get("credsStore").and_then(Value::as_str).filter(|s| !s.is_empty());
    cred_helper(doc, registry).or_else(store)
}

fn edit(path: &Path, change: impl FnOnce(&mut Map<String, Value>)) -> Result<(), Error> {
    let mut doc = read_doc(path)?.unwrap_or_else(|| Value::Object(Map::new()));
    let root = doc.as_object_mut().ok_or_else(|| write_err(path, "not a JSON object"))?;
    let auths = root.entry("auths").or_insert_with(|| Value::Object(Map::new()));
    let auths = auths.as_object_mut().ok_or_else(|| write_err(path, "auths is not an object"))?;
    change(auths);
    let mut text = serde_json::to_vec_pretty(&doc).map_err(|e| write_err(path, &e.to_string()))?;
    text.push(b'\n');
    write_private(path, &text)
}

fn write_err(path: &Path, msg: &str) -> Error {
    let source = std::io::Error::new(std::io::ErrorKind::InvalidData, msg.to_owned());
    Error::WriteAuthFile { path: path.to_owned(), source }
}

/// Writes `path` atomically with mode 0600 (its directory 0700 if created): secrets inside.
fn write_private(path: &Path, text: &[u8]) -> Result<(), Error> {
    let err = |source| Error::WriteAuthFile { path: path.to_owned(), source };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(err)?;
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(text)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(err)
}

#[cfg(test)]
mod tests;

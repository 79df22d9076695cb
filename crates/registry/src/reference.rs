//! Image references: `[REGISTRY[:PORT]/]PATH[:TAG][@DIGEST]`, normalised the way Docker does.
//!
//! The grammar is distribution's `reference` package (`reference/regexp.go`): a first
//! component is a registry when it contains `.` or `:`, is `localhost`, or has an uppercase
//! letter; otherwise the registry is `docker.io`, and a single-component Docker Hub name gets
//! `library/`. With neither tag nor digest the tag is `latest`. `Display` prints the fully
//! qualified form, which parses back to the same value.

use std::fmt;
use std::str::FromStr;

use oci_spec::image::Digest;

/// Docker Hub's canonical registry name in references.
pub const DOCKER_HUB: &str = "docker.io";
/// The host that serves Docker Hub's distribution API.
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";
/// The tag used when a reference has neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";
/// distribution limits the repository name (with its registry) to 255 bytes.
const MAX_NAME_LEN: usize = 255;
const MAX_TAG_LEN: usize = 128;

/// The forms a reference may take, shown in every parse error.
pub const ACCEPTED_FORMS: &str = "accepted forms: NAME[:TAG][@DIGEST] where NAME is \
[REGISTRY[:PORT]/]PATH, e.g. busybox, busybox:1.36, library/busybox@sha256:<64 hex>, \
localhost:5000/team/app:v1, quay.io/org/app:tag";

/// A parsed, normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// Why a string is not an image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid reference {input:?}: {reason}; {ACCEPTED_FORMS}")]
pub struct ParseError {
    /// The rejected input.
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

impl Reference {
    /// Parses and normalises `input` (see the module docs).
    ///
    /// ```
    /// use berth_registry::Reference;
    /// let r = Reference::parse("busybox").unwrap();
    /// assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
    /// let r = Reference::parse("localhost:5000/app@sha256:".to_owned() + &"a".repeat(64)).unwrap();
    /// assert_eq!((r.registry(), r.repository(), r.tag()), ("localhost:5000", "app", None));
    /// ```
    pub fn parse(input: impl AsRef<str>) -> Result<Self, ParseError> {
        let input = input.as_ref();
        let fail = |reason: &str| ParseError { input: input.to_owned(), reason: reason.to_owned() };
        if input.is_empty() {
            return Err(fail("empty"));
        }
        let (rest, digest) = match input.split_once('@') {
            Some((name, d)) => (name, Some(parse_digest(d).map_err(|r| fail(&r))?)),
            None => (input, None),
        };
        // A tag follows the last ':' that comes after the last '/', so a port is not a tag.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(tag) = tag {
            check_tag(tag).map_err(|r| fail(&r))?;
        }
        let (registry, repository) = split_registry(name).map_err(|r| fail(&r))?;
        if registry.len() + 1 + repository.len() > MAX_NAME_LEN {
            return Err(fail("name longer than 255 characters"));
        }
        let tag = match (tag, &digest) {
            (None, None) => Some(DEFAULT_TAG.to_owned()),
            (t, _) => t.map(str::to_owned),
        };
        Ok(Self { registry, repository, tag, digest })
    }

    /// The registry as written in references (`docker.io`, `localhost:5000`, `quay.io`).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The host (and port) that serves the registry's API: `registry-1.docker.io` for Docker Hub.
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }

    /// The repository path (`library/busybox`).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag, if the reference has one.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if the reference pins one.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// What to ask the registry's manifest endpoint for: the digest if pinned, else the tag.
    pub fn manifest_selector(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => DEFAULT_TAG.to_owned(),
        }
    }

    /// The same repository with another tag and no digest.
    pub fn with_tag(&self, tag: &str) -> Result<Self, ParseError> {
        check_tag(tag).map_err(|reason| ParseError { input: tag.to_owned(), reason })?;
        Ok(Self { tag: Some(tag.to_owned()), digest: None, ..self.clone() })
    }

    /// The same repository pinned to `digest` (the tag is kept for display).
    pub fn with_digest(&self, digest: Digest) -> Self {
        Self { digest: Some(digest), ..self.clone() }
    }

    /// The short form Docker prints: `busybox:latest`, `team/app:v1`, `quay.io/org/app:tag`.
    pub fn familiar(&self) -> String {
        let name = match (self.registry.as_str(), self.repository.strip_prefix("library/")) {
            (DOCKER_HUB, Some(short)) if !short.contains('/') => short.to_owned(),
            (DOCKER_HUB, _) => self.repository.clone(),
            (registry, _) => format!("{registry}/{}", self.repository),
        };
        self.with_suffix(name)
    }

    fn with_suffix(&self, mut name: String) -> String {
        if let Some(tag) = &self.tag {
            name.push(':');
            name.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            name.push('@');
            name.push_str(digest.as_ref());
        }
        name
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.with_suffix(format!("{}/{}", self.registry, self.repository)))
    }
}

impl FromStr for Reference {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        Self::parse(s)
    }
}

/// Splits `name` into (registry, repository) with Docker's defaults applied.
fn split_registry(name: &str) -> Result<(String, String), String> {
    let (registry, path) = match name.split_once('/') {
        Some((first, rest)) if is_registry(first) => {
            check_domain(first)?;
            let registry = if first == "index.docker.io" { DOCKER_HUB } else { first };
            (registry.to_owned(), rest.to_owned())
        }
        _ => (DOCKER_HUB.to_owned(), name.to_owned()),
    };
    check_path(&path)?;
    let path = if registry == DOCKER_HUB && !path.contains('/') {
        if path.len() == 64 && path.bytes().all(|b| b.is_ascii_hexdigit()) {
            // Docker refuses these: they are indistinguishable from image ids.
            return Err("a 64-character hex name is an image id, not a repository".to_owned());
        }
        format!("library/{path}")
    } else {
        path
    };
    Ok((registry, path))
}

fn is_registry(first: &str) -> bool {
    first.contains(['.', ':'])
        || first == "localhost"
        || first.bytes().any(|b| b.is_ascii_uppercase())
}

fn check_domain(domain: &str) -> Result<(), String> {
    let bad = || Err(format!("{domain:?} is not a valid registry host[:port]"));
    let (host, port) = if let Some(v6) = domain.strip_prefix('[') {
        let Some((addr, rest)) = v6.split_once(']') else { return bad() };
        if addr.parse::<std::net::Ipv6Addr>().is_err() {
            return bad();
        }
        match rest {
            "" => ("", None),
            p => match p.strip_prefix(':') {
                Some(port) => ("", Some(port)),
                None => return bad(),
            },
        }
    } else {
        match domain.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (domain, None),
        }
    };
    if let Some(port) = port {
        if port.is_empty()
            || !port.bytes().all(|b| b.is_ascii_digit())
            || port.parse::<u16>().is_err()
        {
            return bad();
        }
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if !domain.starts_with('[') && !host.split('.').all(label_ok) {
        return bad();
    }
    Ok(())
}

/// path-component := [a-z0-9]+ ( ( [._] | __ | -+ ) [a-z0-9]+ )*
fn check_path(path: &str) -> Result<(), String> {
    for component in path.split('/') {
        if !component_ok(component) {
            return Err(format!(
                "repository component {component:?} must be lowercase letters and digits, \
                 separated by '.', '_', '__' or dashes"
            ));
        }
    }
    Ok(())
}

fn component_ok(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    let (Some(&first), Some(&last)) = (b.first(), b.last()) else { return false };
    if !alnum(first) || !alnum(last) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator run: one '.', one '_', exactly "__", or any number of '-'.
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = matches!(sep, "." | "_" | "__") || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// `tag := [\w][\w.-]{0,127}`
fn check_tag(tag: &str) -> Result<(), String> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let b = tag.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= MAX_TAG_LEN
        && word(b[0])
        && b.iter().all(|&x| word(x) || x == b'.' || x == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!("tag {tag:?} must be 1-128 of [A-Za-z0-9_.-] and not start with '.' or '-'"))
    }
}

fn parse_digest(d: &str) -> Result<Digest, String> {
    let bad = || format!("digest {d:?} must be sha256:<64 hex> or sha512:<128 hex>");
    let (alg, hex) = d.split_once(':').ok_or_else(bad)?;
    let len = match alg {
        "sha256" => 64,
        "sha512" => 128,
        _ => return Err(bad()),
    };
    if hex.len() != len || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err(bad());
    }
    Digest::from_str(d).map_err(|_| bad())
}

#[cfg(test)]
mod tests;

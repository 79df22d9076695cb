//! Platforms (`os/arch[/variant]`) and picking one manifest out of an index.
//!
//! Matching follows containerd's `platforms` package: architecture aliases are normalised
//! (`x86_64` is `amd64`, `aarch64` is `arm64`), `arm64` without a variant means `v8`, and
//! `arm` without a variant means `v7`. Entries for `unknown/unknown` (buildx attestations)
//! are never chosen.

use std::fmt;

use oci_spec::image::Descriptor;

/// An image platform.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Platform {
    /// `linux`, `windows`, ...
    pub os: String,
    /// GOARCH spelling: `amd64`, `arm64`, `arm`, `386`, `ppc64le`, `s390x`, `riscv64`.
    pub architecture: String,
    /// `v6`, `v7`, `v8`, ... when it matters.
    pub variant: Option<String>,
}

/// Why a `--platform` value was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid platform {input:?}: expected OS/ARCH[/VARIANT], e.g. linux/amd64 or linux/arm/v7")]
pub struct PlatformParseError {
    /// The rejected input.
    pub input: String,
}

impl Platform {
    /// A platform from its parts, normalised.
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Self {
        let (architecture, alias_variant) = normalize_arch(architecture);
        let variant = variant.map(str::to_owned).or(alias_variant.map(str::to_owned));
        Self { os: os.to_ascii_lowercase(), architecture, variant }
    }

    /// The platform this program runs on (Linux, with the compiled-in architecture).
    pub fn host() -> Self {
        Self::new("linux", std::env::consts::ARCH, None)
    }

    /// Parses `os/arch[/variant]`.
    pub fn parse(input: &str) -> Result<Self, PlatformParseError> {
        let err = || PlatformParseError { input: input.to_owned() };
        let parts: Vec<&str> = input.split('/').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(err());
        }
        match parts.as_slice() {
            [os, arch] => Ok(Self::new(os, arch, None)),
            [os, arch, variant] => Ok(Self::new(os, arch, Some(variant))),
            _ => Err(err()),
        }
    }

    /// The platform an index entry declares, if any.
    pub fn of(desc: &Descriptor) -> Option<Self> {
        let p = desc.platform().as_ref()?;
        Some(Self::new(&p.os().to_string(), &p.architecture().to_string(), p.variant().as_deref()))
    }

    /// How well `candidate` serves a request for `self`: `None` if not at all, higher is better.
    fn score(&self, candidate: &Platform) -> Option<u8> {
        if self.os != candidate.os || self.architecture != candidate.architecture {
            return None;
        }
        let default = default_variant(&self.architecture);
        let norm = |v: &Option<String>| v.clone().or_else(|| default.map(str::to_owned));
        match (&self.variant, &candidate.variant) {
            (Some(want), _) if norm(&candidate.variant).as_deref() == Some(want) => Some(3),
            (Some(_), _) => None,
            (None, got) if norm(got) == default.map(str::to_owned) => Some(2),
            (None, _) => Some(1),
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

fn normalize_arch(arch: &str) -> (String, Option<&'static str>) {
    let lower = arch.to_ascii_lowercase();
    match lower.as_str() {
        "x86_64" | "x86-64" => ("amd64".to_owned(), None),
        "aarch64" => ("arm64".to_owned(), None),
        "armhf" => ("arm".to_owned(), Some("v7")),
        "armel" => ("arm".to_owned(), Some("v6")),
        "i386" | "i686" | "x86" => ("386".to_owned(), None),
        "powerpc64" | "powerpc64le" => ("ppc64le".to_owned(), None),
        _ => (lower, None),
    }
}

fn default_variant(arch: &str) -> Option<&'static str> {
    match arch {
        "arm64" => Some("v8"),
        "arm" => Some("v7"),
        _ => None,
    }
}

/// The index entry that best matches `want`, or every platform the index offers.
pub(crate) fn select<'a>(
    manifests: &'a [Descriptor],
    want: &Platform,
) -> Result<&'a Descriptor, Vec<Platform>> {
    let mut best: Option<(u8, &Descriptor)> = None;
    for desc in manifests {
        let Some(score) = Platform::of(desc).and_then(|p| want.score(&p)) else { continue };
        if best.is_none_or(|(s, _)| score > s) {
            best = Some((score, desc));
        }
    }
    match best {
        Some((_, desc)) => Ok(desc),
        None => Err(manifests
            .iter()
            .filter_map(Platform::of)
            .filter(|p| p.os != "unknown" && p.architecture != "unknown")
            .collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(platform: &str, n: u8) -> Descriptor {
        let mut json = serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{}", format!("{n:02x}").repeat(32)),
            "size": 100,
        });
        let parts: Vec<&str> = platform.split('/').collect();
        json["platform"] = serde_json::json!({"os": parts[0], "architecture": parts[1]});
        if let Some(v) = parts.get(2) {
            json["platform"]["variant"] = serde_json::json!(v);
        }
        serde_json::from_value(json).unwrap()
    }

    fn pick(index: &[Descriptor], want: &str) -> Result<String, Vec<String>> {
        select(index, &Platform::parse(want).unwrap())
            .map(|d| Platform::of(d).unwrap().to_string())
            .map_err(|v| v.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn parse_and_display() {
        assert_eq!(Platform::parse("linux/amd64").unwrap().to_string(), "linux/amd64");
        assert_eq!(Platform::parse("linux/x86_64").unwrap().architecture, "amd64");
        assert_eq!(Platform::parse("linux/armhf").unwrap().to_string(), "linux/arm/v7");
        assert_eq!(Platform::parse("Linux/ARM64/v8").unwrap().to_string(), "linux/arm64/v8");
        for bad in ["", "linux", "linux/", "/amd64", "a/b/c/d"] {
            assert!(Platform::parse(bad).is_err(), "{bad}");
        }
        let host = Platform::host();
        assert_eq!(host.os, "linux");
        assert!(!host.architecture.is_empty());
    }

    #[test]
    fn selects_by_os_arch_variant() {
        let index = [
            entry("linux/amd64", 1),
            entry("linux/arm/v6", 2),
            entry("linux/arm/v7", 3),
            entry("linux/arm64/v8", 4),
            entry("unknown/unknown", 5),
        ];
        assert_eq!(pick(&index, "linux/amd64").unwrap(), "linux/amd64");
        assert_eq!(pick(&index, "linux/arm/v6").unwrap(), "linux/arm/v6");
        assert_eq!(pick(&index, "linux/arm").unwrap(), "linux/arm/v7");
        assert_eq!(pick(&index, "linux/arm64").unwrap(), "linux/arm64/v8");
        assert_eq!(pick(&index, "linux/aarch64").unwrap(), "linux/arm64/v8");
    }

    #[test]
    fn arm64_without_variant_is_v8() {
        let index = [entry("linux/arm64", 1)];
        assert_eq!(pick(&index, "linux/arm64/v8").unwrap(), "linux/arm64");
        assert!(pick(&index, "linux/arm64/v9").is_err());
    }

    #[test]
    fn missing_platform_lists_available() {
        let index =
            [entry("linux/amd64", 1), entry("linux/arm/v7", 2), entry("unknown/unknown", 3)];
        let avail = pick(&index, "linux/s390x").unwrap_err();
        assert_eq!(avail, ["linux/amd64", "linux/arm/v7"]);
        assert_eq!(pick(&index, "windows/amd64").unwrap_err().len(), 2);
        assert!(pick(&index, "linux/arm/v6").is_err());
    }
}

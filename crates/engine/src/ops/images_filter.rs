//! `images [REPOSITORY[:TAG]] [--filter KEY=VALUE]`: which images to list, with Docker's
//! semantics. Values of one key are alternatives, different keys must all hold:
//! - `dangling=true|false`: images with no reference, or with one;
//! - `reference=PATTERN`: a reference whose familiar form (`busybox:latest`, not
//!   `docker.io/library/busybox:latest`), or its name without the tag, matches the
//!   pattern as Go's `path.Match` does (`*` and `?` within one `/`-separated part,
//!   `[...]` classes). The positional `REPOSITORY[:TAG]` is one more `reference` pattern.
//!
//! A reference that does not match is also left out of the table's rows (Docker shows only
//! the matching tags of an image).

use crate::error::{Error, Result};

/// The parsed filters.
#[derive(Debug, Clone, Default)]
pub struct ImageFilters {
    dangling: Option<bool>,
    references: Vec<String>,
}

impl ImageFilters {
    /// Parses `--filter` values and the positional `REPOSITORY[:TAG]`.
    pub fn parse(filters: &[String], positional: Option<&str>) -> Result<ImageFilters> {
        let bad = |value: &str, reason: &str| Error::InvalidFlag {
            flag: "--filter",
            value: value.to_string(),
            reason: reason.into(),
        };
        let mut f = ImageFilters::default();
        for kv in filters {
            let Some((key, value)) = kv.split_once('=') else {
                return Err(bad(kv, "expected KEY=VALUE"));
            };
            match key {
                "dangling" => match value {
                    "true" | "1" => f.dangling = Some(true),
                    "false" | "0" => f.dangling = Some(false),
                    _ => return Err(bad(kv, "dangling is true or false")),
                },
                "reference" => {
                    check_pattern(value).map_err(|why| bad(kv, why))?;
                    f.references.push(value.to_string());
                }
                _ => return Err(bad(kv, "berth filters images by dangling and reference")),
            }
        }
        if let Some(p) = positional {
            check_pattern(p).map_err(|why| Error::InvalidFlag {
                flag: "REPOSITORY[:TAG]",
                value: p.to_string(),
                reason: why.into(),
            })?;
            f.references.push(p.to_string());
        }
        Ok(f)
    }

    /// Whether an image with `references` (as stored) is listed at all.
    pub fn keeps_image(&self, references: &[String]) -> bool {
        if let Some(d) = self.dangling {
            if references.is_empty() != d {
                return false;
            }
        }
        self.references.is_empty() || references.iter().any(|r| self.keeps_reference(r))
    }

    /// Whether the row of `reference` is shown.
    pub fn keeps_reference(&self, reference: &str) -> bool {
        if self.references.is_empty() {
            return true;
        }
        let familiar = berth_registry::Reference::parse(reference)
            .map_or_else(|_| reference.to_string(), |r| r.familiar());
        let name = match familiar.rsplit_once(':') {
            Some((n, tag)) if !tag.contains('/') => n.to_string(),
            _ => familiar.clone(),
        };
        let name = name.split_once('@').map_or(name.as_str(), |(n, _)| n).to_string();
        self.references.iter().any(|p| path_match(p, &familiar) || path_match(p, &name))
    }
}

/// Refuses what Go's `path.Match` calls a bad pattern: an unclosed `[`, or a `\` at the end.
fn check_pattern(p: &str) -> std::result::Result<(), &'static str> {
    let mut chars = p.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.next().is_none() => return Err("a pattern ends with a lone \\"),
            '[' if !chars.by_ref().any(|c| c == ']') => return Err("a [ class is not closed"),
            _ => {}
        }
    }
    Ok(())
}

/// Go's `path.Match`: `*` is any run of non-`/` characters, `?` one non-`/` character,
/// `[a-z]`/`[^a-z]` a class, `\` escapes; the whole name must match.
fn path_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    matches_at(&p, &n)
}

fn matches_at(p: &[char], n: &[char]) -> bool {
    match p.first() {
        None => n.is_empty(),
        Some('*') => {
            // The star takes 0.. characters, never a `/`.
            let rest = &p[1..];
            (0..=n.len())
                .take_while(|&i| i == 0 || n[i - 1] != '/')
                .any(|i| matches_at(rest, &n[i..]))
        }
        Some(c) => {
            let Some((&first, tail)) = n.split_first() else { return false };
            let (ok, used) = match c {
                '?' => (first != '/', 1),
                '[' => class(&p[1..], first),
                '\\' if p.len() > 1 => (p[1] == first, 2),
                _ => (*c == first, 1),
            };
            ok && matches_at(&p[used.min(p.len())..], tail)
        }
    }
}

/// A `[...]` class (after its `[`) against `c`: whether it matches, and how many pattern
/// characters it used, the `[` included.
fn class(p: &[char], c: char) -> (bool, usize) {
    let Some(end) = p.iter().position(|&x| x == ']') else { return (false, p.len() + 1) };
    let body = &p[..end];
    let (negated, body) = match body.first() {
        Some('^') => (true, &body[1..]),
        _ => (false, body),
    };
    let mut hit = false;
    let mut i = 0;
    while i < body.len() {
        if i + 2 < body.len() && body[i + 1] == '-' {
            hit |= body[i] <= c && c <= body[i + 2];
            i += 3;
        } else {
            hit |= body[i] == c;
            i += 1;
        }
    }
    (hit != negated && c != '/', end + 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(filters: &[&str], positional: Option<&str>) -> ImageFilters {
        let filters: Vec<String> = filters.iter().map(|s| s.to_string()).collect();
        ImageFilters::parse(&filters, positional).unwrap()
    }

    #[test]
    fn go_path_match() {
        assert!(path_match("busybox*", "busybox:latest"));
        assert!(path_match("busy?ox", "busybox"));
        assert!(!path_match("*", "team/app"), "a star stops at /");
        assert!(path_match("*/app", "team/app"));
        assert!(path_match("[a-c]pp", "app") && !path_match("[^a-c]pp", "app"));
        assert!(path_match("a\\*", "a*") && !path_match("a\\*", "ab"));
        assert!(!path_match("busybox", "busybox2"), "the whole name");
    }

    #[test]
    fn reference_matches_the_familiar_name_with_or_without_its_tag() {
        let refs = |r: &[&str]| r.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let busybox = refs(&["docker.io/library/busybox:latest"]);
        assert!(f(&[], Some("busybox")).keeps_image(&busybox));
        assert!(f(&[], Some("busybox:latest")).keeps_image(&busybox));
        assert!(!f(&[], Some("busybox:1.36")).keeps_image(&busybox));
        assert!(f(&["reference=busy*"], None).keeps_image(&busybox));
        let local = refs(&["127.0.0.1:5000/team/app:v1"]);
        assert!(f(&["reference=127.0.0.1:5000/team/*"], None).keeps_image(&local));
        assert!(!f(&["reference=app"], None).keeps_image(&local));
        // Alternatives of one key; the row of a non-matching tag is left out.
        let two = refs(&["docker.io/library/busybox:latest", "docker.io/library/alpine:3"]);
        let g = f(&["reference=alpine", "reference=nothing"], None);
        assert!(g.keeps_image(&two));
        assert!(!g.keeps_reference(&two[0]) && g.keeps_reference(&two[1]));
    }

    #[test]
    fn dangling_and_bad_filters() {
        assert!(f(&["dangling=true"], None).keeps_image(&[]));
        assert!(!f(&["dangling=true"], None).keeps_image(&["a:b".to_string()]));
        assert!(!f(&["dangling=false"], None).keeps_image(&[]));
        for bad in ["dangling=maybe", "label=x", "noequals", "reference=[ab"] {
            let err = ImageFilters::parse(&[bad.to_string()], None).unwrap_err();
            assert!(err.to_string().contains(bad), "{err}");
        }
    }
}

//! `regex` as regex-lite (docs/adr/0013-regex-lite-for-oci-spec.md).
//!
//! Every user in the workspace (oci-spec's `execCPUAffinity` check, the engine's
//! `ps --filter name=`, criterion's benchmark filter) needs only `Regex::new`, `is_match`,
//! `RegexBuilder` and `Captures`, which regex-lite has with the same signatures. What it
//! lacks: Unicode classes (`\p{..}`), and `\d`, `\w`, `\s` and `\b` are ASCII (as in Go's
//! RE2, whose syntax Docker's filters use), plus `RegexSet` and `regex::bytes`, which
//! nothing here uses; a user that needs them fails to compile, it cannot silently change.

pub use regex_lite::*;

//! `berth history IMAGE`: the `history` of the image config, newest first, as Docker shows
//! it: the top row carries the image id, the rows below `<missing>` (their layers are not
//! images of their own); a row that made a layer (`empty_layer` unset) gets that layer's
//! size, in order from the bottom.

use super::Engine;
use crate::error::Result;

/// One row of `history`, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The image id (`sha256:…`) on the top row, `<missing>` below.
    pub id: String,
    /// `created`, RFC 3339.
    pub created: String,
    /// `created_by`.
    pub created_by: String,
    /// `comment`.
    pub comment: String,
    /// Unpacked bytes of the layer it made (0 for an empty layer).
    pub size: u64,
}

/// The rows of `image` (reference or id). Docker shows a layer's unpacked size (its diff):
/// see [`super::images::layer_sizes`].
pub fn history(e: &Engine, image: &str) -> Result<Vec<Row>> {
    let store = super::pull::store(e)?;
    let info = super::images::lookup(&store, image)?;
    let config = super::images::config_of(&store, &info)?;
    let sizes = super::images::layer_sizes(&store, &info);
    Ok(rows(&config, &sizes, &info.id.to_string()))
}

/// The rows from a config's `history` and the layer sizes (bottom first); without a
/// history, one row per layer.
pub(crate) fn rows(config: &serde_json::Value, sizes: &[u64], id: &str) -> Vec<Row> {
    let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    let mut layers = sizes.iter();
    let mut out: Vec<Row> = match config["history"].as_array() {
        Some(h) if !h.is_empty() => h
            .iter()
            .map(|entry| {
                let empty = entry["empty_layer"].as_bool().unwrap_or(false);
                Row {
                    id: "<missing>".into(),
                    created: s(&entry["created"]),
                    created_by: s(&entry["created_by"]),
                    comment: s(&entry["comment"]),
                    size: if empty { 0 } else { layers.next().copied().unwrap_or(0) },
                }
            })
            .collect(),
        _ => sizes
            .iter()
            .map(|size| Row {
                id: "<missing>".into(),
                created: s(&config["created"]),
                created_by: String::new(),
                comment: String::new(),
                size: *size,
            })
            .collect(),
    };
    out.reverse();
    if let Some(top) = out.first_mut() {
        top.id = id.to_string();
    }
    out
}

/// Docker's `stringutils.Ellipsis(s, 45)` of `created_by`, tabs as spaces; `full` keeps it.
pub fn created_by(s: &str, full: bool) -> String {
    let s = s.replace('\t', " ");
    if full || s.chars().count() <= 45 {
        return s;
    }
    let mut out: String = s.chars().take(44).collect();
    out.push('…');
    out
}

/// Docker's table layout (Go `tabwriter`, minimum width 10, padding 3): every column but
/// the last as wide as its widest cell plus 3, at least 10; the last one as it is.
pub fn tabulate<const N: usize>(rows: &[[String; N]]) -> String {
    let width = |i: usize| rows.iter().map(|r| r[i].chars().count() + 3).max().unwrap_or(0).max(10);
    let widths: Vec<usize> = (0..N).map(width).collect();
    let mut out = String::new();
    for r in rows {
        for (i, cell) in r.iter().enumerate() {
            if i + 1 == N {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}", w = widths[i]));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_newest_first_with_missing_ids_and_layer_sizes() {
        let config = json!({"history": [
            {"created": "2024-01-01T00:00:00Z", "created_by": "/bin/sh -c #(nop) ADD file:1 in /"},
            {"created": "2024-01-01T00:00:01Z", "created_by": "/bin/sh -c #(nop)  CMD [\"sh\"]", "empty_layer": true},
            {"created": "2024-02-01T00:00:00Z", "created_by": "sh", "comment": "fix"},
        ]});
        let r = rows(&config, &[4_260_000, 120], "sha256:abc");
        let ids: Vec<&str> = r.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["sha256:abc", "<missing>", "<missing>"]);
        let sizes: Vec<u64> = r.iter().map(|r| r.size).collect();
        assert_eq!(sizes, [120, 0, 4_260_000]);
        assert_eq!(r[0].comment, "fix");
        // No history: one row per layer.
        let r = rows(&json!({"created": "2024-01-01T00:00:00Z"}), &[1, 2], "sha256:abc");
        assert_eq!(r.iter().map(|r| r.size).collect::<Vec<_>>(), [2, 1]);
    }

    #[test]
    fn dockers_created_by_truncation() {
        let long = "/bin/sh -c #(nop) ADD file:0123456789abcdef0123456789 in /";
        let cut = created_by(long, false);
        assert_eq!(cut.chars().count(), 45);
        assert!(cut.ends_with('…') && long.starts_with(cut.trim_end_matches('…')));
        assert_eq!(created_by(long, true), long);
        assert_eq!(created_by("a\tb", false), "a b");
    }

    #[test]
    fn dockers_table_columns() {
        let s = |a: [&str; 3]| a.map(String::from);
        let t = tabulate(&[s(["IMAGE", "SIZE", "COMMENT"]), s(["0123456789ab", "4.26MB", ""])]);
        assert_eq!(t, "IMAGE          SIZE      COMMENT\n0123456789ab   4.26MB    \n");
    }
}

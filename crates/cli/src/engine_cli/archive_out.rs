//! Where `save` and `export` write their tar: standard output, or `-o FILE` written whole
//! or not at all.

use std::io::{IsTerminal, Write};
use std::path::Path;

/// Runs `write` on standard output (refused on a terminal, as Docker does: a tar is no use
/// there and would garble it), or with `output` on a buffered temp file beside it, synced and
/// renamed over it at the end, so a failed `op` leaves no partial archive. `write` gets the
/// name to use in messages: `-` or the path.
pub(super) fn write_archive(
    op: &str,
    output: Option<&Path>,
    stdout: &mut dyn Write,
    write: impl FnOnce(&mut dyn Write, &str) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let Some(path) = output else {
        if std::io::stdout().is_terminal() {
            anyhow::bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
        }
        return write(stdout, "-");
    };
    let shown = path.display().to_string();
    let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.berth-{op}-{}", std::process::id()));
    let fail = |what: &str, e: std::io::Error| anyhow::anyhow!("{op} {shown}: {what}: {e}");
    let result = (|| -> anyhow::Result<()> {
        let f = std::fs::File::create_new(&tmp).map_err(|e| fail("create temp file", e))?;
        let mut w = std::io::BufWriter::new(f);
        write(&mut w, &shown)?;
        let f = w.into_inner().map_err(|e| fail("write", e.into_error()))?;
        f.sync_all().map_err(|e| fail("sync", e))?;
        std::fs::rename(&tmp, path).map_err(|e| fail("rename into place", e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

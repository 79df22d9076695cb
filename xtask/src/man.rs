//! Man pages from the clap definitions of `berth` (section 1) and `berth-runtime` (8).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::CommandFactory as _;

/// The manual the pages belong to (the `.TH` header's centre).
const MANUAL: &str = "berth manual";

/// The top-level commands and their sections.
pub(crate) fn roots() -> [(clap::Command, &'static str); 2] {
    [
        (berth_cli::engine_cli::args::Cli::command(), "1"),
        (berth_cli::runtime_cli::args::Cli::command(), "8"),
    ]
}

/// Writes every page into `dir/manN/` (made if missing), the layout `man` searches, so
/// `dir` can be `/usr/local/share/man`; returns their paths.
pub(crate) fn write_all(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let date = date(page_time());
    for (cmd, section) in roots() {
        // `help` is clap's, not a command with a page of its own (clap_mangen does the same).
        let mut cmd = cmd.disable_help_subcommand(true);
        cmd.build();
        // The footer of every page of the tree: `berth 0.1.0`. The runtime's version text
        // has a second line (the spec version), which would break the `.TH` request in two.
        let version = cmd.get_version().and_then(|v| v.lines().next()).unwrap_or_default();
        let page = Page { section, date: &date, source: format!("{} {version}", cmd.get_name()) };
        let sub = dir.join(format!("man{section}"));
        std::fs::create_dir_all(&sub).with_context(|| format!("create {}", sub.display()))?;
        write_tree(&cmd, &page, &sub, &mut written)?;
    }
    Ok(written)
}

/// What every page of one tree shares in its `.TH` request.
struct Page<'a> {
    section: &'a str,
    /// `YYYY-MM-DD`. Never empty: clap_mangen leaves an empty date out of `.TH` and the
    /// arguments after it shift (the footer becomes the date).
    date: &'a str,
    source: String,
}

/// `$SOURCE_DATE_EPOCH` (reproducible builds) or now, in seconds since the epoch.
fn page_time() -> u64 {
    let env = std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|v| v.parse().ok());
    env.unwrap_or_else(|| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        now.map_or(0, |d| d.as_secs())
    })
}

/// `secs` since the epoch as a UTC `YYYY-MM-DD` (the days-to-civil algorithm of
/// H. Hinnant's "chrono-Compatible Low-Level Date Algorithms").
fn date(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(0) + 719_468;
    let era = days.div_euclid(146_097);
    let doe = days.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// The page of `cmd`, then of each visible subcommand, recursively.
fn write_tree(
    cmd: &clap::Command,
    page: &Page<'_>,
    dir: &Path,
    written: &mut Vec<PathBuf>,
) -> anyhow::Result<()> {
    let man = clap_mangen::Man::new(cmd.clone())
        .section(page.section)
        .date(page.date)
        .source(page.source.trim())
        .manual(MANUAL);
    let path = dir.join(man.get_filename());
    let mut roff = Vec::new();
    man.render(&mut roff).with_context(|| format!("render {}", path.display()))?;
    write_atomic(&path, &roff)?;
    written.push(path);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_tree(sub, page, dir, written)?;
    }
    Ok(())
}

/// `path` replaced as a whole (temp file + rename): a reader never sees half a page.
fn write_atomic(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    let result = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(data))
        .and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `NAME.SECTION` for the command and every visible subcommand, walked on its own (not by
    /// the code under test).
    fn expected(cmd: &clap::Command, prefix: &str, section: &str, out: &mut Vec<String>) {
        let name = match prefix {
            "" => cmd.get_name().to_string(),
            p => format!("{p}-{}", cmd.get_name()),
        };
        out.push(format!("{name}.{section}"));
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help") {
            expected(sub, &name, section, out);
        }
    }

    /// `text` without grotty's overstrike bold and underline (`X\bX`, `_\bX`).
    fn plain(text: &str) -> String {
        let mut out = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            if chars.peek() == Some(&'\u{8}') {
                chars.next();
                continue;
            }
            out.push(c);
        }
        out
    }

    #[test]
    fn dates() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(951_782_400), "2000-02-29");
        assert_eq!(date(1_764_374_400), "2025-11-29");
    }

    #[test]
    fn every_subcommand_has_a_page_that_man_renders_without_warnings() {
        berth_test_support::require!(man);
        let tmp = tempfile::tempdir().unwrap();
        let before = date(page_time());
        let written = write_all(tmp.path());
        // around midnight the day may change under the test
        let days = [before, date(page_time())];
        let mut pages: Vec<String> = written
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        let mut want = Vec::new();
        for (cmd, section) in roots() {
            expected(&cmd, "", section, &mut want);
        }
        pages.sort();
        want.sort();
        assert_eq!(pages, want);
        for must in ["berth.1", "berth-run.1", "berth-volume-prune.1", "berth-runtime.8"] {
            assert!(pages.iter().any(|p| p == must), "{must} in {pages:?}");
        }
        let dir = |page: &str| tmp.path().join(format!("man{}", page.rsplit_once('.').unwrap().1));
        let files =
            ["man1", "man8"].map(|d| std::fs::read_dir(tmp.path().join(d)).unwrap().count());
        assert_eq!(files.iter().sum::<usize>(), pages.len(), "no temp files");
        for page in &pages {
            let path = dir(page).join(page);
            // man-db hands --warnings to groff; anything on stderr is a warning.
            let out = std::process::Command::new("man")
                .args(["--warnings", "-E", "UTF-8", "-l"])
                .arg(&path)
                .env("MANWIDTH", "80")
                .env("LC_ALL", "C.UTF-8")
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success() && stderr.is_empty(), "man -l {page}: {stderr}");
            let text = plain(&String::from_utf8_lossy(&out.stdout));
            let name = page.rsplit_once('.').unwrap().0;
            let roff = std::fs::read_to_string(&path).unwrap();
            let th = roff.lines().find(|l| l.starts_with(".TH ")).unwrap_or_default();
            let dated = days.iter().any(|d| th.contains(&format!(" {d} \"berth")));
            assert!(dated, "{page}: the date ({days:?}), then the source: {th}");
            assert!(th.ends_with(&format!("\"{MANUAL}\"")), "{page}: one-line .TH: {th}");
            assert!(text.contains("NAME") && text.contains(name), "{page}:\n{text}");
        }
        let run = std::fs::read_to_string(tmp.path().join("man1/berth-run.1")).unwrap();
        assert!(run.contains("publish") && run.contains("detach"), "flags of run:\n{run}");
    }
}

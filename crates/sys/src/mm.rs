//! Giving back the page mappings of the running program, for a process that is about to
//! sleep for long (the engine's per-container monitor).
//!
//! A page of a program's code is mapped into the process when it is first touched, and with
//! it up to 15 neighbours that are already in the page cache (the kernel's fault-around,
//! `fault_around_bytes`, 64 KiB). A static executable whose file is cached therefore ends up
//! almost wholly mapped after a busy start, and its resident set (RSS, PSS) counts every one
//! of those pages for as long as it lives, although the process will not run any of that
//! code again until it wakes. Dropping the mappings costs nothing in memory (the pages stay
//! in the page cache, shared with every other process of the same binary) and a few minor
//! faults when the code runs again.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// One mapping of `/proc/self/smaps` that may be dropped.
#[derive(Debug, PartialEq, Eq)]
struct Clean {
    start: usize,
    len: usize,
}

/// Drops this process's page mappings of its own executable file, for the read-only
/// mappings that hold no private copy of a page (smaps `Anonymous: 0 kB`); returns how many
/// bytes of address space were released. Code and constants are mapped again, from the
/// same file, when they are next used.
pub fn release_program_pages() -> Result<usize> {
    let exe = std::fs::read_link("/proc/self/exe")
        .map_err(|e| Error::from_io("readlink", Some(Path::new("/proc/self/exe")), &e))?;
    let smaps = std::fs::read_to_string("/proc/self/smaps")
        .map_err(|e| Error::from_io("read", Some(Path::new("/proc/self/smaps")), &e))?;
    let mut released = 0;
    for m in clean_mappings(&smaps, &exe) {
        // SAFETY: `[start, start + len)` is a whole mapping of this process, read from the
        // kernel's list just above: a read-only (no `w`) private mapping of the running
        // executable with no anonymous page, i.e. no page that was ever copied on write.
        // MADV_DONTNEED only drops its page-table entries; the next access maps the page
        // again from the file, which holds the same bytes: a running executable cannot be
        // written (ETXTBSY) and a replaced one is another inode. No Rust value lives there
        // but immutable code and constants. The executable's segments are mapped at exec
        // and stay for the life of the process (nothing in berth maps with MAP_FIXED), so
        // the range still is that mapping when madvise runs.
        let r = unsafe { libc::madvise(m.start as *mut libc::c_void, m.len, libc::MADV_DONTNEED) };
        if r != 0 {
            let errno = rustix::io::Errno::from_raw_os_error(
                std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EINVAL),
            );
            return Err(Error::new("madvise(MADV_DONTNEED) of", Some(&exe), errno));
        }
        released += m.len;
    }
    Ok(released)
}

/// The read-only mappings of `exe` in `smaps` (the text of `/proc/self/smaps`) that hold no
/// anonymous page.
fn clean_mappings(smaps: &str, exe: &Path) -> Vec<Clean> {
    let mut out = Vec::new();
    let mut current: Option<Clean> = None;
    for line in smaps.lines() {
        if let Some(head) = mapping_head(line) {
            current = head.filter(|(_, perms, path)| !perms.contains('w') && path == exe).map(
                |(range, _, _)| Clean { start: range.0, len: range.1.saturating_sub(range.0) },
            );
            continue;
        }
        if let Some(kb) = line.strip_prefix("Anonymous:") {
            let anon = kb.trim().trim_end_matches("kB").trim().parse::<u64>().unwrap_or(1);
            if let Some(m) = current.take() {
                if anon == 0 && m.len > 0 {
                    out.push(m);
                }
            }
        }
    }
    out
}

/// `Some(Some((range, perms, path)))` for a mapping's first line, `Some(None)` for one
/// without a path, `None` for a field line (`Rss:   4 kB`).
#[allow(clippy::type_complexity)]
fn mapping_head(line: &str) -> Option<Option<((usize, usize), &str, PathBuf)>> {
    let mut fields = line.split_whitespace();
    let range = fields.next()?;
    let (a, b) = range.split_once('-')?;
    let (Ok(start), Ok(end)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16)) else {
        return None;
    };
    let perms = fields.next()?;
    // offset, device, inode, then the path (which may hold spaces)
    let path: Vec<&str> = fields.skip(3).collect();
    if path.is_empty() {
        return Some(None);
    }
    Some(Some(((start, end), perms, PathBuf::from(path.join(" ")))))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
00200000-0028f000 r--p 00000000 fe:00 2285978                            /opt/berth-monitor
Rss:                 380 kB
Anonymous:             0 kB
0028f000-00461000 r-xp 0008e000 fe:00 2285978                            /opt/berth-monitor
Rss:                1224 kB
Anonymous:             0 kB
00461000-00468000 r--p 0025f000 fe:00 2285978                            /opt/berth-monitor
Rss:                  28 kB
Anonymous:            28 kB
00468000-00470000 rw-p 00265000 fe:00 2285978                            /opt/berth-monitor
Anonymous:            32 kB
00470000-00476000 rw-p 00000000 00:00 0
Anonymous:            12 kB
7f0000000000-7f0000001000 r-xp 00000000 fe:00 99                         /usr/lib/other lib.so
Anonymous:             0 kB
";

    #[test]
    fn only_clean_read_only_mappings_of_the_executable() {
        let got = clean_mappings(SMAPS, Path::new("/opt/berth-monitor"));
        assert_eq!(
            got,
            vec![Clean { start: 0x200000, len: 0x8f000 }, Clean { start: 0x28f000, len: 0x1d2000 },],
            "not the relocated (copied) read-only one, not the writable ones, not others'"
        );
        assert!(clean_mappings(SMAPS, Path::new("/usr/lib/other")).is_empty());
        assert_eq!(clean_mappings(SMAPS, Path::new("/usr/lib/other lib.so")).len(), 1);
    }

    #[test]
    fn releasing_our_own_pages_leaves_the_program_working() {
        let before = std::fs::read_to_string("/proc/self/status").unwrap();
        let released = release_program_pages().unwrap();
        assert!(released > 0, "the test binary has clean code mappings\n{before}");
        // Code and constants come back on use.
        let v: Vec<String> = (0..100).map(|i| format!("{i:>4}")).collect();
        assert_eq!(v[42], "  42");
    }
}

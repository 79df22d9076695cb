//! `ps`: the host pids of the container's cgroup, or `ps(1)`'s table filtered to them, as
//! runc does (runs `ps` with the given arguments, default `-ef`, finds the PID column in the
//! header and keeps the lines whose pid is in the container).

use std::path::Path;
use std::process::Command;

use crate::error::{Error, Result};
use crate::state::StateDir;

/// Why `ps` could not produce its table.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PsError {
    /// The container's pids could not be read.
    #[error("list processes of container {id}")]
    Runtime {
        /// The container.
        id: String,
        /// The runtime error.
        #[source]
        source: Box<Error>,
    },
    /// `ps` could not be started.
    #[error("run ps {args:?}")]
    Spawn {
        /// Its arguments.
        args: Vec<String>,
        /// The spawn error.
        #[source]
        source: std::io::Error,
    },
    /// `ps` exited with an error.
    #[error("ps {args:?} failed ({status}): {stderr}")]
    Failed {
        /// Its arguments.
        args: Vec<String>,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// Its error output.
        stderr: String,
    },
    /// The output has no `PID` column to filter on.
    #[error("ps {args:?}: no PID column in the output header")]
    NoPidColumn {
        /// Its arguments.
        args: Vec<String>,
    },
}

/// Every host pid in the container's cgroup, sorted (empty for a stopped container).
pub fn pids(root: &Path, id: &str) -> Result<Vec<i32>> {
    let dir = StateDir::open(root, id)?;
    let rec = dir.read()?.ok_or_else(|| Error::NotFound { id: id.to_string() })?;
    rec.cgroup.pids().map_err(|source| Error::Cgroup { id: id.to_string(), source })
}

/// Runs `ps` with `args` (`-ef` when empty) and returns its header and the container's lines.
pub fn table(root: &Path, id: &str, args: &[String]) -> std::result::Result<String, PsError> {
    let pids = pids(root, id)
        .map_err(|source| PsError::Runtime { id: id.to_string(), source: Box::new(source) })?;
    let args = if args.is_empty() { vec!["-ef".to_string()] } else { args.to_vec() };
    let output = Command::new("ps")
        .args(&args)
        .output()
        .map_err(|source| PsError::Spawn { args: args.clone(), source })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
        return Err(PsError::Failed { args, status: output.status, stderr });
    }
    let text = String::from_utf8_lossy(&output.stdout);
    filter(&text, &pids).ok_or(PsError::NoPidColumn { args })
}

/// Keeps the header and the lines whose PID column is one of `pids`; `None` without a PID
/// column.
pub fn filter(ps_output: &str, pids: &[i32]) -> Option<String> {
    let mut lines = ps_output.lines();
    let header = lines.next()?;
    let column = header.split_whitespace().position(|h| h == "PID")?;
    let mut out = format!("{header}\n");
    for line in lines {
        let pid = line.split_whitespace().nth(column).and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            out.push_str(line);
            out.push('\n');
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_header_and_container_lines() {
        let text = "UID  PID PPID CMD\nroot 1 0 init\nroot 42 1 sleep\nroot 43 42 sh\n";
        assert_eq!(
            filter(text, &[42, 43]).unwrap(),
            "UID  PID PPID CMD\nroot 42 1 sleep\nroot 43 42 sh\n"
        );
        assert_eq!(filter("  PID STAT\n 42 S\n", &[42]).unwrap(), "  PID STAT\n 42 S\n");
        assert!(filter("UID CMD\nroot x\n", &[1]).is_none());
    }
}

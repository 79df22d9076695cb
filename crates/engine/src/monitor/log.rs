//! The container's log in Docker's json-file format: the container's output as the
//! supervise loop copies it, and the monitor's own notes (a failed restart).

use std::io::Write;

use super::Args;

/// Appends the monitor's own `text` to the log, as the container's stderr.
pub(super) fn append_log(args: &Args, text: &str) {
    if let Ok(mut l) = std::fs::OpenOptions::new().append(true).open(&args.log) {
        let _ = l.write_all(json_lines(text.as_bytes(), "stderr").as_bytes());
    }
}

/// Docker's json-file lines: `{"log":"…\n","stream":"stdout","time":"…"}` per line.
pub fn json_lines(data: &[u8], stream: &str) -> String {
    let time = crate::now();
    let text = String::from_utf8_lossy(data);
    text.split_inclusive('\n')
        .map(|l| format!("{}\n", serde_json::json!({"log": l, "stream": stream, "time": time})))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_file_lines() {
        let s = json_lines(b"a\nb", "stdout");
        let lines: Vec<serde_json::Value> =
            s.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines[0]["log"], "a\n");
        assert_eq!(lines[1]["log"], "b");
        assert_eq!(lines[1]["stream"], "stdout");
    }
}

//! Counting WARN and ERROR lines per job in `logs/*.log` (and rotated `*.log.N`) for the
//! report's period, fast enough for a 100 MB log directory inside the report's time budget.
//!
//! The line format is fixed by `common::logging`:
//! `2026-11-21T10:00:03.123Z WARN  poll-teams[3fa9c1] message`. Timestamps are UTC with
//! milliseconds, so comparing the first 24 bytes as text orders them: no date parsing per line.
//! Files are read in large blocks and split with `memchr`; files not modified since the window
//! began are skipped, and files are scanned on parallel threads.

use chrono::{DateTime, SecondsFormat, Utc};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Counts for one job.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct LogCounts {
    pub warn: u64,
    pub error: u64,
    /// Lines that do not have the log format (not counted as anything else).
    pub malformed: u64,
    /// The last ERROR message in the window (trimmed), for the report.
    pub last_error: Option<String>,
}

const TS_LEN: usize = 24;
const BLOCK: usize = 4 << 20;

/// The job a log file belongs to: `poll-teams.log` or `poll-teams.log.3`.
fn job_of(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let (job, rest) = name.split_once(".log")?;
    let rotated = rest
        .strip_prefix('.')
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    (!job.is_empty() && (rest.is_empty() || rotated)).then(|| job.to_string())
}

/// Count WARN/ERROR lines with a timestamp in `[from, to)` in every log file of `dir`.
/// Unreadable files are returned as problems, not errors.
pub fn scan_dir(
    dir: &Path,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> (BTreeMap<String, LogCounts>, Vec<String>) {
    let mut problems = Vec::new();
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    match std::fs::read_dir(dir) {
        Ok(rd) => {
            for e in rd.flatten() {
                let p = e.path();
                let Some(job) = job_of(&p) else { continue };
                let fresh = e
                    .metadata()
                    .ok()
                    .filter(|m| m.is_file())
                    .and_then(|m| m.modified().ok())
                    .map(|m| DateTime::<Utc>::from(m) >= from);
                if fresh == Some(true) {
                    files.push((job, p));
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => problems.push(format!("cannot list {}: {e}", dir.display())),
    }
    let lo = from.to_rfc3339_opts(SecondsFormat::Millis, true);
    let hi = to.to_rfc3339_opts(SecondsFormat::Millis, true);
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(1, 8);
    // Largest files first, dealt round-robin, so the threads finish together.
    files.sort_by_key(|(_, p)| std::cmp::Reverse(p.metadata().map(|m| m.len()).unwrap_or(0)));
    let mut buckets: Vec<Vec<(String, PathBuf)>> = vec![Vec::new(); threads];
    for (i, f) in files.into_iter().enumerate() {
        buckets[i % threads].push(f);
    }
    let results: Vec<Vec<(String, Result<LogCounts, String>)>> = std::thread::scope(|s| {
        let handles: Vec<_> = buckets
            .iter()
            .map(|b| {
                let (lo, hi) = (lo.as_bytes(), hi.as_bytes());
                s.spawn(move || {
                    b.iter()
                        .map(|(job, p)| {
                            (
                                job.clone(),
                                scan_file(p, lo, hi)
                                    .map_err(|e| format!("cannot read {}: {e}", p.display())),
                            )
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let mut out: BTreeMap<String, LogCounts> = BTreeMap::new();
    for (job, r) in results.into_iter().flatten() {
        match r {
            Ok(c) => {
                let e = out.entry(job).or_default();
                e.warn += c.warn;
                e.error += c.error;
                e.malformed += c.malformed;
                if e.last_error.is_none() {
                    e.last_error = c.last_error;
                }
            }
            Err(m) => problems.push(m),
        }
    }
    (out, problems)
}

/// Scan one file. `lo`/`hi` are RFC 3339 UTC timestamps with milliseconds.
pub fn scan_file(path: &Path, lo: &[u8], hi: &[u8]) -> std::io::Result<LogCounts> {
    let mut f = std::fs::File::open(path)?;
    let mut counts = LogCounts::default();
    let mut last_error_ts = Vec::new();
    let mut buf = vec![0u8; BLOCK];
    let mut carry = 0usize;
    loop {
        let n = f.read(&mut buf[carry..])?;
        let filled = carry + n;
        let eof = n == 0;
        let data = &buf[..filled];
        let mut start = 0;
        while let Some(off) = memchr::memchr(b'\n', &data[start..]) {
            let line = &data[start..start + off];
            scan_line(line, lo, hi, &mut counts, &mut last_error_ts);
            start += off + 1;
        }
        if eof {
            if start < filled {
                // Last line without a newline (still being written): count it too.
                let line = &data[start..filled];
                scan_line(line, lo, hi, &mut counts, &mut last_error_ts);
            }
            break;
        }
        // Move the partial line to the front; grow the buffer for a line longer than it.
        let rest = filled - start;
        buf.copy_within(start..filled, 0);
        carry = rest;
        if carry == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
    }
    Ok(counts)
}

fn scan_line(line: &[u8], lo: &[u8], hi: &[u8], c: &mut LogCounts, last_error_ts: &mut Vec<u8>) {
    if line.len() < TS_LEN + 6 || line[TS_LEN] != b' ' || line[4] != b'-' || line[10] != b'T' {
        if !line.iter().all(u8::is_ascii_whitespace) {
            c.malformed += 1;
        }
        return;
    }
    let lvl = &line[TS_LEN + 1..TS_LEN + 6];
    let is_warn = lvl == b"WARN ";
    let is_error = lvl == b"ERROR";
    if !is_warn && !is_error {
        return;
    }
    let ts = &line[..TS_LEN];
    if ts < lo || ts >= hi {
        return;
    }
    if is_warn {
        c.warn += 1;
    } else {
        c.error += 1;
        if ts >= last_error_ts.as_slice() {
            last_error_ts.clear();
            last_error_ts.extend_from_slice(ts);
            let msg = &line[TS_LEN + 6..];
            // Skip "  job[runid] " to the message.
            let msg = match memchr::memmem::find(msg, b"] ") {
                Some(i) => &msg[i + 2..],
                None => msg,
            };
            let s = String::from_utf8_lossy(msg);
            c.last_error = Some(s.trim().chars().take(300).collect());
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn counts_only_the_window_and_levels() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("poll-teams.log"),
            "2026-11-20T09:59:59.999Z WARN  poll-teams[aa] before the window\n\
             2026-11-20T10:00:00.000Z WARN  poll-teams[aa] first\n\
             2026-11-20T11:00:00.000Z INFO  poll-teams[aa] info is not counted\n\
             2026-11-20T12:00:00.000Z ERROR poll-teams[ab] token expired\n\
             garbage line\n\
             \n\
             2026-11-21T09:00:00.000Z ERROR poll-teams[ac] Graph 503\n\
             2026-11-21T10:00:00.000Z ERROR poll-teams[ad] at the end: excluded",
        )
        .unwrap();
        std::fs::write(
            d.path().join("poll-teams.log.1"),
            "2026-11-20T10:30:00.000Z WARN  poll-teams[a0] rotated\n",
        )
        .unwrap();
        std::fs::write(
            d.path().join("notes.txt"),
            "2026-11-20T10:30:00.000Z WARN  x\n",
        )
        .unwrap();
        let (m, problems) = scan_dir(
            d.path(),
            t("2026-11-20T10:00:00Z"),
            t("2026-11-21T10:00:00Z"),
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(m.len(), 1, "{m:?}");
        let c = &m["poll-teams"];
        assert_eq!((c.warn, c.error, c.malformed), (2, 2, 1), "{c:?}");
        assert_eq!(c.last_error.as_deref(), Some("Graph 503"));
    }

    #[test]
    fn long_lines_across_blocks() {
        let d = tempfile::tempdir().unwrap();
        let long = "x".repeat(BLOCK + 100);
        let text = format!(
            "2026-11-20T10:00:00.000Z WARN  j[1] {long}\n2026-11-20T10:00:01.000Z ERROR j[1] e\n"
        );
        std::fs::write(d.path().join("j.log"), text).unwrap();
        let c = scan_file(
            &d.path().join("j.log"),
            b"2026-11-20T00:00:00.000Z",
            b"2026-11-21T00:00:00.000Z",
        )
        .unwrap();
        assert_eq!((c.warn, c.error), (1, 1));
    }

    #[test]
    fn file_names() {
        assert_eq!(
            job_of(Path::new("a/poll-teams.log")).as_deref(),
            Some("poll-teams")
        );
        assert_eq!(
            job_of(Path::new("a/poll-teams.log.12")).as_deref(),
            Some("poll-teams")
        );
        assert_eq!(job_of(Path::new("a/poll-teams.logx")), None);
        assert_eq!(job_of(Path::new("a/poll-teams.log.gz")), None);
    }
}

//! Counting WARN and ERROR lines per job in `logs/*.log` (and rotated `*.log.N`) for the
//! report's period, fast enough for a 100 MB log directory inside the report's time budget.
//!
//! The line format is fixed by `common::logging`:
//! `2026-11-21T10:00:03.123Z WARN  poll-teams[3fa9c1] message`. Timestamps are UTC with
//! milliseconds, so comparing the first 24 bytes as text orders them: no date parsing per line.
//! Files are read in large blocks searched for the level tokens (`memchr::memmem`, SIMD); files
//! not modified since the window began are skipped, and files are scanned on parallel threads.
//! Lines without the log format are ignored (a level token inside a message never counts).

use chrono::{DateTime, SecondsFormat, Utc};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Counts for one job.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct LogCounts {
    pub warn: u64,
    pub error: u64,
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
///
/// Only WARN and ERROR lines matter (a few percent of a log), so instead of visiting every
/// line the block is searched for the level tokens with SIMD substring search, and each hit is
/// checked to sit at the level column of a line that has the log format.
pub fn scan_file(path: &Path, lo: &[u8], hi: &[u8]) -> std::io::Result<LogCounts> {
    let mut f = std::fs::File::open(path)?;
    let mut counts = LogCounts::default();
    let mut last_error_ts = Vec::new();
    let warn = memchr::memmem::Finder::new(b" WARN  ");
    let error = memchr::memmem::Finder::new(b" ERROR ");
    let mut buf = vec![0u8; BLOCK];
    let mut carry = 0usize;
    loop {
        let n = f.read(&mut buf[carry..])?;
        let filled = carry + n;
        let eof = n == 0;
        // Work on whole lines; the partial last line waits for the next block (or EOF).
        let end = if eof {
            filled
        } else {
            match memchr::memrchr(b'\n', &buf[..filled]) {
                Some(i) => i + 1,
                None if filled == buf.len() => {
                    // A line longer than the buffer: grow it and read on.
                    buf.resize(buf.len() * 2, 0);
                    carry = filled;
                    continue;
                }
                None => {
                    carry = filled;
                    continue;
                }
            }
        };
        let data = &buf[..end];
        for (finder, is_error) in [(&warn, false), (&error, true)] {
            for hit in finder.find_iter(data) {
                let line_start = memchr::memrchr(b'\n', &data[..hit]).map_or(0, |i| i + 1);
                if hit - line_start != TS_LEN {
                    continue; // the token is inside a message, not the level column
                }
                let line_end = memchr::memchr(b'\n', &data[hit..]).map_or(end, |i| hit + i);
                let line = &data[line_start..line_end];
                if line[4] != b'-' || line[10] != b'T' || line[TS_LEN - 1] != b'Z' {
                    continue;
                }
                let ts = &line[..TS_LEN];
                if ts < lo || ts >= hi {
                    continue;
                }
                if is_error {
                    counts.error += 1;
                    if ts >= last_error_ts.as_slice() {
                        last_error_ts.clear();
                        last_error_ts.extend_from_slice(ts);
                        let msg = &line[TS_LEN + 7..];
                        let msg = match memchr::memmem::find(msg, b"] ") {
                            Some(i) => &msg[i + 2..],
                            None => msg,
                        };
                        let s = String::from_utf8_lossy(msg);
                        counts.last_error = Some(s.trim().chars().take(300).collect());
                    }
                } else {
                    counts.warn += 1;
                }
            }
        }
        if eof {
            break;
        }
        buf.copy_within(end..filled, 0);
        carry = filled - end;
    }
    Ok(counts)
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
             garbage line with ERROR inside\n\
             2026-11-20T12:00:01.000Z INFO  poll-teams[ab] the text says WARN  and ERROR here\n\
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
        assert_eq!((c.warn, c.error), (2, 2), "{c:?}");
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

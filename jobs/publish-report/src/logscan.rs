//! Counting WARN and ERROR lines per job in `logs/*.log` (and rotated `*.log.N`) for the
//! report's period, fast enough for a 100 MB log directory inside the report's time budget.
//!
//! The line format has one owner, `contracts::logline::LogLine` (text:
//! `2026-11-21T10:00:03.123Z WARN  poll-teams[3fa9c1] message`; JSON: one object with `ts`,
//! `level`, `job`, `run_id`, `msg`). Only WARN and ERROR lines matter (a few percent of a log),
//! so files are read in large blocks searched for the level tokens of both formats
//! (`memchr::memmem`, SIMD); each hit's line is handed to `LogLine::parse`, and counts only
//! if the parsed level is the token's (a level word inside a message never counts). Timestamps
//! are UTC with milliseconds, so the window is compared as text. Files not modified since the
//! window began are skipped, and files are scanned on parallel threads.

use chrono::{DateTime, SecondsFormat, Utc};
use contracts::logline::{Level, LogLine};
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
    /// Its timestamp.
    pub last_error_at: Option<String>,
    /// WARN/ERROR lines dated after the clock-skew limit.
    pub ahead: u64,
    /// The newest of those.
    pub newest_ahead: Option<String>,
}

/// The window and the clock-skew limit, as log-line timestamps.
#[derive(Debug, Clone)]
pub struct Window {
    lo: String,
    hi: String,
    limit: String,
}

impl Window {
    pub fn new(from: DateTime<Utc>, to: DateTime<Utc>, skew_limit: DateTime<Utc>) -> Window {
        let f = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
        Window {
            lo: f(from),
            hi: f(to),
            limit: f(skew_limit),
        }
    }
}

const BLOCK: usize = 4 << 20;

/// The tokens that mark a level: text format, then JSON format.
const TOKENS: [(&[u8], Level); 4] = [
    (b" WARN  ", Level::Warn),
    (b" ERROR ", Level::Error),
    (b"\"level\":\"WARN\"", Level::Warn),
    (b"\"level\":\"ERROR\"", Level::Error),
];

/// The job a log file belongs to: `poll-teams.log` or `poll-teams.log.3`.
fn job_of(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let (job, rest) = name.split_once(".log")?;
    let rotated = rest
        .strip_prefix('.')
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    (!job.is_empty() && (rest.is_empty() || rotated)).then(|| job.to_string())
}

/// Count WARN/ERROR lines in the window in every log file of `dir`. Unreadable files are
/// returned as problems, not errors.
pub fn scan_dir(dir: &Path, window: &Window) -> (BTreeMap<String, LogCounts>, Vec<String>) {
    let mut problems = Vec::new();
    let from = DateTime::parse_from_rfc3339(&window.lo)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default();
    let mut files: Vec<(String, PathBuf, u64)> = Vec::new();
    match std::fs::read_dir(dir) {
        Ok(rd) => {
            for e in rd.flatten() {
                let p = e.path();
                let Some(job) = job_of(&p) else { continue };
                let Some(m) = e.metadata().ok().filter(|m| m.is_file()) else {
                    continue;
                };
                let fresh = m
                    .modified()
                    .ok()
                    .is_some_and(|t| DateTime::<Utc>::from(t) >= from);
                if fresh {
                    files.push((job, p, m.len()));
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => problems.push(format!("cannot list {}: {e}", dir.display())),
    }
    let results = scan_parallel(files, window);
    let mut out: BTreeMap<String, LogCounts> = BTreeMap::new();
    for (job, r) in results {
        match r {
            Ok(c) => {
                let e = out.entry(job).or_default();
                e.warn += c.warn;
                e.error += c.error;
                e.ahead += c.ahead;
                e.newest_ahead = e.newest_ahead.take().max(c.newest_ahead);
                if c.last_error_at > e.last_error_at {
                    e.last_error_at = c.last_error_at;
                    e.last_error = c.last_error;
                }
            }
            Err(m) => problems.push(m),
        }
    }
    (out, problems)
}

type FileResult = (String, Result<LogCounts, String>);

/// Largest files first, dealt round-robin to one thread per core, so the threads finish
/// together.
fn scan_parallel(mut files: Vec<(String, PathBuf, u64)>, window: &Window) -> Vec<FileResult> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(1, 8);
    files.sort_by_key(|(_, _, len)| std::cmp::Reverse(*len));
    let mut buckets: Vec<Vec<(String, PathBuf)>> = vec![Vec::new(); threads];
    for (i, (job, p, _)) in files.into_iter().enumerate() {
        buckets[i % threads].push((job, p));
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = buckets
            .iter()
            .map(|b| {
                s.spawn(move || {
                    b.iter()
                        .map(|(job, p)| {
                            let r = scan_file(p, window)
                                .map_err(|e| format!("cannot read {}: {e}", p.display()));
                            (job.clone(), r)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

/// Scan one file.
pub fn scan_file(path: &Path, window: &Window) -> std::io::Result<LogCounts> {
    let mut f = std::fs::File::open(path)?;
    let mut counts = LogCounts::default();
    let finders: Vec<(memchr::memmem::Finder<'_>, Level)> = TOKENS
        .iter()
        .map(|(t, l)| (memchr::memmem::Finder::new(*t), *l))
        .collect();
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
        for (finder, level) in &finders {
            // One count per line, however often the token appears in it.
            let mut counted_line = usize::MAX;
            for hit in finder.find_iter(data) {
                let start = memchr::memrchr(b'\n', &data[..hit]).map_or(0, |i| i + 1);
                if start == counted_line {
                    continue;
                }
                let stop = memchr::memchr(b'\n', &data[hit..]).map_or(end, |i| hit + i);
                let text = String::from_utf8_lossy(&data[start..stop]);
                let Some(line) = LogLine::parse(text.trim_end_matches('\r')) else {
                    continue;
                };
                if line.level != *level {
                    continue;
                }
                counted_line = start;
                count(&mut counts, &line, window);
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

fn count(c: &mut LogCounts, line: &LogLine<'_>, w: &Window) {
    let ts = line.ts.as_ref();
    if ts > w.limit.as_str() {
        c.ahead += 1;
        if c.newest_ahead.as_deref() < Some(ts) {
            c.newest_ahead = Some(ts.to_string());
        }
    }
    if ts < w.lo.as_str() || ts >= w.hi.as_str() {
        return;
    }
    match line.level {
        Level::Error => {
            c.error += 1;
            if c.last_error_at.as_deref() <= Some(ts) {
                c.last_error_at = Some(ts.to_string());
                c.last_error = Some(line.msg.trim().chars().take(300).collect());
            }
        }
        _ => c.warn += 1,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn window() -> Window {
        Window::new(
            t("2026-11-20T10:00:00Z"),
            t("2026-11-21T10:00:00Z"),
            t("2026-11-21T10:05:00Z"),
        )
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
             2026-11-20T12:00:02.000Z WARN  poll-teams[ab] says WARN  twice: one line\n\
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
        let (m, problems) = scan_dir(d.path(), &window());
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(m.len(), 1, "{m:?}");
        let c = &m["poll-teams"];
        assert_eq!((c.warn, c.error), (3, 2), "{c:?}");
        assert_eq!(c.last_error.as_deref(), Some("Graph 503"));
    }

    /// Lines written by the one formatter, in both formats, are read by this scanner.
    #[test]
    fn both_formats_from_the_one_formatter() {
        let d = tempfile::tempdir().unwrap();
        let line = |ts: &str, level: Level, msg: &str| LogLine {
            ts: ts.to_string().into(),
            level,
            job: "backup-config".into(),
            run_id: "r1".into(),
            msg: msg.to_string().into(),
        };
        let text = [
            line("2026-11-20T11:00:00.000Z", Level::Warn, "text warn").to_text(),
            line("2026-11-20T11:00:01.000Z", Level::Error, "text error").to_text(),
            line(
                "2026-11-20T11:00:02.000Z",
                Level::Info,
                "say \"level\":\"ERROR\"",
            )
            .to_json(&[]),
            line("2026-11-20T11:00:03.000Z", Level::Error, "json error")
                .to_json(&[("file", "x".into())]),
            line("2099-01-01T00:00:00.000Z", Level::Warn, "from the future").to_json(&[]),
        ]
        .concat();
        std::fs::write(d.path().join("backup-config.log"), text).unwrap();
        let (m, _) = scan_dir(d.path(), &window());
        let c = &m["backup-config"];
        assert_eq!((c.warn, c.error), (1, 2), "{c:?}");
        assert_eq!(c.last_error.as_deref(), Some("json error"));
        assert_eq!(c.ahead, 1);
        assert_eq!(c.newest_ahead.as_deref(), Some("2099-01-01T00:00:00.000Z"));
    }

    #[test]
    fn long_lines_across_blocks() {
        let d = tempfile::tempdir().unwrap();
        let long = "x".repeat(BLOCK + 100);
        let text = format!(
            "2026-11-20T10:00:00.000Z WARN  j[1] {long}\n2026-11-20T10:00:01.000Z ERROR j[1] e\n"
        );
        std::fs::write(d.path().join("j.log"), text).unwrap();
        let c = scan_file(&d.path().join("j.log"), &window()).unwrap();
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

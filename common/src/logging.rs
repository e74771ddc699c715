//! The job log: `<root>/logs/<job>.log`, appended by the job itself, rotated by size.
//!
//! Line format (stable, parsed by publish-report; typed in `contracts::logline`):
//! `2026-11-21T10:00:03.123Z WARN  poll-teams[3fa9c1] message`, or with
//! `runtime.log_format = "json"` one JSON object per line (`ts`, `level`, `job`, `run_id`, `msg`).
//!
//! Levels: the file gets INFO and above (`RUST_LOG` or `-v` lower it); stderr gets WARN and
//! above (`-v` adds INFO, `-vv` DEBUG; `-q` keeps only ERROR, `-qq` nothing), so a successful run
//! prints nothing and cron mails only when something is wrong. Every message is passed through
//! [`crate::redact`] before it is written anywhere.

use crate::redact::redact;
use chrono::{SecondsFormat, Utc};
use contracts::logline::LogLine;
use log::{Level, LevelFilter, Log, Metadata, Record};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Logging settings resolved from flags, environment and config.
#[derive(Debug, Clone)]
pub struct LogOptions {
    pub verbose: u8,
    pub quiet: u8,
    /// Value of `RUST_LOG`, if set.
    pub rust_log: Option<String>,
    /// Rotate when the file would grow past this many bytes.
    pub max_bytes: u64,
    /// Rotated files to keep (`<job>.log.1` … `<job>.log.N`).
    pub keep: u32,
    /// Write JSON lines instead of text (`runtime.log_format = "json"`).
    pub json: bool,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            verbose: 0,
            quiet: 0,
            rust_log: None,
            max_bytes: 10 * 1024 * 1024,
            keep: 5,
            json: false,
        }
    }
}

struct LogFile {
    path: PathBuf,
    file: Option<File>,
    size: u64,
}

struct Logger {
    job: &'static str,
    run_id: String,
    file_level: LevelFilter,
    stderr_level: LevelFilter,
    max_bytes: u64,
    keep: u32,
    json: bool,
    file: Mutex<LogFile>,
}

const NOISY: &[&str] = &[
    "hyper", "rustls", "reqwest", "h2", "tokio", "mio", "want", "polling",
];

impl Log for Logger {
    fn enabled(&self, m: &Metadata) -> bool {
        let lvl = m.level();
        if lvl >= Level::Debug && NOISY.iter().any(|n| m.target().starts_with(n)) {
            return lvl <= Level::Trace && self.file_level >= LevelFilter::Trace;
        }
        lvl <= self.file_level || lvl <= self.stderr_level
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let msg = record.args().to_string();
        let msg = redact(&msg);
        let lvl = record.level();
        if lvl <= self.file_level {
            let ts = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
            let line = LogLine {
                ts: ts.into(),
                level: level_of(lvl),
                job: self.job.into(),
                run_id: self.run_id.as_str().into(),
                msg: msg.as_ref().into(),
            };
            let text = if self.json {
                line.to_json(&[("target", record.target().into())])
            } else {
                line.to_text()
            };
            self.write_file(text.as_bytes());
            remember(&line.to_text());
        }
        if lvl <= self.stderr_level {
            let word = match lvl {
                Level::Error => "error",
                Level::Warn => "warning",
                Level::Info => "info",
                Level::Debug => "debug",
                Level::Trace => "trace",
            };
            let _ = writeln!(std::io::stderr().lock(), "{}: {word}: {msg}", self.job);
        }
    }

    fn flush(&self) {
        if let Ok(mut f) = self.file.lock()
            && let Some(file) = f.file.as_mut()
        {
            let _ = file.flush();
        }
    }
}

/// The last lines this run wrote to its log file (for the dead-man ping's body).
static RECENT: Mutex<std::collections::VecDeque<String>> =
    Mutex::new(std::collections::VecDeque::new());

/// Lines kept in [`recent_lines`].
const RECENT_MAX: usize = 40;

/// The last lines (at most 40) this process wrote to its log file, oldest first.
pub fn recent_lines() -> Vec<String> {
    RECENT
        .lock()
        .map(|r| r.iter().cloned().collect())
        .unwrap_or_default()
}

fn remember(line: &str) {
    if let Ok(mut r) = RECENT.lock() {
        r.push_back(line.trim_end().to_string());
        while r.len() > RECENT_MAX {
            r.pop_front();
        }
    }
}

fn level_of(l: Level) -> contracts::logline::Level {
    use contracts::logline::Level as L;
    match l {
        Level::Error => L::Error,
        Level::Warn => L::Warn,
        Level::Info => L::Info,
        Level::Debug => L::Debug,
        Level::Trace => L::Trace,
    }
}

impl Logger {
    fn write_file(&self, line: &[u8]) {
        let Ok(mut lf) = self.file.lock() else { return };
        if lf.file.is_none() {
            match open_append(&lf.path) {
                Ok((f, size)) => {
                    lf.file = Some(f);
                    lf.size = size;
                }
                Err(e) => {
                    let _ = writeln!(
                        std::io::stderr(),
                        "{}: warning: cannot write log {}: {e}",
                        self.job,
                        lf.path.display()
                    );
                    lf.path = PathBuf::new();
                    return;
                }
            }
        }
        if self.max_bytes > 0 && lf.size > 0 && lf.size + line.len() as u64 > self.max_bytes {
            lf.file = None;
            rotate(&lf.path, self.keep);
            match open_append(&lf.path) {
                Ok((f, size)) => {
                    lf.file = Some(f);
                    lf.size = size;
                }
                Err(_) => return,
            }
        }
        if let Some(f) = lf.file.as_mut()
            && f.write_all(line).is_ok()
        {
            lf.size += line.len() as u64;
        }
    }
}

fn open_append(path: &Path) -> std::io::Result<(File, u64)> {
    if path.as_os_str().is_empty() {
        return Err(std::io::Error::other("log disabled after an earlier error"));
    }
    let f = base::fsutil::open_nofollow(
        path,
        OpenOptions::new().create(true).append(true).mode(0o600),
    )
    .map_err(std::io::Error::other)?;
    let size = f.metadata()?.len();
    Ok((f, size))
}

/// Shift `<log>.N-1` → `<log>.N` … `<log>` → `<log>.1`, dropping the oldest.
fn rotate(path: &Path, keep: u32) {
    let name = |i: u32| -> PathBuf {
        let mut p = path.as_os_str().to_owned();
        p.push(format!(".{i}"));
        PathBuf::from(p)
    };
    if keep == 0 {
        let _ = fs::remove_file(path);
        return;
    }
    let _ = fs::remove_file(name(keep));
    for i in (1..keep).rev() {
        let _ = fs::rename(name(i), name(i + 1));
    }
    let _ = fs::rename(path, name(1));
}

/// Parse a `RUST_LOG` value: a bare level, or `target=level` entries where the target is the
/// job name (with `-` or `_`); the most specific match wins.
pub fn parse_rust_log(value: &str, job: &str) -> Option<LevelFilter> {
    let job_us = job.replace('-', "_");
    let mut bare = None;
    let mut specific = None;
    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('=') {
            Some((target, level)) => {
                if (target == job || target == job_us || target == "common")
                    && let Ok(l) = level.parse::<LevelFilter>()
                {
                    specific = Some(l);
                }
            }
            None => {
                if let Ok(l) = part.parse::<LevelFilter>() {
                    bare = Some(l);
                }
            }
        }
    }
    specific.or(bare)
}

/// Install the logger for this process. `logs_dir` must exist. Returns the short run id.
pub fn init(job: &'static str, logs_dir: &Path, opts: &LogOptions) -> String {
    let run_id = format!("{:06x}", fastrand::u32(..0x100_0000));
    let mut file_level = opts
        .rust_log
        .as_deref()
        .and_then(|v| parse_rust_log(v, job))
        .unwrap_or(LevelFilter::Info);
    file_level = match opts.verbose {
        0 => file_level,
        1 => file_level.max(LevelFilter::Debug),
        _ => LevelFilter::Trace,
    };
    let stderr_level = match (opts.verbose, opts.quiet) {
        (_, q) if q >= 2 => LevelFilter::Off,
        (_, 1) => LevelFilter::Error,
        (0, _) => LevelFilter::Warn,
        (1, _) => LevelFilter::Info,
        (2, _) => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    };
    let log_path = logs_dir.join(format!("{job}.log"));
    let logger = Logger {
        job,
        run_id: run_id.clone(),
        file_level,
        stderr_level,
        max_bytes: opts.max_bytes,
        keep: opts.keep,
        json: opts.json,
        file: Mutex::new(LogFile {
            path: log_path.clone(),
            file: None,
            size: 0,
        }),
    };
    let _ = PREPARED.set(Prepared {
        job,
        run_id: run_id.clone(),
        path: log_path.clone(),
        json: opts.json,
        to_file: LevelFilter::Error <= file_level,
        to_stderr: LevelFilter::Error <= stderr_level,
    });
    log::set_max_level(file_level.max(stderr_level));
    let _ = log::set_boxed_logger(Box::new(logger));
    run_id
}

/// What [`error_line`] needs of the logger.
struct Prepared {
    job: &'static str,
    run_id: String,
    path: PathBuf,
    json: bool,
    to_file: bool,
    to_stderr: bool,
}

static PREPARED: std::sync::OnceLock<Prepared> = std::sync::OnceLock::new();

/// An ERROR line written ahead of time, as this process's logger would write `msg` (the time
/// left as [`base::hardstop::TIME_SLOT`]), with the log file it goes to: for the hard stop,
/// which writes it from a signal handler where the logger cannot run.
pub fn error_line(msg: &str) -> (Option<PathBuf>, base::hardstop::Message) {
    let Some(p) = PREPARED.get() else {
        return (None, base::hardstop::Message::default());
    };
    let msg = redact(msg);
    let line = LogLine {
        ts: base::hardstop::TIME_SLOT.into(),
        level: contracts::logline::Level::Error,
        job: p.job.into(),
        run_id: p.run_id.as_str().into(),
        msg: msg.as_ref().into(),
    };
    let message = base::hardstop::Message {
        log_line: match (p.to_file, p.json) {
            (false, _) => String::new(),
            (true, true) => line.to_json(&[("target", "common::run".into())]),
            (true, false) => line.to_text(),
        },
        stderr_line: if p.to_stderr {
            format!("{}: error: {msg}\n", p.job)
        } else {
            String::new()
        },
    };
    let path = (p.to_file && !p.path.as_os_str().is_empty()).then(|| p.path.clone());
    (path, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_log_forms() {
        assert_eq!(
            parse_rust_log("debug", "poll-teams"),
            Some(LevelFilter::Debug)
        );
        assert_eq!(
            parse_rust_log("warn,poll_teams=trace", "poll-teams"),
            Some(LevelFilter::Trace)
        );
        assert_eq!(parse_rust_log("other=trace", "poll-teams"), None);
        assert_eq!(parse_rust_log("", "x"), None);
    }

    #[test]
    fn rotation_shifts_files() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("j.log");
        for i in 0..4 {
            fs::write(&p, format!("gen{i}")).unwrap();
            rotate(&p, 2);
        }
        assert!(!p.exists());
        assert_eq!(
            fs::read_to_string(d.path().join("j.log.1")).unwrap(),
            "gen3"
        );
        assert_eq!(
            fs::read_to_string(d.path().join("j.log.2")).unwrap(),
            "gen2"
        );
        assert!(!d.path().join("j.log.3").exists());
    }
}

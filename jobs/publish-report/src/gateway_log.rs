//! The gateway's own log file, for the report's gateway section: records, warnings and errors
//! in the period, the newest record, and records dated ahead of the clock.
//!
//! Where: the suite's `gateway` section (or the gateway's defaults) gives the gateway's config;
//! its `logging.file`, else the default directory and profile, gives the files
//! (`openclaw::logs::location`, verified against OpenClaw 2026.9.6). A record is one JSON
//! line with `_meta.logLevelName` and `_meta.date` (UTC); `openclaw::record::Record` reads the
//! text of the last error. Only files modified since the period began are read.

use crate::contents::GatewayLog;
use chrono::{DateTime, Utc};
use std::io::BufRead;
use std::path::{Path, PathBuf};

/// Where the gateway's log files are, or `None` when this machine has no gateway to read
/// (no `gateway` section and no config at the default place).
pub fn locate(
    gw: &openclaw::Gateway,
    configured: bool,
    problems: &mut Vec<String>,
) -> Option<openclaw::logs::LogLocation> {
    if !configured && !gw.config.exists() {
        return None;
    }
    let cfg = match openclaw::config::load(&gw.config) {
        Ok(c) => Some(c),
        Err(e) => {
            problems.push(format!(
                "the gateway's config {}: {}; looking for its log in the default place",
                gw.config.display(),
                common::exit::one_line(&e)
            ));
            None
        }
    };
    Some(openclaw::logs::location(
        cfg.as_ref(),
        gw.profile.as_deref(),
    ))
}

/// The files of a location modified at or after `since`, sorted by name.
pub fn files(loc: &openclaw::logs::LogLocation, since: DateTime<Utc>) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = loc
        .globs()
        .iter()
        .filter_map(|g| glob::glob(g).ok())
        .flatten()
        .flatten()
        .filter(|p| {
            std::fs::metadata(p)
                .ok()
                .filter(|m| m.is_file())
                .and_then(|m| m.modified().ok())
                .is_some_and(|t| DateTime::<Utc>::from(t) >= since)
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Records dated ahead of the clock: how many, and the newest.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ahead {
    pub count: u64,
    pub newest: Option<DateTime<Utc>>,
}

/// Scan `files` for the window `[from, to)`; records after `limit` are counted as ahead.
pub fn scan(
    source: String,
    files: &[PathBuf],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limit: DateTime<Utc>,
    problems: &mut Vec<String>,
) -> (GatewayLog, Ahead) {
    let mut log = GatewayLog {
        source,
        files: files.iter().map(|p| p.display().to_string()).collect(),
        ..Default::default()
    };
    let mut ahead = Ahead::default();
    let mut last_error_at = None;
    for f in files {
        if let Err(e) = scan_file(f, &mut |date, level, line| {
            if date > limit {
                ahead.count += 1;
                ahead.newest = ahead.newest.max(Some(date));
                return;
            }
            log.last_record_at = log.last_record_at.max(Some(date));
            if date < from || date >= to {
                return;
            }
            log.records += 1;
            match level {
                "WARN" => log.warnings += 1,
                "ERROR" | "FATAL" => {
                    log.errors += 1;
                    if last_error_at <= Some(date) {
                        last_error_at = Some(date);
                        log.last_error = openclaw::record::Record::parse(line)
                            .map(|r| crate::text::clean(&r.text(), 300));
                    }
                }
                _ => {}
            }
        }) {
            problems.push(format!(
                "cannot read the gateway's log {}: {e}",
                f.display()
            ));
        }
    }
    (log, ahead)
}

/// Call `each(date, level, line)` for every record of `path` with a readable `_meta`.
fn scan_file(path: &Path, each: &mut dyn FnMut(DateTime<Utc>, &str, &str)) -> std::io::Result<()> {
    let mut r = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(path)?);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if r.read_until(b'\n', &mut buf)? == 0 {
            return Ok(());
        }
        let Some((date, level)) = meta(&buf) else {
            continue;
        };
        each(date, level, &String::from_utf8_lossy(&buf));
    }
}

/// `_meta.date` and `_meta.logLevelName` of a record line, found without parsing the line.
fn meta(line: &[u8]) -> Option<(DateTime<Utc>, &str)> {
    let at = memchr::memmem::find(line, b"\"_meta\":")?;
    let rest = &line[at..];
    let field = |key: &[u8]| -> Option<&str> {
        let k = memchr::memmem::find(rest, key)? + key.len();
        let v = &rest[k..];
        let end = memchr::memchr(b'"', v)?;
        std::str::from_utf8(&v[..end]).ok()
    };
    let date = DateTime::parse_from_rfc3339(field(b"\"date\":\"")?)
        .ok()?
        .with_timezone(&Utc);
    Some((date, field(b"\"logLevelName\":\"").unwrap_or("INFO")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/openclaw-2026.9.6")
            .join(name)
            .join("gateway.log.jsonl")
    }

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// Records the real gateway wrote (a 529 turn): counted by level, the last error's text.
    #[test]
    fn counts_a_captured_gateway_log() {
        let f = fixture("turn-529-overloaded");
        let text = std::fs::read_to_string(&f).unwrap();
        let levels = |l: &str| text.matches(&format!("\"logLevelName\":\"{l}\"")).count() as u64;
        let mut problems = Vec::new();
        let (log, ahead) = scan(
            "test".into(),
            std::slice::from_ref(&f),
            t("2026-01-01T00:00:00Z"),
            t("2027-01-01T00:00:00Z"),
            t("2027-01-01T00:00:00Z"),
            &mut problems,
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(ahead, Ahead::default());
        assert_eq!(log.errors, levels("ERROR"));
        assert_eq!(log.warnings, levels("WARN"));
        assert_eq!(
            log.records,
            levels("ERROR") + levels("WARN") + levels("INFO")
        );
        assert!(log.errors > 0 && log.last_record_at.is_some());
        let e = log.last_error.unwrap();
        assert!(!e.is_empty() && !e.contains('\n'), "{e}");
    }

    #[test]
    fn window_and_records_ahead_of_the_clock() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("openclaw.log");
        let rec = |date: &str, level: &str, text: &str| {
            format!(
                "{{\"0\":\"{{\\\"subsystem\\\":\\\"gateway\\\"}}\",\"1\":\"{text}\",\"_meta\":{{\"date\":\"{date}\",\"logLevelName\":\"{level}\"}},\"time\":\"{date}\"}}\n"
            )
        };
        std::fs::write(
            &p,
            [
                rec("2026-11-19T23:00:00.000Z", "ERROR", "before"),
                rec("2026-11-20T01:00:00.000Z", "WARN", "in"),
                rec("2026-11-20T02:00:00.000Z", "ERROR", "port 18789 in use"),
                "not a record\n".to_string(),
                rec("2099-01-01T00:00:00.000Z", "INFO", "future"),
            ]
            .concat(),
        )
        .unwrap();
        let mut problems = Vec::new();
        let (log, ahead) = scan(
            "test".into(),
            &[p],
            t("2026-11-20T00:00:00Z"),
            t("2026-11-21T00:00:00Z"),
            t("2026-11-21T00:05:00Z"),
            &mut problems,
        );
        assert_eq!((log.records, log.warnings, log.errors), (2, 1, 1));
        assert_eq!(log.last_error.as_deref(), Some("port 18789 in use"));
        assert_eq!(log.last_record_at, Some(t("2026-11-20T02:00:00Z")));
        assert_eq!(ahead.count, 1);
        assert_eq!(ahead.newest, Some(t("2099-01-01T00:00:00Z")));
    }
}

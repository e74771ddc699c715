//! The optional command source (e.g. `journalctl --user -u openclaw-gateway -o short-iso-precise
//! --since …`): the gateway's console text, read through the same matcher as the files, with
//! a time cursor instead of a byte offset. Run with `common::cmd` (no shell, bounded time,
//! process group killed at the timeout). Lines at or before the cursor are dropped, lines at
//! it are deduplicated by content, and events without a time are counted and skipped (they
//! could not be told apart from the previous run's: use a journal format with times).

use crate::data::CommandCursor;
use crate::records::Observation;
use crate::scan::{Matcher, Scanner, Stats};
use anyhow::{Result, bail};
use chrono::{DateTime, Duration, TimeZone, Utc};

/// Overlap re-read on every run, so entries that reach the journal late are not missed.
const OVERLAP_SECS: i64 = 30;

/// Output kept per run (the newest part when it is longer).
const KEEP: usize = 64 << 20;

/// Keys kept in the cursor.
const SEEN_MAX: usize = 4000;

/// What one command run yielded.
#[derive(Debug, Default)]
pub struct Output {
    pub found: Vec<Observation>,
    pub stats: Stats,
    pub without_time: u64,
    pub duplicates: u64,
    pub cursor: CommandCursor,
}

/// Substitute `{since}` / `{since_rfc3339}` in the argv.
pub fn argv_for(argv: &[String], since: DateTime<Utc>) -> Vec<String> {
    let plain = since.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    let rfc = since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    argv.iter()
        .map(|a| {
            a.replace("{since_rfc3339}", &rfc)
                .replace("{since}", &plain)
        })
        .collect()
}

/// Stand-in time for a line without one (recognised and skipped).
fn untimed() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(9999, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `<epoch ms>|<hash of the observation>`.
fn key(o: &Observation) -> String {
    let h = common::hash::sha256_hex(format!("{o:?}").as_bytes());
    format!("{}|{}", o.at().timestamp_millis(), &h[..24])
}

fn key_millis(k: &str) -> Option<i64> {
    k.split_once('|')?.0.parse().ok()
}

/// Run the command and read its output.
pub fn run(
    argv: &[String],
    timeout: std::time::Duration,
    cursor: &CommandCursor,
    matcher: &Matcher,
    max_line: usize,
    now: DateTime<Utc>,
    window: Duration,
) -> Result<Output> {
    let since = cursor.since.unwrap_or(now - window);
    let argv = argv_for(argv, since);
    let out = common::cmd::run_spec(&common::cmd::Spec {
        argv: &argv,
        timeout,
        stdin: None,
        env: &[],
        log_output: false,
        keep: KEEP,
    })?;
    let shown = argv.join(" ");
    if out.timed_out {
        bail!(
            "command `{shown}` timed out after {} s and was killed; nothing from it was counted",
            timeout.as_secs()
        );
    }
    if !out.success() {
        let err = out.stderr.trim();
        bail!(
            "command `{shown}` failed ({}){}; nothing from it was counted",
            out.describe(),
            if err.is_empty() {
                String::new()
            } else {
                format!(": {err}")
            }
        );
    }
    if out.stdout.len() >= KEEP {
        log::warn!(
            "command `{shown}` printed more than {} MiB; only the newest part was read",
            KEEP >> 20
        );
    }
    let mut res = Output::default();
    let seen: std::collections::HashSet<&str> = cursor.seen.iter().map(String::as_str).collect();
    let mut scanner = Scanner::new(matcher, max_line, untimed(), "command");
    scanner.scan(out.stdout.as_bytes(), false, |_, found, st| {
        res.stats.add(st);
        for o in found {
            if o.at() >= untimed() {
                res.without_time += 1;
                continue;
            }
            let o = o.clamped(now);
            if o.at() < since || seen.contains(key(&o).as_str()) {
                res.duplicates += 1;
                continue;
            }
            res.found.push(o);
        }
        true
    })?;
    res.cursor = next_cursor(cursor, &res.found, since, now);
    Ok(res)
}

fn next_cursor(
    cursor: &CommandCursor,
    found: &[Observation],
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> CommandCursor {
    let next_since = (now - Duration::seconds(OVERLAP_SECS)).max(since);
    let cutoff = next_since.timestamp_millis();
    let mut keep: Vec<String> = cursor
        .seen
        .iter()
        .filter(|k| key_millis(k).is_some_and(|ms| ms >= cutoff))
        .cloned()
        .collect();
    keep.extend(found.iter().filter(|o| o.at() >= next_since).map(key));
    if keep.len() > SEEN_MAX {
        let drop = keep.len() - SEEN_MAX;
        keep.drain(..drop);
    }
    CommandCursor {
        since: Some(next_since),
        seen: keep,
        last_ok_at: Some(now),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_substituted() {
        let t = "2026-03-05T00:03:55Z".parse().unwrap();
        let a = argv_for(
            &[
                "journalctl".into(),
                "--since".into(),
                "{since}".into(),
                "x={since_rfc3339}".into(),
            ],
            t,
        );
        assert_eq!(a[2], "2026-03-05 00:03:55 UTC");
        assert_eq!(a[3], "x=2026-03-05T00:03:55Z");
    }

    #[test]
    fn events_are_counted_once_across_runs() {
        let m = Matcher::new(&[], &[], &[]).unwrap();
        let now = Utc::now();
        let t = (now - Duration::seconds(10)).to_rfc3339();
        let script = format!(
            "printf '%s\\n' '{t} vm openclaw[1]: [agent/embedded] auth profile failure state updated: runId=r profile=sha256:ab provider=fake reason=rate_limit window=cooldown reused=false' '[agent/embedded] auth profile failure state updated: runId=r2 provider=fake reason=rate_limit window=cooldown'"
        );
        let argv = vec!["sh".into(), "-c".into(), script];
        let w = Duration::seconds(300);
        let to = std::time::Duration::from_secs(5);
        let o1 = run(&argv, to, &CommandCursor::default(), &m, 4096, now, w).unwrap();
        assert_eq!(o1.found.len(), 1);
        assert_eq!(o1.without_time, 1);
        let o2 = run(
            &argv,
            to,
            &o1.cursor,
            &m,
            4096,
            now + Duration::seconds(5),
            w,
        )
        .unwrap();
        assert_eq!(o2.found.len(), 0, "the same line again is a duplicate");
        assert_eq!(o2.duplicates, 1);
    }

    #[test]
    fn failure_and_timeout_are_errors() {
        let m = Matcher::new(&[], &[], &[]).unwrap();
        let now = Utc::now();
        let w = Duration::seconds(300);
        let e = run(
            &["sh".into(), "-c".into(), "echo nope >&2; exit 3".into()],
            std::time::Duration::from_secs(5),
            &CommandCursor::default(),
            &m,
            4096,
            now,
            w,
        )
        .unwrap_err();
        assert!(e.to_string().contains("nope"), "{e}");
        let e = run(
            &["sleep".into(), "5".into()],
            std::time::Duration::from_millis(200),
            &CommandCursor::default(),
            &m,
            4096,
            now,
            w,
        )
        .unwrap_err();
        assert!(e.to_string().contains("timed out"), "{e}");
    }
}

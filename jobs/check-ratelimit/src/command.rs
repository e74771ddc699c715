//! The optional command source (e.g. `journalctl --user -u openclaw-gateway -o cat --since …`):
//! its stdout is streamed through the same scanner as the files, with a time cursor instead of
//! a byte offset. Lines at or before the cursor are dropped, lines exactly at it are
//! deduplicated by content, and matched lines without a time are counted and skipped (they
//! could not be told apart from the previous run's).

use crate::rules::{Found, Rules};
use crate::scan::{Scanner, Stats};
use anyhow::{Context, Result, bail};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Overlap re-read on every run, so entries that reach the journal late are not missed.
const OVERLAP_SECS: i64 = 30;

/// Where the command source is.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CommandCursor {
    /// The next run asks for lines since this time.
    pub since: Option<DateTime<Utc>>,
    /// Matches at or after `since` already counted (hash of time and text).
    pub seen: Vec<String>,
    pub last_ok_at: Option<DateTime<Utc>>,
}

/// `<epoch ms>|<hash of the text>`.
fn key(f: &Found) -> String {
    let h = Sha256::digest(f.excerpt.as_bytes());
    let hex: String = h[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("{}|{hex}", f.at.map_or(0, |a| a.timestamp_millis()))
}

fn key_millis(k: &str) -> Option<i64> {
    k.split_once('|')?.0.parse().ok()
}

/// What one command run yielded.
#[derive(Debug, Default)]
pub struct Output {
    pub found: Vec<Found>,
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

/// Run the command and scan its output.
pub fn run(
    argv: &[String],
    timeout: std::time::Duration,
    cursor: &CommandCursor,
    rules: &Rules,
    max_line: usize,
    now: DateTime<Utc>,
    window: Duration,
) -> Result<Output> {
    let since = cursor.since.unwrap_or(now - window);
    let argv = argv_for(argv, since);
    let (prog, args) = argv.split_first().context("empty command")?;
    let mut child = Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start command `{}`", argv.join(" ")))?;
    let stdout = child.stdout.take().context("no stdout pipe")?;
    let mut stderr = child.stderr.take().context("no stderr pipe")?;
    let err_reader = std::thread::spawn(move || {
        let mut keep = Vec::new();
        let mut chunk = [0u8; 8192];
        while let Ok(n) = stderr.read(&mut chunk) {
            if n == 0 {
                break;
            }
            if keep.len() < 4096 {
                keep.extend_from_slice(&chunk[..n.min(4096 - keep.len())]);
            }
        }
        String::from_utf8_lossy(&keep).into_owned()
    });
    let timed_out = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    let (t2, d2) = (timed_out.clone(), done.clone());
    let watchdog = std::thread::spawn(move || {
        let start = std::time::Instant::now();
        loop {
            match child.try_wait() {
                Ok(Some(st)) => return Some(st),
                Ok(None) => {}
                Err(_) => return None,
            }
            if start.elapsed() >= timeout || d2.load(Ordering::Relaxed) {
                t2.store(start.elapsed() >= timeout, Ordering::Relaxed);
                let _ = child.kill();
                return child.wait().ok();
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    });
    let mut out = Output::default();
    let mut scanner = Scanner::new(rules, max_line);
    let seen: std::collections::HashSet<&str> = cursor.seen.iter().map(String::as_str).collect();
    let scan = scanner.scan(stdout, false, |_, found, st| {
        out.stats.add(st);
        for f in found {
            let Some(at) = f.at else {
                out.without_time += 1;
                continue;
            };
            if at < since || seen.contains(key(&f).as_str()) {
                out.duplicates += 1;
                continue;
            }
            out.found.push(f);
        }
        true
    });
    done.store(true, Ordering::Relaxed);
    let status = watchdog.join().ok().flatten();
    let stderr_text = err_reader.join().unwrap_or_default();
    scan.context("cannot read the command's output")?;
    if timed_out.load(Ordering::Relaxed) {
        bail!(
            "command `{}` timed out after {} s and was killed; nothing from it was counted",
            argv.join(" "),
            timeout.as_secs()
        );
    }
    match status {
        Some(st) if st.success() => {}
        other => bail!(
            "command `{}` failed ({}){}; nothing from it was counted",
            argv.join(" "),
            other.map_or("no exit status".to_string(), |s| s.to_string()),
            if stderr_text.trim().is_empty() {
                String::new()
            } else {
                format!(": {}", stderr_text.trim())
            }
        ),
    }
    let next_since = (now - Duration::seconds(OVERLAP_SECS)).max(since);
    let cutoff = next_since.timestamp_millis();
    let mut keep: Vec<String> = cursor
        .seen
        .iter()
        .filter(|k| key_millis(k).is_some_and(|ms| ms >= cutoff))
        .cloned()
        .collect();
    keep.extend(
        out.found
            .iter()
            .filter(|f| f.at.is_some_and(|a| a >= next_since))
            .map(key),
    );
    if keep.len() > 2000 {
        let drop = keep.len() - 2000;
        keep.drain(..drop);
    }
    out.cursor = CommandCursor {
        since: Some(next_since),
        seen: keep,
        last_ok_at: Some(now),
    };
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_substituted() {
        let t = DateTime::parse_from_rfc3339("2026-03-05T00:03:55Z")
            .unwrap()
            .with_timezone(&Utc);
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
    fn lines_are_counted_once_across_runs() {
        let rules = Rules::new(&[], &[], &[]).unwrap();
        let now = Utc::now();
        let t = (now - Duration::seconds(10)).to_rfc3339();
        let script = format!(
            "printf '%s\\n' '{t} [agent/embedded] API rate limit reached' 'no time API rate limit reached'"
        );
        let argv = vec!["sh".into(), "-c".into(), script];
        let w = Duration::seconds(300);
        let to = std::time::Duration::from_secs(5);
        let o1 = run(&argv, to, &CommandCursor::default(), &rules, 4096, now, w).unwrap();
        assert_eq!(o1.found.len(), 1);
        assert_eq!(o1.without_time, 1);
        let o2 = run(
            &argv,
            to,
            &o1.cursor,
            &rules,
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
        let rules = Rules::new(&[], &[], &[]).unwrap();
        let now = Utc::now();
        let w = Duration::seconds(300);
        let e = run(
            &["sh".into(), "-c".into(), "echo nope >&2; exit 3".into()],
            std::time::Duration::from_secs(5),
            &CommandCursor::default(),
            &rules,
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
            &rules,
            4096,
            now,
            w,
        )
        .unwrap_err();
        assert!(e.to_string().contains("timed out"), "{e}");
    }
}

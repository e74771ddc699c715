//! The per-job run lock: `<root>/state/<job>.lock`.
//!
//! Promise: at most one run of a job per root at any time, hand runs and cron runs alike.
//! How: an exclusive `flock` (std `File::try_lock`) on a dedicated lock file that is never
//! deleted (deleting it would let two holders exist). The kernel drops the lock when the holder
//! dies, so a crash never locks the job out. The holder writes its pid, start time, host and
//! argv into the file so a refused run can name it. The descriptor is close-on-exec, so commands
//! the job starts do not inherit the lock.
//! Limitations: advisory; not for network filesystems.

use crate::exit::skipped;
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What the holder writes into the lock file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    pub started_at: DateTime<Utc>,
    pub host: String,
    pub argv: Vec<String>,
    /// A scheduled-style run that records itself in the state file when it ends.
    #[serde(default)]
    pub records_run: bool,
}

/// A held lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct JobLock {
    _file: File,
    pub path: PathBuf,
    /// The record the previous holder left (to tell whether it ended without recording its run).
    pub previous: Option<Holder>,
}

/// Take the lock at `path`, waiting up to `wait` if given. If it stays held, the error (exit 75)
/// names the holder: `already running: pid 4242 since 2026-11-21T10:00:03Z`.
pub fn acquire(path: &Path, wait: Option<Duration>, me: &Holder) -> Result<JobLock> {
    let file = crate::fsutil::open_nofollow(
        path,
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600),
    )
    .with_context(|| format!("cannot open lock file {}", path.display()))?;
    let until = wait.map(|w| Instant::now() + w);
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(TryLockError::WouldBlock) => {
                if let Some(until) = until
                    && Instant::now() < until
                {
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
                let waited = wait
                    .map(|w| format!(" (waited {}s)", w.as_secs()))
                    .unwrap_or_default();
                return Err(skipped(format!(
                    "already running: {}{waited}; lock {}",
                    describe_holder(&file),
                    path.display()
                )));
            }
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("cannot lock {}", path.display()));
            }
        }
    }
    let text = read_text(&file);
    let (previous, old_len) = (parse_record(&text), text.len());
    // Overwrite in place, padded with spaces to the old length: truncating a file costs a
    // filesystem transaction on every run (a fifth of a no-op run's time on ext4 here), and
    // readers trim the record.
    let mut line = serde_json::to_vec(me).unwrap_or_default();
    line.resize(old_len.saturating_sub(1).max(line.len()), b' ');
    line.push(b'\n');
    file.write_all_at(&line, 0)
        .with_context(|| format!("cannot write holder into {}", path.display()))?;
    Ok(JobLock {
        _file: file,
        path: path.to_path_buf(),
        previous,
    })
}

/// Name the process holding the lock. The kernel knows the holder's pid (`/proc/locks`); the
/// record in the file is written just after the lock is taken, so a run refused in that
/// instant re-reads both briefly until they match, rather than showing nothing or a stale
/// record. `/proc/locks` is generated a few records per `read`, positionally, so a lock taken
/// or released elsewhere between two reads can skip our line: it is read again each try.
fn describe_holder(file: &File) -> String {
    let (mut owner, mut record) = (None, None);
    for _ in 0..40 {
        owner = lock_owner_pid(file).or(owner);
        record = read_record(file);
        if let (Some(pid), Some(h)) = (owner, &record)
            && pid == h.pid
        {
            return describe(h);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    match (owner, record) {
        (Some(pid), _) => format!("pid {pid} (its start time is not recorded yet)"),
        // No kernel view (a /proc without locks): trust a record whose process is running.
        (None, Some(h)) if Path::new(&format!("/proc/{}", h.pid)).exists() => describe(&h),
        _ => "another process".into(),
    }
}

fn read_record(file: &File) -> Option<Holder> {
    parse_record(&read_text(file))
}

/// The lock file's text (empty if unreadable).
fn read_text(file: &File) -> String {
    let mut s = String::new();
    let mut f = file;
    let _ = f
        .seek(SeekFrom::Start(0))
        .and_then(|_| f.read_to_string(&mut s));
    s
}

/// A holder record; readers trim it (it is padded in place, see [`acquire`]).
fn parse_record(text: &str) -> Option<Holder> {
    serde_json::from_str(text.trim()).ok()
}

fn describe(h: &Holder) -> String {
    format!(
        "pid {} since {} on {} ({})",
        h.pid,
        h.started_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        h.host,
        h.argv.join(" ")
    )
}

/// The pid holding a flock on `file`, from `/proc/locks` (Linux).
fn lock_owner_pid(file: &File) -> Option<u32> {
    let meta = file.metadata().ok()?;
    let (dev, ino) = (meta.dev(), meta.ino());
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    let want = format!("{major:02x}:{minor:02x}:{ino}");
    // Read in large chunks (std's first read of an unsized file is a 32-byte probe, which
    // makes the kernel produce one record per call and widens the window for a skip).
    let mut text = Vec::with_capacity(64 << 10);
    File::open("/proc/locks")
        .ok()?
        .read_to_end(&mut text)
        .ok()?;
    String::from_utf8_lossy(&text).lines().find_map(|line| {
        // 1: FLOCK  ADVISORY  WRITE 4242 08:01:1234567 0 EOF
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.get(1) == Some(&"FLOCK") && f.get(5) == Some(&want.as_str()) {
            f.get(4)?.parse().ok()
        } else {
            None
        }
    })
}

/// Read the holder recorded in a lock file, whether or not the lock is held now.
pub fn read_holder(path: &Path) -> Option<Holder> {
    parse_record(&std::fs::read_to_string(path).ok()?)
}

/// Whether the lock at `path` is held by some process right now.
pub fn is_held(path: &Path) -> bool {
    let Ok(f) = OpenOptions::new().read(true).write(true).open(path) else {
        return false;
    };
    matches!(f.try_lock(), Err(TryLockError::WouldBlock))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::{Exit, code_of};

    fn me() -> Holder {
        Holder {
            pid: std::process::id(),
            started_at: "2026-11-21T10:00:03Z".parse().unwrap(),
            host: "h".into(),
            argv: vec!["job".into(), "-v".into()],
            records_run: true,
        }
    }

    #[test]
    fn second_holder_is_refused_with_the_holder_named() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("j.lock");
        let l = acquire(&p, None, &me()).unwrap();
        assert!(is_held(&p));
        let f = OpenOptions::new().read(true).open(&p).unwrap();
        assert_eq!(
            lock_owner_pid(&f),
            Some(std::process::id()),
            "/proc/locks names us"
        );
        let err = acquire(&p, None, &me()).unwrap_err();
        assert_eq!(code_of(&err), Exit::TempFail);
        assert!(
            err.to_string().contains(&format!(
                "already running: pid {} since 2026-11-21T10:00:03Z",
                std::process::id()
            )),
            "{err}"
        );
        drop(l);
        assert!(!is_held(&p));
        assert!(p.exists(), "the lock file is never deleted");
        let _l2 = acquire(&p, Some(Duration::from_millis(10)), &me()).unwrap();
        assert_eq!(read_holder(&p).unwrap().pid, std::process::id());
    }

    #[test]
    fn a_stale_record_is_not_taken_for_the_holder() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("j.lock");
        let _l = acquire(&p, None, &me()).unwrap();
        // The record left by some earlier holder: the kernel's view wins.
        let stale = Holder {
            pid: 999_999_999,
            ..me()
        };
        std::fs::write(&p, serde_json::to_vec(&stale).unwrap()).unwrap();
        let err = acquire(&p, None, &me()).unwrap_err();
        let m = err.to_string();
        assert!(
            m.contains(&format!("pid {} (its start time", std::process::id())),
            "{m}"
        );
        assert!(!m.contains("999999999"), "{m}");
    }
}

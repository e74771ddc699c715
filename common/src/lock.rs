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
use std::io::Read;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What the holder writes into the lock file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    pub started_at: DateTime<Utc>,
    pub host: String,
    pub argv: Vec<String>,
}

/// A held lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct JobLock {
    _file: File,
    pub path: PathBuf,
}

/// Take the lock at `path`, waiting up to `wait` if given. If it stays held, the error (exit 75)
/// names the holder: `already running: pid 4242 since 2026-11-21T10:00:03Z`.
pub fn acquire(path: &Path, wait: Option<Duration>, me: &Holder) -> Result<JobLock> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
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
    let mut line = serde_json::to_vec(me).unwrap_or_default();
    line.push(b'\n');
    file.set_len(0)
        .and_then(|_| file.write_all_at(&line, 0))
        .with_context(|| format!("cannot write holder into {}", path.display()))?;
    Ok(JobLock {
        _file: file,
        path: path.to_path_buf(),
    })
}

fn describe_holder(mut file: &File) -> String {
    let mut s = String::new();
    let _ = file.read_to_string(&mut s);
    match serde_json::from_str::<Holder>(s.trim()) {
        Ok(h) => format!(
            "pid {} since {} on {} ({})",
            h.pid,
            h.started_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            h.host,
            h.argv.join(" ")
        ),
        Err(_) => "another process (holder not yet recorded)".into(),
    }
}

/// Read the holder recorded in a lock file, whether or not the lock is held now.
pub fn read_holder(path: &Path) -> Option<Holder> {
    let s = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(s.trim()).ok()
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
            pid: 4242,
            started_at: "2026-11-21T10:00:03Z".parse().unwrap(),
            host: "h".into(),
            argv: vec!["job".into(), "-v".into()],
        }
    }

    #[test]
    fn second_holder_is_refused_with_the_holder_named() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("j.lock");
        let l = acquire(&p, None, &me()).unwrap();
        assert!(is_held(&p));
        let err = acquire(&p, None, &me()).unwrap_err();
        assert_eq!(code_of(&err), Exit::TempFail);
        assert!(
            err.to_string()
                .contains("already running: pid 4242 since 2026-11-21T10:00:03Z"),
            "{err}"
        );
        drop(l);
        assert!(!is_held(&p));
        assert!(p.exists(), "the lock file is never deleted");
        let _l2 = acquire(&p, Some(Duration::from_millis(10)), &me()).unwrap();
        assert_eq!(read_holder(&p).unwrap().pid, 4242);
    }
}

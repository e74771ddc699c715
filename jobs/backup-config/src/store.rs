//! Snapshot files on disk: `<backups_dir>/<name>/<UTC timestamp>-<sha256 prefix>.json`, directory
//! 0700, files 0600, written atomically (temp file, fsync, rename, fsync dir). Never named
//! `*.bak*` (the gateway deletes those) and never next to the live file.

use crate::data::Snapshot;
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use common::fsutil;
use sha2::{Digest, Sha256};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Hex characters of the hash in a snapshot's name.
pub const PREFIX_LEN: usize = 12;

/// Compact UTC timestamp used in file names.
pub const TS_FORMAT: &str = "%Y%m%dT%H%M%SZ";

pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in digest {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

pub fn snapshot_id(at: DateTime<Utc>, sha: &str) -> String {
    format!(
        "{}-{}",
        at.format(TS_FORMAT),
        &sha[..PREFIX_LEN.min(sha.len())]
    )
}

/// Create the snapshot directory (0700; an existing one is narrowed to 0700).
pub fn ensure_dir(dir: &Path) -> Result<()> {
    fsutil::ensure_private_dir(dir)?;
    let meta = fs::metadata(dir).with_context(|| format!("cannot stat {}", dir.display()))?;
    if !meta.is_dir() {
        anyhow::bail!("{} exists but is not a directory", dir.display());
    }
    if meta.permissions().mode() & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot chmod 700 {}", dir.display()))?;
    }
    Ok(())
}

/// Write a snapshot durably. On error nothing is left behind but the previous files.
pub fn write(dir: &Path, id: &str, bytes: &[u8]) -> Result<PathBuf> {
    ensure_dir(dir)?;
    let path = dir.join(format!("{id}.json"));
    fsutil::write_atomic(&path, bytes)?;
    Ok(path)
}

/// A snapshot file of this content already in `dir` but not in state (a run killed between
/// writing it and recording it): its id, if its bytes really hash to `sha`.
pub fn find_untracked(dir: &Path, sha: &str) -> Option<String> {
    let suffix = format!("-{}.json", &sha[..PREFIX_LEN.min(sha.len())]);
    let entries = fs::read_dir(dir).ok()?;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !name.ends_with(&suffix) {
            continue;
        }
        if let Ok(b) = fs::read(e.path())
            && sha256_hex(&b) == sha
        {
            return name.strip_suffix(".json").map(String::from);
        }
    }
    None
}

/// Problems found when re-reading a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Damage {
    Missing,
    Unreadable(String),
    WrongHash { actual: String, size: u64 },
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Damage::Missing => f.write_str("file is missing"),
            Damage::Unreadable(e) => write!(f, "cannot be read: {e}"),
            Damage::WrongHash { actual, size } => write!(
                f,
                "content changed: sha256 is now {} ({size} bytes)",
                &actual[..PREFIX_LEN]
            ),
        }
    }
}

/// Read a snapshot and check its hash.
pub fn read_verified(dir: &Path, snap: &Snapshot) -> std::result::Result<Vec<u8>, Damage> {
    let p = dir.join(snap.file_name());
    let bytes = match fs::read(&p) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Damage::Missing),
        Err(e) => return Err(Damage::Unreadable(e.to_string())),
    };
    let actual = sha256_hex(&bytes);
    if actual != snap.sha256 {
        return Err(Damage::WrongHash {
            actual,
            size: bytes.len() as u64,
        });
    }
    Ok(bytes)
}

/// Snapshot-looking files in `dir` (names), for spotting untracked ones.
pub fn list_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.') && n.ends_with(".json"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Remove a pruned snapshot file (already dropped from state) and fsync the directory.
pub fn remove(dir: &Path, snap: &Snapshot) -> Result<()> {
    let p = dir.join(snap.file_name());
    match fs::remove_file(&p) {
        Ok(()) => fsutil::sync_dir(dir),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot remove {}", p.display())),
    }
}

/// Remove temp files that a killed `write_atomic` of ours left next to `target`
/// (`.<name>.tmp.<pid>.<n>` and `.<name>.clobbered.<ts>.tmp.<pid>.<n>` whose pid is gone).
/// Only names derived from `target` are touched, so other programs' files there are safe.
pub fn sweep_temps_of(target: &Path) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let (Some(dir), Some(name)) = (target.parent(), target.file_name()) else {
        return removed;
    };
    let name = name.to_string_lossy();
    let prefixes = [format!(".{name}.tmp."), format!(".{name}.clobbered.")];
    let Ok(entries) = fs::read_dir(dir) else {
        return removed;
    };
    for e in entries.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if !prefixes.iter().any(|p| n.starts_with(p.as_str())) {
            continue;
        }
        let Some((_, rest)) = n.rsplit_once(".tmp.") else {
            continue;
        };
        let Some((pid, seq)) = rest.split_once('.') else {
            continue;
        };
        let (Ok(pid), Ok(_)) = (pid.parse::<u32>(), seq.parse::<u64>()) else {
            continue;
        };
        if pid != std::process::id() && !fsutil::pid_alive(pid) && fs::remove_file(e.path()).is_ok()
        {
            removed.push(e.path());
        }
    }
    removed
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn ids_are_timestamp_and_hash_prefix_never_bak() {
        let at = Utc.with_ymd_and_hms(2026, 2, 20, 22, 7, 39).unwrap();
        let sha = sha256_hex(b"{}");
        assert_eq!(
            sha,
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        let id = snapshot_id(at, &sha);
        assert_eq!(id, "20260220T220739Z-44136fa355b3");
        assert!(!id.contains(".bak"));
    }

    #[test]
    fn write_is_private_and_verifiable() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("b/openclaw.json");
        let sha = sha256_hex(b"{a:1}");
        let id = snapshot_id(Utc::now(), &sha);
        let p = write(&dir, &id, b"{a:1}").unwrap();
        assert_eq!(
            fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let snap = Snapshot {
            id: id.clone(),
            sha256: sha.clone(),
            size: 5,
            taken_at: Utc::now(),
            last_seen_at: Utc::now(),
            validity: crate::data::Validity::Good,
            accepted_at: None,
        };
        assert_eq!(read_verified(&dir, &snap).unwrap(), b"{a:1}");
        assert_eq!(find_untracked(&dir, &sha), Some(id));
        fs::write(&p, b"{a:2}").unwrap();
        assert!(matches!(
            read_verified(&dir, &snap),
            Err(Damage::WrongHash { .. })
        ));
        assert_eq!(find_untracked(&dir, &sha), None);
        remove(&dir, &snap).unwrap();
        assert_eq!(read_verified(&dir, &snap), Err(Damage::Missing));
    }

    #[test]
    fn sweep_only_touches_our_dead_temps() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("openclaw.json");
        let dead = d.path().join(".openclaw.json.tmp.999999999.0");
        let alive = d.path().join(".openclaw.json.tmp.1.0");
        let dead_copy = d
            .path()
            .join(".openclaw.json.clobbered.20260101T000000Z.tmp.999999999.3");
        let other = d.path().join(".other.json.tmp.999999999.0");
        for p in [&dead, &alive, &other, &dead_copy] {
            fs::write(p, b"x").unwrap();
        }
        let mut removed = sweep_temps_of(&target);
        removed.sort();
        assert_eq!(removed, vec![dead_copy.clone(), dead.clone()]);
        assert!(alive.exists() && other.exists() && !dead.exists() && !dead_copy.exists());
    }
}

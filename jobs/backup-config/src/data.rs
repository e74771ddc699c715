//! The job's part of `state/backup-config.json`: per watched file, what it looked like at the
//! last check, every snapshot (time, hash, size, validity) and the last good one, plus the
//! restore in progress (recorded before the live file is replaced).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Data {
    /// Per file, by name (the snapshot directory name).
    pub files: BTreeMap<String, FileState>,
    /// A restore whose replace step started but was not recorded as finished.
    pub pending_restore: Option<PendingRestore>,
    /// Finished restores, newest last (bounded).
    pub restores: Vec<RestoreRecord>,
}

/// What the last check found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Not checked yet.
    #[default]
    Unknown,
    /// Valid, and accepted as the last good version.
    Good,
    /// Valid, but much smaller than the last good version (needs `--accept`).
    Suspicious,
    /// Does not parse, not an object, a required key is missing, or the validator said no.
    Invalid,
    /// The file does not exist.
    Missing,
    /// Could not be checked (unreadable, validator failed to run).
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Unknown => "unknown",
            Status::Good => "good",
            Status::Suspicious => "suspicious",
            Status::Invalid => "invalid",
            Status::Missing => "missing",
            Status::Error => "error",
        }
    }
}

/// Validity recorded with a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Validity {
    /// Valid and accepted as good.
    Good,
    /// Valid but flagged by the size-drop guard (kept so no edit is lost, never restored by default).
    Suspicious,
}

impl Validity {
    pub fn as_str(self) -> &'static str {
        match self {
            Validity::Good => "good",
            Validity::Suspicious => "suspicious",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    /// `<UTC timestamp>-<sha256 prefix>`; the file is `<id>.json`.
    pub id: String,
    /// Full sha256 of the content (hex).
    pub sha256: String,
    pub size: u64,
    /// When the snapshot was written.
    pub taken_at: DateTime<Utc>,
    /// The last time this content was seen live (drives retention).
    pub last_seen_at: DateTime<Utc>,
    pub validity: Validity,
    /// Set when `--accept` turned a suspicious version into a good one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_at: Option<DateTime<Utc>>,
}

impl Snapshot {
    pub fn file_name(&self) -> String {
        format!("{}.json", self.id)
    }
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct FileState {
    /// The live file's path at the last check.
    pub path: String,
    pub status: Status,
    /// Why the file is not good (parse error with line and column, missing key, ...).
    pub problem: Option<String>,
    pub current_sha256: Option<String>,
    pub current_size: Option<u64>,
    pub checked_at: Option<DateTime<Utc>>,
    /// When the content last changed (as seen by this job).
    pub changed_at: Option<DateTime<Utc>>,
    /// Mode and owner of the live file at the last check (used to recreate a deleted file).
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// Consecutive runs that found the file invalid or missing.
    pub invalid_runs: u32,
    pub invalid_since: Option<DateTime<Utc>>,
    /// sha256 of the last good version (its snapshot is never pruned).
    pub last_good: Option<String>,
    /// Fingerprint of the validation settings the cached verdict was made with.
    pub validation_key: String,
    /// Oldest first.
    pub snapshots: Vec<Snapshot>,
    /// `stat` of the live file when it was last hashed, and when that was: an unchanged stat
    /// (device, inode, size, mtime, ctime) lets a run skip re-reading a good file.
    pub stat: Option<StatKey>,
    pub hashed_at: Option<DateTime<Utc>>,
}

/// The identity and change times of a file, as `stat(2)` reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatKey {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
}

impl StatKey {
    pub fn of(m: &std::fs::Metadata) -> StatKey {
        use std::os::unix::fs::MetadataExt;
        StatKey {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime_ns: m
                .mtime()
                .saturating_mul(1_000_000_000)
                .saturating_add(m.mtime_nsec()),
            ctime_ns: m
                .ctime()
                .saturating_mul(1_000_000_000)
                .saturating_add(m.ctime_nsec()),
        }
    }
}

impl FileState {
    pub fn snapshot(&self, sha: &str) -> Option<&Snapshot> {
        self.snapshots.iter().find(|s| s.sha256 == sha)
    }
    pub fn snapshot_mut(&mut self, sha: &str) -> Option<&mut Snapshot> {
        self.snapshots.iter_mut().find(|s| s.sha256 == sha)
    }
    pub fn last_good_snapshot(&self) -> Option<&Snapshot> {
        self.last_good.as_deref().and_then(|h| self.snapshot(h))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingRestore {
    pub file: String,
    pub snapshot: String,
    pub target_sha256: String,
    pub previous_sha256: Option<String>,
    pub clobbered: Option<String>,
    pub started_at: DateTime<Utc>,
    pub automatic: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RestoreRecord {
    pub file: String,
    pub snapshot: String,
    pub at: DateTime<Utc>,
    pub clobbered: Option<String>,
    pub automatic: bool,
    /// `done`, or `unknown` when a run was killed mid-replace and the outcome was inferred.
    pub result: String,
}

/// Restores kept in `restores`.
pub const RESTORES_KEPT: usize = 20;

//! The job's part of `state/backup-config.json` (`data`), and its migration.
//!
//! Per watched config (a root file and the files it `$include`s): what it looked like at the
//! last check, every version snapshotted (time, hash, size, validity, members) and the last
//! good one, what each validator said, and the gateway's rollback artifacts already seen. Then
//! the plans of restores under way (their status is in the effect journal under
//! `restore/<name>/<stamp>`), past restores, the gateway's rollbacks noticed, where the
//! gateway's logs were read up to, the gateway's database snapshots and its cron jobs.
//!
//! Schema history: 1 = one file per watched config, a restore in progress as
//! `pending_restore`; 2 = config sets, restores on the effect journal ([`migrate`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// Version of the state file this code writes.
pub const SCHEMA_VERSION: u32 = 2;

/// Restores kept in `restores`.
pub const RESTORES_KEPT: usize = 20;
/// Gateway rollbacks kept in `rollbacks`.
pub const ROLLBACKS_KEPT: usize = 50;

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Data {
    /// Per watched config, by name (the snapshot directory name).
    pub files: BTreeMap<String, FileState>,
    /// The plan of each restore under way, by its effect key (`restore/<name>/<stamp>`): what
    /// each file is replaced with. Removed when the journal settles the restore.
    pub restore_plans: BTreeMap<String, RestorePlan>,
    /// Finished restores, newest last (bounded).
    pub restores: Vec<RestoreRecord>,
    /// Rollbacks the gateway did by itself, newest last (bounded).
    pub rollbacks: Vec<Rollback>,
    /// How far each gateway log file was read, by path.
    pub gateway_logs: BTreeMap<String, LogCursor>,
    /// Whether the gateway's logs were looked at before (the first look starts at their end).
    pub gateway_logs_baselined: bool,
    /// Snapshots of the gateway's SQLite databases, by source (`global`, `agent:<id>`).
    pub databases: BTreeMap<String, DatabaseState>,
    /// The gateway's cron jobs as last listed.
    pub cron: Option<CronState>,
    /// Copies kept next to the config by versions before 2 were looked for (and moved).
    pub legacy_checked: bool,
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
    /// Does not parse, not an object, a required key is missing, or a validator said no.
    Invalid,
    /// The file does not exist.
    Missing,
    /// Could not be checked: unreadable (mode, a directory), or a validator could not decide.
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

/// One file of a config set: the root file or a file it includes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Path relative to the root file's directory (the root file: its own name).
    pub rel: String,
    pub sha256: String,
    pub size: u64,
}

/// One stored version of a watched config.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    /// `<UTC timestamp>-<sha256 prefix>`; stored as `<id>.json` (a single file) or `<id>.set/`
    /// (a root file with its includes).
    pub id: String,
    /// sha256 of the content (hex): the file's, or for a set the hash of its members' list.
    pub sha256: String,
    /// Bytes (for a set: all members together).
    pub size: u64,
    /// When the snapshot was written.
    pub taken_at: DateTime<Utc>,
    /// The last time this content was seen live (drives retention).
    pub last_seen_at: DateTime<Utc>,
    pub validity: Validity,
    /// Set when `--accept` turned a suspicious version into a good one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_at: Option<DateTime<Utc>>,
    /// A set's files, the root first; empty for a single file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<Member>,
}

impl Snapshot {
    /// Whether this version is a root file with included files.
    pub fn is_set(&self) -> bool {
        !self.members.is_empty()
    }
    /// The name of its file (`<id>.json`) or directory (`<id>.set`).
    pub fn file_name(&self) -> String {
        if self.is_set() {
            format!("{}.set", self.id)
        } else {
            format!("{}.json", self.id)
        }
    }
}

/// What one validator said about the current content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorVerdict {
    /// `built-in`, `command` (the configured `validator`) or `openclaw` (the gateway's own).
    pub validator: String,
    /// `ok`, `rejected`, or `not run` (unavailable, timed out: it did not decide).
    pub verdict: String,
    /// Why (the first problem, the gateway's issues), empty for `ok`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

impl ValidatorVerdict {
    pub fn rejected(&self) -> bool {
        self.verdict == "rejected"
    }
    /// `openclaw: rejected (gateway: Unrecognized key: "bogusKey")`
    pub fn line(&self) -> String {
        if self.detail.is_empty() {
            format!("{}: {}", self.validator, self.verdict)
        } else {
            format!("{}: {} ({})", self.validator, self.verdict, self.detail)
        }
    }
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct FileState {
    /// The live root file's path at the last check.
    pub path: String,
    pub status: Status,
    /// Why the file is not good (parse error with line and column, missing key, ...).
    pub problem: Option<String>,
    /// The hash of the current version (a set's: see [`Snapshot::sha256`]).
    pub current_sha256: Option<String>,
    pub current_size: Option<u64>,
    /// The current version's files when it has includes (the root first), else empty.
    pub members: Vec<Member>,
    /// `stat` of each included file when last hashed, by relative path.
    pub member_stats: BTreeMap<String, StatKey>,
    pub checked_at: Option<DateTime<Utc>>,
    /// When the content last changed (as seen by this job).
    pub changed_at: Option<DateTime<Utc>>,
    /// Mode and owner of the live file at the last check (used to recreate a deleted file).
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// Consecutive runs that found the file invalid, missing or unreadable.
    pub invalid_runs: u32,
    pub invalid_since: Option<DateTime<Utc>>,
    /// sha256 of the last good version (its snapshot is never pruned).
    pub last_good: Option<String>,
    /// Fingerprint of the validation settings the cached verdict was made with.
    pub validation_key: String,
    /// What each validator said about the current content.
    pub verdicts: Vec<ValidatorVerdict>,
    /// Oldest first.
    pub snapshots: Vec<Snapshot>,
    /// `stat` of the live root file when it was last hashed, and when that was: an unchanged
    /// stat (device, inode, size, mtime, ctime) of every file lets a run skip re-reading.
    pub stat: Option<StatKey>,
    pub hashed_at: Option<DateTime<Utc>>,
    /// The gateway's `logging.file` as of the last read of this config (gateway configs only).
    pub gateway_log_file: Option<String>,
    /// The gateway's `<file>.clobbered.*` / `<file>.rejected.*` names already seen.
    pub gateway_artifacts: BTreeSet<String>,
    /// Whether the gateway's artifacts were listed before (the first listing alerts nothing).
    pub gateway_artifacts_baselined: bool,
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
    /// The later of the change times.
    pub fn changed_ns(&self) -> i64 {
        self.mtime_ns.max(self.ctime_ns)
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

/// One file a restore replaces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreStep {
    /// Relative path in the set (the root file: its name).
    pub rel: String,
    /// The file written (for a symlinked config: the link's target).
    pub path: String,
    pub target_sha256: String,
    /// Its content before the restore (`None`: it did not exist).
    pub previous_sha256: Option<String>,
}

/// A restore under way: recorded before the first file is replaced, so a crash is finished
/// (some files replaced) or reported as not applied (none replaced) by the next run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RestorePlan {
    pub file: String,
    pub snapshot: String,
    /// The version's hash (a set's hash for a set).
    pub target_sha256: String,
    pub steps: Vec<RestoreStep>,
    /// Where the replaced content was kept (a directory of ours).
    pub kept: Option<String>,
    pub started_at: DateTime<Utc>,
    pub automatic: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RestoreRecord {
    pub file: String,
    pub snapshot: String,
    pub at: DateTime<Utc>,
    /// Where the replaced content was kept (schema 1 called it `clobbered`).
    #[serde(alias = "clobbered")]
    pub kept: Option<String>,
    pub automatic: bool,
    /// `done`, or what the next run found after an interrupted restore.
    pub result: String,
}

/// A rollback the gateway did by itself, as noticed by this job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rollback {
    /// Watched config name.
    pub file: String,
    /// When the gateway did it (from its file name or log record), else when it was noticed.
    pub at: DateTime<Utc>,
    pub noticed_at: DateTime<Utc>,
    /// `auto-restored from backup`, `auto-restored from last-known-good`,
    /// `stripped a non-JSON prefix`, `write rejected`, `repaired` (artifact only).
    pub kind: String,
    /// The gateway's reasons (`gateway-mode-missing-vs-last-good`, `size-drop:…`), if logged.
    pub reasons: Vec<String>,
    /// The gateway's copy of what it rejected (`<file>.clobbered.<ts>` / `.rejected.<ts>`).
    pub artifact: Option<String>,
    /// The log file the message was found in.
    pub log: Option<String>,
    /// Our copy of the rejected content, when kept.
    pub kept: Option<String>,
    /// Our snapshot that the config went back to, if any.
    pub back_to: Option<String>,
}

/// How far a gateway log file was read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogCursor {
    pub dev: u64,
    pub ino: u64,
    pub offset: u64,
}

/// One database of the gateway and its snapshots.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct DatabaseState {
    /// `--global` or `--agent <id>`, as given to `openclaw backup sqlite create`.
    pub source: String,
    /// The snapshot repository (a directory of ours).
    pub repository: String,
    /// Oldest first.
    pub snapshots: Vec<DatabaseSnapshot>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// Why the last attempt failed or was skipped.
    pub problem: Option<String>,
}

/// One snapshot made by `openclaw backup sqlite create` (a directory with `manifest.json` and
/// `database.sqlite`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatabaseSnapshot {
    /// The directory's name in the repository.
    pub id: String,
    pub created_at: DateTime<Utc>,
    /// sha256 and size of `database.sqlite`, from the manifest.
    pub sha256: String,
    pub size: u64,
    /// The gateway's schema version of the database (`userVersion`).
    #[serde(default)]
    pub user_version: Option<u64>,
    /// Cron jobs the gateway listed when this snapshot was taken, if it could.
    #[serde(default)]
    pub cron_jobs: Option<u64>,
}

/// The gateway's cron jobs as last listed (`openclaw cron list --all --json`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CronState {
    pub listed_at: Option<DateTime<Utc>>,
    /// id → name.
    pub jobs: BTreeMap<String, String>,
    pub total: u64,
    /// The last time the list could not be read, and why.
    pub skipped_at: Option<DateTime<Utc>>,
    pub skipped: Option<String>,
}

/// Migrate a state file (the whole JSON) from `from` to [`SCHEMA_VERSION`].
///
/// 1 → 2: a `pending_restore` becomes a restore effect in the journal, in state `unknown`
/// (its process died), with its plan under `restore_plans`; the next run resolves it by
/// hashing the file (done, or not applied), as version 1 did. Everything else keeps its shape.
pub fn migrate(from: u32, mut state: Value) -> anyhow::Result<Value> {
    if from < 2 {
        let pending = state
            .get_mut("data")
            .and_then(Value::as_object_mut)
            .and_then(|d| d.remove("pending_restore"))
            .filter(|p| !p.is_null());
        if let Some(p) = pending {
            move_pending_restore(&mut state, &p)?;
        }
    }
    if let Some(o) = state.as_object_mut() {
        o.insert("schema_version".into(), json!(SCHEMA_VERSION));
    }
    Ok(state)
}

fn move_pending_restore(state: &mut Value, p: &Value) -> anyhow::Result<()> {
    let s = |k: &str| {
        p.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let file = s("file");
    let started = s("started_at");
    let path = state["data"]["files"][&file]["path"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let rel = std::path::Path::new(&path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| file.clone());
    let key = format!("restore/{file}/migrated-{}", started.replace(':', ""));
    let plan = json!({
        "file": file,
        "snapshot": s("snapshot"),
        "target_sha256": s("target_sha256"),
        "steps": [{
            "rel": rel,
            "path": path,
            "target_sha256": s("target_sha256"),
            "previous_sha256": p.get("previous_sha256").cloned().unwrap_or(Value::Null),
        }],
        "kept": p.get("clobbered").cloned().unwrap_or(Value::Null),
        "started_at": started,
        "automatic": p.get("automatic").and_then(Value::as_bool).unwrap_or(false),
    });
    let record = json!({
        "what": format!("restore {} from snapshot {}", s("file"), s("snapshot")),
        "status": "unknown",
        "idempotent": false,
        "attempts": 1,
        "first_at": started,
        "started_at": started,
        "result": "outcome unknown: the restore was interrupted (recorded by an earlier version)",
    });
    let data = state
        .get_mut("data")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| anyhow::anyhow!("`data` is not an object"))?;
    let plans = data
        .entry("restore_plans")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or_else(|| anyhow::anyhow!("`data.restore_plans` is not an object"))?;
    plans.insert(key.clone(), plan);
    let root = state
        .as_object_mut()
        .ok_or_else(|| anyhow::anyhow!("the state is not an object"))?;
    let effects = root
        .entry("effects")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or_else(|| anyhow::anyhow!("`effects` is not an object"))?;
    effects.insert(key, record);
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_pending_restore_moves_onto_the_journal() {
        let v1 = json!({
            "schema_version": 1,
            "job": "backup-config",
            "data": {
                "files": {"openclaw.json": {"path": "/h/.openclaw/openclaw.json", "status": "good",
                    "snapshots": [{"id": "20260101T000000Z-aaaaaaaaaaaa", "sha256": "aa", "size": 3,
                        "taken_at": "2026-01-01T00:00:00Z", "last_seen_at": "2026-01-01T00:00:00Z",
                        "validity": "good"}]}},
                "pending_restore": {"file": "openclaw.json", "snapshot": "20260101T000000Z-aaaaaaaaaaaa",
                    "target_sha256": "aa", "previous_sha256": "bb",
                    "clobbered": "/h/.openclaw/openclaw.json.clobbered.20260102T000000Z",
                    "started_at": "2026-01-02T00:00:00Z", "automatic": false},
                "restores": [{"file": "openclaw.json", "snapshot": "x", "at": "2026-01-01T00:00:00Z",
                    "clobbered": "/h/c", "automatic": true, "result": "done"}]
            }
        });
        let v2 = migrate(1, v1).unwrap();
        assert_eq!(v2["schema_version"], 2);
        assert!(v2["data"].get("pending_restore").is_none());
        let key = "restore/openclaw.json/migrated-2026-01-02T000000Z";
        assert_eq!(v2["effects"][key]["status"], "unknown");
        let data: Data = serde_json::from_value(v2["data"].clone()).unwrap();
        let plan = &data.restore_plans[key];
        assert_eq!(plan.steps[0].path, "/h/.openclaw/openclaw.json");
        assert_eq!(plan.steps[0].rel, "openclaw.json");
        assert_eq!(plan.steps[0].previous_sha256.as_deref(), Some("bb"));
        assert_eq!(data.restores[0].kept.as_deref(), Some("/h/c"));
        assert!(data.files["openclaw.json"].snapshots[0].members.is_empty());
        // a state without a pending restore only changes its version
        let plain = migrate(1, json!({"schema_version": 1, "data": {"files": {}}})).unwrap();
        assert_eq!(plain["data"], json!({"files": {}}));
    }
}

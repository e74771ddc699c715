//! The `--json` documents of the read-only commands, for scripts. Each is one JSON object on
//! one line of stdout; every key is always present (`null` when there is nothing to say). The
//! shapes are documented in `docs/jobs/backup-config.md` ("Machine-readable output"):
//!
//! ```text
//! list [FILE]:  { "job", "as_of", "facts": <contracts::facts::backup_config::BackupFacts>,
//!                 "files": [{ "name", "path", "checked", "live_sha256", "live_missing",
//!                             "changed_since_check", "snapshot_dir",
//!                             "snapshots": [{ "id", "sha256", "size", "validity", "taken_at",
//!                                             "last_seen_at", "accepted_at", "last_good",
//!                                             "live", "files" }] }] }
//! verify:       { "job", "as_of", "ok", "intact", "damaged",
//!                 "files": [<check>], "databases": [<check>] }
//!               check: { "name", "dir", "checked", "snapshots", "intact",
//!                        "damaged": [{ "id", "last_good", "detail" }], "untracked" }
//! diff --stat:  { "job", "as_of", "file", "snapshot", "same", "added", "removed",
//!                 "files": [{ "rel", "path", "live_missing", "state", "added", "removed" }] }
//! ```

use crate::commands::{FileStat, VerifyReport, live_sha, newest_first};
use crate::config::{Config, FileConfig};
use crate::data::{Data, Snapshot};
use crate::mask::LineStat;
use chrono::{DateTime, Utc};
use common::Ctx;
use common::contracts::facts::backup_config::BackupFacts;
use serde::Serialize;

const JOB: &str = "backup-config";

/// `list [FILE] --json`.
#[derive(Debug, Serialize)]
pub struct ListDoc {
    pub job: &'static str,
    pub as_of: DateTime<Utc>,
    /// The public facts as of now; with FILE, `facts.files` holds that file only.
    pub facts: BackupFacts,
    /// The listed files, in the configured order.
    pub files: Vec<FileView>,
}

/// One watched file and its snapshots.
#[derive(Debug, Serialize)]
pub struct FileView {
    pub name: String,
    /// The live (root) file.
    pub path: String,
    /// A run has checked it (else it has no status and no snapshots yet).
    pub checked: bool,
    /// The live version's hash now (includes resolved), `null` when the file is missing.
    pub live_sha256: Option<String>,
    pub live_missing: bool,
    /// The live version differs from what the last run checked.
    pub changed_since_check: bool,
    pub snapshot_dir: String,
    /// The last seen live first.
    pub snapshots: Vec<SnapshotView>,
}

/// One stored version.
#[derive(Debug, Serialize)]
pub struct SnapshotView {
    pub id: String,
    pub sha256: String,
    pub size: u64,
    /// `good` or `suspicious`.
    pub validity: &'static str,
    pub taken_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub last_good: bool,
    /// It is the live version now.
    pub live: bool,
    /// A set's files (root first); empty for a single file.
    pub files: Vec<String>,
}

/// Build the `list` document for `files`.
pub fn list(ctx: &Ctx<Data>, cfg: &Config, files: &[&FileConfig], now: DateTime<Utc>) -> ListDoc {
    let data = &ctx.state.data;
    let mut facts = crate::facts::build(data, now);
    let names: Vec<String> = files.iter().map(|f| f.name()).collect();
    facts.files.retain(|f| names.contains(&f.name));
    let files = files
        .iter()
        .map(|fc| {
            let name = fc.name();
            let live = ctx.paths.resolve(&fc.path);
            let sha = live_sha(&live, fc);
            let st = data.files.get(&name);
            FileView {
                path: live.display().to_string(),
                checked: st.is_some(),
                live_missing: sha.is_none(),
                changed_since_check: sha.is_some()
                    && st.and_then(|s| s.current_sha256.as_deref()) != sha.as_deref(),
                snapshot_dir: cfg.snapshot_dir(&ctx.paths, fc).display().to_string(),
                snapshots: st
                    .map(|st| {
                        newest_first(st)
                            .into_iter()
                            .map(|s| snapshot_view(s, st.last_good.as_deref(), sha.as_deref()))
                            .collect()
                    })
                    .unwrap_or_default(),
                live_sha256: sha,
                name,
            }
        })
        .collect();
    ListDoc {
        job: JOB,
        as_of: now,
        facts,
        files,
    }
}

fn snapshot_view(s: &Snapshot, last_good: Option<&str>, live: Option<&str>) -> SnapshotView {
    SnapshotView {
        id: s.id.clone(),
        sha256: s.sha256.clone(),
        size: s.size,
        validity: s.validity.as_str(),
        taken_at: s.taken_at,
        last_seen_at: s.last_seen_at,
        accepted_at: s.accepted_at,
        last_good: last_good == Some(s.sha256.as_str()),
        live: live == Some(s.sha256.as_str()),
        files: s.members.iter().map(|m| m.rel.clone()).collect(),
    }
}

/// `verify --json`.
#[derive(Debug, Serialize)]
pub struct VerifyDoc<'a> {
    pub job: &'static str,
    pub as_of: DateTime<Utc>,
    /// No snapshot is damaged (else the exit code is 65).
    pub ok: bool,
    pub intact: usize,
    pub damaged: usize,
    #[serde(flatten)]
    pub report: &'a VerifyReport,
}

pub fn verify(report: &VerifyReport, now: DateTime<Utc>) -> VerifyDoc<'_> {
    let damaged = report.damaged_names().len();
    VerifyDoc {
        job: JOB,
        as_of: now,
        ok: damaged == 0,
        intact: report.intact(),
        damaged,
        report,
    }
}

/// `diff --stat --json`.
#[derive(Debug, Serialize)]
pub struct DiffStatDoc {
    pub job: &'static str,
    pub as_of: DateTime<Utc>,
    /// The watched file's name.
    pub file: String,
    /// The snapshot compared with the live files.
    pub snapshot: String,
    /// Every file matches the snapshot.
    pub same: bool,
    pub added: u64,
    pub removed: u64,
    pub files: Vec<FileStatView>,
}

/// One file of the version.
#[derive(Debug, Serialize)]
pub struct FileStatView {
    /// Relative to the root file's directory (the root file: its own name).
    pub rel: String,
    /// The live file.
    pub path: String,
    pub live_missing: bool,
    /// `same`, `changed`, or `secrets_only` (only masked secret values differ).
    pub state: &'static str,
    pub added: u64,
    pub removed: u64,
}

pub fn diff_stat(
    file: &str,
    snapshot: &str,
    stats: &[FileStat],
    now: DateTime<Utc>,
) -> DiffStatDoc {
    let files: Vec<FileStatView> = stats
        .iter()
        .map(|f| {
            let (state, added, removed) = match f.stat {
                LineStat::Same => ("same", 0, 0),
                LineStat::SecretsOnly => ("secrets_only", 0, 0),
                LineStat::Changed { added, removed } => ("changed", added, removed),
            };
            FileStatView {
                rel: f.rel.clone(),
                path: f.path.display().to_string(),
                live_missing: f.live_missing,
                state,
                added,
                removed,
            }
        })
        .collect();
    DiffStatDoc {
        job: JOB,
        as_of: now,
        file: file.to_string(),
        snapshot: snapshot.to_string(),
        same: files.iter().all(|f| f.state == "same"),
        added: files.iter().map(|f| f.added).sum(),
        removed: files.iter().map(|f| f.removed).sum(),
        files,
    }
}

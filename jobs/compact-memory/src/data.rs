//! What compact-memory keeps in `state/compact-memory.json` (`data`), and the migration of
//! older state files.
//!
//! Schema history:
//! - 1: archive paths relative to `memory/` (`archive/2026/01/2026-01-05.md`); the in-flight
//!   model call in `data.model_call_in_flight`.
//! - 2: archive paths relative to the archive directory (`2026/01/2026-01-05.md`), which is
//!   outside `memory/`; `data.archive_dir` says where it was last; model calls are in the
//!   runtime's effect journal (`effects["model/<period>/<input hash>"]`).

use crate::layout;
use anyhow::Result;
use chrono::{DateTime, NaiveDate, Utc};
use model::TokenLedger;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// The state file's schema version.
pub const SCHEMA_VERSION: u32 = 2;

/// How a digest's summary was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Model,
    Rules,
    Raw,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Model => "model",
            Method::Rules => "rules",
            Method::Raw => "raw",
        }
    }
}

/// One archived original listed in a digest. In state it is one `sha256sum`-style line,
/// `"<sha256>  <path relative to the archive directory>"`, which keeps the state file small
/// (it is read and written on every run) and lets `sha256sum -c` check the archive from there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct SourceRecord {
    /// Original file name in `memory/`.
    pub name: String,
    /// Path relative to the archive directory (`2026/02/2026-02-13.md`).
    pub archive: String,
    pub sha256: String,
    /// Size (known when the digest was written; 0 when read back from state).
    pub bytes: u64,
}

impl From<SourceRecord> for String {
    fn from(s: SourceRecord) -> String {
        format!("{}  {}", s.sha256, s.archive)
    }
}

impl TryFrom<String> for SourceRecord {
    type Error = String;
    fn try_from(line: String) -> Result<Self, String> {
        let (sha, archive) = line
            .split_once("  ")
            .ok_or_else(|| format!("source {line:?} is not \"<sha256>  <archive path>\""))?;
        let file = archive.rsplit('/').next().unwrap_or(archive);
        let (name, _) = layout::parse_archive_name(file)
            .ok_or_else(|| format!("source {line:?}: {file:?} is not an archived note"))?;
        Ok(SourceRecord {
            name,
            archive: archive.to_string(),
            sha256: sha.to_string(),
            bytes: 0,
        })
    }
}

/// A digest written by the job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DigestRecord {
    /// Path relative to `memory/` (`digests/2026-02-15-digest-2026-W07.md`).
    pub path: String,
    pub method: Method,
    /// Every day of the period was old enough when it was written.
    pub complete: bool,
    pub written_at: DateTime<Utc>,
    pub chars: u64,
    pub sha256: String,
    /// Why a better method was not used, if it was wanted.
    #[serde(default)]
    pub fallback: Option<String>,
    /// Model tokens spent on it.
    #[serde(default)]
    pub tokens: u64,
    pub sources: Vec<SourceRecord>,
}

/// What the last run did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunStats {
    pub today: Option<NaiveDate>,
    /// The minimum age in days this run compacted at (after the dreaming floor).
    pub keep_days: u32,
    pub files_archived: u64,
    pub originals_removed: u64,
    pub digests_written: u64,
    /// Files moved from an earlier layout (archive copies, digests renamed).
    pub migrated: u64,
    pub by_method: BTreeMap<String, u64>,
    pub fallbacks: Vec<String>,
    pub failed: Vec<String>,
    pub skipped_names: Vec<String>,
    /// Old notes left in place because MEMORY.md refers to them.
    pub kept_for_references: Vec<String>,
    /// Notes put back from the archive because MEMORY.md refers to them.
    pub put_back: Vec<String>,
}

/// One file measured for the budget report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileSize {
    pub name: String,
    /// Characters as the gateway counts them (UTF-16 code units, trailing whitespace trimmed).
    pub chars: u64,
    pub bytes: u64,
    /// Its budget (0 for a retired file).
    #[serde(default)]
    pub limit: u64,
    /// Characters the gateway injects of it (after the per-file and total budgets).
    #[serde(default)]
    pub injected: u64,
    /// Over its per-file budget.
    pub over: bool,
    /// Present but no longer injected by the gateway (`TOOLS.md`, `HEARTBEAT.md`).
    #[serde(default)]
    pub retired: bool,
}

/// The budget report kept in state (`data.budget`, read by publish-report).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BudgetReport {
    pub measured_at: DateTime<Utc>,
    /// Where the limits came from (the gateway's config file and keys, or the fallbacks).
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub agent: String,
    pub per_file_limit: u64,
    pub total_limit: u64,
    /// `USER.md`'s cap: `min(per_file_limit, 4000)`.
    #[serde(default)]
    pub user_limit: u64,
    /// The agent's `contextInjection` (`always`, `continuation-skip`, `never`).
    #[serde(default)]
    pub context_injection: String,
    /// The files measured that exist, in prompt order, then retired ones.
    pub files: Vec<FileSize>,
    /// Characters of the injected files (before truncation).
    pub total_chars: u64,
    /// Characters the gateway injects after truncation.
    #[serde(default)]
    pub injected_chars: u64,
    /// Some file or the total is over its budget.
    pub over: bool,
    /// Human-readable problems, one per line (empty when within budget).
    pub problems: Vec<String>,
    /// Things to know that are not over budget (a retired file present, BOOTSTRAP.md present,
    /// nothing injected at all).
    #[serde(default)]
    pub notes: Vec<String>,
}

/// compact-memory's part of its state file.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Data {
    /// Digests by period key.
    pub digests: BTreeMap<String, DigestRecord>,
    /// Days restored by `restore` and left alone until `release`.
    pub held: BTreeSet<NaiveDate>,
    /// The memory budget report of the last run.
    pub budget: Option<BudgetReport>,
    /// Model token use and budgets.
    pub tokens: TokenLedger,
    pub last: Option<RunStats>,
    /// The archive directory the `sources` are relative to, as of the last run that finished
    /// moving the archive there (`None`: the legacy `<workspace>/memory/archive`).
    pub archive_dir: Option<PathBuf>,
    /// Archive directories used before `archive_dir` (as digests name them): a digest whose
    /// source table still points at one is rewritten, even when a killed run already finished
    /// moving the files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub former_archive_dirs: Vec<String>,
}

/// Migrate a whole state file from schema `from` to [`SCHEMA_VERSION`].
pub fn migrate(from: u32, mut state: Value) -> Result<Value> {
    if from < 2 {
        to_v2(&mut state);
    }
    Ok(state)
}

/// 1 → 2: archive paths lose their `archive/` prefix (now relative to the archive directory);
/// an in-flight model call becomes an effect record (the runtime reports it as interrupted).
fn to_v2(state: &mut Value) {
    let Some(data) = state.get_mut("data").and_then(Value::as_object_mut) else {
        return;
    };
    if let Some(digests) = data.get_mut("digests").and_then(Value::as_object_mut) {
        for rec in digests.values_mut() {
            let Some(sources) = rec.get_mut("sources").and_then(Value::as_array_mut) else {
                continue;
            };
            for s in sources.iter_mut() {
                if let Some(line) = s.as_str()
                    && let Some((sha, path)) = line.split_once("  ")
                    && let Some(rest) = path.strip_prefix("archive/")
                {
                    *s = Value::from(format!("{sha}  {rest}"));
                }
            }
        }
    }
    let Some(flight) = data.remove("model_call_in_flight") else {
        return;
    };
    let (Some(period), Some(at)) = (
        flight.get("period").and_then(Value::as_str),
        flight.get("started_at").cloned(),
    ) else {
        return;
    };
    let record = json!({
        "what": format!("summarize {period} with the model"),
        "status": "started",
        "idempotent": true,
        "attempts": 1,
        "first_at": at,
        "started_at": at,
        "run_id": "",
    });
    let key = format!("model/{period}/interrupted");
    if let Some(effects) = state
        .as_object_mut()
        .map(|o| o.entry("effects").or_insert_with(|| json!({})))
        .and_then(Value::as_object_mut)
    {
        effects.entry(key).or_insert(record);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::effect::{EffectRecord, EffectStatus};

    fn v1() -> Value {
        json!({
            "schema_version": 1,
            "job": "compact-memory",
            "data": {
                "digests": {"2026-W02": {
                    "path": "digests/2026-W02.md", "method": "rules", "complete": true,
                    "written_at": "2026-02-01T00:00:00Z", "chars": 10, "sha256": "ab",
                    "sources": ["aa  archive/2026/01/2026-01-05.md", "bb  archive/2026/01/2026-01-06-x.md.v2"]
                }},
                "held": ["2026-01-08"],
                "budget": {"measured_at": "2026-02-01T00:00:00Z", "per_file_limit": 20000,
                    "total_limit": 60000, "files": [{"name": "MEMORY.md", "chars": 5, "bytes": 5, "over": false}],
                    "total_chars": 5, "over": false, "problems": []},
                "model_call_in_flight": {"period": "2026-W03", "started_at": "2026-02-01T03:00:00Z"}
            }
        })
    }

    #[test]
    fn v1_state_migrates_and_loads() {
        let v = migrate(1, v1()).unwrap();
        let data: Data = serde_json::from_value(v["data"].clone()).unwrap();
        let rec = &data.digests["2026-W02"];
        assert_eq!(rec.sources[0].archive, "2026/01/2026-01-05.md");
        assert_eq!(rec.sources[1].archive, "2026/01/2026-01-06-x.md.v2");
        assert_eq!(rec.sources[1].name, "2026-01-06-x.md");
        assert_eq!(data.held.len(), 1);
        assert_eq!(data.budget.as_ref().unwrap().source, "");
        assert!(v["data"].get("model_call_in_flight").is_none());
        let e: EffectRecord =
            serde_json::from_value(v["effects"]["model/2026-W03/interrupted"].clone()).unwrap();
        assert_eq!(e.status, EffectStatus::Started);
        assert!(e.idempotent);
        assert_eq!(e.what, "summarize 2026-W03 with the model");
    }

    #[test]
    fn migration_is_a_no_op_on_current_state() {
        let v = migrate(1, v1()).unwrap();
        assert_eq!(migrate(2, v.clone()).unwrap(), v);
        assert_eq!(migrate(1, v.clone()).unwrap(), v, "idempotent");
    }
}

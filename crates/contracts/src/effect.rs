//! The effect journal's records: one per side effect that leaves the machine (an alert, a
//! message, a command, a report delivery, a restore), kept by the runtime in the job's state
//! under `effects`, keyed by a stable effect key (`alert/<key>`, `incident/<id>/on_open[0]`).
//!
//! The states, and how a record moves between them (the runtime's `effect` module does it):
//!
//! ```text
//! (none) ──plan──▶ started ──act ok──▶ done
//!                     │      ──act failed, provably not done──▶ failed   (may be retried)
//!                     │      ──act failed, may have happened──▶ unknown
//!                     └──process died (found at the next load)──▶ unknown
//! unknown ──verify: it happened──▶ done  ·  ──verify: it did not──▶ (run again)
//! unknown ──idempotent effect──▶ (run again: at least once)
//! unknown ──otherwise──▶ stays unknown: never repeated blindly (at most once)
//! ```

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where an effect stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EffectStatus {
    /// The intent is recorded and the act is under way (or the process died during it).
    Started,
    /// It happened.
    Done,
    /// It provably did not happen (refused, connection refused before sending, non-zero exit
    /// of a command that never ran…); the job decides whether to try again.
    Failed,
    /// It may or may not have happened; repeated only if idempotent or verified not done.
    Unknown,
    /// Deliberately not done (maintenance window, dry run, suppressed duplicate).
    Skipped,
}

impl EffectStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EffectStatus::Started => "started",
            EffectStatus::Done => "done",
            EffectStatus::Failed => "failed",
            EffectStatus::Unknown => "unknown",
            EffectStatus::Skipped => "skipped",
        }
    }
    /// Finished one way or the other (not `started`).
    pub fn is_settled(self) -> bool {
        self != EffectStatus::Started
    }
}

/// One effect in the journal.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EffectRecord {
    /// What it does, for people (`run \`systemctl stop workers\``, `alert "circuit open"`).
    pub what: String,
    pub status: EffectStatus,
    /// Repeating it is harmless: an `unknown` outcome is re-run (at least once).
    #[serde(default)]
    pub idempotent: bool,
    /// Times the act was started.
    #[serde(default)]
    pub attempts: u32,
    /// Times it was done (for repeatable effects such as an alert key).
    #[serde(default)]
    pub done: u32,
    /// Times it was asked for and not done (deduplicated, suppressed, blocked).
    #[serde(default)]
    pub skipped: u32,
    pub first_at: DateTime<Utc>,
    #[serde(default)]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub finished_at: Option<DateTime<Utc>>,
    /// The last result in words (an error, `HTTP 200`, `exit 0`).
    #[serde(default)]
    pub result: Option<String>,
    /// What the act returned that later steps need (a message id, a report id).
    #[serde(default)]
    pub value: Option<serde_json::Value>,
    /// The run that last touched it.
    #[serde(default)]
    pub run_id: String,
}

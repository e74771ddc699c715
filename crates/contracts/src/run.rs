//! The record of a job's runs, kept by the runtime in every `state/<job>.json`: the last run,
//! a bounded history, a bounded error ring and counters per outcome.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Runs kept in `history` (for the report's charts).
pub const HISTORY_LEN: usize = 50;
/// Errors kept in `errors`.
pub const ERRORS_LEN: usize = 20;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutcomeKind {
    /// Did its work.
    Ok,
    /// Nothing to do.
    Noop,
    /// Did its work with a fallback or partially (exit 0, a warning says why).
    Degraded,
    /// Failed.
    Failed,
    /// Did not run: suite paused, circuit open.
    Skipped,
}

impl OutcomeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Ok => "ok",
            OutcomeKind::Noop => "noop",
            OutcomeKind::Degraded => "degraded",
            OutcomeKind::Failed => "failed",
            OutcomeKind::Skipped => "skipped",
        }
    }
}

/// The record of one run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub duration_ms: u64,
    pub outcome: OutcomeKind,
    pub exit_code: i32,
    pub error: Option<String>,
    #[serde(default)]
    pub summary: Option<String>,
    pub pid: u32,
    pub host: String,
    pub version: String,
    #[serde(default)]
    pub run_id: String,
}

/// One line of the bounded run history.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub started_at: DateTime<Utc>,
    pub duration_ms: u64,
    pub outcome: OutcomeKind,
    #[serde(default)]
    pub exit_code: i32,
}

/// One entry of the bounded error ring.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorEntry {
    pub at: DateTime<Utc>,
    pub message: String,
    #[serde(default)]
    pub run_id: String,
}

/// Run counters since the state file was created.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Counters {
    pub total: u64,
    pub ok: u64,
    pub noop: u64,
    pub degraded: u64,
    pub failed: u64,
    pub skipped: u64,
}

impl Counters {
    pub fn count(&mut self, kind: OutcomeKind) {
        self.total += 1;
        match kind {
            OutcomeKind::Ok => self.ok += 1,
            OutcomeKind::Noop => self.noop += 1,
            OutcomeKind::Degraded => self.degraded += 1,
            OutcomeKind::Failed => self.failed += 1,
            OutcomeKind::Skipped => self.skipped += 1,
        }
    }
}

//! compact-memory's facts: the bootstrap budget report and what it compacted.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemoryFacts {
    pub budget: Option<BudgetFacts>,
    /// Digests written so far.
    pub digests: u64,
    /// Daily notes archived so far.
    pub archived: u64,
    /// The newest day folded into a digest.
    pub last_compacted_day: Option<NaiveDate>,
}

/// The bootstrap files measured against the gateway's budgets.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BudgetFacts {
    pub measured_at: Option<DateTime<Utc>>,
    /// Where the limits came from (`gateway config ~/.openclaw/openclaw.json (agent main)`,
    /// `config.json compact-memory.per_file_chars`).
    pub source: String,
    pub per_file_limit: u64,
    pub total_limit: u64,
    pub files: Vec<FileBudget>,
    pub total_chars: u64,
    /// Some file or the total is over its budget.
    pub over: bool,
    /// One line per problem (empty within budget).
    pub problems: Vec<String>,
}

/// One measured file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FileBudget {
    pub name: String,
    pub chars: u64,
    pub limit: u64,
    pub over: bool,
    /// Present but no longer injected by the gateway (`TOOLS.md`, `HEARTBEAT.md`).
    pub retired: bool,
}

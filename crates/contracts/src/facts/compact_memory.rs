//! compact-memory's facts: the bootstrap budget report (with where its limits came from) and
//! what it compacted.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemoryFacts {
    pub budget: Option<BudgetFacts>,
    /// Digests written so far.
    pub digests: u64,
    /// Daily notes archived so far (archived copies listed by the digests).
    pub archived: u64,
    /// The newest day folded into a digest.
    pub last_compacted_day: Option<NaiveDate>,
    /// The minimum age in days the last run compacted at (raised to one past the gateway's
    /// dreaming window while dreaming is on).
    pub keep_days: Option<u32>,
    /// Where the archived originals are (outside the gateway's memory index).
    pub archive_dir: Option<String>,
}

/// The bootstrap files measured against the gateway's budgets.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BudgetFacts {
    pub measured_at: Option<DateTime<Utc>>,
    /// Where the limits came from: `gateway config /home/a/.openclaw/openclaw.json (agent
    /// main): bootstrapMaxChars 20000 from agents.defaults.bootstrapMaxChars, …`, or
    /// `no gateway config at …: … from compact-memory.per_file_chars in …`.
    pub source: String,
    pub per_file_limit: u64,
    pub total_limit: u64,
    pub files: Vec<FileBudget>,
    pub total_chars: u64,
    /// Some file or the total is over its budget.
    pub over: bool,
    /// One line per problem (empty within budget).
    pub problems: Vec<String>,
    /// Things to know that are not over budget: a retired file still present, BOOTSTRAP.md
    /// present, `contextInjection: never`.
    pub notes: Vec<String>,
}

/// One measured file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FileBudget {
    pub name: String,
    pub chars: u64,
    /// Its budget (`USER.md`: at most 4000; 0 for a retired file).
    pub limit: u64,
    pub over: bool,
    /// Present but no longer injected by the gateway (`TOOLS.md`, `HEARTBEAT.md`).
    pub retired: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_older_records_read() {
        let f = MemoryFacts {
            budget: Some(BudgetFacts {
                source: "gateway config /x/openclaw.json (agent main)".into(),
                per_file_limit: 20000,
                total_limit: 60000,
                files: vec![FileBudget {
                    name: "TOOLS.md".into(),
                    chars: 10,
                    limit: 0,
                    over: false,
                    retired: true,
                }],
                notes: vec!["TOOLS.md is present but retired".into()],
                ..Default::default()
            }),
            digests: 2,
            archived: 9,
            keep_days: Some(15),
            archive_dir: Some("/ws/memory-archive".into()),
            ..Default::default()
        };
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(serde_json::from_value::<MemoryFacts>(v).unwrap(), f);
        let old: MemoryFacts =
            serde_json::from_str(r#"{"budget":{"source":"s"},"digests":1}"#).unwrap();
        assert_eq!(old.keep_days, None);
        assert_eq!(old.budget.unwrap().notes, Vec::<String>::new());
    }
}

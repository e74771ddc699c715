//! The public part of `state/<job>.json`: what any reader may rely on. The runtime writes the
//! whole file (this part, the effect journal and the job's private `data`); readers
//! deserialize only this part, with the job's facts typed as `F` (see [`crate::facts`]).

use crate::run::{Counters, ErrorEntry, HistoryEntry, RunRecord};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// The key under which the runtime stores a job's public facts.
pub const FACTS_KEY: &str = "facts";

/// A state file as another job reads it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PublicState<F> {
    pub schema_version: u32,
    pub job: String,
    pub last_run: Option<RunRecord>,
    pub last_success: Option<DateTime<Utc>>,
    #[serde(default)]
    pub consecutive_failures: u32,
    #[serde(default)]
    pub runs: Counters,
    #[serde(default)]
    pub history: VecDeque<HistoryEntry>,
    #[serde(default)]
    pub errors: VecDeque<ErrorEntry>,
    /// Counters (added to by each run) and gauges (last value).
    #[serde(default)]
    pub metrics: BTreeMap<String, serde_json::Value>,
    /// The job's facts as of its last run (`None` before its first run with this version).
    #[serde(default = "none")]
    pub facts: Option<F>,
}

fn none<F>() -> Option<F> {
    None
}

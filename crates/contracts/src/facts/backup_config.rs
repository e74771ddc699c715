//! backup-config's facts: each watched config (set), its snapshots and problems, the gateway's
//! own rollbacks it noticed, and the gateway databases it backs up.

use crate::facts::Event;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BackupFacts {
    pub files: Vec<ConfigFacts>,
    /// Invalid or suspicious versions seen, newest last (bounded).
    pub invalid_events: Vec<Event>,
    /// Rollbacks the gateway did by itself, newest last (bounded).
    pub rollbacks: Vec<Event>,
    /// Snapshots of the gateway's databases.
    pub databases: Vec<DatabaseFacts>,
}

/// One watched config file (with its `$include`d files).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConfigFacts {
    pub name: String,
    pub path: String,
    /// `good`, `suspicious`, `invalid`, `missing`, `error` or `unknown`.
    pub status: String,
    pub problem: Option<String>,
    pub snapshots: u64,
    pub latest_snapshot_at: Option<DateTime<Utc>>,
    pub last_good_at: Option<DateTime<Utc>>,
    /// Which validator said what (`built-in: ok`, `openclaw: Unrecognized key "x"`).
    pub verdicts: Vec<String>,
}

/// One gateway database and its latest snapshot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DatabaseFacts {
    pub path: String,
    pub snapshots: u64,
    pub latest_snapshot_at: Option<DateTime<Utc>>,
    pub problem: Option<String>,
}

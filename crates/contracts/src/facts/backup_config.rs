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
    /// The gateway's cron jobs as last listed (`None`: never listed).
    pub cron: Option<CronFacts>,
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
    /// Files the config `$include`s (paths relative to its directory).
    pub includes: Vec<String>,
    /// When the gateway last rolled it back by itself.
    pub last_rollback_at: Option<DateTime<Utc>>,
}

/// One gateway database and its latest snapshot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DatabaseFacts {
    pub path: String,
    pub snapshots: u64,
    pub latest_snapshot_at: Option<DateTime<Utc>>,
    pub problem: Option<String>,
    /// `global` or `agent:<id>`.
    pub source: String,
}

/// The gateway's cron jobs (`openclaw cron list --all`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CronFacts {
    pub jobs: u64,
    pub listed_at: Option<DateTime<Utc>>,
    /// Why the last run could not list them (the gateway not reachable), if it could not.
    pub skipped: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_old_files_read() {
        let f = BackupFacts {
            files: vec![ConfigFacts {
                name: "openclaw.json".into(),
                status: "good".into(),
                includes: vec!["agents.json5".into()],
                ..Default::default()
            }],
            cron: Some(CronFacts {
                jobs: 3,
                ..Default::default()
            }),
            ..Default::default()
        };
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(serde_json::from_value::<BackupFacts>(v).unwrap(), f);
        let old: BackupFacts =
            serde_json::from_str(r#"{"files":[{"name":"a","status":"good"}]}"#).unwrap();
        assert!(old.cron.is_none() && old.files[0].includes.is_empty());
    }
}

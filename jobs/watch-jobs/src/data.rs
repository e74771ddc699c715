//! watch-jobs' state (`data` in `state/watch-jobs.json`): what the last check saw of each job,
//! the open outages with what was alerted, and the recent outages that ended. The alerts
//! themselves are effects in the journal (`alert/job-overdue/<job>/<since>…`).

use chrono::{DateTime, Utc};
use contracts::facts::watch_jobs::{JobWatch, OutageFacts, WatchFacts};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// Version of `state/watch-jobs.json`.
pub const SCHEMA_VERSION: u32 = 1;
/// Ended outages kept.
pub const ENDED_KEEP: usize = 50;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Data {
    /// Per job, what the last check saw.
    pub jobs: BTreeMap<String, Watched>,
    /// Outages that ended, newest last (at most [`ENDED_KEEP`]).
    pub ended: VecDeque<OutageFacts>,
    pub checked_at: Option<DateTime<Utc>>,
    /// Where the crontab was read from.
    pub crontab: Option<String>,
    pub suite_paused: bool,
    pub maintenance: bool,
}

/// One job as the last check saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Watched {
    pub row: JobWatch,
    /// When this watcher saw the job's line become active (installed, or resumed after a
    /// pause): a due time before it was not missed. `None`: active since before watching.
    #[serde(default)]
    pub active_since: Option<DateTime<Utc>>,
    /// The open outage, if the job missed a run and has not run since.
    #[serde(default)]
    pub outage: Option<Outage>,
}

/// An open outage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outage {
    /// The first due time the job missed.
    pub since: DateTime<Utc>,
    /// When it was first seen.
    pub detected_at: DateTime<Utc>,
    /// The highest level delivered (or possibly delivered) so far.
    #[serde(default)]
    pub alerted: Option<Level>,
}

/// How loud an outage alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Warning,
    Critical,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Warning => "warning",
            Level::Critical => "critical",
        }
    }
    pub fn severity(self) -> common::Severity {
        match self {
            Level::Warning => common::Severity::Warning,
            Level::Critical => common::Severity::Critical,
        }
    }
}

impl Outage {
    pub fn facts(&self, job: &str) -> OutageFacts {
        OutageFacts {
            job: job.to_string(),
            since: self.since,
            detected_at: self.detected_at,
            alerted: self.alerted.map(|l| l.as_str().to_string()),
            ended_at: None,
            ran_again_at: None,
            ended_by: None,
        }
    }
}

impl Data {
    /// Record ended outages, keeping the newest [`ENDED_KEEP`].
    pub fn push_ended(&mut self, ended: impl IntoIterator<Item = OutageFacts>) {
        self.ended.extend(ended);
        while self.ended.len() > ENDED_KEEP {
            self.ended.pop_front();
        }
    }
}

/// The public facts, in the given job order (the registry's).
pub fn facts(data: &Data, order: &[&str]) -> WatchFacts {
    let rows = order.iter().filter_map(|j| data.jobs.get(*j));
    let mut open: Vec<OutageFacts> = order
        .iter()
        .filter_map(|j| {
            data.jobs
                .get(*j)
                .and_then(|w| w.outage.as_ref())
                .map(|o| o.facts(j))
        })
        .collect();
    open.sort_by_key(|o| o.since);
    WatchFacts {
        checked_at: data.checked_at,
        crontab: data.crontab.clone(),
        suite_paused: data.suite_paused,
        maintenance: data.maintenance,
        jobs: rows.map(|w| w.row.clone()).collect(),
        open,
        ended: data.ended.iter().cloned().collect(),
    }
}

//! watch-jobs' facts: every job's standing against its crontab schedule as of the last check,
//! the outages still open (a job that missed a run and has not run since), and the recent
//! ones that ended.
//!
//! An outage starts at the first due time the job missed (`since`) and ends when the job runs
//! again (`ended_at`, `ran_again_at`), or when its line is paused or removed.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WatchFacts {
    /// When the jobs were last checked.
    pub checked_at: Option<DateTime<Utc>>,
    /// The crontab that was read (`crontab -l` or a file path).
    pub crontab: Option<String>,
    /// The suite is paused (`state/control.json`): nothing is alerted.
    pub suite_paused: bool,
    /// Planned maintenance holds (`state/maintenance.json`): outages are recorded, not alerted.
    pub maintenance: bool,
    /// Every job watched (the registry, without watch-jobs itself), in registry order.
    pub jobs: Vec<JobWatch>,
    /// Outages still open, oldest first.
    pub open: Vec<OutageFacts>,
    /// Outages that ended, newest last (bounded).
    pub ended: Vec<OutageFacts>,
}

/// One job as last checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobWatch {
    pub job: String,
    pub status: WatchStatus,
    /// One sentence an operator can act on (the same words as publish-report's job table).
    pub detail: String,
    /// Schedules of its active crontab lines.
    #[serde(default)]
    pub schedules: Vec<String>,
    /// How late a run may be before it counts as missed.
    pub grace_secs: u64,
    /// The latest run start that can be trusted.
    #[serde(default)]
    pub last_seen: Option<DateTime<Utc>>,
    /// The latest due time that is past its grace.
    #[serde(default)]
    pub last_due: Option<DateTime<Utc>>,
    #[serde(default)]
    pub next_due: Option<DateTime<Utc>>,
}

/// A job's standing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WatchStatus {
    /// Ran since its last due time (or its grace has not passed yet).
    Ok,
    /// Missed a due time by more than the grace and has not run since.
    Overdue,
    /// Never ran although a due time passed its grace.
    NeverRun,
    /// Never ran and not due yet (a line just installed).
    Waiting,
    /// Its crontab line is commented out.
    Paused,
    /// The whole suite is paused (`state/control.json`).
    SuitePaused,
    /// Not in the crontab: not checked.
    Unscheduled,
    /// Its state file cannot be read: when it last ran is unknown.
    Unreadable,
}

impl WatchStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            WatchStatus::Ok => "ok",
            WatchStatus::Overdue => "overdue",
            WatchStatus::NeverRun => "never run",
            WatchStatus::Waiting => "waiting for its first run",
            WatchStatus::Paused => "paused",
            WatchStatus::SuitePaused => "suite paused",
            WatchStatus::Unscheduled => "not scheduled",
            WatchStatus::Unreadable => "state unreadable",
        }
    }

    /// Missed a run (an outage is open).
    pub fn is_missed(self) -> bool {
        matches!(self, WatchStatus::Overdue | WatchStatus::NeverRun)
    }
}

/// One outage of one job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutageFacts {
    pub job: String,
    /// The first due time the job missed.
    pub since: DateTime<Utc>,
    /// When watch-jobs first saw it.
    pub detected_at: DateTime<Utc>,
    /// The highest severity alerted so far (`warning`, `critical`); `None`: not alerted
    /// (maintenance, suite paused, or a delivery that failed and is retried).
    #[serde(default)]
    pub alerted: Option<String>,
    /// When it ended.
    #[serde(default)]
    pub ended_at: Option<DateTime<Utc>>,
    /// The run that ended it.
    #[serde(default)]
    pub ran_again_at: Option<DateTime<Utc>>,
    /// How it ended, when not by a run: `paused`, `unscheduled`.
    #[serde(default)]
    pub ended_by: Option<String>,
}

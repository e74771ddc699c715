//! What a report says: the facts read from the other jobs and the verdicts decided from them,
//! as one typed value. It is the JSON report (`reports/<period>.json`, stable field names) and
//! the single input of every renderer.

use crate::text::Text;
use chrono::{DateTime, NaiveDate, Utc};
use contracts::facts::Event;
use contracts::facts::backup_config::{ConfigFacts, DatabaseFacts};
use contracts::facts::check_ratelimit::{HourCount, IncidentSummary};
use contracts::facts::compact_memory::BudgetFacts;
use contracts::facts::poll_teams::InboxFacts;
use contracts::run::{Counters, OutcomeKind};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// Health of one job, worst first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Its state file cannot be read.
    Corrupt,
    /// It should have run and did not.
    Overdue,
    /// Its last run failed.
    Failing,
    /// Scheduled but no run recorded yet.
    NeverRun,
    /// Its last run worked with a fallback.
    Degraded,
    /// Its crontab line is commented out.
    Paused,
    /// Not in the crontab at all.
    Unscheduled,
    Ok,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Corrupt => "state unreadable",
            JobStatus::Overdue => "overdue",
            JobStatus::Failing => "failing",
            JobStatus::NeverRun => "never run",
            JobStatus::Degraded => "degraded",
            JobStatus::Paused => "paused",
            JobStatus::Unscheduled => "not scheduled",
            JobStatus::Ok => "ok",
        }
    }
    /// Needs an operator.
    pub fn is_problem(self) -> bool {
        matches!(
            self,
            JobStatus::Corrupt | JobStatus::Overdue | JobStatus::Failing | JobStatus::NeverRun
        )
    }
}

/// The last recorded run of a job.
#[derive(Debug, Clone, Serialize)]
pub struct LastRun {
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub outcome: OutcomeKind,
    pub exit_code: i32,
    pub duration_ms: u64,
    pub summary: Option<String>,
    pub error: Option<String>,
}

/// One point of the run history chart.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryPoint {
    pub started_at: DateTime<Utc>,
    pub duration_ms: u64,
    pub outcome: OutcomeKind,
}

/// Everything the report says about one job.
#[derive(Debug, Clone, Serialize)]
pub struct JobReport {
    pub name: String,
    pub status: JobStatus,
    /// One sentence an operator can act on.
    pub detail: Text,
    pub schedules: Vec<String>,
    pub paused_schedules: Vec<String>,
    pub last_due: Option<DateTime<Utc>>,
    pub next_due: Option<DateTime<Utc>>,
    pub last_run: Option<LastRun>,
    pub last_success: Option<DateTime<Utc>>,
    /// The latest start the dead-man check trusts (the last run, or when its time is ahead
    /// of the clock, the run history and the log file's modification time).
    pub last_seen: Option<DateTime<Utc>>,
    pub consecutive_failures: u32,
    pub runs_in_period: Counters,
    pub log_warnings: u64,
    pub log_errors: u64,
    pub last_log_error: Option<String>,
    pub errors_in_period: Vec<Event>,
    pub history: Vec<HistoryPoint>,
    pub metrics: BTreeMap<String, Value>,
}

/// The rate-limit circuit now (`state/circuit.json`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct CircuitView {
    pub open: bool,
    pub kind: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub reason: Option<String>,
    pub reset_at: Option<DateTime<Utc>>,
    pub incident_id: Option<String>,
    /// Provider refusals counted in the open incident.
    pub refusals: u64,
}

/// check-ratelimit's view of the period, beyond the circuit and incidents.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RatelimitView {
    /// Model calls in the period (from the gateway's records).
    pub calls: u64,
    pub tokens: Option<u64>,
    /// Calls per hour in the period, oldest first.
    pub hours: Vec<HourCount>,
    /// Idle-burn episodes in the period.
    pub idle_burn: Vec<Event>,
}

/// The suite-wide pause switch (`state/control.json`).
#[derive(Debug, Clone, Serialize)]
pub struct PauseView {
    pub reason: Option<String>,
    pub by: Option<String>,
    pub at: Option<DateTime<Utc>>,
}

/// Planned maintenance in force (`state/maintenance.json`).
#[derive(Debug, Clone, Serialize)]
pub struct MaintenanceView {
    pub reason: Option<String>,
    pub until: Option<DateTime<Utc>>,
    pub by: Option<String>,
}

/// backup-config's part of the report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BackupView {
    /// Snapshots over every watched file.
    pub snapshots: u64,
    pub latest_snapshot: Option<DateTime<Utc>>,
    /// Each watched config with its verdicts by validator.
    pub files: Vec<ConfigFacts>,
    /// The gateway's own rollbacks in the period.
    pub rollbacks: Vec<Event>,
    /// The gateway's databases and their snapshots.
    pub databases: Vec<DatabaseFacts>,
    /// Invalid or suspicious versions seen in the period.
    pub invalid_events: Vec<Event>,
}

/// compact-memory's part of the report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MemoryView {
    pub over_budget: bool,
    pub budget: Option<BudgetFacts>,
    pub digests: u64,
    pub archived: u64,
    pub last_compacted_day: Option<NaiveDate>,
}

/// The gateway: watch-gateway's verdicts and the gateway's own log file.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GatewayView {
    pub health: Option<GatewayHealth>,
    pub log: Option<GatewayLog>,
}

/// watch-gateway's verdicts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GatewayHealth {
    /// `healthy`, `degraded`, `down`, `flapping`, `maintenance` or `unknown`.
    pub health: String,
    pub since: Option<DateTime<Utc>>,
    pub last_probe_at: Option<DateTime<Utc>>,
    pub restarts_last_hour: u32,
    /// Why recovery waits for a human (the restart budget tripped).
    pub halted: Option<String>,
    /// Incidents overlapping the period, oldest first.
    pub incidents: Vec<GatewayIncidentView>,
}

/// One gateway outage.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GatewayIncidentView {
    pub id: String,
    pub started_at: Option<DateTime<Utc>>,
    pub recovered_at: Option<DateTime<Utc>>,
    /// Seconds from the first failed probe to recovery.
    pub recover_secs: Option<i64>,
    pub steps: Vec<String>,
    pub diagnosis: Option<String>,
}

/// What the gateway's own log file says about the period.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GatewayLog {
    /// Where the files were looked for (`logging.file in …`).
    pub source: String,
    pub files: Vec<String>,
    /// Records in the period, and of them warnings and errors.
    pub records: u64,
    pub warnings: u64,
    pub errors: u64,
    /// The newest record's time (any period).
    pub last_record_at: Option<DateTime<Utc>>,
    /// The last error record's text in the period.
    pub last_error: Option<String>,
}

/// A time found ahead of this machine's clock.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClockFinding {
    /// The file it was read from (`state/poll-teams.json`).
    pub source: String,
    /// What it is (`last_run.started_at`, `3 log lines`).
    pub what: String,
    pub value: DateTime<Utc>,
    pub ahead_secs: i64,
}

/// The report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub report_id: String,
    pub period: String,
    pub period_kind: String,
    pub from: DateTime<Utc>,
    pub as_of: DateTime<Utc>,
    pub generated_at: DateTime<Utc>,
    pub timezone: String,
    pub host: String,
    /// `healthy` or `attention`.
    pub overall: String,
    pub headline: String,
    pub suite_paused: Option<PauseView>,
    pub maintenance: Option<MaintenanceView>,
    pub circuit: CircuitView,
    /// Rate-limit incidents overlapping the period, oldest first.
    pub incidents: Vec<IncidentSummary>,
    /// Present when check-ratelimit published its facts.
    pub ratelimit: Option<RatelimitView>,
    pub jobs: Vec<JobReport>,
    pub backups: Option<BackupView>,
    pub memory: Option<MemoryView>,
    pub inbox: Option<InboxFacts>,
    pub gateway: Option<GatewayView>,
    /// Times ahead of the clock: the clock or a writer is wrong.
    pub clock_skew: Vec<ClockFinding>,
    /// Config problems: invalid agent configs, the gateway's rollbacks, crontab lines that do
    /// not parse.
    pub config_problems: Vec<Text>,
    /// Inputs the report could not read (it goes on without them).
    pub input_problems: Vec<String>,
    pub log_warnings: u64,
    pub log_errors: u64,
    pub analysis: Option<String>,
    /// Who wrote the analysis: `model` or `rules`.
    pub analysis_source: Option<String>,
}

impl Report {
    /// Jobs that need an operator.
    pub fn jobs_needing_attention(&self) -> usize {
        self.jobs.iter().filter(|j| j.status.is_problem()).count()
    }
}

//! The crontab as agent-jobs reads it, and the dead-man check on one job: shared by
//! publish-report (the daily report's job table) and watch-jobs (every few minutes, alerting).
//!
//! | what | module |
//! |---|---|
//! | job lines, active or paused (commented out), `CRON_TZ`; last and next due times with Vixie cron's DST rules | [`crontab`] |
//! | where the crontab is read from (`crontab -l` or a file) | [`source`] |
//! | one job against its schedule, its state and a grace: paused / not scheduled / never run / overdue / on schedule, clock skew, the words | [`verdict`] |
//!
//! Pure functions except [`source::read_crontab`]; no job and no config section here (callers
//! pass the zone, the grace and the clock).

pub mod crontab;
/// The Kubernetes client the CronJob source uses (its config type is part of this API).
pub use kubernetes;
pub mod source;
pub mod verdict;

pub use crontab::{
    Crontab, JobLine, JobSchedule, last_due, next_due, parse_crontab, parse_schedule,
};
pub use source::{CrontabSource, read_crontab};
pub use verdict::{
    Check, Evaluation, Evidence, Runs, Seen, Verdict, evaluate, judge, last_seen, skew_note, when,
};

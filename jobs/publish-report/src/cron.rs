//! The crontab as the report sees it: job lines active or paused (commented out), `CRON_TZ`,
//! and last/next due times. The parsing and the dead-man check live in the shared `schedule`
//! crate (watch-jobs runs the same check every few minutes); this module names them for the
//! report.

pub use schedule::crontab::{
    Crontab, JobLine, JobSchedule, last_due, next_due, parse_crontab, parse_schedule,
};

//! publish-report: the operations report and status page.
pub mod cron;
pub mod logscan;

//! Each job's public facts: what it tells the other jobs, the report and `status --json`.
//!
//! A job declares its facts type (`Job::Facts`) and builds it from its private data at the end
//! of every run; the runtime stores it under `facts` in `state/<job>.json`. Readers use
//! [`crate::state::PublicState`] with the job's type. One module per job; a job with nothing
//! to publish uses [`NoFacts`].

pub mod backup_config;
pub mod check_ratelimit;
pub mod compact_memory;
pub mod poll_teams;
pub mod publish_report;
pub mod watch_gateway;
pub mod watch_jobs;

use serde::{Deserialize, Serialize};

/// For a job that publishes nothing beyond its run record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoFacts {}

/// A timestamped message (an invalid config seen, a rollback, a stale cooldown…).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub at: chrono::DateTime<chrono::Utc>,
    pub message: String,
}

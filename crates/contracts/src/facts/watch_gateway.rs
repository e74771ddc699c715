//! watch-gateway's facts: the gateway's health, its uptime, incidents, restarts and how long
//! recovery took.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GatewayFacts {
    /// `healthy`, `degraded`, `down`, `flapping`, `maintenance` or `unknown`.
    pub health: String,
    /// Since when `health` holds.
    pub since: Option<DateTime<Utc>>,
    pub last_probe_at: Option<DateTime<Utc>>,
    /// What the last probe said, in words (`/readyz` failing checks, the probe error).
    pub detail: Option<String>,
    /// The gateway process's uptime at the last probe (from `/readyz`), seconds.
    pub gateway_uptime_secs: Option<u64>,
    /// The gateway's pid (from its lock file), when known.
    pub gateway_pid: Option<u32>,
    /// Restarts in the last hour (the budget counts these).
    pub restarts_last_hour: u32,
    /// Restarts watch-gateway made since its state file was created.
    pub restarts_total: u64,
    /// The restart budget: at most this many automatic restarts per hour.
    pub max_restarts_per_hour: u32,
    /// Set when the restart budget tripped: recovery waits for a human (`watch-gateway resume`).
    pub halted: Option<String>,
    /// Planned maintenance in force at the last probe: until when.
    pub maintenance_until: Option<DateTime<Utc>>,
    /// Share of observed time the gateway answered, per UTC day, newest last (bounded).
    pub uptime: Vec<UptimeDay>,
    /// Mean time from the first failed probe to recovery over the incidents kept.
    pub mean_time_to_recover_secs: Option<u64>,
    /// The open incident, then closed ones, newest last (bounded).
    pub incidents: Vec<GatewayIncident>,
}

/// From the first failed probe to recovery.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GatewayIncident {
    pub id: String,
    pub started_at: Option<DateTime<Utc>>,
    pub recovered_at: Option<DateTime<Utc>>,
    /// `recovered_at - started_at`, seconds (`None` while open).
    pub time_to_recover_secs: Option<u64>,
    /// What failed: `down` (no HTTP answer), `not ready`, `draining`.
    pub cause: String,
    /// The ladder steps taken, in order (`restart`, `config`, `diagnose`, `retry`), each with
    /// its outcome (`restart: done`).
    pub steps: Vec<String>,
    /// Restarts made in this incident.
    pub restarts: u32,
    pub diagnosis: Option<String>,
    /// Where the diagnosis came from: `model`, `rules` or `bundle`.
    pub diagnosis_source: Option<String>,
}

/// Observed time in one UTC day.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UptimeDay {
    pub day: Option<NaiveDate>,
    /// Seconds the gateway answered (healthy, degraded or flapping).
    pub up_secs: u64,
    /// Seconds it did not answer, outside planned maintenance.
    pub down_secs: u64,
    /// Seconds inside planned maintenance (not counted against it).
    pub maintenance_secs: u64,
}

impl UptimeDay {
    /// `up / (up + down)` in percent, `None` when nothing was observed.
    pub fn percent(&self) -> Option<f64> {
        let total = self.up_secs + self.down_secs;
        (total > 0).then(|| self.up_secs as f64 * 100.0 / total as f64)
    }
}

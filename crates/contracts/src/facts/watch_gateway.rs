//! watch-gateway's facts: the gateway's health, its incidents and restarts.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GatewayFacts {
    /// `healthy`, `degraded`, `down`, `flapping`, `maintenance` or `unknown`.
    pub health: String,
    pub since: Option<DateTime<Utc>>,
    pub last_probe_at: Option<DateTime<Utc>>,
    /// Restarts in the last hour (the budget counts these).
    pub restarts_last_hour: u32,
    /// Set when the restart budget tripped: recovery waits for a human.
    pub halted: Option<String>,
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
    /// The ladder steps taken, in order (`restart`, `config-restore`, `diagnose`).
    pub steps: Vec<String>,
    pub diagnosis: Option<String>,
}

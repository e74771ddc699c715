//! check-ratelimit's facts: the circuit, its incidents, and what the provider refused.

use crate::control::Circuit;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RatelimitFacts {
    /// The circuit as of the last run (also in `state/circuit.json`).
    pub circuit: Circuit,
    /// The open incident, if any, then closed ones, newest last (bounded).
    pub incidents: Vec<IncidentSummary>,
    /// Model calls per hour seen in the gateway's records, newest last (bounded).
    pub calls_per_hour: Vec<HourCount>,
    /// Idle-burn episodes (model calls no inbound message or schedule explains), newest last.
    pub idle_burn: Vec<crate::facts::Event>,
}

/// One incident: from opening to closing (`ended_at` is `None` while open).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentSummary {
    pub id: String,
    /// `rate_limit`, `quota`, `overload` or `manual`.
    pub kind: String,
    /// `auto` or `operator`.
    pub opened_by: String,
    pub started_at: DateTime<Utc>,
    #[serde(default)]
    pub ended_at: Option<DateTime<Utc>>,
    pub reason: String,
    /// Provider refusals counted in it.
    #[serde(default)]
    pub refusals: u64,
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub profile: Option<String>,
    #[serde(default)]
    pub close_reason: Option<String>,
}

/// Calls (and tokens, where the records carry them) in one UTC hour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HourCount {
    pub hour: DateTime<Utc>,
    pub calls: u64,
    #[serde(default)]
    pub tokens: Option<u64>,
}

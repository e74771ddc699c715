//! check-ratelimit's facts: the circuit, its incidents, and what the provider refused; model
//! calls per hour and idle-burn episodes as far as the gateway's log records show them.

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
    /// Model calls per UTC hour seen in the gateway's records, oldest first (bounded: 48).
    pub calls_per_hour: Vec<HourCount>,
    /// Idle-burn episodes (model calls no inbound message or job explains), newest last.
    pub idle_burn: Vec<crate::facts::Event>,
    /// Cooldowns the gateway listed while the provider answered (stale), newest last.
    pub stale_cooldowns: Vec<crate::facts::Event>,
    /// Refusals and gateway decisions in the window at the last run.
    pub window: WindowCounts,
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
    /// The gateway's decisions (cooldowns, runs given up) counted in it.
    #[serde(default)]
    pub decisions: u64,
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
    /// Model calls: exact when `every_call_logged`, else a lower bound (at the gateway's
    /// default `info` level only failed or slow calls are logged).
    pub calls: u64,
    /// Always `None` with OpenClaw 2026.9.6: no log record carries token usage.
    #[serde(default)]
    pub tokens: Option<u64>,
    /// Provider refusals in the hour.
    #[serde(default)]
    pub refusals: u64,
    /// The hour's records show every model call (the gateway logs at debug level).
    #[serde(default)]
    pub every_call_logged: bool,
}

/// Per class, in the window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct WindowCounts {
    pub rate_limit: u32,
    pub quota: u32,
    pub overload: u32,
    /// Cooldowns and give-ups of any class.
    pub decisions: u32,
}

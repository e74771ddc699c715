//! The suite's control files in `state/`, read by every job:
//!
//! - `control.json` — the pause switch ([`Control`]), written by poll-teams (`/jobs stop`,
//!   `/jobs start`) or by hand;
//! - `circuit.json` — the rate-limit circuit ([`Circuit`]), written by check-ratelimit;
//! - `maintenance.json` — planned maintenance ([`Maintenance`]), written by
//!   `watch-gateway maintenance` or by hand; while it holds, jobs record what they see but
//!   restart nothing and alert nobody.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

/// `state/control.json`: `{"paused": true, "reason": "…", "by": "…", "at": "…"}`.
/// While paused, every job except poll-teams exits 75 with one log line.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Control {
    pub paused: bool,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub by: Option<String>,
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
}

/// Whether the circuit lets model calls through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CircuitState {
    #[default]
    Closed,
    Open,
}

/// `state/circuit.json`, written by check-ratelimit. Jobs that call the model provider
/// degrade (skip the model) while it is open.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Circuit {
    pub state: CircuitState,
    /// `rate_limit`, `quota` (closed only by a human), `overload` or `manual`.
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub since: Option<DateTime<Utc>>,
    #[serde(default)]
    pub reason: Option<String>,
    /// When the limit is expected to reset.
    #[serde(default)]
    pub reset_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub incident_id: Option<String>,
    /// Provider refusals counted in the incident so far.
    #[serde(default)]
    pub matches: u64,
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
}

impl Circuit {
    pub fn is_open(&self) -> bool {
        self.state == CircuitState::Open
    }
}

/// `state/maintenance.json`: planned maintenance for the whole suite.
///
/// Accepts the watchdog shape operators already use,
/// `{"planned": true, "reason": "…", "expectedDowntime": "10m", "ignoreUntil": "…"}`, and the
/// older `{"until": "…", "reason": "…"}`. `ignoreUntil` is an RFC 3339 time or epoch
/// milliseconds (seconds when below 10^11).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Maintenance {
    /// `false` switches the window off without deleting the file.
    #[serde(default = "yes")]
    pub planned: bool,
    #[serde(default)]
    pub reason: Option<String>,
    /// Until when nothing is restarted or alerted.
    #[serde(
        rename = "ignoreUntil",
        alias = "until",
        alias = "ignore_until",
        default,
        deserialize_with = "time_or_epoch"
    )]
    pub ignore_until: Option<DateTime<Utc>>,
    /// What the operator expects, as written (`"10m"`, `"about an hour"`).
    #[serde(rename = "expectedDowntime", alias = "expected_downtime", default)]
    pub expected_downtime: Option<serde_json::Value>,
    /// Who declared it.
    #[serde(default)]
    pub by: Option<String>,
    /// When it was declared.
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
}

fn yes() -> bool {
    true
}

impl Maintenance {
    /// Whether the window holds at `now`.
    pub fn active_at(&self, now: DateTime<Utc>) -> bool {
        self.planned && self.ignore_until.is_some_and(|u| u > now)
    }
}

fn time_or_epoch<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    use serde::de::Error;
    let v = Option::<serde_json::Value>::deserialize(d)?;
    match v {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => DateTime::parse_from_rfc3339(&s)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|e| D::Error::custom(format!("`{s}` is not an RFC 3339 time: {e}"))),
        Some(serde_json::Value::Number(n)) => {
            let x = n
                .as_i64()
                .ok_or_else(|| D::Error::custom("epoch time must be an integer"))?;
            let ms = if x.abs() < 100_000_000_000 {
                x.checked_mul(1000)
            } else {
                Some(x)
            };
            ms.and_then(DateTime::from_timestamp_millis)
                .map(Some)
                .ok_or_else(|| D::Error::custom(format!("epoch time {x} is out of range")))
        }
        Some(other) => Err(D::Error::custom(format!(
            "expected an RFC 3339 time or epoch milliseconds, got {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maintenance_accepts_both_shapes() {
        let now = DateTime::parse_from_rfc3339("2026-11-28T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let m: Maintenance = serde_json::from_str(
            r#"{"planned":true,"reason":"upgrade","expectedDowntime":"10m","ignoreUntil":"2026-11-28T10:10:00Z"}"#,
        )
        .unwrap();
        assert!(m.active_at(now));
        let m: Maintenance =
            serde_json::from_str(r#"{"until":"2026-11-28T09:00:00Z","reason":"old"}"#).unwrap();
        assert!(m.planned && !m.active_at(now));
        let ms = now.timestamp_millis() + 60_000;
        let m: Maintenance =
            serde_json::from_str(&format!(r#"{{"planned":true,"ignoreUntil":{ms}}}"#)).unwrap();
        assert!(m.active_at(now));
        let m: Maintenance = serde_json::from_str(&format!(
            r#"{{"planned":false,"ignoreUntil":{}}}"#,
            now.timestamp() + 60
        ))
        .unwrap();
        assert!(!m.active_at(now), "planned: false switches it off");
        assert!(serde_json::from_str::<Maintenance>(r#"{"ignoreUntil":"tomorrow"}"#).is_err());
    }
}

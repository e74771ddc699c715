//! publish-report's facts: the last report written and the deliveries of recent periods.
//!
//! Delivery statuses use the effect journal's vocabulary ([`EffectStatus`]): `done` (the
//! report reached the destination), `failed` (it provably did not; retried by later scheduled
//! runs), `unknown` (it may have; never resent blindly), `started` (a run died while sending),
//! `skipped`.

use crate::effect::EffectStatus;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReportFacts {
    /// The period of the last report written (`daily:2026-11-21`).
    pub last_period: Option<String>,
    /// Its report id (`report-id: …` in every published copy).
    pub last_report_id: Option<String>,
    pub last_generated_at: Option<DateTime<Utc>>,
    /// `healthy` or `attention`.
    pub last_overall: Option<String>,
    /// Deliveries of recent periods, oldest first (bounded).
    pub deliveries: Vec<DeliveryFacts>,
    /// Timestamps found ahead of the clock in the last report's inputs (clock skew).
    pub clock_skew: Vec<crate::facts::Event>,
}

/// One period's delivery to one destination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryFacts {
    /// `daily:2026-11-21` or `weekly:2026-W47`.
    pub period: String,
    pub destination: String,
    /// The id the published copy carries (also its `Idempotency-Key`).
    pub report_id: String,
    pub status: EffectStatus,
    /// When the status last changed.
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
    /// Send attempts for this period and destination.
    #[serde(default)]
    pub attempts: u32,
    /// The last result in words (the destination's message id, or why it failed).
    #[serde(default)]
    pub detail: Option<String>,
}

//! publish-report's facts: the deliveries of recent periods.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReportFacts {
    pub last_period: Option<String>,
    pub deliveries: Vec<DeliveryFacts>,
}

/// One period's delivery to one destination.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeliveryFacts {
    pub period: String,
    pub destination: String,
    /// `sent`, `failed`, `unknown`, `sending`.
    pub status: String,
    pub at: Option<DateTime<Utc>>,
    pub error: Option<String>,
}

//! poll-teams' facts: the inbox, its delivery into the gateway, and the reply detectors.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InboxFacts {
    /// Events in the inbox not yet delivered to the gateway.
    pub pending: u64,
    /// Events delivered (all time).
    pub delivered: u64,
    /// Events the gateway refused for good (400), kept under `rejected/`.
    pub rejected: u64,
    pub last_message_at: Option<DateTime<Utc>>,
    pub last_delivery_at: Option<DateTime<Utc>>,
    /// Messages from allowed senders with no agent reply in time (all time).
    pub unanswered: u64,
    /// Duplicated agent replies seen (all time).
    pub duplicate_replies: u64,
}

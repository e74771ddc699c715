//! poll-teams' facts: the inbox, its delivery into the gateway, and the reply detectors.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InboxFacts {
    /// Events in the inbox's `new/` (not yet delivered, waiting, or kept by journal chats).
    pub pending: u64,
    /// Events delivered to the gateway (all time).
    pub delivered: u64,
    /// Events the gateway refused for good (400), kept under `rejected/`.
    pub rejected: u64,
    /// Events not delivered because they grew older than `delivery.max_age_secs`.
    pub expired: u64,
    /// Catch-up chats: events the agent answered live (not delivered again).
    pub answered_live: u64,
    /// Events waiting at the end of the last pass (catch-up wait, retry, gateway down).
    pub waiting: u64,
    /// Deliveries whose outcome is not settled yet (checked in the gateway's log next pass).
    pub unsettled: u64,
    /// Newest message handled in any chat.
    pub last_message_at: Option<DateTime<Utc>>,
    pub last_delivery_at: Option<DateTime<Utc>>,
    /// Since when the gateway has not answered (`None`: it answered last time).
    pub gateway_down_since: Option<DateTime<Utc>>,
    /// Messages from allowed senders with no agent reply in time (all time).
    pub unanswered: u64,
    /// Duplicated agent replies seen (all time).
    pub duplicate_replies: u64,
    /// Operator commands handled (records kept).
    pub commands: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_old_files() {
        let f = InboxFacts {
            pending: 2,
            delivered: 5,
            unanswered: 1,
            ..Default::default()
        };
        let v = serde_json::to_value(&f).unwrap_or_default();
        assert_eq!(serde_json::from_value::<InboxFacts>(v).ok(), Some(f));
        let old: InboxFacts =
            serde_json::from_str(r#"{"pending": 1, "delivered": 2}"#).unwrap_or_default();
        assert_eq!((old.pending, old.delivered, old.answered_live), (1, 2, 0));
    }
}

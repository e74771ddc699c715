//! publish-report's persisted types: `data` in `state/publish-report.json`, the migration of
//! older state files, and the public facts built from them.
//!
//! Who decides what: the effect journal (`effects` in the same file, key
//! [`delivery_key`]) decides whether a delivery may be sent (done, failed, unknown). The
//! delivery book here keeps what the journal does not: which report id and content a period
//! was sent with, and the last outcome in words, for the report, the retry of previous periods
//! and the facts.

use chrono::{DateTime, Utc};
use contracts::effect::EffectStatus;
use contracts::facts::Event;
use contracts::facts::publish_report::{DeliveryFacts, ReportFacts};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Version of `state/publish-report.json`. 2: deliveries moved onto the effect journal.
pub const SCHEMA_VERSION: u32 = 2;
/// Periods kept in the delivery book.
pub const KEEP_PERIODS: usize = 120;
/// Frozen report copies kept (only while a delivery of them may still be resent).
pub const KEEP_COPIES: usize = 20;
/// Deliveries listed in the facts.
pub const FACTS_DELIVERIES: usize = 30;

/// The effect-journal key of one period's delivery to one destination.
pub fn delivery_key(period_key: &str, destination: &str) -> String {
    format!("report/{period_key}/{destination}")
}

/// The job's own state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Data {
    /// Period key (`daily:2026-11-21`) → destination name → delivery.
    pub deliveries: BTreeMap<String, BTreeMap<String, Delivery>>,
    /// Guardrail counters per destination.
    pub destinations: BTreeMap<String, DestinationStats>,
    /// Periods a scheduled run set out to publish, so later scheduled runs retry the ones
    /// still unsent.
    pub wanted: BTreeMap<String, Wanted>,
    /// Report copies whose delivery may have arrived, by report id: a resend sends the same
    /// content under the same id, so a receiver that de-duplicates can drop the copy.
    pub copies: BTreeMap<String, ReportCopy>,
    /// The last report written to `reports/`.
    pub last_report: Option<LastReport>,
    /// Clock-skew findings of the last report.
    pub clock_skew: Vec<Event>,
    /// Model token use and budgets (analysis paragraph).
    pub tokens: model::TokenLedger,
}

/// One period's delivery to one destination, as last seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// The id the published copy carries (`report-id: …`, `Idempotency-Key`).
    pub report_id: String,
    /// sha256 of the report's content without its id (empty for deliveries of version 1).
    #[serde(default)]
    pub content: String,
    pub status: EffectStatus,
    /// Send attempts (forced ones included).
    #[serde(default)]
    pub attempts: u32,
    /// When the status last changed.
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
    /// The destination's message id or path, or why it failed.
    #[serde(default)]
    pub detail: Option<String>,
}

/// Per-destination guardrail counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DestinationStats {
    /// Local day (`YYYY-MM-DD`) of `sends_today`.
    pub day: String,
    pub sends_today: u32,
    pub consecutive_failures: u32,
    pub cooloff_until: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub sent_total: u64,
}

/// A period a scheduled run set out to publish.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Wanted {
    /// When it was first wanted.
    pub at: DateTime<Utc>,
    /// The destinations configured then (one added later is not sent old reports).
    pub destinations: Vec<String>,
}

/// A report as it was sent (what a resend sends again).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportCopy {
    pub period: String,
    pub content: String,
    pub markdown: String,
    pub html: String,
    pub overall: String,
    pub headline: String,
    pub generated_at: DateTime<Utc>,
    pub host: String,
}

/// The last report written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastReport {
    pub period: String,
    pub report_id: String,
    pub generated_at: DateTime<Utc>,
    pub overall: String,
}

impl Data {
    /// The delivery of `period_key` to `destination`, if any.
    pub fn delivery(&self, period_key: &str, destination: &str) -> Option<&Delivery> {
        self.deliveries.get(period_key)?.get(destination)
    }

    /// Record a delivery.
    pub fn set_delivery(&mut self, period_key: &str, destination: &str, d: Delivery) {
        self.deliveries
            .entry(period_key.to_string())
            .or_default()
            .insert(destination.to_string(), d);
    }

    /// Keep the book, the wanted periods and the copies bounded.
    pub fn prune(&mut self) {
        while self.deliveries.len() > KEEP_PERIODS {
            let oldest = self
                .deliveries
                .iter()
                .map(|(k, m)| (m.values().filter_map(|d| d.at).max(), k.clone()))
                .min()
                .map(|(_, k)| k);
            match oldest {
                Some(k) => self.deliveries.remove(&k),
                None => break,
            };
        }
        while self.wanted.len() > KEEP_PERIODS {
            let Some(k) = self
                .wanted
                .iter()
                .min_by_key(|(_, w)| w.at)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            self.wanted.remove(&k);
        }
        // A copy is kept while some delivery of it may be resent unchanged.
        let live: std::collections::BTreeSet<&str> = self
            .deliveries
            .values()
            .flat_map(|m| m.values())
            .filter(|d| matches!(d.status, EffectStatus::Unknown | EffectStatus::Started))
            .map(|d| d.report_id.as_str())
            .collect();
        self.copies.retain(|id, _| live.contains(id.as_str()));
        while self.copies.len() > KEEP_COPIES {
            let Some(k) = self
                .copies
                .iter()
                .min_by_key(|(_, c)| c.generated_at)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            self.copies.remove(&k);
        }
    }
}

/// The public facts: the last report and the most recent deliveries.
pub fn facts(data: &Data) -> ReportFacts {
    let mut deliveries: Vec<DeliveryFacts> = data
        .deliveries
        .iter()
        .flat_map(|(period, m)| {
            m.iter().map(move |(dest, d)| DeliveryFacts {
                period: period.clone(),
                destination: dest.clone(),
                report_id: d.report_id.clone(),
                status: d.status,
                at: d.at,
                attempts: d.attempts,
                detail: d.detail.clone(),
            })
        })
        .collect();
    deliveries.sort_by_key(|d| d.at);
    let skip = deliveries.len().saturating_sub(FACTS_DELIVERIES);
    deliveries.drain(..skip);
    let last = data.last_report.as_ref();
    ReportFacts {
        last_period: last.map(|l| l.period.clone()),
        last_report_id: last.map(|l| l.report_id.clone()),
        last_generated_at: last.map(|l| l.generated_at),
        last_overall: last.map(|l| l.overall.clone()),
        deliveries,
        clock_skew: data.clock_skew.clone(),
    }
}

/// Migrate a whole state file from schema `from` to [`SCHEMA_VERSION`].
///
/// Version 1 kept each delivery's status in `data.deliveries` (`sending`, `sent`, `failed`,
/// `unknown`); version 2 keeps it in the effect journal. Each delivery becomes a journal record
/// under [`delivery_key`] (`sending` → `started`, which the runtime's recovery turns into
/// `unknown` at load; `sent` → `done`), and the book keeps its report id. Periods with a
/// delivery become "wanted", so a failed one is retried by the next scheduled run.
pub fn migrate(from: u32, mut state: Value) -> anyhow::Result<Value> {
    if from >= 2 {
        return Ok(state);
    }
    let old = state
        .get_mut("data")
        .and_then(|d| d.get_mut("deliveries"))
        .map(Value::take)
        .unwrap_or(Value::Null);
    let mut book = serde_json::Map::new();
    let mut wanted: BTreeMap<String, Wanted> = BTreeMap::new();
    let mut effects = state
        .get("effects")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (period, dests) in old.as_object().into_iter().flatten() {
        let mut entries = serde_json::Map::new();
        for (dest, d) in dests.as_object().into_iter().flatten() {
            let v1: DeliveryV1 = serde_json::from_value(d.clone()).map_err(|e| {
                anyhow::anyhow!("`data.deliveries.{period}.{dest}` of schema 1: {e}")
            })?;
            let (record, delivery) = v1.upgrade(dest);
            effects
                .entry(delivery_key(period, dest))
                .or_insert(serde_json::to_value(record)?);
            entries.insert(dest.clone(), serde_json::to_value(delivery)?);
            let w = wanted.entry(period.clone()).or_insert(Wanted {
                at: v1.intent_at,
                destinations: Vec::new(),
            });
            w.at = w.at.min(v1.intent_at);
            w.destinations.push(dest.clone());
        }
        book.insert(period.clone(), Value::Object(entries));
    }
    if let Some(data) = state.get_mut("data").and_then(Value::as_object_mut) {
        data.insert("deliveries".into(), Value::Object(book));
        data.insert("wanted".into(), serde_json::to_value(wanted)?);
    }
    if let Some(o) = state.as_object_mut() {
        o.insert("effects".into(), Value::Object(effects));
    }
    Ok(state)
}

/// A delivery as schema 1 stored it.
#[derive(Debug, Deserialize)]
struct DeliveryV1 {
    status: String,
    report_id: String,
    #[serde(default)]
    attempts: u32,
    intent_at: DateTime<Utc>,
    #[serde(default)]
    sent_at: Option<DateTime<Utc>>,
    #[serde(default)]
    message_id: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

impl DeliveryV1 {
    fn upgrade(&self, dest: &str) -> (contracts::effect::EffectRecord, Delivery) {
        let status = match self.status.as_str() {
            "sent" => EffectStatus::Done,
            "failed" => EffectStatus::Failed,
            "sending" => EffectStatus::Started,
            _ => EffectStatus::Unknown,
        };
        let detail = match status {
            EffectStatus::Done => self.message_id.clone(),
            _ => self.error.clone(),
        };
        let finished = match status {
            EffectStatus::Started => None,
            EffectStatus::Done => self.sent_at.or(Some(self.intent_at)),
            _ => Some(self.intent_at),
        };
        let record = contracts::effect::EffectRecord {
            what: format!("publish report {} to {dest}", self.report_id),
            status,
            idempotent: false,
            attempts: self.attempts.max(1),
            done: u32::from(status == EffectStatus::Done),
            skipped: 0,
            first_at: self.intent_at,
            started_at: Some(self.intent_at),
            finished_at: finished,
            result: detail.clone(),
            value: Some(json!({"report_id": self.report_id, "message_id": self.message_id})),
            run_id: String::new(),
        };
        let delivery = Delivery {
            report_id: self.report_id.clone(),
            content: String::new(),
            status,
            attempts: self.attempts,
            at: finished.or(Some(self.intent_at)),
            detail,
        };
        (record, delivery)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn v1_state() -> Value {
        json!({
            "schema_version": 1,
            "job": "publish-report",
            "last_run": null,
            "last_success": null,
            "effects": {"alert/cap:hook": {"what": "alert", "status": "done", "first_at": "2026-11-19T07:05:00Z"}},
            "data": {
                "deliveries": {
                    "daily:2026-11-19": {
                        "hook": {"status": "sent", "report_id": "ajr-daily-2026-11-19-aaaaaa", "attempts": 1,
                                 "generation": 0, "intent_at": "2026-11-19T07:05:00Z",
                                 "sent_at": "2026-11-19T07:05:01Z", "message_id": "msg-1"},
                        "ops": {"status": "sending", "report_id": "ajr-daily-2026-11-19-aaaaaa", "attempts": 1,
                                "intent_at": "2026-11-19T07:05:02Z"}
                    },
                    "daily:2026-11-20": {
                        "hook": {"status": "failed", "report_id": "ajr-daily-2026-11-20-aaaaaa", "attempts": 2,
                                 "intent_at": "2026-11-20T07:05:00Z", "error": "webhook answered HTTP 500"},
                        "ops": {"status": "unknown", "report_id": "ajr-daily-2026-11-20-aaaaaa-f1", "attempts": 1,
                                "generation": 1, "intent_at": "2026-11-20T07:06:00Z", "error": "timeout"}
                    }
                },
                "destinations": {"hook": {"day": "2026-11-20", "sends_today": 2, "consecutive_failures": 2}},
                "last_report": {"period": "daily:2026-11-20", "report_id": "ajr-daily-2026-11-20-aaaaaa",
                                "generated_at": "2026-11-20T07:05:00Z", "overall": "healthy"}
            }
        })
    }

    #[test]
    fn schema_1_deliveries_move_onto_the_journal() {
        let v = migrate(1, v1_state()).unwrap();
        let e = &v["effects"];
        assert_eq!(e["report/daily:2026-11-19/hook"]["status"], "done");
        assert_eq!(e["report/daily:2026-11-19/ops"]["status"], "started");
        assert_eq!(e["report/daily:2026-11-20/hook"]["status"], "failed");
        assert_eq!(e["report/daily:2026-11-20/ops"]["status"], "unknown");
        assert_eq!(e["alert/cap:hook"]["status"], "done", "other records stay");
        let records: BTreeMap<String, contracts::effect::EffectRecord> =
            serde_json::from_value(e.clone()).unwrap();
        assert_eq!(records.len(), 5);
        let data: Data = serde_json::from_value(v["data"].clone()).unwrap();
        let d = data.delivery("daily:2026-11-20", "ops").unwrap();
        assert_eq!(d.report_id, "ajr-daily-2026-11-20-aaaaaa-f1");
        assert_eq!(d.status, EffectStatus::Unknown);
        assert_eq!(
            data.delivery("daily:2026-11-19", "hook")
                .unwrap()
                .detail
                .as_deref(),
            Some("msg-1")
        );
        assert_eq!(data.wanted.len(), 2);
        assert_eq!(data.destinations["hook"].sends_today, 2);
        assert_eq!(data.last_report.unwrap().overall, "healthy");
        // Migrating twice changes nothing.
        assert_eq!(migrate(2, v.clone()).unwrap(), v);
    }

    #[test]
    fn a_bad_version_1_delivery_names_its_key() {
        let mut v = v1_state();
        v["data"]["deliveries"]["daily:2026-11-19"]["hook"]["intent_at"] = json!("yesterday");
        let e = migrate(1, v).unwrap_err().to_string();
        assert!(e.contains("data.deliveries.daily:2026-11-19.hook"), "{e}");
    }

    #[test]
    fn facts_round_trip_and_copies_are_pruned() {
        let mut data = Data::default();
        let at = DateTime::parse_from_rfc3339("2026-11-20T07:05:00Z")
            .unwrap()
            .with_timezone(&Utc);
        for (i, status) in [EffectStatus::Done, EffectStatus::Unknown]
            .into_iter()
            .enumerate()
        {
            let id = format!("ajr-daily-2026-11-2{i}-aaaaaa");
            data.set_delivery(
                &format!("daily:2026-11-2{i}"),
                "hook",
                Delivery {
                    report_id: id.clone(),
                    content: "c".into(),
                    status,
                    attempts: 1,
                    at: Some(at),
                    detail: None,
                },
            );
            data.copies.insert(
                id,
                ReportCopy {
                    period: format!("daily:2026-11-2{i}"),
                    content: "c".into(),
                    markdown: "m".into(),
                    html: "h".into(),
                    overall: "healthy".into(),
                    headline: "ok".into(),
                    generated_at: at,
                    host: "h".into(),
                },
            );
        }
        data.prune();
        assert_eq!(
            data.copies.keys().collect::<Vec<_>>(),
            ["ajr-daily-2026-11-21-aaaaaa"],
            "only the copy a resend may need"
        );
        let f = facts(&data);
        let back: ReportFacts = serde_json::from_value(serde_json::to_value(&f).unwrap()).unwrap();
        assert_eq!(back, f);
        assert_eq!(f.deliveries.len(), 2);
        assert_eq!(f.deliveries[1].status, EffectStatus::Unknown);
    }
}

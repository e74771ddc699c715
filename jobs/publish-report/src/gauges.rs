//! publish-report's gauges for the Prometheus textfile (`runtime.textfile_dir`), built from
//! its public facts alone (pure).
//!
//! | family (`agent_jobs_…`) | labels | value |
//! |---|---|---|
//! | `report_deliveries` | `status` | deliveries of the last period's report by journal status (`done`, `failed`, `unknown`, `started`, `skipped`; every status present, 0 when none) |
//! | `report_last_generated_timestamp_seconds` | | when the last report was written |
//! | `report_attention` | | 1 when the last report said `attention`, 0 when `healthy` |
//! | `report_clock_skew_findings` | | timestamps ahead of the clock in the last report's inputs |
//!
//! All but `report_deliveries` are absent before the first report.

use chrono::{DateTime, Utc};
use common::metrics::Gauge;
use contracts::effect::EffectStatus;
use contracts::facts::publish_report::ReportFacts;

const STATUSES: [EffectStatus; 5] = [
    EffectStatus::Done,
    EffectStatus::Failed,
    EffectStatus::Unknown,
    EffectStatus::Started,
    EffectStatus::Skipped,
];

/// The gauges of `f`.
pub fn of(f: &ReportFacts) -> Vec<Gauge> {
    let mut g: Vec<Gauge> = STATUSES
        .iter()
        .map(|s| {
            let n = f
                .deliveries
                .iter()
                .filter(|d| Some(&d.period) == f.last_period.as_ref() && d.status == *s)
                .count();
            Gauge::new(
                "report_deliveries",
                "Deliveries of the last period's report to its destinations, by status (done, failed, unknown: may have been sent, started, skipped).",
                n as f64,
            )
            .label("status", s.as_str())
        })
        .collect();
    if let Some(t) = f.last_generated_at {
        g.push(Gauge::new(
            "report_last_generated_timestamp_seconds",
            "Unix time publish-report last wrote the report.",
            secs(t),
        ));
    }
    if let Some(o) = &f.last_overall {
        g.push(Gauge::new(
            "report_attention",
            "1 when the last report said the suite needs attention, 0 when healthy.",
            if o == "healthy" { 0.0 } else { 1.0 },
        ));
        g.push(Gauge::new(
            "report_clock_skew_findings",
            "Timestamps ahead of the clock found in the last report's inputs (a wrong clock or writer).",
            f.clock_skew.len() as f64,
        ));
    }
    g
}

fn secs(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use contracts::facts::publish_report::DeliveryFacts;

    fn delivery(period: &str, dest: &str, status: EffectStatus) -> DeliveryFacts {
        DeliveryFacts {
            period: period.into(),
            destination: dest.into(),
            report_id: "r".into(),
            status,
            at: None,
            attempts: 1,
            detail: None,
        }
    }

    fn value(g: &[Gauge], name: &str, status: Option<&str>) -> Option<f64> {
        g.iter()
            .find(|x| {
                x.name == name
                    && status.is_none_or(|s| x.labels.iter().any(|(k, v)| *k == "status" && v == s))
            })
            .map(|x| x.value)
    }

    #[test]
    fn deliveries_of_the_last_period_by_status() {
        let f = ReportFacts {
            last_period: Some("daily:2026-11-21".into()),
            last_generated_at: Some("2026-11-21T07:00:00Z".parse().unwrap()),
            last_overall: Some("attention".into()),
            deliveries: vec![
                delivery("daily:2026-11-20", "teams", EffectStatus::Failed),
                delivery("daily:2026-11-21", "teams", EffectStatus::Done),
                delivery("daily:2026-11-21", "webhook", EffectStatus::Unknown),
                delivery("daily:2026-11-21", "file", EffectStatus::Done),
            ],
            ..Default::default()
        };
        let g = of(&f);
        assert_eq!(value(&g, "report_deliveries", Some("done")), Some(2.0));
        assert_eq!(value(&g, "report_deliveries", Some("unknown")), Some(1.0));
        assert_eq!(
            value(&g, "report_deliveries", Some("failed")),
            Some(0.0),
            "an earlier period's failure is not the last period's"
        );
        assert_eq!(value(&g, "report_attention", None), Some(1.0));
        assert_eq!(
            value(&g, "report_last_generated_timestamp_seconds", None),
            Some(1_795_244_400.0)
        );
    }

    #[test]
    fn before_the_first_report_every_status_is_zero() {
        let g = of(&ReportFacts::default());
        assert_eq!(g.len(), 5);
        assert!(
            g.iter()
                .all(|x| x.value == 0.0 && x.name == "report_deliveries")
        );
    }
}

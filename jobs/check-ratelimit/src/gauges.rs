//! check-ratelimit's gauges for the Prometheus textfile (`runtime.textfile_dir`), built from
//! its public facts alone (pure).
//!
//! | family (`agent_jobs_…`) | labels | value |
//! |---|---|---|
//! | `circuit_open` | | 1 while the circuit is open, else 0 |
//! | `circuit_reset_timestamp_seconds` | | when an open rate-limit or overload circuit is expected to close (absent when unknown or closed) |
//! | `circuit_incidents` | `kind` | incidents listed in the facts (the open one and the newest 20 closed) by kind |
//! | `circuit_last_incident_start_timestamp_seconds` | | when the newest incident opened (absent before the first) |
//! | `provider_refusals_window` | `class` | provider refusals in the window (`window_secs`), per class |
//! | `gateway_decisions_window` | | the gateway's cooldowns and give-ups in the window |
//! | `model_calls_current_hour` / `model_calls_previous_hour` | | model calls in the UTC hour of the run and the hour before (a lower bound unless the gateway logs at debug level) |
//! | `model_calls_exact` | | 1 when the current hour's records show every model call |
//!
//! The facts' time is the circuit's `updated_at` (the run's `now`).

use chrono::{DateTime, Duration, DurationRound, Utc};
use common::contracts::facts::check_ratelimit::RatelimitFacts;
use common::metrics::Gauge;
use std::collections::BTreeMap;

/// Incident kinds always exported (0 when none is listed), so a rate over them is defined.
const KINDS: [&str; 4] = ["rate_limit", "quota", "overload", "manual"];

/// The gauges of `f`.
pub fn of(f: &RatelimitFacts) -> Vec<Gauge> {
    let mut g = vec![Gauge::new(
        "circuit_open",
        "1 while the rate-limit circuit is open (workers held), else 0.",
        if f.circuit.is_open() { 1.0 } else { 0.0 },
    )];
    if f.circuit.is_open()
        && let Some(r) = f.circuit.reset_at
    {
        g.push(Gauge::new(
            "circuit_reset_timestamp_seconds",
            "Unix time the open circuit is expected to close (the gateway's own reset).",
            secs(r),
        ));
    }
    let mut kinds: BTreeMap<&str, u64> = KINDS.iter().map(|k| (*k, 0)).collect();
    for i in &f.incidents {
        *kinds.entry(i.kind.as_str()).or_default() += 1;
    }
    for (kind, n) in kinds {
        g.push(
            Gauge::new(
                "circuit_incidents",
                "Rate-limit incidents listed by check-ratelimit (the open one and the newest 20 closed), by kind.",
                n as f64,
            )
            .label("kind", kind),
        );
    }
    if let Some(t) = f.incidents.iter().map(|i| i.started_at).max() {
        g.push(Gauge::new(
            "circuit_last_incident_start_timestamp_seconds",
            "Unix time the newest rate-limit incident opened.",
            secs(t),
        ));
    }
    for (class, n) in [
        ("rate_limit", f.window.rate_limit),
        ("quota", f.window.quota),
        ("overload", f.window.overload),
    ] {
        g.push(
            Gauge::new(
                "provider_refusals_window",
                "Model-provider refusals in check-ratelimit's window (window_secs) at its last run, by class.",
                f64::from(n),
            )
            .label("class", class),
        );
    }
    g.push(Gauge::new(
        "gateway_decisions_window",
        "The gateway's cooldowns and given-up runs in check-ratelimit's window at its last run.",
        f64::from(f.window.decisions),
    ));
    g.extend(calls(f));
    g
}

/// Model calls in the run's UTC hour and the hour before.
fn calls(f: &RatelimitFacts) -> Vec<Gauge> {
    let Some(now) = f.circuit.updated_at else {
        return Vec::new();
    };
    let Ok(hour) = now.duration_trunc(Duration::hours(1)) else {
        return Vec::new();
    };
    let bucket = |h: DateTime<Utc>| f.calls_per_hour.iter().find(|b| b.hour == h);
    let current = bucket(hour);
    let previous = bucket(hour - Duration::hours(1));
    vec![
        Gauge::new(
            "model_calls_current_hour",
            "Model calls seen in the gateway's records in the current UTC hour so far (a lower bound unless model_calls_exact).",
            current.map_or(0.0, |b| b.calls as f64),
        ),
        Gauge::new(
            "model_calls_previous_hour",
            "Model calls seen in the gateway's records in the previous UTC hour (a lower bound unless the gateway logs at debug level).",
            previous.map_or(0.0, |b| b.calls as f64),
        ),
        Gauge::new(
            "model_calls_exact",
            "1 when the current hour's gateway records show every model call (debug level), 0 when the counts are a lower bound.",
            if current.is_some_and(|b| b.every_call_logged) {
                1.0
            } else {
                0.0
            },
        ),
    ]
}

fn secs(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use common::contracts::control::{Circuit, CircuitState};
    use common::contracts::facts::check_ratelimit::{HourCount, IncidentSummary, WindowCounts};

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn value(g: &[Gauge], name: &str, label: Option<(&str, &str)>) -> Option<f64> {
        g.iter()
            .find(|x| {
                x.name == name
                    && label.is_none_or(|(k, v)| x.labels.iter().any(|(a, b)| *a == k && b == v))
            })
            .map(|x| x.value)
    }

    fn incident(kind: &str, start: &str, open: bool) -> IncidentSummary {
        IncidentSummary {
            id: format!("i-{start}"),
            kind: kind.into(),
            opened_by: "auto".into(),
            started_at: at(start),
            ended_at: (!open).then(|| at(start) + Duration::minutes(10)),
            reason: "r".into(),
            refusals: 3,
            decisions: 1,
            provider: None,
            model: None,
            profile: None,
            close_reason: None,
        }
    }

    #[test]
    fn an_open_circuit_its_incidents_window_and_calls() {
        let now = at("2026-03-05T12:20:00Z");
        let f = RatelimitFacts {
            circuit: Circuit {
                state: CircuitState::Open,
                reset_at: Some(at("2026-03-05T12:30:00Z")),
                updated_at: Some(now),
                ..Default::default()
            },
            incidents: vec![
                incident("rate_limit", "2026-03-04T08:00:00Z", false),
                incident("quota", "2026-03-04T09:00:00Z", false),
                incident("rate_limit", "2026-03-05T12:10:00Z", true),
            ],
            calls_per_hour: vec![
                HourCount {
                    hour: at("2026-03-05T11:00:00Z"),
                    calls: 7,
                    tokens: None,
                    refusals: 0,
                    every_call_logged: false,
                },
                HourCount {
                    hour: at("2026-03-05T12:00:00Z"),
                    calls: 4,
                    tokens: None,
                    refusals: 2,
                    every_call_logged: true,
                },
            ],
            window: WindowCounts {
                rate_limit: 5,
                quota: 0,
                overload: 2,
                decisions: 1,
            },
            ..Default::default()
        };
        let g = of(&f);
        assert_eq!(value(&g, "circuit_open", None), Some(1.0));
        assert_eq!(
            value(&g, "circuit_reset_timestamp_seconds", None),
            Some(secs(at("2026-03-05T12:30:00Z")))
        );
        assert_eq!(
            value(&g, "circuit_incidents", Some(("kind", "rate_limit"))),
            Some(2.0)
        );
        assert_eq!(
            value(&g, "circuit_incidents", Some(("kind", "manual"))),
            Some(0.0)
        );
        assert_eq!(
            value(&g, "circuit_last_incident_start_timestamp_seconds", None),
            Some(secs(at("2026-03-05T12:10:00Z")))
        );
        assert_eq!(
            value(&g, "provider_refusals_window", Some(("class", "overload"))),
            Some(2.0)
        );
        assert_eq!(value(&g, "gateway_decisions_window", None), Some(1.0));
        assert_eq!(value(&g, "model_calls_current_hour", None), Some(4.0));
        assert_eq!(value(&g, "model_calls_previous_hour", None), Some(7.0));
        assert_eq!(value(&g, "model_calls_exact", None), Some(1.0));
    }

    #[test]
    fn a_closed_circuit_with_old_buckets_counts_no_calls_now() {
        let f = RatelimitFacts {
            circuit: Circuit {
                updated_at: Some(at("2026-03-06T09:05:00Z")),
                ..Default::default()
            },
            calls_per_hour: vec![HourCount {
                hour: at("2026-03-05T12:00:00Z"),
                calls: 40,
                tokens: None,
                refusals: 0,
                every_call_logged: true,
            }],
            ..Default::default()
        };
        let g = of(&f);
        assert_eq!(value(&g, "circuit_open", None), Some(0.0));
        assert_eq!(value(&g, "circuit_reset_timestamp_seconds", None), None);
        assert_eq!(
            value(&g, "circuit_last_incident_start_timestamp_seconds", None),
            None
        );
        assert_eq!(value(&g, "model_calls_current_hour", None), Some(0.0));
        assert_eq!(value(&g, "model_calls_previous_hour", None), Some(0.0));
        assert_eq!(value(&g, "model_calls_exact", None), Some(0.0));
    }
}

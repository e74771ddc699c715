//! backup-config's gauges for the Prometheus textfile (`runtime.textfile_dir`), built from its
//! public facts alone (pure).
//!
//! | family (`agent_jobs_…`) | labels | value |
//! |---|---|---|
//! | `config_valid` | `file` | 1 when the watched config's last check found it good, 0 when suspicious, invalid, missing or unreadable (absent before its first check) |
//! | `config_snapshots` | `file` | snapshots stored |
//! | `config_last_good_timestamp_seconds` | `file` | when the last good version was last seen live |
//! | `config_latest_snapshot_timestamp_seconds` | `file` | when the newest snapshot was taken |
//! | `config_rollbacks` | `file` | the gateway's own rollbacks of it among the newest 20 noticed |
//! | `config_last_rollback_timestamp_seconds` | `file` | when the gateway last rolled it back |
//! | `gateway_database_snapshots` | `source` | snapshots of each gateway database (`global`, `agent:<id>`) |
//! | `gateway_database_last_snapshot_timestamp_seconds` | `source` | when the newest was taken |
//! | `gateway_database_snapshot_failing` | `source` | 1 when the last attempt failed |
//! | `gateway_cron_jobs` | | the gateway's cron jobs as last listed |

use chrono::{DateTime, Utc};
use common::contracts::facts::backup_config::BackupFacts;
use common::metrics::Gauge;

/// The gauges of `f`.
pub fn of(f: &BackupFacts) -> Vec<Gauge> {
    let mut g = Vec::new();
    for c in &f.files {
        let file = |x: Gauge| x.label("file", c.name.clone());
        if c.status != "unknown" {
            g.push(file(Gauge::new(
                "config_valid",
                "1 when the watched agent config was good at its last check, 0 when suspicious, invalid, missing or unreadable.",
                if c.status == "good" { 1.0 } else { 0.0 },
            )));
        }
        g.push(file(Gauge::new(
            "config_snapshots",
            "Snapshots stored of each watched agent config.",
            c.snapshots as f64,
        )));
        if let Some(t) = c.last_good_at {
            g.push(file(Gauge::new(
                "config_last_good_timestamp_seconds",
                "Unix time the last good version of each watched config was last seen live.",
                secs(t),
            )));
        }
        if let Some(t) = c.latest_snapshot_at {
            g.push(file(Gauge::new(
                "config_latest_snapshot_timestamp_seconds",
                "Unix time the newest snapshot of each watched config was taken.",
                secs(t),
            )));
        }
        let rollbacks = f
            .rollbacks
            .iter()
            .filter(|e| e.message.starts_with(&format!("{}: ", c.name)))
            .count();
        g.push(file(Gauge::new(
            "config_rollbacks",
            "The gateway's own rollbacks of each watched config among the newest 20 noticed.",
            rollbacks as f64,
        )));
        if let Some(t) = c.last_rollback_at {
            g.push(file(Gauge::new(
                "config_last_rollback_timestamp_seconds",
                "Unix time the gateway last rolled each watched config back by itself.",
                secs(t),
            )));
        }
    }
    for d in &f.databases {
        let source = |x: Gauge| x.label("source", d.source.clone());
        g.push(source(Gauge::new(
            "gateway_database_snapshots",
            "Snapshots stored of each gateway database.",
            d.snapshots as f64,
        )));
        if let Some(t) = d.latest_snapshot_at {
            g.push(source(Gauge::new(
                "gateway_database_last_snapshot_timestamp_seconds",
                "Unix time the newest snapshot of each gateway database was taken.",
                secs(t),
            )));
        }
        g.push(source(Gauge::new(
            "gateway_database_snapshot_failing",
            "1 when the last snapshot attempt of the gateway database failed, else 0.",
            if d.problem.is_some() { 1.0 } else { 0.0 },
        )));
    }
    if let Some(c) = f.cron.as_ref().filter(|c| c.listed_at.is_some()) {
        g.push(Gauge::new(
            "gateway_cron_jobs",
            "The gateway's cron jobs as last listed.",
            c.jobs as f64,
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
    use common::contracts::facts::Event;
    use common::contracts::facts::backup_config::{ConfigFacts, CronFacts, DatabaseFacts};

    fn value(g: &[Gauge], name: &str, label: (&str, &str)) -> Option<f64> {
        g.iter()
            .find(|x| x.name == name && x.labels.iter().any(|(k, v)| *k == label.0 && v == label.1))
            .map(|x| x.value)
    }

    #[test]
    fn per_file_validity_snapshots_rollbacks_and_databases() {
        let t: DateTime<Utc> = "2026-03-05T12:00:00Z".parse().unwrap();
        let f = BackupFacts {
            files: vec![
                ConfigFacts {
                    name: "openclaw.json".into(),
                    status: "invalid".into(),
                    snapshots: 4,
                    last_good_at: Some(t),
                    latest_snapshot_at: Some(t),
                    last_rollback_at: Some(t),
                    ..Default::default()
                },
                ConfigFacts {
                    name: "other.json".into(),
                    status: "good".into(),
                    snapshots: 1,
                    ..Default::default()
                },
                ConfigFacts {
                    name: "new.json".into(),
                    status: "unknown".into(),
                    ..Default::default()
                },
            ],
            rollbacks: vec![
                Event {
                    at: t,
                    message: "openclaw.json: the gateway auto-restored from backup".into(),
                },
                Event {
                    at: t,
                    message: "openclaw.json: the gateway rejected a write".into(),
                },
            ],
            databases: vec![DatabaseFacts {
                source: "global".into(),
                snapshots: 2,
                latest_snapshot_at: Some(t),
                problem: Some("busy".into()),
                ..Default::default()
            }],
            cron: Some(CronFacts {
                jobs: 3,
                listed_at: Some(t),
                skipped: None,
            }),
            ..Default::default()
        };
        let g = of(&f);
        let file = |n| ("file", n);
        assert_eq!(value(&g, "config_valid", file("openclaw.json")), Some(0.0));
        assert_eq!(value(&g, "config_valid", file("other.json")), Some(1.0));
        assert_eq!(value(&g, "config_valid", file("new.json")), None);
        assert_eq!(
            value(&g, "config_snapshots", file("openclaw.json")),
            Some(4.0)
        );
        assert_eq!(
            value(
                &g,
                "config_last_good_timestamp_seconds",
                file("openclaw.json")
            ),
            Some(secs(t))
        );
        assert_eq!(
            value(&g, "config_rollbacks", file("openclaw.json")),
            Some(2.0)
        );
        assert_eq!(value(&g, "config_rollbacks", file("other.json")), Some(0.0));
        assert_eq!(
            value(&g, "gateway_database_snapshots", ("source", "global")),
            Some(2.0)
        );
        assert_eq!(
            value(
                &g,
                "gateway_database_snapshot_failing",
                ("source", "global")
            ),
            Some(1.0)
        );
        assert!(
            g.iter()
                .any(|x| x.name == "gateway_cron_jobs" && x.value == 3.0)
        );
    }
}

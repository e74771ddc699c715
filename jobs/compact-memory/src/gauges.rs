//! compact-memory's gauges for the Prometheus textfile (`runtime.textfile_dir`), built from its
//! public facts alone (pure).
//!
//! | family (`agent_jobs_…`) | labels | value |
//! |---|---|---|
//! | `memory_over_budget` | | 1 when a bootstrap file or their total is over the gateway's budget, else 0 |
//! | `memory_bootstrap_chars` | `file` | characters of each bootstrap file the gateway injects (retired files too) |
//! | `memory_bootstrap_limit_chars` | `file` | that file's budget (absent for a retired file: it is not injected) |
//! | `memory_bootstrap_total_chars` / `memory_bootstrap_total_limit_chars` | | all of them, against the total budget |
//! | `memory_budget_measured_timestamp_seconds` | | when the files were measured |
//! | `memory_digests` | | digests written so far |
//! | `memory_archived_notes` | | daily notes archived (listed by the digests) |
//!
//! The budget families are absent until the first nightly run has measured the files.

use chrono::{DateTime, Utc};
use common::contracts::facts::compact_memory::MemoryFacts;
use common::metrics::Gauge;

/// The gauges of `f`.
pub fn of(f: &MemoryFacts) -> Vec<Gauge> {
    let mut g = Vec::new();
    if let Some(b) = &f.budget {
        g.push(Gauge::new(
            "memory_over_budget",
            "1 when a bootstrap file or their total is over the gateway's character budget (the gateway truncates it), else 0.",
            if b.over { 1.0 } else { 0.0 },
        ));
        for file in &b.files {
            g.push(
                Gauge::new(
                    "memory_bootstrap_chars",
                    "Characters of each agent bootstrap file (what the gateway counts against its budget).",
                    file.chars as f64,
                )
                .label("file", file.name.clone()),
            );
            if !file.retired {
                g.push(
                    Gauge::new(
                        "memory_bootstrap_limit_chars",
                        "The gateway's character budget of each injected bootstrap file.",
                        file.limit as f64,
                    )
                    .label("file", file.name.clone()),
                );
            }
        }
        g.push(Gauge::new(
            "memory_bootstrap_total_chars",
            "Characters of all agent bootstrap files together.",
            b.total_chars as f64,
        ));
        g.push(Gauge::new(
            "memory_bootstrap_total_limit_chars",
            "The gateway's character budget of all bootstrap files together.",
            b.total_limit as f64,
        ));
        if let Some(t) = b.measured_at {
            g.push(Gauge::new(
                "memory_budget_measured_timestamp_seconds",
                "Unix time compact-memory last measured the bootstrap files.",
                secs(t),
            ));
        }
    }
    g.push(Gauge::new(
        "memory_digests",
        "Memory digests compact-memory has written.",
        f.digests as f64,
    ));
    g.push(Gauge::new(
        "memory_archived_notes",
        "Daily memory notes archived (kept byte for byte outside the gateway's index) and listed by the digests.",
        f.archived as f64,
    ));
    g
}

fn secs(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::contracts::facts::compact_memory::{BudgetFacts, FileBudget};

    fn value(g: &[Gauge], name: &str, file: Option<&str>) -> Option<f64> {
        g.iter()
            .find(|x| {
                x.name == name
                    && file.is_none_or(|f| x.labels.iter().any(|(k, v)| *k == "file" && v == f))
            })
            .map(|x| x.value)
    }

    #[test]
    fn budget_per_file_and_counts() {
        let f = MemoryFacts {
            budget: Some(BudgetFacts {
                measured_at: Some("2026-02-16T03:00:00Z".parse().unwrap()),
                per_file_limit: 20000,
                total_limit: 60000,
                files: vec![
                    FileBudget {
                        name: "MEMORY.md".into(),
                        chars: 25000,
                        limit: 20000,
                        over: true,
                        retired: false,
                    },
                    FileBudget {
                        name: "TOOLS.md".into(),
                        chars: 10,
                        limit: 0,
                        over: false,
                        retired: true,
                    },
                ],
                total_chars: 25010,
                over: true,
                ..Default::default()
            }),
            digests: 3,
            archived: 17,
            ..Default::default()
        };
        let g = of(&f);
        assert_eq!(value(&g, "memory_over_budget", None), Some(1.0));
        assert_eq!(
            value(&g, "memory_bootstrap_chars", Some("MEMORY.md")),
            Some(25000.0)
        );
        assert_eq!(
            value(&g, "memory_bootstrap_limit_chars", Some("MEMORY.md")),
            Some(20000.0)
        );
        assert_eq!(
            value(&g, "memory_bootstrap_chars", Some("TOOLS.md")),
            Some(10.0)
        );
        assert_eq!(
            value(&g, "memory_bootstrap_limit_chars", Some("TOOLS.md")),
            None,
            "a retired file has no budget"
        );
        assert_eq!(
            value(&g, "memory_bootstrap_total_chars", None),
            Some(25010.0)
        );
        assert_eq!(
            value(&g, "memory_bootstrap_total_limit_chars", None),
            Some(60000.0)
        );
        assert_eq!(
            value(&g, "memory_budget_measured_timestamp_seconds", None),
            Some(1_771_210_800.0)
        );
        assert_eq!(value(&g, "memory_digests", None), Some(3.0));
        assert_eq!(value(&g, "memory_archived_notes", None), Some(17.0));
    }

    #[test]
    fn before_the_first_measure_only_counts() {
        let g = of(&MemoryFacts::default());
        let names: Vec<&str> = g.iter().map(|x| x.name).collect();
        assert_eq!(names, ["memory_digests", "memory_archived_notes"]);
    }
}

//! Prometheus / OpenMetrics textfile export for node_exporter's textfile collector.
//!
//! With `runtime.textfile_dir` set, every run (success, failure, skip, and runs that fail
//! before their state is read, as far as they got) rewrites `<dir>/agent_jobs_<job>.prom`
//! atomically (a temp file starting with `.` and not ending in `.prom`, which the collector
//! ignores, then a rename). Names follow the Prometheus conventions: base units (`_seconds`),
//! `_total` for counters, one family per name, `# HELP` and `# TYPE` first, a `job` label on
//! every sample. Each job adds its own gauges ([`Gauge`], from its public facts).

use crate::state::State;
use anyhow::Result;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// One sample of a job's own gauge family `agent_jobs_<name>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Gauge {
    /// Family name without the `agent_jobs_` prefix, in Prometheus style
    /// (`circuit_open`, `inbox_pending_events`, `memory_bootstrap_chars`).
    pub name: &'static str,
    pub help: &'static str,
    /// Labels besides `job` (`file`, `kind`, …).
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
}

impl Gauge {
    pub fn new(name: &'static str, help: &'static str, value: f64) -> Gauge {
        Gauge {
            name,
            help,
            labels: Vec::new(),
            value,
        }
    }
    pub fn label(mut self, k: &'static str, v: impl Into<String>) -> Gauge {
        self.labels.push((k, v.into()));
        self
    }
}

/// What a run knows when it writes its metrics.
#[derive(Debug)]
pub struct RunFacts<'a, D> {
    pub job: &'a str,
    pub started_at: DateTime<Utc>,
    pub duration_secs: f64,
    pub exit_code: i32,
    /// The state after the run (None when the run ended before the state was read).
    pub state: Option<&'a State<D>>,
    pub gauges: Vec<Gauge>,
}

/// Render the textfile.
pub fn render<D>(r: &RunFacts<'_, D>) -> String {
    let mut fams: BTreeMap<String, (String, &'static str, Vec<String>)> = BTreeMap::new();
    let job = escape(r.job);
    let mut add =
        |name: &str, help: &str, kind: &'static str, labels: &[(&str, String)], v: f64| {
            let mut l = format!("job=\"{job}\"");
            for (k, val) in labels {
                let _ = write!(l, ",{k}=\"{}\"", escape(val));
            }
            let e = fams
                .entry(format!("agent_jobs_{name}"))
                .or_insert_with(|| (help.to_string(), kind, Vec::new()));
            e.2.push(format!("agent_jobs_{name}{{{l}}} {}", num(v)));
        };
    add(
        "last_run_timestamp_seconds",
        "Unix time the job's last run started.",
        "gauge",
        &[],
        r.started_at.timestamp_millis() as f64 / 1000.0,
    );
    add(
        "last_run_duration_seconds",
        "How long the job's last run took.",
        "gauge",
        &[],
        r.duration_secs,
    );
    add(
        "last_exit_code",
        "Exit code of the job's last run (0 ok, 1 failed, 65 bad state, 75 skipped, 78 config error).",
        "gauge",
        &[],
        f64::from(r.exit_code),
    );
    if let Some(st) = r.state {
        if let Some(t) = st.last_success {
            add(
                "last_success_timestamp_seconds",
                "Unix time the job's last successful run finished.",
                "gauge",
                &[],
                t.timestamp_millis() as f64 / 1000.0,
            );
        }
        add(
            "consecutive_failures",
            "Failed runs in a row.",
            "gauge",
            &[],
            f64::from(st.consecutive_failures),
        );
        let c = &st.runs;
        for (outcome, n) in [
            ("ok", c.ok),
            ("noop", c.noop),
            ("degraded", c.degraded),
            ("failed", c.failed),
            ("skipped", c.skipped),
        ] {
            add(
                "runs_total",
                "Runs of the job by outcome since its state file was created.",
                "counter",
                &[("outcome", outcome.to_string())],
                n as f64,
            );
        }
        let unknown = st
            .effects
            .values()
            .filter(|e| e.status == crate::effect::EffectStatus::Unknown)
            .count();
        add(
            "effects_unknown",
            "Side effects whose outcome is unknown (a run died during them): check by hand.",
            "gauge",
            &[],
            unknown as f64,
        );
    }
    for g in &r.gauges {
        add(g.name, g.help, "gauge", &g.labels, g.value);
    }
    let mut out = String::new();
    for (name, (help, kind, samples)) in fams {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for s in samples {
            out.push_str(&s);
            out.push('\n');
        }
    }
    out
}

/// Write the textfile atomically into `dir`.
pub fn write<D>(dir: &Path, r: &RunFacts<'_, D>) -> Result<()> {
    crate::fsutil::refuse_symlinked_dir(dir)?;
    let path = dir.join(format!("agent_jobs_{}.prom", r.job.replace('-', "_")));
    crate::fsutil::write_atomic_with(
        &path,
        render(r).as_bytes(),
        crate::fsutil::FileOptions {
            mode: Some(0o644),
            owner: None,
        },
    )
}

fn num(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_grouped_and_labels_escaped() {
        let r: RunFacts<'_, ()> = RunFacts {
            job: "poll-teams",
            started_at: DateTime::from_timestamp(1_700_000_000, 500_000_000).unwrap(),
            duration_secs: 0.25,
            exit_code: 0,
            state: None,
            gauges: vec![
                Gauge::new("memory_bootstrap_chars", "Chars.", 10.0).label("file", "MEMORY.md"),
                Gauge::new("memory_bootstrap_chars", "Chars.", 20.0).label("file", "a\"b"),
            ],
        };
        let t = render(&r);
        assert_eq!(
            t.matches("# TYPE agent_jobs_memory_bootstrap_chars gauge")
                .count(),
            1
        );
        assert!(
            t.contains("agent_jobs_last_run_timestamp_seconds{job=\"poll-teams\"} 1700000000.5"),
            "{t}"
        );
        assert!(t.contains("file=\"a\\\"b\""), "{t}");
        assert!(t.contains("agent_jobs_last_run_duration_seconds{job=\"poll-teams\"} 0.25"));
    }
}

//! `watch-jobs status`: where each job stands now, the open outages, and what a check would
//! send; `--json` prints the facts (`contracts::facts::watch_jobs::WatchFacts`).

use crate::config::Config;
use crate::decide::Action;
use crate::texts::span;
use anyhow::{Context, Result};
use contracts::facts::watch_jobs::WatchFacts;
use schedule::when;
use std::io::Write;

/// Print the check: a table, or with `json` one JSON document.
pub fn print(facts: &WatchFacts, pending: &[Action], json: bool, cfg: &Config) -> Result<()> {
    let text = if json {
        let mut s = serde_json::to_string_pretty(facts)?;
        s.push('\n');
        s
    } else {
        render(facts, pending, cfg)
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .context("cannot write to stdout")
}

/// The human-readable form.
pub fn render(f: &WatchFacts, pending: &[Action], cfg: &Config) -> String {
    let mut o = format!(
        "watch-jobs: {} job(s) checked at {} against {} (zone {})\n",
        f.jobs.len(),
        f.checked_at.map_or_else(|| "-".into(), when),
        f.crontab.as_deref().unwrap_or("-"),
        cfg.timezone
    );
    if f.suite_paused {
        o.push_str("the suite is paused (state/control.json): nothing is alerted\n");
    }
    if f.maintenance {
        o.push_str(
            "maintenance holds (state/maintenance.json): outages are recorded, not alerted\n",
        );
    }
    let width = f.jobs.iter().map(|j| j.job.len()).max().unwrap_or(3).max(3);
    o.push_str(&format!(
        "\n{:width$}  {:25}  {:>8}  DETAIL\n",
        "JOB", "STATUS", "GRACE"
    ));
    for j in &f.jobs {
        o.push_str(&format!(
            "{:width$}  {:25}  {:>8}  {}\n",
            j.job,
            j.status.as_str(),
            span(chrono::Duration::seconds(j.grace_secs as i64)),
            j.detail
        ));
    }
    o.push_str("\nopen outages:");
    if f.open.is_empty() {
        o.push_str(" none\n");
    } else {
        o.push('\n');
        for x in &f.open {
            o.push_str(&format!(
                "  {} since {} (seen {}), alerted: {}\n",
                x.job,
                when(x.since),
                when(x.detected_at),
                x.alerted.as_deref().unwrap_or("not yet")
            ));
        }
    }
    if !pending.is_empty() {
        o.push_str("a check now would send:\n");
        for a in pending {
            o.push_str(&format!(
                "  [{}] {}: {}\n",
                a.severity().as_str(),
                a.key(),
                a.text()
            ));
        }
    }
    o
}

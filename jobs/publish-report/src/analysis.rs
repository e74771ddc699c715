//! The report's "analysis" paragraph, written by rules from the collected facts: deterministic,
//! so the same inputs always give the same words, and nothing leaves the machine to write it.

use crate::collect::{JobStatus, Report};

/// A few sentences on what needs attention first, or `None` when there is nothing to say.
pub fn rules(r: &Report) -> Option<String> {
    let mut s: Vec<String> = Vec::new();
    if let Some(p) = &r.suite_paused {
        s.push(format!(
            "The suite is paused{}, so jobs skip their runs until it is resumed.",
            p.reason
                .as_deref()
                .map(|x| format!(" ({x})"))
                .unwrap_or_default()
        ));
    }
    let mut worst: Vec<_> = r.jobs.iter().filter(|j| j.status.is_problem()).collect();
    worst.sort_by_key(|j| j.status);
    for j in worst.iter().take(3) {
        let what = match j.status {
            JobStatus::Overdue => format!("{} is overdue: it {}", j.name, j.detail),
            JobStatus::Failing => format!("{} is failing: {}", j.name, j.detail),
            JobStatus::Corrupt => format!(
                "{}'s state file cannot be read; fix it or run `{} --reset-state`",
                j.name, j.name
            ),
            JobStatus::NeverRun => format!("{} has never run: {}", j.name, j.detail),
            _ => continue,
        };
        s.push(format!("{}.", what.trim_end_matches('.')));
    }
    if worst.len() > 3 {
        s.push(format!("{} more jobs need attention.", worst.len() - 3));
    }
    if r.circuit.open {
        s.push(format!(
            "The rate-limit circuit is open{}{}: model calls are held back.",
            r.circuit
                .since
                .map(|t| format!(" since {}", t.format("%Y-%m-%d %H:%M UTC")))
                .unwrap_or_default(),
            r.circuit
                .reset_at
                .map(|t| format!(", expected to reset at {}", t.format("%Y-%m-%d %H:%M UTC")))
                .unwrap_or_default()
        ));
    } else if !r.incidents.is_empty() {
        s.push(format!(
            "{} rate-limit incident(s) in the period, none open now.",
            r.incidents.len()
        ));
    }
    if !r.config_problems.is_empty() {
        s.push(format!(
            "{} config problem(s) were found; see below.",
            r.config_problems.len()
        ));
    }
    if r.log_errors > 0 {
        let noisiest = r
            .jobs
            .iter()
            .max_by_key(|j| (j.log_errors, std::cmp::Reverse(j.name.clone())))
            .filter(|j| j.log_errors > 0);
        s.push(format!(
            "{} error line(s) were logged in the period{}.",
            r.log_errors,
            noisiest
                .map(|j| format!(", most by {} ({})", j.name, j.log_errors))
                .unwrap_or_default()
        ));
    }
    let paused: Vec<_> = r
        .jobs
        .iter()
        .filter(|j| j.status == JobStatus::Paused)
        .map(|j| j.name.as_str())
        .collect();
    if !paused.is_empty() {
        s.push(format!("Paused in the crontab: {}.", paused.join(", ")));
    }
    if s.is_empty() {
        return Some("Every job ran on schedule and nothing needs attention.".into());
    }
    Some(s.join(" "))
}

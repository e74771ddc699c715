//! Rendering a collected [`Report`]: Markdown (`reports/<period>.md`, webhook `text`), an HTML
//! fragment for chat messages (Teams renders a subset of HTML), and JSON.
//!
//! Every message carries the report id on a line of its own (`report-id: …`): that is how a
//! destination is searched for a report after a crash between sending and recording.

use crate::collect::{JobStatus, Report};
use chrono::{DateTime, Utc};

/// Escape text for HTML/XML (text and attribute values).
pub use common::html::escape as esc;

/// Markdown table cells must not contain `|` or newlines.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

pub fn t(ts: DateTime<Utc>) -> String {
    ts.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn opt_t(ts: Option<DateTime<Utc>>) -> String {
    ts.map_or_else(|| "—".into(), t)
}

/// The line every published copy carries.
pub fn id_line(r: &Report) -> String {
    format!("report-id: {}", r.report_id)
}

fn badge(s: JobStatus) -> &'static str {
    match s {
        JobStatus::Ok => "✅",
        JobStatus::Paused | JobStatus::Unscheduled => "⏸️",
        JobStatus::Degraded => "🟡",
        _ => "❌",
    }
}

fn duration(ms: Option<u64>) -> String {
    match ms {
        None => "—".into(),
        Some(ms) if ms < 1000 => format!("{ms} ms"),
        Some(ms) if ms < 120_000 => format!("{:.1} s", ms as f64 / 1000.0),
        Some(ms) => format!("{:.1} min", ms as f64 / 60_000.0),
    }
}

/// The Markdown report.
pub fn markdown(r: &Report) -> String {
    let mut o = String::new();
    o.push_str(&format!(
        "# agent-jobs {} report {} — {}\n\n",
        r.period_kind, r.period, r.overall
    ));
    o.push_str(&format!(
        "**{}.** Period {} → {} ({}), host `{}`.\n\n",
        r.headline,
        t(r.from),
        t(r.as_of),
        r.timezone,
        r.host
    ));
    if let Some(p) = &r.suite_paused {
        o.push_str(&format!(
            "> **Suite paused**{}{}{}.\n\n",
            p.by.as_deref()
                .map(|b| format!(" by {b}"))
                .unwrap_or_default(),
            p.at.map(|a| format!(" at {}", t(a))).unwrap_or_default(),
            p.reason
                .as_deref()
                .map(|x| format!(": {x}"))
                .unwrap_or_default()
        ));
    }
    if let Some(a) = &r.analysis {
        o.push_str(&format!("## Analysis\n\n{a}\n\n"));
        if r.analysis_source.as_deref() == Some("model") {
            o.push_str("_Written by the model from the facts below._\n\n");
        }
    }
    o.push_str("## Jobs\n\n| job | status | last run | result | runs (failed) | warn/error lines | next run |\n|---|---|---|---|---|---|---|\n");
    for j in &r.jobs {
        let last = j.last_run.as_ref();
        o.push_str(&format!(
            "| {} | {} {} | {} | {} | {} ({}) | {}/{} | {} |\n",
            j.name,
            badge(j.status),
            j.status.as_str(),
            last.map_or_else(|| "never".into(), |l| t(l.started_at)),
            last.map_or_else(
                || "—".into(),
                |l| format!("{} in {}", l.outcome, duration(l.duration_ms))
            ),
            j.runs_in_period.total,
            j.runs_in_period.failed,
            j.log_warnings,
            j.log_errors,
            opt_t(j.next_due),
        ));
    }
    o.push('\n');
    let notes: Vec<_> = r
        .jobs
        .iter()
        .filter(|j| j.status != JobStatus::Ok)
        .collect();
    if !notes.is_empty() {
        for j in notes {
            o.push_str(&format!(
                "- **{}** ({}): {}\n",
                j.name,
                j.status.as_str(),
                cell(&j.detail)
            ));
        }
        o.push('\n');
    }
    o.push_str("## Rate limits\n\n");
    if r.circuit.open {
        o.push_str(&format!(
            "Circuit **open**{}{}{}{}.\n\n",
            r.circuit
                .kind
                .as_deref()
                .map(|k| format!(" ({k})"))
                .unwrap_or_default(),
            r.circuit
                .since
                .map(|s| format!(" since {}", t(s)))
                .unwrap_or_default(),
            r.circuit
                .reset_at
                .map(|s| format!(", reset expected {}", t(s)))
                .unwrap_or_default(),
            r.circuit
                .reason
                .as_deref()
                .map(|s| format!(": {}", cell(s)))
                .unwrap_or_default()
        ));
    } else {
        o.push_str("Circuit closed.\n\n");
    }
    if r.incidents.is_empty() {
        o.push_str("No incidents in the period.\n\n");
    } else {
        o.push_str("| incident | kind | started | closed | matches | reason |\n|---|---|---|---|---|---|\n");
        for i in &r.incidents {
            o.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                cell(&i.id),
                cell(&i.kind),
                opt_t(i.started_at),
                i.closed_at.map_or_else(|| "open".into(), t),
                i.matches,
                cell(&i.reason)
            ));
        }
        o.push('\n');
    }
    o.push_str("## Config and backups\n\n");
    if let Some(b) = &r.backups {
        o.push_str(&format!(
            "Snapshots: {}; latest {}.\n\n",
            b.snapshots
                .map_or_else(|| "unknown".into(), |n| n.to_string()),
            opt_t(b.latest_snapshot)
        ));
    } else {
        o.push_str("No backup-config data.\n\n");
    }
    if r.config_problems.is_empty() {
        o.push_str("No config problems.\n\n");
    } else {
        for p in &r.config_problems {
            o.push_str(&format!("- {}\n", cell(p)));
        }
        o.push('\n');
    }
    o.push_str("## Memory budget\n\n");
    match &r.memory {
        Some(m) if !m.facts.is_empty() => {
            if m.over_budget {
                o.push_str("**Over budget.**\n\n");
            }
            for p in &m.problems {
                o.push_str(&format!("- ⚠️ {}\n", cell(p)));
            }
            for (k, v) in &m.facts {
                o.push_str(&format!("- {k}: {}\n", cell(v)));
            }
            o.push('\n');
        }
        _ => o.push_str("No budget report from compact-memory.\n\n"),
    }
    if !r.input_problems.is_empty() {
        o.push_str("## Inputs that could not be read\n\n");
        for p in &r.input_problems {
            o.push_str(&format!("- {}\n", cell(p)));
        }
        o.push('\n');
    }
    o.push_str(&format!(
        "Logs: {} warning and {} error lines in the period.\n\n{}\n",
        r.log_warnings,
        r.log_errors,
        id_line(r)
    ));
    o
}

/// An HTML fragment for a chat message (no styles, no scripts: what Teams keeps).
pub fn html_fragment(r: &Report) -> String {
    let mut o = String::new();
    o.push_str(&format!(
        "<p><b>agent-jobs {} report {}: {}</b><br/>{}</p>",
        esc(&r.period_kind),
        esc(&r.period),
        esc(&r.overall),
        esc(&r.headline)
    ));
    if let Some(a) = &r.analysis {
        o.push_str(&format!("<p>{}</p>", esc(a)));
    }
    o.push_str("<ul>");
    for j in &r.jobs {
        o.push_str(&format!(
            "<li>{} <b>{}</b>: {} — {}</li>",
            badge(j.status),
            esc(&j.name),
            esc(j.status.as_str()),
            esc(&j.detail)
        ));
    }
    o.push_str("</ul>");
    if r.circuit.open {
        o.push_str(&format!(
            "<p>Rate-limit circuit <b>open</b>{}.</p>",
            r.circuit
                .since
                .map(|s| format!(" since {}", esc(&t(s))))
                .unwrap_or_default()
        ));
    }
    if !r.config_problems.is_empty() {
        o.push_str(&format!(
            "<p>{} config problem(s).</p>",
            r.config_problems.len()
        ));
    }
    o.push_str(&format!("<p><small>{}</small></p>", esc(&id_line(r))));
    o
}

/// The JSON report.
pub fn json(r: &Report) -> anyhow::Result<Vec<u8>> {
    let mut v = serde_json::to_vec_pretty(r)?;
    v.push(b'\n');
    Ok(v)
}

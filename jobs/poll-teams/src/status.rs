//! `/jobs status`: the suite at a glance, as HTML for Teams. Every job's state file is read
//! through its public contract (`contracts::state::PublicState` with the job's facts type), so
//! a renamed field fails to compile here instead of blanking a line.

use crate::commands::ago;
use crate::data::Data;
use chrono::{DateTime, Utc};
use common::Ctx;
use common::contracts::facts::{
    backup_config::BackupFacts, check_ratelimit::RatelimitFacts, compact_memory::MemoryFacts,
    poll_teams::InboxFacts, publish_report::ReportFacts, watch_gateway::GatewayFacts,
};
use common::contracts::state::PublicState;
use common::exit::one_line;
use common::html::escape;
use serde::de::DeserializeOwned;
use std::path::Path;

/// The suite's status as HTML: the pause switch, the circuit, then one line per job.
pub fn suite_html(ctx: &Ctx<Data>) -> String {
    let now = ctx.now();
    let dir = &ctx.paths.state_dir;
    let mut html = format!(
        "<p><b>agent-jobs status</b> on {} at {}</p>",
        escape(&ctx.host),
        now.format("%Y-%m-%d %H:%M UTC")
    );
    html.push_str(&pause_line(dir, now));
    html.push_str(&circuit_line(dir));
    html.push_str("<ul>");
    for job in common::contracts::registry::names() {
        let line = job_line(&ctx.paths.state_file(job), job, now);
        html.push_str(&format!("<li><b>{job}</b>: {}</li>", escape(&line)));
    }
    html.push_str("</ul>");
    html
}

fn pause_line(dir: &Path, now: DateTime<Utc>) -> String {
    match common::control::read_control(dir) {
        Ok(c) if c.paused => format!(
            "<p>⏸ Paused{}{}{}.</p>",
            c.by.map(|b| format!(" by {}", escape(&b)))
                .unwrap_or_default(),
            c.at.map(|a| format!(" {}", ago(a, now)))
                .unwrap_or_default(),
            c.reason
                .map(|r| format!(": {}", escape(&r)))
                .unwrap_or_default()
        ),
        Ok(_) => "<p>▶️ Running (not paused).</p>".into(),
        Err(e) => format!("<p>Pause switch unreadable: {}</p>", escape(&one_line(&e))),
    }
}

fn circuit_line(dir: &Path) -> String {
    match common::control::read_circuit(dir) {
        Ok(c) if c.is_open() => format!(
            "<p>🔴 Rate-limit circuit open{}{}{}.</p>",
            c.kind
                .map(|k| format!(" ({})", escape(&k)))
                .unwrap_or_default(),
            c.reason
                .map(|r| format!(": {}", escape(&r)))
                .unwrap_or_default(),
            c.reset_at
                .map(|r| format!("; expected reset {}", r.format("%Y-%m-%d %H:%M UTC")))
                .unwrap_or_default()
        ),
        Ok(_) => "<p>🟢 Rate-limit circuit closed.</p>".into(),
        Err(e) => format!("<p>Circuit unreadable: {}</p>", escape(&one_line(&e))),
    }
}

/// A job's state as its public contract, `None` if it never ran.
fn read<F: DeserializeOwned>(path: &Path) -> anyhow::Result<Option<PublicState<F>>> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(serde_json::from_slice(&b).map_err(|e| {
            anyhow::anyhow!("{} does not parse: {e}", path.display())
        })?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
    }
}

/// One job: its last run, then what its facts say.
pub fn job_line(path: &Path, job: &str, now: DateTime<Utc>) -> String {
    let r = match job {
        "check-ratelimit" => line_with(path, now, ratelimit),
        "backup-config" => line_with(path, now, backup),
        "compact-memory" => line_with(path, now, memory),
        "publish-report" => line_with(path, now, report),
        "watch-gateway" => line_with(path, now, gateway),
        "poll-teams" => line_with(path, now, inbox),
        _ => line_with(path, now, |_: &serde_json::Value| None),
    };
    r.unwrap_or_else(|e| format!("state unreadable: {}", one_line(&e)))
}

fn line_with<F: DeserializeOwned>(
    path: &Path,
    now: DateTime<Utc>,
    facts: impl Fn(&F) -> Option<String>,
) -> anyhow::Result<String> {
    let Some(st) = read::<F>(path)? else {
        return Ok("never ran".into());
    };
    let mut line = run_line(&st, now);
    if let Some(f) = st.facts.as_ref().and_then(facts) {
        line.push_str(&format!(" — {f}"));
    }
    Ok(line)
}

fn run_line<F>(st: &PublicState<F>, now: DateTime<Utc>) -> String {
    let Some(last) = &st.last_run else {
        return "never ran".into();
    };
    let mut line = format!(
        "{} {} (exit {})",
        last.outcome.as_str(),
        ago(last.finished_at, now),
        last.exit_code
    );
    let detail = last.error.clone().or_else(|| last.summary.clone());
    if let Some(d) = detail.filter(|d| !d.is_empty()) {
        let d: String = d.chars().take(200).collect();
        line.push_str(&format!(": {d}"));
    }
    if st.consecutive_failures > 1 {
        line.push_str(&format!(" [{} failures in a row]", st.consecutive_failures));
    }
    line
}

fn ratelimit(f: &RatelimitFacts) -> Option<String> {
    let open = f.incidents.iter().rev().find(|i| i.ended_at.is_none());
    Some(match open {
        Some(i) => format!(
            "incident {} open since {} ({})",
            i.kind,
            i.started_at.format("%H:%M UTC"),
            i.reason
        ),
        None => format!(
            "circuit {}",
            if f.circuit.is_open() {
                "open"
            } else {
                "closed"
            }
        ),
    })
}

fn backup(f: &BackupFacts) -> Option<String> {
    let bad: Vec<String> = f
        .files
        .iter()
        .filter(|c| c.status != "good")
        .map(|c| format!("{} {}", c.name, c.status))
        .collect();
    Some(if bad.is_empty() {
        format!("{} config file(s) good", f.files.len())
    } else {
        bad.join(", ")
    })
}

fn memory(f: &MemoryFacts) -> Option<String> {
    let b = f.budget.as_ref()?;
    Some(if b.over {
        format!("over budget: {}", b.problems.join("; "))
    } else {
        format!("{} of {} chars", b.total_chars, b.total_limit)
    })
}

fn report(f: &ReportFacts) -> Option<String> {
    let d = f.deliveries.last()?;
    Some(format!(
        "report {} to {}: {}",
        d.period,
        d.destination,
        d.status.as_str()
    ))
}

fn gateway(f: &GatewayFacts) -> Option<String> {
    let mut s = format!("gateway {}", f.health);
    if f.restarts_last_hour > 0 {
        s.push_str(&format!(
            ", {} restart(s) in the last hour",
            f.restarts_last_hour
        ));
    }
    if let Some(h) = &f.halted {
        s.push_str(&format!(", halted: {h}"));
    }
    Some(s)
}

fn inbox(f: &InboxFacts) -> Option<String> {
    Some(format!(
        "{} pending, {} delivered to the gateway, {} unanswered, {} duplicated replies",
        f.pending, f.delivered, f.unanswered, f.duplicate_replies
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn lines_come_from_typed_state() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("check-ratelimit.json");
        let now = Utc::now();
        std::fs::write(
            &p,
            serde_json::json!({"schema_version": 1, "job": "check-ratelimit",
                "last_run": {"started_at": now, "finished_at": now, "duration_ms": 5, "outcome": "failed",
                             "exit_code": 1, "error": "boom", "summary": null, "pid": 1, "host": "h",
                             "version": "0", "run_id": "r"},
                "last_success": null, "consecutive_failures": 3,
                "facts": {"circuit": {"state": "open"}, "incidents": []}})
            .to_string(),
        )
        .unwrap();
        let l = job_line(&p, "check-ratelimit", now);
        assert!(
            l.starts_with("failed ")
                && l.contains("exit 1")
                && l.contains("boom")
                && l.contains("3 failures")
                && l.contains("circuit open"),
            "{l}"
        );
        assert_eq!(
            job_line(&d.path().join("x.json"), "backup-config", now),
            "never ran"
        );
        std::fs::write(&p, "{").unwrap();
        assert!(job_line(&p, "check-ratelimit", now).starts_with("state unreadable"));
    }
}

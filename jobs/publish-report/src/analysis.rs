//! The report's "analysis" paragraph. The chain is the one compact-memory uses: the model when
//! configured (and the rate-limit circuit is closed, and the token budgets allow), else rules
//! written from the collected facts (deterministic: the same inputs give the same words), else
//! none.

use crate::config::Config;
use crate::contents::{JobStatus, Report};
use crate::data::Data;
use common::Ctx;

const SYSTEM: &str = "You write the analysis paragraph of an operations report for the scheduled \
jobs that keep an AI agent gateway healthy. Given the report as JSON, write at most five plain \
sentences for a busy operator: what needs attention first and why, naming jobs, times (UTC) and \
the next step. No greeting, no headings, no lists, no Markdown, no speculation beyond the data.";

/// The report as the model sees it: the facts without the long per-run histories.
fn prompt(r: &Report) -> String {
    let mut v = serde_json::to_value(r).unwrap_or_default();
    if let Some(jobs) = v.get_mut("jobs").and_then(serde_json::Value::as_array_mut) {
        for j in jobs {
            if let Some(o) = j.as_object_mut() {
                o.remove("history");
                o.remove("metrics");
            }
        }
    }
    if let Some(o) = v.as_object_mut() {
        o.remove("analysis");
        o.remove("analysis_source");
    }
    format!("The report:\n{v}")
}

/// Ask the model for the paragraph. `Err` says why the rules are used instead.
pub fn model(ctx: &mut Ctx<Data>, cfg: &Config, r: &Report) -> Result<String, String> {
    let circuit = ctx.circuit();
    if circuit.is_open() {
        return Err(format!(
            "the rate-limit circuit is open{}",
            circuit
                .reason
                .map(|x| format!(" ({x})"))
                .unwrap_or_default()
        ));
    }
    if ctx.dry_run {
        return Err("dry run: the model is not called".into());
    }
    let today = ctx.now().with_timezone(&cfg.tz()).date_naive();
    ctx.state.data.tokens.start_run(today);
    if let Err(stop) = ctx.state.data.tokens.check(&cfg.model) {
        ctx.state.data.tokens.last_stop = Some(stop.to_string());
        return Err(stop.to_string());
    }
    let key = ctx
        .secret(
            "publish-report.model.api_key",
            cfg.model.api_key_env.as_deref(),
            cfg.model.api_key_file.as_deref(),
        )
        .map_err(|e| common::exit::one_line(&e))?;
    let http = cfg
        .model
        .client(&ctx.runtime.http, ctx.deadline())
        .map_err(|e| common::exit::one_line(&e))?
        .with_stop(ctx.stop.clone());
    match model::complete(&http, &cfg.model, key.as_ref(), SYSTEM, &prompt(r)) {
        Ok(c) => {
            ctx.state.data.tokens.record(&c);
            ctx.metric_add("model_tokens", c.total_tokens());
            let text: String = c.text.split_whitespace().collect::<Vec<_>>().join(" ");
            let text: String = text.chars().take(1500).collect();
            if text.is_empty() {
                return Err("the model answered with an empty text".into());
            }
            Ok(text)
        }
        Err(e) => {
            ctx.state.data.tokens.record_failure(&e);
            ctx.metric_add("model_failures", 1);
            Err(e.to_string())
        }
    }
}

/// A few sentences on what needs attention first, or `None` when there is nothing to say.
pub fn rules(r: &Report) -> Option<String> {
    let mut s: Vec<String> = Vec::new();
    if let Some(p) = &r.suite_paused {
        let why = p
            .reason
            .as_deref()
            .map(|x| format!(" ({x})"))
            .unwrap_or_default();
        s.push(format!(
            "The suite is paused{why}, so jobs skip their runs until it is resumed."
        ));
    }
    s.extend(job_sentences(r));
    s.extend(circuit_sentence(r));
    s.extend(gateway_sentence(r));
    if !r.config_problems.is_empty() {
        s.push(format!(
            "{} config problem(s) were found; see below.",
            r.config_problems.len()
        ));
    }
    if let Some(m) = r.memory.as_ref().filter(|m| m.over_budget) {
        let source = m.budget.as_ref().map(|b| b.source.as_str()).unwrap_or("");
        let source = if source.is_empty() {
            String::new()
        } else {
            format!(" ({source})")
        };
        s.push(format!(
            "The agent's bootstrap files are over their memory budget{source}."
        ));
    }
    if !r.clock_skew.is_empty() {
        s.push(format!(
            "{} time(s) in the suite's files are ahead of this machine's clock: check the clock (NTP) before trusting run times.",
            r.clock_skew.len()
        ));
    }
    s.extend(log_sentence(r));
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

/// The three worst jobs, worst first, and how many more need attention.
fn job_sentences(r: &Report) -> Vec<String> {
    let mut worst: Vec<_> = r.jobs.iter().filter(|j| j.status.is_problem()).collect();
    worst.sort_by_key(|j| j.status);
    let mut s = Vec::new();
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
    s
}

fn circuit_sentence(r: &Report) -> Option<String> {
    let fmt = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M UTC").to_string();
    if r.circuit.open {
        return Some(format!(
            "The rate-limit circuit is open{}{}: model calls are held back.",
            r.circuit
                .since
                .map(|t| format!(" since {}", fmt(t)))
                .unwrap_or_default(),
            r.circuit
                .reset_at
                .map(|t| format!(", expected to reset at {}", fmt(t)))
                .unwrap_or_default()
        ));
    }
    (!r.incidents.is_empty()).then(|| {
        format!(
            "{} rate-limit incident(s) in the period, none open now.",
            r.incidents.len()
        )
    })
}

fn log_sentence(r: &Report) -> Option<String> {
    if r.log_errors == 0 {
        return None;
    }
    let noisiest = r
        .jobs
        .iter()
        .max_by_key(|j| (j.log_errors, std::cmp::Reverse(j.name.clone())))
        .filter(|j| j.log_errors > 0);
    Some(format!(
        "{} error line(s) were logged in the period{}.",
        r.log_errors,
        noisiest
            .map(|j| format!(", most by {} ({})", j.name, j.log_errors))
            .unwrap_or_default()
    ))
}

/// What the gateway's health needs from the operator, if anything.
fn gateway_sentence(r: &Report) -> Option<String> {
    let h = r.gateway.as_ref()?.health.as_ref()?;
    if let Some(why) = &h.halted {
        return Some(format!(
            "watch-gateway stopped restarting the gateway and waits for a human ({why})."
        ));
    }
    matches!(h.health.as_str(), "down" | "flapping").then(|| {
        format!(
            "The gateway is {}{}.",
            h.health,
            h.since
                .map(|t| format!(" since {}", t.format("%Y-%m-%d %H:%M UTC")))
                .unwrap_or_default()
        )
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::assemble::{Settings, assemble};
    use crate::gather::{Gathered, tests as fx};
    use crate::period::Period;
    use chrono::{DateTime, Duration, Utc};

    #[test]
    fn rules_name_what_needs_attention_first() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let p = Period {
            kind: crate::config::PeriodKind::Daily,
            id: "2026-11-20".into(),
            from: t("2026-11-20T00:00:00Z"),
            as_of: t("2026-11-21T00:00:00Z"),
        };
        let mut gw = fx::gateway();
        gw.health = "down".into();
        gw.halted = Some("3 restarts in an hour".into());
        let g = Gathered {
            gateway: Some(gw),
            memory: Some(fx::memory()),
            control: Some(contracts::control::Control {
                at: Some(t("2027-01-01T00:00:00Z")),
                ..Default::default()
            }),
            ..Default::default()
        };
        let grace = |_: &str| Duration::minutes(15);
        let r = assemble(
            &g,
            &Settings {
                period: &p,
                now: t("2026-11-21T00:00:00Z"),
                skew_tolerance: Duration::minutes(5),
                grace: &grace,
                jobs: &[],
                timezone: "UTC".into(),
                host: "h".into(),
                report_id: "x".into(),
                current: None,
            },
        );
        let text = rules(&r).unwrap();
        for part in [
            "waits for a human (3 restarts in an hour)",
            "over their memory budget (gateway config ~/.openclaw/openclaw.json (agent main))",
            "1 time(s) in the suite's files are ahead of this machine's clock",
        ] {
            assert!(text.contains(part), "{part:?} not in {text}");
        }
        // Deterministic: the same facts give the same words.
        assert_eq!(rules(&r), Some(text));
    }
}

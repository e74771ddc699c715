//! The static status page `reports/status.html`: one self-contained file (inline CSS, inline
//! SVG charts, no JavaScript, no external assets) that any browser or a file share can show.
//!
//! The markup is well-formed XML as well as HTML5 (every element closed, void elements
//! self-closed, only XML's predefined entities), so it can be checked with an XML parser.

use crate::collect::{HistoryPoint, JobReport, JobStatus, Report};
use crate::render::{esc, t};

const CSS: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#1d232a;background:#f6f7f9}\
h1{font-size:22px;margin:0 0 4px 0}h2{font-size:17px;margin:24px 0 8px 0}\
.sub{color:#5b6570;margin:0 0 16px 0}\
.banner{padding:10px 14px;border-radius:6px;margin:12px 0;font-weight:600}\
.healthy{background:#dff3e4;color:#14532d}.attention{background:#fde2e1;color:#7f1d1d}.paused{background:#fff4d6;color:#713f12}\
table{border-collapse:collapse;width:100%;background:#fff}\
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #e3e6ea;vertical-align:top;font-size:14px}\
th{background:#eef1f4}\
.st{display:inline-block;padding:2px 8px;border-radius:10px;font-size:12px;font-weight:600;color:#fff}\
.s-ok{background:#1f9d55}.s-degraded{background:#d69e2e}.s-paused,.s-unscheduled{background:#718096}\
.s-failing,.s-overdue,.s-corrupt,.s-never_run{background:#c53030}\
.card{background:#fff;border:1px solid #e3e6ea;border-radius:6px;padding:10px 12px;margin:0 0 12px 0}\
.card h3{font-size:15px;margin:0 0 6px 0}.detail{color:#3b4550;font-size:13px;margin:0 0 6px 0}\
.legend span{margin-right:12px;font-size:12px}.sw{display:inline-block;width:10px;height:10px;margin-right:4px}\
ul{margin:4px 0 4px 18px;padding:0}li{font-size:14px}\
footer{color:#5b6570;font-size:12px;margin-top:24px}";

fn outcome_colour(o: &str) -> &'static str {
    match o {
        "ok" => "#1f9d55",
        "noop" => "#68a0cf",
        "degraded" => "#d69e2e",
        "failed" => "#c53030",
        "skipped" => "#a0aec0",
        _ => "#4a5568",
    }
}

fn status_class(s: JobStatus) -> &'static str {
    match s {
        JobStatus::Ok => "s-ok",
        JobStatus::Degraded => "s-degraded",
        JobStatus::Paused => "s-paused",
        JobStatus::Unscheduled => "s-unscheduled",
        JobStatus::Failing => "s-failing",
        JobStatus::Overdue => "s-overdue",
        JobStatus::Corrupt => "s-corrupt",
        JobStatus::NeverRun => "s-never_run",
    }
}

/// A bar chart of the last runs: bar height = duration (log scale), colour = outcome.
pub fn chart(name: &str, h: &[HistoryPoint]) -> String {
    const W: f64 = 600.0;
    const H: f64 = 90.0;
    const PAD: f64 = 18.0;
    let n = h.len().max(1) as f64;
    let slot = (W - 2.0 * PAD) / 50f64.max(n);
    let max = h.iter().map(|p| p.duration_ms).max().unwrap_or(1).max(1) as f64;
    let scale = |ms: u64| ((ms as f64 + 1.0).ln() / (max + 1.0).ln()).clamp(0.04, 1.0);
    let mut o = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{} last {} runs\">",
        esc(name),
        h.len()
    );
    o.push_str(&format!(
        "<rect x=\"0\" y=\"0\" width=\"{W}\" height=\"{H}\" fill=\"#fbfcfd\" stroke=\"#e3e6ea\"/>"
    ));
    let base = H - PAD;
    o.push_str(&format!(
        "<line x1=\"{PAD}\" y1=\"{base}\" x2=\"{}\" y2=\"{base}\" stroke=\"#cbd2d9\"/>",
        W - PAD
    ));
    if h.is_empty() {
        o.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" font-size=\"12\" fill=\"#5b6570\" text-anchor=\"middle\">no runs recorded</text>",
            W / 2.0,
            H / 2.0
        ));
    }
    for (i, p) in h.iter().enumerate() {
        // The top 16 px stay free for the "max" label.
        let bh = (base - 16.0) * scale(p.duration_ms);
        let x = PAD + i as f64 * slot + slot * 0.15;
        o.push_str(&format!(
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"{}\"><title>{} {} {} ms</title></rect>",
            base - bh,
            slot * 0.7,
            outcome_colour(&p.outcome),
            esc(&t(p.started_at)),
            esc(&p.outcome),
            p.duration_ms
        ));
    }
    o.push_str(&format!(
        "<text x=\"{PAD}\" y=\"12\" font-size=\"10\" fill=\"#5b6570\">max {} ms</text>",
        max as u64
    ));
    o.push_str(&format!(
        "<text x=\"{PAD}\" y=\"{}\" font-size=\"10\" fill=\"#5b6570\">older</text><text x=\"{}\" y=\"{}\" font-size=\"10\" fill=\"#5b6570\" text-anchor=\"end\">newest</text>",
        H - 4.0,
        W - PAD,
        H - 4.0
    ));
    o.push_str("</svg>");
    o
}

fn job_row(j: &JobReport) -> String {
    let last = j.last_run.as_ref();
    format!(
        "<tr><td><a href=\"#job-{}\">{}</a></td><td><span class=\"st {}\">{}</span></td><td>{}</td><td>{}</td><td>{}</td><td>{} / {}</td><td>{}</td></tr>",
        esc(&j.name),
        esc(&j.name),
        status_class(j.status),
        esc(j.status.as_str()),
        esc(&last.map_or_else(|| "never".into(), |l| t(l.started_at))),
        esc(&last.map_or_else(|| "—".into(), |l| l.outcome.clone())),
        esc(&if j.schedules.is_empty() {
            if j.paused_schedules.is_empty() {
                "—".to_string()
            } else {
                format!("# {}", j.paused_schedules.join(", "))
            }
        } else {
            j.schedules.join(", ")
        }),
        j.log_warnings,
        j.log_errors,
        esc(&j.next_due.map_or_else(|| "—".into(), t)),
    )
}

/// The whole page.
pub fn page(r: &Report) -> String {
    let mut o = String::with_capacity(64 * 1024);
    o.push_str("<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n");
    o.push_str(&format!(
        "<title>agent-jobs status — {}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        esc(&r.overall)
    ));
    o.push_str(&format!(
        "<h1>agent-jobs status</h1>\n<p class=\"sub\">Host {} · as of {} · period {} {} ({} → {}) · {}</p>\n",
        esc(&r.host),
        esc(&t(r.as_of)),
        esc(&r.period_kind),
        esc(&r.period),
        esc(&t(r.from)),
        esc(&t(r.as_of)),
        esc(&r.timezone)
    ));
    o.push_str(&format!(
        "<div class=\"banner {}\" id=\"overall\">{}</div>\n",
        esc(&r.overall),
        esc(&r.headline)
    ));
    if let Some(p) = &r.suite_paused {
        o.push_str(&format!(
            "<div class=\"banner paused\">Suite paused{}{}</div>\n",
            esc(&p.at.map(|a| format!(" since {}", t(a))).unwrap_or_default()),
            esc(&p
                .reason
                .as_deref()
                .map(|x| format!(": {x}"))
                .unwrap_or_default())
        ));
    }
    if let Some(a) = &r.analysis {
        o.push_str(&format!("<p id=\"analysis\">{}</p>\n", esc(a)));
    }
    o.push_str("<h2>Jobs</h2>\n<table id=\"jobs\">\n<thead><tr><th>job</th><th>status</th><th>last run</th><th>result</th><th>schedule</th><th>warn / error lines</th><th>next run</th></tr></thead>\n<tbody>\n");
    for j in &r.jobs {
        o.push_str(&job_row(j));
        o.push('\n');
    }
    o.push_str("</tbody>\n</table>\n<h2>Last 50 runs</h2>\n<p class=\"legend\">");
    for k in ["ok", "noop", "degraded", "failed", "skipped"] {
        o.push_str(&format!(
            "<span><span class=\"sw\" style=\"background:{}\"></span>{k}</span>",
            outcome_colour(k)
        ));
    }
    o.push_str(" Bar height: run duration (log scale).</p>\n");
    for j in &r.jobs {
        o.push_str(&format!(
            "<div class=\"card\" id=\"job-{}\"><h3>{} <span class=\"st {}\">{}</span></h3><p class=\"detail\">{}</p>{}</div>\n",
            esc(&j.name),
            esc(&j.name),
            status_class(j.status),
            esc(j.status.as_str()),
            esc(&j.detail),
            chart(&j.name, &j.history)
        ));
    }
    o.push_str("<h2>Rate limits</h2>\n<p>");
    if r.circuit.open {
        o.push_str(&format!(
            "Circuit <b>open</b>{}{}.",
            esc(&r
                .circuit
                .since
                .map(|s| format!(" since {}", t(s)))
                .unwrap_or_default()),
            esc(&r
                .circuit
                .reason
                .as_deref()
                .map(|s| format!(": {s}"))
                .unwrap_or_default())
        ));
    } else {
        o.push_str("Circuit closed.");
    }
    o.push_str(&format!(
        " {} incident(s) in the period.</p>\n",
        r.incidents.len()
    ));
    if !r.incidents.is_empty() {
        o.push_str("<ul>");
        for i in &r.incidents {
            o.push_str(&format!(
                "<li>{} ({}) {} → {}: {}</li>",
                esc(&i.id),
                esc(&i.kind),
                esc(&i.started_at.map_or_else(|| "?".into(), t)),
                esc(&i.closed_at.map_or_else(|| "open".into(), t)),
                esc(&i.reason)
            ));
        }
        o.push_str("</ul>\n");
    }
    o.push_str("<h2>Config and memory</h2>\n");
    if r.config_problems.is_empty() {
        o.push_str("<p>No config problems.</p>\n");
    } else {
        o.push_str("<ul id=\"config-problems\">");
        for p in &r.config_problems {
            o.push_str(&format!("<li>{}</li>", esc(p)));
        }
        o.push_str("</ul>\n");
    }
    if let Some(b) = &r.backups {
        o.push_str(&format!(
            "<p>Config snapshots: {}; latest {}.</p>\n",
            esc(&b
                .snapshots
                .map_or_else(|| "unknown".into(), |n| n.to_string())),
            esc(&b.latest_snapshot.map_or_else(|| "—".into(), t))
        ));
    }
    match &r.memory {
        Some(m) if !m.facts.is_empty() => {
            o.push_str(&format!(
                "<p>Memory budget{}:</p><ul>",
                if m.over_budget { " (over budget)" } else { "" }
            ));
            for p in &m.problems {
                o.push_str(&format!("<li><b>{}</b></li>", esc(p)));
            }
            for (k, v) in &m.facts {
                o.push_str(&format!("<li>{}: {}</li>", esc(k), esc(v)));
            }
            o.push_str("</ul>\n");
        }
        _ => o.push_str("<p>No memory budget report.</p>\n"),
    }
    if !r.input_problems.is_empty() {
        o.push_str("<h2>Inputs that could not be read</h2>\n<ul id=\"input-problems\">");
        for p in &r.input_problems {
            o.push_str(&format!("<li>{}</li>", esc(p)));
        }
        o.push_str("</ul>\n");
    }
    o.push_str(&format!(
        "<footer>Generated {} by publish-report · {} warning and {} error log lines in the period · {}</footer>\n</body>\n</html>\n",
        esc(&t(r.generated_at)),
        r.log_warnings,
        r.log_errors,
        esc(&crate::render::id_line(r))
    ));
    o
}

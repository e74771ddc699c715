//! The status page backend: `reports/status.html`, one self-contained file (inline CSS, inline
//! SVG charts, no JavaScript, no external assets) that any browser or a file share can show.
//!
//! The markup is well-formed XML as well as HTML5 (every element closed, void elements
//! self-closed, only XML's predefined entities), so it can be checked with an XML parser.

use super::chat::inline;
use super::doc::*;
use crate::contents::{HistoryPoint, JobStatus, Report};
use crate::text::when;
use common::html::escape;
use contracts::run::OutcomeKind;

const CSS: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#1d232a;background:#f6f7f9}\
h1{font-size:22px;margin:0 0 4px 0}h2{font-size:17px;margin:24px 0 8px 0}\
.sub{color:#5b6570;margin:0 0 16px 0}\
.banner{padding:10px 14px;border-radius:6px;margin:12px 0;font-weight:600}\
.healthy{background:#dff3e4;color:#14532d}.attention{background:#fde2e1;color:#7f1d1d}.paused{background:#fff4d6;color:#713f12}\
table{border-collapse:collapse;width:100%;background:#fff;margin:0 0 10px 0}\
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #e3e6ea;vertical-align:top;font-size:14px}\
th{background:#eef1f4}code{font-size:13px;background:#eef1f4;padding:0 3px;border-radius:3px;word-break:break-word}\
.st{display:inline-block;padding:2px 8px;border-radius:10px;font-size:12px;font-weight:600;color:#fff}\
.s-ok{background:#1f9d55}.s-degraded{background:#d69e2e}.s-paused,.s-unscheduled{background:#718096}\
.s-failing,.s-overdue,.s-corrupt,.s-never_run{background:#c53030}\
.card{background:#fff;border:1px solid #e3e6ea;border-radius:6px;padding:10px 12px;margin:0 0 12px 0}\
.card h3{font-size:15px;margin:0 0 6px 0}.detail{color:#3b4550;font-size:13px;margin:0 0 6px 0}\
.note{color:#5b6570;font-size:13px;font-style:italic}\
.legend span{margin-right:12px;font-size:12px}.sw{display:inline-block;width:10px;height:10px;margin-right:4px}\
ul{margin:4px 0 4px 18px;padding:0}li{font-size:14px}\
footer{color:#5b6570;font-size:12px;margin-top:24px}";

const OUTCOMES: [OutcomeKind; 5] = [
    OutcomeKind::Ok,
    OutcomeKind::Noop,
    OutcomeKind::Degraded,
    OutcomeKind::Failed,
    OutcomeKind::Skipped,
];

fn outcome_colour(o: OutcomeKind) -> &'static str {
    match o {
        OutcomeKind::Ok => "#1f9d55",
        OutcomeKind::Noop => "#68a0cf",
        OutcomeKind::Degraded => "#d69e2e",
        OutcomeKind::Failed => "#c53030",
        OutcomeKind::Skipped => "#a0aec0",
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

fn status_badge(s: JobStatus) -> String {
    format!(
        "<span class=\"st {}\">{}</span>",
        status_class(s),
        escape(s.as_str())
    )
}

/// The whole page.
pub fn render(d: &Document, r: &Report) -> String {
    let mut o = String::with_capacity(64 * 1024);
    o.push_str("<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n");
    o.push_str(&format!(
        "<title>agent-jobs status — {}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        escape(&d.overall)
    ));
    o.push_str(&format!(
        "<h1>agent-jobs status</h1>\n<p class=\"sub\">Host {} · as of {} · period {} {} ({} → {}) · {}</p>\n",
        escape(&r.host),
        escape(&when(r.as_of)),
        escape(&r.period_kind),
        escape(&r.period),
        escape(&when(r.from)),
        escape(&when(r.as_of)),
        escape(&r.timezone)
    ));
    o.push_str(&format!(
        "<div class=\"banner {}\" id=\"overall\">{}</div>\n",
        escape(&d.overall),
        escape(&d.headline)
    ));
    for b in &d.banners {
        o.push_str(&format!(
            "<div class=\"banner {}\">{}</div>\n",
            b.class,
            inline(&b.text)
        ));
    }
    for s in &d.sections {
        o.push_str(&format!("<h2 id=\"{}\">{}</h2>\n", s.id, escape(s.title)));
        for b in &s.blocks {
            block(&mut o, b, r);
        }
    }
    o.push_str(&format!(
        "<footer>Generated {} by publish-report · {} · {}</footer>\n</body>\n</html>\n",
        escape(&when(r.generated_at)),
        inline(&d.footer),
        escape(&d.id_line)
    ));
    o
}

fn block(o: &mut String, b: &Block, r: &Report) {
    match b {
        Block::Para(t) => o.push_str(&format!("<p>{}</p>\n", inline(t))),
        Block::Prose(p) => o.push_str(&format!("<p id=\"analysis\">{}</p>\n", escape(p))),
        Block::Note(t) => o.push_str(&format!("<p class=\"note\">{}</p>\n", inline(t))),
        Block::List(items) => {
            o.push_str("<ul>");
            for t in items {
                o.push_str(&format!("<li>{}</li>", inline(t)));
            }
            o.push_str("</ul>\n");
        }
        Block::Table(t) => table(o, t),
        Block::RunCharts => run_charts(o, r),
    }
}

/// The jobs table has a `thead`/`tbody`; the others are plain rows.
fn table(o: &mut String, t: &Table) {
    match t.id {
        Some(id) => o.push_str(&format!("<table id=\"{id}\">\n")),
        None => o.push_str("<table>\n"),
    }
    let head: String = t
        .head
        .iter()
        .map(|h| format!("<th>{}</th>", escape(h)))
        .collect();
    let jobs = t.id == Some("jobs");
    if jobs {
        o.push_str(&format!("<thead><tr>{head}</tr></thead>\n<tbody>\n"));
    } else {
        o.push_str(&format!("<tr>{head}</tr>\n"));
    }
    for row in &t.rows {
        o.push_str("<tr>");
        for c in row {
            let inner = match c {
                Cell::Text(t) => inline(t),
                Cell::Job(name) => {
                    format!("<a href=\"#job-{}\">{}</a>", escape(name), escape(name))
                }
                Cell::Status(s) => status_badge(*s),
            };
            o.push_str(&format!("<td>{inner}</td>"));
        }
        o.push_str("</tr>\n");
    }
    if jobs {
        o.push_str("</tbody>\n");
    }
    o.push_str("</table>\n");
}

fn run_charts(o: &mut String, r: &Report) {
    o.push_str("<p class=\"legend\">");
    for k in OUTCOMES {
        o.push_str(&format!(
            "<span><span class=\"sw\" style=\"background:{}\"></span>{}</span>",
            outcome_colour(k),
            k.as_str()
        ));
    }
    o.push_str(" Bar height: run duration (log scale).</p>\n");
    for j in &r.jobs {
        o.push_str(&format!(
            "<div class=\"card\" id=\"job-{}\"><h3>{} {}</h3><p class=\"detail\">{}</p>{}</div>\n",
            escape(&j.name),
            escape(&j.name),
            status_badge(j.status),
            inline(&j.detail),
            chart(&j.name, &j.history)
        ));
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
        escape(name),
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
            outcome_colour(p.outcome),
            escape(&when(p.started_at)),
            p.outcome.as_str(),
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

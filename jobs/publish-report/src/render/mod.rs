//! Rendering a [`Report`]: one section model ([`sections::document`]) walked by three
//! backends — Markdown ([`markdown`](mod@markdown): `reports/<period>.md`, webhook `text`), the status page
//! ([`page`]: `reports/status.html`) and the chat message ([`chat`]: Teams, webhook `html`) —
//! plus the JSON report (the [`Report`] itself).
//!
//! Every copy carries the report id on a line of its own (`report-id: …`): that is how a
//! destination is searched for a report after a crash between sending and recording.

pub mod chat;
pub mod doc;
pub mod markdown;
pub mod page;
pub mod sections;

use crate::contents::Report;

/// The rendered forms of one report.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub markdown: String,
    pub html: String,
    pub page: String,
}

/// Render every form.
pub fn render(r: &Report) -> Rendered {
    let d = sections::document(r);
    Rendered {
        markdown: markdown::render(&d),
        html: chat::render(&d),
        page: page::render(&d, r),
    }
}

/// The Markdown report alone (`--print`).
pub fn markdown(r: &Report) -> String {
    markdown::render(&sections::document(r))
}

/// The JSON report.
pub fn json(r: &Report) -> anyhow::Result<Vec<u8>> {
    let mut v = serde_json::to_vec_pretty(r)?;
    v.push(b'\n');
    Ok(v)
}

/// The content of a report: equal contents are the same report (a resend keeps its id),
/// different contents are a new one. Left out: the id line, and the row and note of the job
/// producing the report (`own_job`), which describe the run writing it, not the period.
pub fn content_hash(markdown: &str, own_job: &str) -> String {
    let row = format!("| {own_job} |");
    let note = format!("- **{own_job}**");
    let body: String = markdown
        .lines()
        .filter(|l| !l.starts_with("report-id: ") && !l.starts_with(&row) && !l.starts_with(&note))
        .collect::<Vec<_>>()
        .join("\n");
    common::hash::sha256_hex(body.as_bytes())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::assemble::{Settings, assemble};
    use crate::gather::{Gathered, tests as fx};
    use crate::period::Period;
    use chrono::{DateTime, Duration, Utc};

    fn report() -> Report {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let p = Period {
            kind: crate::config::PeriodKind::Daily,
            id: "2026-11-20".into(),
            from: t("2026-11-20T00:00:00Z"),
            as_of: t("2026-11-21T00:00:00Z"),
        };
        let mut rl = fx::ratelimit();
        rl.circuit.reason = Some("<script>alert('circuit')</script> | pipe".into());
        let mut inbox = fx::inbox();
        inbox.pending = 1;
        let g = Gathered {
            circuit: Some(Ok(rl.circuit.clone())),
            ratelimit: Some(rl),
            backup: Some(fx::backup()),
            memory: Some(fx::memory()),
            inbox: Some(inbox),
            gateway: Some(fx::gateway()),
            problems: vec!["chat 19:<script>x</script>@thread.v2 unreadable".into()],
            ..Default::default()
        };
        let jobs = vec!["poll-teams".to_string()];
        let grace = |_: &str| Duration::minutes(15);
        let mut r = assemble(
            &g,
            &Settings {
                period: &p,
                now: t("2026-11-21T00:00:00Z"),
                skew_tolerance: Duration::minutes(5),
                grace: &grace,
                jobs: &jobs,
                timezone: "UTC".into(),
                host: "vm".into(),
                report_id: "ajr-daily-2026-11-20-abcdef".into(),
                current: None,
            },
        );
        r.analysis = Some("Look at <b>this</b> first.".into());
        r.analysis_source = Some("rules".into());
        r
    }

    /// The same sections in all three backends; no untrusted markup survives in any.
    #[test]
    fn three_backends_one_model() {
        let r = report();
        let out = render(&r);
        let md_prose = outside_code_spans(&out.markdown);
        for (name, text) in [
            ("markdown", &md_prose),
            ("chat", &out.html),
            ("page", &out.page),
        ] {
            assert!(!text.contains("<script>"), "{name}: raw script\n{text}");
            assert!(!text.contains("<b>this</b>"), "{name}: raw analysis markup");
            let id = "report-id: ajr-daily-2026-11-20-abcdef";
            assert!(text.contains(id) || out.markdown.contains(id), "{name}");
        }
        let md = &out.markdown;
        for needle in [
            "## Rate limits",
            "## Gateway",
            "## Config and backups",
            "## Memory budget",
            "## Teams inbox",
            "`<script>alert('circuit')</script> | pipe`",
            "anthropic / claude-sonnet-4-6 / anthropic:default",
            "| 2026-11-20 02:00 UTC | 17 | 51000 |",
            "`gateway config ~/.openclaw/openclaw.json (agent main)`",
            "`openclaw: Unrecognized key \"bogusKey\"`",
            "longest 60 min to recover",
            "Look at \\<b\\>this\\</b\\> first.",
        ] {
            assert!(md.contains(needle), "markdown lacks {needle:?}\n{md}");
        }
        assert!(out.html.contains("<ul>") || out.html.contains("<p>"));
        assert!(out.html.contains("&lt;script&gt;alert"), "{}", out.html);
        assert!(out.page.contains("id=\"gateway-incidents\""));
    }

    /// Markdown with the code spans taken out (where HTML is inert).
    fn outside_code_spans(md: &str) -> String {
        let mut out = String::new();
        let mut inside = false;
        for c in md.chars() {
            if c == '`' {
                inside = !inside;
            } else if !inside {
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn content_hash_ignores_the_id_and_the_reports_own_row() {
        let md = |own: &str, other: &str, id: &str| {
            format!(
                "# r\n| a-job | ✅ ok | {other} |\n| publish-report | ✅ ok | {own} |\n- **publish-report** (x): {own}\n\nreport-id: {id}\n"
            )
        };
        let h = |m: &str| content_hash(m, "publish-report");
        assert_eq!(h(&md("07:05", "x", "ajr-1")), h(&md("09:00", "x", "ajr-2")));
        assert_ne!(h(&md("07:05", "x", "ajr-1")), h(&md("07:05", "y", "ajr-1")));
    }
}

//! One period's report, from the files on disk to the rendered copies: gather
//! ([`crate::gather`]) → decide ([`crate::assemble`]) → analysis ([`crate::analysis`]) →
//! render ([`crate::render`]); and the files it leaves in `reports/`.

use crate::analysis;
use crate::config::{AnalysisMode, Config};
use crate::data::{Data, LastReport};
use crate::deliver::Edition;
use crate::period::Period;
use anyhow::Result;
use common::Ctx;

/// Who may write the analysis paragraph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Analysis {
    /// As configured (the model when `analysis: "model"`).
    Configured,
    /// The rules at most (`--print`, previous periods): nothing leaves the machine.
    RulesOnly,
}

/// A built report and why it is degraded, if it is.
#[derive(Debug, Clone)]
pub struct Built {
    pub edition: Edition,
    /// The status page (only written for the current period).
    pub page: String,
    /// Why the analysis fell back to the rules.
    pub degraded: Option<String>,
}

/// The id every copy of a period's report carries: stable per period and host.
pub fn base_report_id(period: &Period, host: &str) -> String {
    let h = common::hash::sha256_hex(host.as_bytes());
    format!("ajr-{}-{}-{}", period.kind.as_str(), period.id, &h[..6])
}

/// Build the report of `period`.
pub fn build(ctx: &mut Ctx<Data>, cfg: &Config, period: &Period, who: Analysis) -> Built {
    let now = ctx.now();
    let gathered = crate::gather::gather(ctx, cfg, period, now);
    let grace = |j: &str| cfg.grace(j);
    let settings = crate::assemble::Settings {
        period,
        now,
        skew_tolerance: cfg.skew_tolerance(),
        grace: &grace,
        jobs: &cfg.jobs,
        timezone: cfg.timezone.clone(),
        host: ctx.host.clone(),
        report_id: base_report_id(period, &ctx.host),
        current: Some((ctx.job, ctx.started_at)),
    };
    let mut report = crate::assemble::assemble(&gathered, &settings);
    let mut degraded = None;
    if cfg.analysis != AnalysisMode::None {
        report.analysis = analysis::rules(&report);
        report.analysis_source = report.analysis.as_ref().map(|_| "rules".to_string());
    }
    if cfg.analysis == AnalysisMode::Model && who == Analysis::Configured {
        match analysis::model(ctx, cfg, &report) {
            Ok(text) => {
                report.analysis = Some(text);
                report.analysis_source = Some("model".into());
            }
            Err(why) => {
                log::warn!("analysis written by rules: the model was not used: {why}");
                degraded = Some(format!("analysis by rules ({why})"));
            }
        }
    }
    let rendered = crate::render::render(&report);
    Built {
        edition: Edition {
            period: period.clone(),
            content: crate::render::content_hash(&rendered.markdown, ctx.job),
            markdown: rendered.markdown,
            html: rendered.html,
            report,
        },
        page: rendered.page,
        degraded,
    }
}

/// Write `reports/<period>.json` and `.md`, and for the current period `status.html`, and
/// remember the report in state.
pub fn write_files(ctx: &mut Ctx<Data>, cfg: &Config, built: &Built, current: bool) -> Result<()> {
    let ed = &built.edition;
    let dir = ctx.paths.resolve(&cfg.reports_dir);
    if ctx.dry_run {
        log::warn!(
            "dry run: would write {0}/{1}.md, {0}/{1}.json{2}",
            dir.display(),
            ed.period.id,
            if current { " and status.html" } else { "" }
        );
        return Ok(());
    }
    common::fsutil::ensure_dir_durable(&dir, 0o750)?;
    let opts = common::fsutil::FileOptions {
        mode: Some(0o644),
        owner: None,
    };
    let json = crate::render::json(&ed.report)?;
    common::fsutil::write_atomic_with(&dir.join(format!("{}.json", ed.period.id)), &json, opts)?;
    common::fsutil::write_atomic_with(
        &dir.join(format!("{}.md", ed.period.id)),
        ed.markdown.as_bytes(),
        opts,
    )?;
    if current {
        common::fsutil::write_atomic_with(&dir.join("status.html"), built.page.as_bytes(), opts)?;
        let data = &mut ctx.state.data;
        data.last_report = Some(LastReport {
            period: ed.period.key(),
            report_id: ed.report.report_id.clone(),
            generated_at: ed.report.generated_at,
            overall: ed.report.overall.clone(),
        });
        data.clock_skew = ed
            .report
            .clock_skew
            .iter()
            .map(|c| contracts::facts::Event {
                at: c.value,
                message: format!(
                    "{} {}: {} ahead of the clock",
                    c.source,
                    c.what,
                    crate::text::span(c.ahead_secs)
                ),
            })
            .collect();
    }
    Ok(())
}

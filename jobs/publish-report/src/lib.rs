//! publish-report: the suite's operations report and static status page, published exactly
//! once per period and destination.
//!
//! One run: collect the facts every job leaves on disk ([`collect`]), add the analysis
//! paragraph ([`analysis`]), write `reports/<period>.md`, `reports/<period>.json` and
//! `reports/status.html` ([`render`], [`status`]), then publish to the configured destinations
//! ([`publish`]). `--print` only prints the Markdown report.

pub mod analysis;
pub mod collect;
pub mod config;
pub mod cron;
pub mod logscan;
pub mod period;
pub mod publish;
pub mod render;
pub mod status;

use anyhow::{Context, Result};
use chrono::{Duration, NaiveDate, Utc};
use common::{Ctx, Job, Mode, Outcome, OutcomeKind, Paths};
use config::{AnalysisMode, Config, PeriodKind};
use std::io::Write;

/// Command line of publish-report.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Period to report on [default: `period` in config, else daily]
    #[arg(long, value_enum)]
    pub period: Option<PeriodKind>,
    /// A day inside the period to report on (YYYY-MM-DD, in the configured time zone) [default: today]
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub date: Option<NaiveDate>,
    /// Print the Markdown report to stdout; write and publish nothing
    #[arg(long)]
    pub print: bool,
    /// Send again to destinations that already have this period's report (or whose outcome is unknown)
    #[arg(long, conflicts_with = "print")]
    pub force: bool,
}

/// The job.
#[derive(Debug)]
pub struct PublishReport;

fn read_crontab(ctx: &Ctx<publish::Data>, cfg: &Config) -> (Option<String>, Option<String>) {
    if let Some(argv) = &cfg.crontab_command {
        return match common::cmd::run(argv, std::time::Duration::from_secs(10), None, &[]) {
            Ok(o) if o.success() => (Some(o.stdout), None),
            // `crontab -l` exits 1 with "no crontab for user".
            Ok(o) if o.stderr.contains("no crontab") => (Some(String::new()), None),
            Ok(o) => (
                None,
                Some(format!(
                    "crontab command `{}` {}: {}; the dead-man check is off",
                    argv.join(" "),
                    o.describe(),
                    o.stderr.trim()
                )),
            ),
            Err(e) => (
                None,
                Some(format!(
                    "{}; the dead-man check is off",
                    common::exit::one_line(&e)
                )),
            ),
        };
    }
    let p = ctx.paths.resolve(&cfg.crontab);
    match std::fs::read_to_string(&p) {
        Ok(t) => (Some(t), None),
        Err(e) => (
            None,
            Some(format!(
                "cannot read crontab {} ({e}): set `publish-report.crontab` or `crontab_command`; the dead-man check is off",
                p.display()
            )),
        ),
    }
}

/// Build the report for `period` (no side effects).
pub fn build_report(
    ctx: &Ctx<publish::Data>,
    cfg: &Config,
    period: &period::Period,
) -> collect::Report {
    let now = Utc::now();
    let jobs: Vec<&str> = common::config::jobs();
    let (text, crontab_problem) = read_crontab(ctx, cfg);
    let crontab = text.map(|t| cron::parse_crontab(&t, cfg.tz(), &jobs));
    let grace =
        |j: &str| Duration::seconds(*cfg.grace_overrides.get(j).unwrap_or(&cfg.grace_secs) as i64);
    let mut r = collect::collect(collect::Inputs {
        state_dir: &ctx.paths.state_dir,
        logs_dir: &ctx.paths.logs_dir,
        jobs: &cfg.jobs,
        crontab,
        crontab_problem,
        period,
        now,
        grace: &grace,
        timezone: cfg.timezone.clone(),
        host: ctx.host.clone(),
        report_id: publish::report_id(period, &ctx.host, 0),
        current: Some((ctx.job, ctx.started_at)),
    });
    if cfg.analysis != AnalysisMode::None {
        // The model step (which leaves the machine) is added by the run; `--print` uses rules.
        r.analysis = analysis::rules(&r);
        r.analysis_source = r.analysis.as_ref().map(|_| "rules".to_string());
    }
    r
}

impl Job for PublishReport {
    const NAME: &'static str = "publish-report";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const ABOUT: &'static str = "Write the operations report and status page, and publish the report exactly once per period.";
    const EXAMPLES: &'static str = "  publish-report                      # today's daily report, published once\n  \
publish-report --period weekly      # this ISO week's report\n  \
publish-report --print              # print today's report; write and send nothing\n  \
publish-report --date 2026-11-20    # the report of a past day\n  \
publish-report --force              # send again where it was already sent or its outcome is unknown";

    type Args = Args;
    type Config = Config;
    type Data = publish::Data;
    type Facts = common::contracts::facts::NoFacts;

    fn mode(args: &Args) -> Mode {
        if args.print {
            Mode::ReadOnly
        } else {
            Mode::Run
        }
    }

    fn validate(cfg: &Config, paths: &Paths) -> Result<()> {
        cfg.validate(&paths.config)
    }

    fn run(ctx: &mut Ctx<publish::Data>, cfg: &Config, args: &Args) -> Result<Outcome> {
        let kind = args.period.unwrap_or(cfg.period);
        let now = Utc::now();
        let today = now.with_timezone(&cfg.tz()).date_naive();
        if let Some(d) = args.date
            && d > today
        {
            return Err(common::coded(
                common::Exit::Usage,
                format!(
                    "--date {d} is in the future (today is {today} in {})",
                    cfg.timezone
                ),
            ));
        }
        let period = period::period(kind, args.date, cfg.tz(), now);
        let t0 = std::time::Instant::now();
        let mut report = build_report(ctx, cfg, &period);
        let mut degraded = None;
        if cfg.analysis == AnalysisMode::Model && !args.print {
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
        let md = render::markdown(&report);
        if args.print {
            let mut out = std::io::stdout().lock();
            out.write_all(md.as_bytes())
                .and_then(|_| out.flush())
                .context("cannot write the report to stdout")?;
            return Ok(Outcome::ok(format!("printed report {}", period.id)));
        }
        ctx.metric_set("report_ms", t0.elapsed().as_millis() as u64);
        ctx.metric_set("jobs_needing_attention", {
            report.jobs.iter().filter(|j| j.status.is_problem()).count() as u64
        });
        for p in &report.input_problems {
            log::warn!("report input: {p}");
        }
        let dir = ctx.paths.resolve(&cfg.reports_dir);
        if ctx.dry_run {
            log::warn!(
                "dry run: would write {0}/{1}.md, {0}/{1}.json and {0}/status.html",
                dir.display(),
                period.id
            );
        } else {
            common::fsutil::ensure_private_dir(&dir)?;
            let opts = common::fsutil::FileOptions {
                mode: Some(0o644),
                owner: None,
            };
            common::fsutil::write_atomic_with(
                &dir.join(format!("{}.json", period.id)),
                &render::json(&report)?,
                opts,
            )?;
            common::fsutil::write_atomic_with(
                &dir.join(format!("{}.md", period.id)),
                md.as_bytes(),
                opts,
            )?;
            common::fsutil::write_atomic_with(
                &dir.join("status.html"),
                status::page(&report).as_bytes(),
                opts,
            )?;
            ctx.state.data.last_report = Some(publish::LastReport {
                period: period.key(),
                report_id: report.report_id.clone(),
                generated_at: report.generated_at,
                overall: report.overall.clone(),
            });
            // Saved with the first delivery intent or at the end of the run.
        }
        let results = publish::publish_all(ctx, cfg, &report, &period, args.force)?;
        let (kind, summary, error) = publish::summarise(&results);
        let summary = format!(
            "{} report {} ({}): {summary}",
            kind_word(&period),
            period.id,
            report.overall
        );
        Ok(match (kind, error, degraded) {
            (OutcomeKind::Failed, Some(e), _) => Outcome::failed(summary, e),
            (_, _, Some(d)) => Outcome::degraded(format!("{summary}; {d}")),
            (OutcomeKind::Noop, _, _) => Outcome::noop(summary),
            _ => Outcome::ok(summary),
        })
    }
}

fn kind_word(p: &period::Period) -> &'static str {
    p.kind.as_str()
}

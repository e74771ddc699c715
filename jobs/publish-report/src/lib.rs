//! publish-report: the suite's operations report and static status page, published exactly
//! once per period and destination.
//!
//! A run, in order:
//! 1. **decide** which period (`--period`, `--date`, today in `timezone`);
//! 2. **gather** what every job left on disk, typed by `contracts` ([`gather`]), and **decide**
//!    what the report says ([`assemble`]: job verdicts, the dead-man check, clock skew) and its
//!    analysis paragraph ([`analysis`]); render it from one section model ([`render`]);
//! 3. **act**: write `reports/<period>.md`, `.json` and `status.html` ([`report`]), then
//!    publish to each destination through the effect journal ([`deliver`]) — a scheduled run
//!    also retries the previous periods still unsent;
//! 4. **record** the run's outcome; the delivery book and the facts are in [`data`].
//!
//! `--print` only prints the Markdown report (no lock, nothing written or sent).

pub mod analysis;
pub mod assemble;
pub mod config;
pub mod contents;
pub mod cron;
pub mod data;
pub mod deliver;
pub mod gateway_log;
pub mod gather;
pub mod gauges;
pub mod logscan;
pub mod period;
pub mod render;
pub mod report;
pub mod text;

use anyhow::{Context, Result};
use chrono::{DateTime, NaiveDate, Utc};
use common::{Ctx, Job, Mode, Outcome, OutcomeKind, Paths};
use config::{Config, PeriodKind};
use data::Data;
use deliver::DeliveryResult;
use period::Period;
use report::{Analysis, Built};
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
    /// Print the Markdown report to stdout (with --json: the JSON report); write and publish nothing
    #[arg(long)]
    pub print: bool,
    /// Send again to destinations that already have this period's report (or whose outcome is unknown)
    #[arg(long, conflicts_with = "print")]
    pub force: bool,
}

impl Args {
    /// A scheduled run (cron's plain command line) also retries previous periods.
    fn scheduled(&self) -> bool {
        self.date.is_none() && !self.force && !self.print
    }
}

/// The job.
#[derive(Debug)]
pub struct PublishReport;

/// Deliveries of this run: (period key, destination, result).
type Results = Vec<(String, String, DeliveryResult)>;

impl Job for PublishReport {
    const NAME: &'static str = "publish-report";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const ABOUT: &'static str = "Write the operations report and status page, and publish the report exactly once per period.";
    const EXAMPLES: &'static str = "  publish-report                      # today's daily report, published once (and earlier ones still unsent)\n  \
publish-report --period weekly      # this ISO week's report\n  \
publish-report --print              # print today's report; write and send nothing\n  \
publish-report --print --json       # the same as JSON (the reports/<period>.json document)\n  \
publish-report --date 2026-11-20    # the report of a past day\n  \
publish-report --force              # send again where it was already sent or its outcome is unknown";
    const SCHEMA_VERSION: u32 = data::SCHEMA_VERSION;
    /// Delivery records are kept as long as the book looks back (a weekly retry window).
    const EFFECT_RETENTION_DAYS: i64 = 120;

    type Args = Args;
    type Config = Config;
    type Data = Data;
    type Facts = contracts::facts::publish_report::ReportFacts;

    fn mode(args: &Args) -> Mode {
        if args.print {
            Mode::ReadOnly
        } else {
            Mode::Run
        }
    }

    fn migrate(from: u32, state: serde_json::Value) -> Result<serde_json::Value> {
        data::migrate(from, state)
    }

    fn facts(data: &Data, _now: DateTime<Utc>) -> Option<Self::Facts> {
        Some(data::facts(data))
    }

    fn gauges(facts: &Self::Facts) -> Vec<common::metrics::Gauge> {
        gauges::of(facts)
    }

    fn validate(cfg: &Config, paths: &Paths) -> Result<()> {
        cfg.validate(&paths.config)
    }

    fn run(ctx: &mut Ctx<Data>, cfg: &Config, args: &Args) -> Result<Outcome> {
        let period = requested_period(cfg, args, ctx.now())?;
        if args.print {
            return print_report(ctx, cfg, &period);
        }
        let t0 = std::time::Instant::now();
        let current = report::build(ctx, cfg, &period, Analysis::Configured);
        report::write_files(ctx, cfg, &current, true)?;
        ctx.metric_set("report_ms", t0.elapsed().as_millis() as u64);
        let results = publish(ctx, cfg, args, &current)?;
        Ok(record(ctx, &current, &results))
    }
}

/// The period the command line asks for; a future `--date` is a usage error.
fn requested_period(cfg: &Config, args: &Args, now: DateTime<Utc>) -> Result<Period> {
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
    let kind = args.period.unwrap_or(cfg.period);
    Ok(period::period(kind, args.date, cfg.tz(), now))
}

/// `--print`: the Markdown report on stdout (`--json`: the JSON report, the document written
/// to `reports/<period>.json`), analysis by the rules.
fn print_report(ctx: &mut Ctx<Data>, cfg: &Config, period: &Period) -> Result<Outcome> {
    let built = report::build(ctx, cfg, period, Analysis::RulesOnly);
    let text = if ctx.json {
        render::json(&built.edition.report)?
    } else {
        built.edition.markdown.into_bytes()
    };
    let mut out = std::io::stdout().lock();
    out.write_all(&text)
        .and_then(|_| out.flush())
        .context("cannot write the report to stdout")?;
    Ok(Outcome::ok(format!("printed report {}", period.id)))
}

/// Publish the current period and, on a scheduled run, the previous ones still unsent
/// (oldest first, so a chat shows them in order).
fn publish(ctx: &mut Ctx<Data>, cfg: &Config, args: &Args, current: &Built) -> Result<Results> {
    let targets = deliver::resolve_targets(ctx, cfg)?;
    deliver::sync_book(ctx);
    let mut results = Results::new();
    let mut add = |ed: &deliver::Edition, r: Vec<(String, DeliveryResult)>| {
        results.extend(r.into_iter().map(|(d, x)| (ed.period.key(), d, x)));
    };
    if args.scheduled() && !targets.is_empty() {
        want(ctx, cfg, &current.edition.period);
        for p in previous_unsent(ctx, cfg, &current.edition.period) {
            log::info!("the report for {} is still unsent; sending it now", p.key());
            let past = report::build(ctx, cfg, &p, Analysis::RulesOnly);
            report::write_files(ctx, cfg, &past, false)?;
            add(
                &past.edition,
                deliver::publish(ctx, cfg, &targets, &past.edition, false)?,
            );
        }
    }
    let ed = &current.edition;
    add(ed, deliver::publish(ctx, cfg, &targets, ed, args.force)?);
    ctx.state.data.prune();
    Ok(results)
}

/// Remember that a scheduled run set out to publish `period` (to today's destinations).
fn want(ctx: &mut Ctx<Data>, cfg: &Config, period: &Period) {
    let now = ctx.now();
    let destinations = cfg.destinations.iter().map(|d| d.name.clone()).collect();
    ctx.state
        .data
        .wanted
        .entry(period.key())
        .or_insert(data::Wanted {
            at: now,
            destinations,
        });
}

/// Previous periods a scheduled run retries (bounded by `retry_periods`).
fn previous_unsent(ctx: &Ctx<Data>, cfg: &Config, current: &Period) -> Vec<Period> {
    let verifiable = |name: &str| {
        cfg.destinations
            .iter()
            .find(|d| d.name == name)
            .map(|d| deliver::destination::can_verify(d.kind))
    };
    let data = &ctx.state.data;
    deliver::plan::periods_to_retry(
        &data.wanted,
        &data.deliveries,
        current,
        cfg.retry_periods,
        &verifiable,
        cfg.tz(),
    )
}

/// The run's outcome from the report and the deliveries.
fn record(ctx: &mut Ctx<Data>, current: &Built, results: &Results) -> Outcome {
    let r = &current.edition.report;
    ctx.metric_set("jobs_needing_attention", r.jobs_needing_attention() as u64);
    ctx.metric_set("clock_skew_findings", r.clock_skew.len() as u64);
    for p in &r.input_problems {
        log::warn!("report input: {p}");
    }
    let (kind, summary, error) = deliver::summarise(results, &current.edition.period.key());
    let summary = format!(
        "{} report {} ({}): {summary}",
        current.edition.period.kind.as_str(),
        current.edition.period.id,
        r.overall
    );
    match (kind, error, &current.degraded) {
        (OutcomeKind::Failed, Some(e), _) => Outcome::failed(summary, e),
        (_, _, Some(d)) => Outcome::degraded(format!("{summary}; {d}")),
        (OutcomeKind::Noop, _, _) => Outcome::noop(summary),
        _ => Outcome::ok(summary),
    }
}

/// The binary's entry point (`src/main.rs` calls it; why here: [`common::main`]).
pub fn main() -> std::process::ExitCode {
    common::main::<PublishReport>()
}

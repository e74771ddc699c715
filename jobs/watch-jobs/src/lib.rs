//! watch-jobs: the suite's dead-man check, every few minutes. It reads the installed crontab
//! and each job's state file, and alerts once per outage when a job missed a run by more than
//! its grace — within minutes, not at the next daily report — with a recovery message when the
//! job runs again. A paused job (its line commented out, or the whole suite paused) is recorded,
//! not alerted. It publishes no report.
//!
//! A check, in order:
//! 1. **gather** ([`gather`]): the crontab (`crontab -l` or a file), `state/<job>.json` of every
//!    job of the registry except itself, the control files;
//! 2. **decide** ([`decide`]): the shared dead-man check ([`schedule::evaluate`], the same
//!    verdicts and words as publish-report's job table) and the outage bookkeeping, pure;
//! 3. **act** ([`act`]): alerts and recovery messages through the effect journal;
//! 4. **record**: the observations and outages in [`data`], published as
//!    `contracts::facts::watch_jobs::WatchFacts`.
//!
//! `watch-jobs status` runs the same check now and prints it; nothing is sent or written.

pub mod act;
pub mod config;
pub mod data;
pub mod decide;
pub mod gather;
pub mod status;
pub mod texts;

use anyhow::Result;
use chrono::{DateTime, Utc};
use common::{Ctx, Job, Mode, Outcome, Paths};
use config::Config;
use contracts::facts::watch_jobs::{WatchFacts, WatchStatus};
use data::Data;
use decide::{Decision, Policy, World};
use gather::Gathered;

/// The job's name (binary and config section).
pub const NAME: &str = "watch-jobs";

// Flags and subcommands of `watch-jobs` (no doc comment: it would replace ABOUT in --help).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub cmd: Option<Cmd>,
}

#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Check every job now and print where each stands and the open outages (nothing is sent or written)
    Status,
}

/// The job.
#[derive(Debug)]
pub struct WatchJobs;

impl Job for WatchJobs {
    const NAME: &'static str = NAME;
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const ABOUT: &'static str = "Check every job against its crontab schedule every few minutes; alert once when one missed a run by more than its grace, and again when it runs.";
    const EXAMPLES: &'static str =
        "  watch-jobs                  # cron, every 5 minutes: check, alert once per outage
  watch-jobs status           # where each job stands now (nothing sent or written)
  watch-jobs status --json    # the same as one JSON document (contracts::facts::watch_jobs)";
    /// It records a paused suite (and sends nothing) instead of stopping.
    const HONOURS_PAUSE: bool = false;
    const SCHEMA_VERSION: u32 = data::SCHEMA_VERSION;

    type Args = Args;
    type Config = Config;
    type Data = Data;
    type Facts = WatchFacts;

    fn mode(args: &Args) -> Mode {
        match args.cmd {
            Some(Cmd::Status) => Mode::ReadOnly,
            None => Mode::Run,
        }
    }

    fn facts(data: &Data, _now: DateTime<Utc>) -> Option<WatchFacts> {
        Some(data::facts(data, &gather::watched_jobs()))
    }

    fn gauges(f: &WatchFacts) -> Vec<common::metrics::Gauge> {
        use common::metrics::Gauge;
        let mut out = vec![Gauge::new(
            "watch_jobs_open_outages",
            "Jobs that missed a run by more than their grace and have not run since.",
            f.open.len() as f64,
        )];
        for j in &f.jobs {
            out.push(
                Gauge::new(
                    "watch_jobs_job_missed",
                    "1 when the watched job missed a run (overdue or never run), else 0.",
                    f64::from(u8::from(j.status.is_missed())),
                )
                .label("watched", j.job.clone()),
            );
        }
        out
    }

    fn validate(cfg: &Config, paths: &Paths) -> Result<()> {
        config::validate(cfg, &paths.config)
    }

    fn config_warnings(
        cfg: &Config,
        _paths: &Paths,
        _file: &common::config::ConfigFile,
    ) -> Vec<String> {
        config::warnings(cfg)
    }

    fn run(ctx: &mut Ctx<Data>, cfg: &Config, args: &Args) -> Result<Outcome> {
        match args.cmd {
            Some(Cmd::Status) => status(ctx, cfg),
            None => check(ctx, cfg),
        }
    }
}

/// A cron run: gather → decide → act → record.
fn check(ctx: &mut Ctx<Data>, cfg: &Config) -> Result<Outcome> {
    let now = ctx.now();
    let g = gather(ctx, cfg);
    let decision = match decide_now(&g, cfg, &ctx.state.data, now) {
        Ok(d) => d,
        Err(why) => return Ok(Outcome::failed("the jobs were not checked", why)),
    };
    let actions = decision.actions.clone();
    remember(&mut ctx.state.data, &g, decision, now);
    let sent = act::send(ctx, &actions)?;
    Ok(record(ctx, &sent))
}

fn gather(ctx: &Ctx<Data>, cfg: &Config) -> Gathered {
    gather::gather(
        &ctx.paths,
        &cfg.source(&ctx.paths),
        cfg.tz(),
        &gather::watched_jobs(),
    )
}

/// The decision on every job, or why none could be made (the crontab could not be read).
fn decide_now(
    g: &Gathered,
    cfg: &Config,
    data: &Data,
    now: DateTime<Utc>,
) -> Result<Decision, String> {
    let crontab = g.crontab.as_ref().map_err(String::clone)?;
    let world = World {
        now,
        crontab,
        suite_paused: g.control.paused,
        maintenance: g.maintenance.as_ref().is_some_and(|m| m.active_at(now)),
        jobs: &g.jobs,
    };
    Ok(decide::decide(
        &world,
        &Policy::from_config(cfg),
        &data.jobs,
    ))
}

/// The check's observations into the state (before anything is sent, so the journal's
/// checkpoints carry them).
fn remember(data: &mut Data, g: &Gathered, decision: Decision, now: DateTime<Utc>) {
    data.jobs = decision.jobs;
    data.push_ended(decision.ended);
    data.checked_at = Some(now);
    data.crontab = Some(g.source.clone());
    data.suite_paused = g.control.paused;
    data.maintenance = g.maintenance.as_ref().is_some_and(|m| m.active_at(now));
}

/// Metrics and the run's one-line summary.
fn record(ctx: &mut Ctx<Data>, sent: &act::Sent) -> Outcome {
    let data = &ctx.state.data;
    let open = data.jobs.values().filter(|w| w.outage.is_some()).count();
    let summary = format!(
        "checked {} job(s) against {}: {}{}",
        data.jobs.len(),
        data.crontab.as_deref().unwrap_or("the crontab"),
        tally(data),
        if sent.delivered.is_empty() {
            String::new()
        } else {
            format!("; sent {}", sent.delivered.join(", "))
        }
    );
    ctx.metric_set("open_outages", open as u64);
    ctx.metric_add("messages_sent", sent.delivered.len() as u64);
    if !sent.failed.is_empty() {
        return Outcome::failed(
            summary,
            format!(
                "could not deliver {}; an alert is tried again at the next check",
                sent.failed.join("; ")
            ),
        );
    }
    if open == 0 && sent.delivered.is_empty() {
        Outcome::noop(summary)
    } else {
        Outcome::ok(summary)
    }
}

/// `3 ok, 1 paused, 1 overdue`, in a fixed order.
fn tally(data: &Data) -> String {
    const ORDER: [WatchStatus; 8] = [
        WatchStatus::Ok,
        WatchStatus::Overdue,
        WatchStatus::NeverRun,
        WatchStatus::Waiting,
        WatchStatus::Paused,
        WatchStatus::SuitePaused,
        WatchStatus::Unscheduled,
        WatchStatus::Unreadable,
    ];
    let parts: Vec<String> = ORDER
        .iter()
        .filter_map(|s| {
            let n = data.jobs.values().filter(|w| w.row.status == *s).count();
            (n > 0).then(|| format!("{n} {}", s.as_str()))
        })
        .collect();
    if parts.is_empty() {
        "no job to watch".into()
    } else {
        parts.join(", ")
    }
}

/// `status`: the same check now, printed; nothing sent or written.
fn status(ctx: &mut Ctx<Data>, cfg: &Config) -> Result<Outcome> {
    let now = ctx.now();
    let g = gather(ctx, cfg);
    let mut data = ctx.state.data.clone();
    let decision = decide_now(&g, cfg, &data, now).map_err(anyhow::Error::msg)?;
    let actions = decision.actions.clone();
    remember(&mut data, &g, decision, now);
    let facts = data::facts(&data, &gather::watched_jobs());
    status::print(&facts, &actions, ctx.json, cfg)?;
    Ok(Outcome::noop("status"))
}

/// The binary's entry point (`src/main.rs` calls it; why here: [`common::main`]).
pub fn main() -> std::process::ExitCode {
    common::main::<WatchJobs>()
}

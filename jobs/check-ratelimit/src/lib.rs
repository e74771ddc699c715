//! check-ratelimit: reads what the agent gateway (OpenClaw) wrote since the last run and,
//! when the model provider refuses the agent's requests, opens a circuit (`state/circuit.json`)
//! that stops the token-burning workers and tells the operator once; closes it at the
//! gateway's own expected reset. It also counts model calls per hour and watches for idle burn.
//!
//! A scheduled run, in order:
//! 1. **gather** ([`gather`]): the new records of the gateway's log files and of the command
//!    source, read by their fields ([`records`], [`scan`], [`files`], [`journal`]), and its
//!    cooldowns from `openclaw models status --json` and legacy files ([`cooldowns`]);
//! 2. **decide** ([`decide`], [`cost`]): pure functions of the state, the cooldowns and `now`;
//! 3. **act** ([`act`]): `circuit.json`, the incident's commands and alerts through the effect
//!    journal, stale-cooldown and idle-burn alerts;
//! 4. **record**: metrics, the window pruned, the summary.
//!
//! Persisted types are in [`data`]; what the alerts say in [`texts`]; the vocabulary of the
//! gateway's classifier in [`vocab`].

pub mod act;
pub mod config;
pub mod cooldowns;
pub mod cost;
pub mod data;
pub mod decide;
pub mod facts;
pub mod files;
pub mod gather;
pub mod gauges;
pub mod journal;
pub mod records;
pub mod scan;
pub mod status;
pub mod status_json;
pub mod texts;
pub mod vocab;

use anyhow::Result;
use chrono::{DateTime, Utc};
use common::contracts::control::Maintenance;
use common::{Ctx, Job, Mode, Outcome, Paths};
use config::Config;
use data::Data;
use decide::Policy;

// Flags and subcommands of `check-ratelimit` (no doc comment: it would replace ABOUT in --help).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub cmd: Option<Cmd>,
    /// On the very first run, read existing log files from their start (default: their end)
    #[arg(long, global = true)]
    pub from_start: bool,
}

#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Show the circuit, the open incident, the window, the cursors and recent incidents
    /// (--json: one JSON document)
    Status,
    /// Open the circuit by hand; it stays open until `close` (runs on_open, alerts)
    Open {
        /// Why (shown to the other jobs and in the alert)
        #[arg(long)]
        reason: String,
    },
    /// Close the circuit by hand (runs on_close, alerts, records the incident)
    Close,
}

/// The job.
#[derive(Debug)]
pub struct CheckRatelimit;

impl Job for CheckRatelimit {
    const NAME: &'static str = "check-ratelimit";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const ABOUT: &'static str = "Read the gateway's new log records for model-provider refusals (rate limit, quota, overload) and open/close the circuit that holds the workers.";
    const EXAMPLES: &'static str = "  check-ratelimit                      # cron, every 5 minutes
  check-ratelimit status
  check-ratelimit status --json        # the same as one JSON document
  check-ratelimit open --reason \"provider incident, holding workers\"
  check-ratelimit close
  check-ratelimit --from-start --dry-run -v";
    const SCHEMA_VERSION: u32 = data::SCHEMA_VERSION;
    type Args = Args;
    type Config = Config;
    type Data = Data;
    type Facts = common::contracts::facts::check_ratelimit::RatelimitFacts;

    fn mode(args: &Args) -> Mode {
        match args.cmd {
            Some(Cmd::Status) => Mode::ReadOnly,
            Some(_) => Mode::Command,
            None => Mode::Run,
        }
    }

    fn migrate(from: u32, state: serde_json::Value) -> Result<serde_json::Value> {
        data::migrate(from, state)
    }

    fn validate(cfg: &Config, paths: &Paths) -> Result<()> {
        config::validate(cfg, paths)
    }

    fn config_warnings(
        cfg: &Config,
        paths: &Paths,
        file: &common::config::ConfigFile,
    ) -> Vec<String> {
        let gw = file.gateway_settings().ok().map(|s| s.resolve(&paths.root));
        gather::config_warnings(cfg, paths, gw.as_ref())
    }

    fn facts(data: &Data, now: DateTime<Utc>) -> Option<Self::Facts> {
        Some(facts::public(data, now))
    }

    fn gauges(facts: &Self::Facts) -> Vec<common::metrics::Gauge> {
        gauges::of(facts)
    }

    fn run(ctx: &mut Ctx<Data>, cfg: &Config, args: &Args) -> Result<Outcome> {
        let maint = gather::maintenance(&ctx.paths.state_dir);
        match &args.cmd {
            Some(Cmd::Status) => status(ctx, cfg, maint.as_ref()),
            Some(Cmd::Open { reason }) => manual_open(ctx, cfg, reason, maint.as_ref()),
            Some(Cmd::Close) => manual_close(ctx, cfg, maint.as_ref()),
            None => scheduled(ctx, cfg, args, maint.as_ref()),
        }
    }
}

/// A cron run: gather → decide → act → record.
fn scheduled(
    ctx: &mut Ctx<Data>,
    cfg: &Config,
    args: &Args,
    maint: Option<&Maintenance>,
) -> Result<Outcome> {
    let now = ctx.now();
    let policy = Policy::from_config(cfg);
    ctx.state.data.window_secs = Some(cfg.window_secs);
    // gather
    let matcher = scan::Matcher::new(&cfg.include, &cfg.quota_include, &cfg.exclude)?;
    let globs = log_globs(ctx, cfg);
    let seen = gather::scan(ctx, cfg, &matcher, &globs, args.from_start, policy.window)?;
    if let Some(why) = ctx.stop_reason() {
        ctx.state
            .data
            .prune(now, policy.window.max(policy.cool_off));
        return Ok(Outcome::ok(format!(
            "stopped early ({why}) after {} bytes; progress saved",
            seen.stats.bytes
        )));
    }
    let cooldowns = gather::cooldowns(ctx, cfg, policy.window);
    // decide
    let decision = decide::evaluate(
        &mut ctx.state.data,
        &policy,
        &cooldowns,
        now,
        &ctx.run_id.clone(),
    );
    let idle = cost::evaluate(&mut ctx.state.data, policy.idle_calls_per_hour, now);
    // act
    act::incident(ctx, &policy, hook_timeout(cfg), maint)?;
    act::stale_alerts(ctx, &decision.stale, maint)?;
    if let Some(e) = &idle {
        act::idle_alert(ctx, e, maint)?;
    }
    // record
    Ok(record(ctx, &policy, &seen, &decision, now))
}

fn hook_timeout(cfg: &Config) -> std::time::Duration {
    std::time::Duration::from_secs(cfg.hook_timeout_secs)
}

fn log_globs(ctx: &Ctx<Data>, cfg: &Config) -> Vec<std::path::PathBuf> {
    let gw = if cfg.logs.is_empty() {
        ctx.gateway().ok()
    } else {
        None
    };
    let (globs, from) = gather::log_globs(cfg, &ctx.paths, gw.as_ref());
    log::debug!("log files from {from}: {globs:?}");
    globs
}

/// Metrics, the window pruned, and the run's one-line summary.
fn record(
    ctx: &mut Ctx<Data>,
    p: &Policy,
    seen: &gather::Scan,
    decision: &decide::Decision,
    now: DateTime<Utc>,
) -> Outcome {
    let counts = ctx.state.data.window_counts(now, p.window);
    let st = &seen.stats;
    let r = &seen.read;
    for (k, v) in [
        ("bytes_read", st.bytes),
        ("refusals_rate_limit", r.rate_limit.refusals.into()),
        ("refusals_quota", r.quota.refusals.into()),
        ("refusals_overload", r.overload.refusals.into()),
        ("decisions_rate_limit", r.rate_limit.decisions.into()),
        ("decisions_quota", r.quota.decisions.into()),
        ("decisions_overload", r.overload.decisions.into()),
        ("lines_excluded", st.excluded),
        ("lines_garbage", st.garbage),
        ("lines_oversized", st.oversized),
    ] {
        ctx.metric_add(k, v);
    }
    if st.garbage + st.oversized > 0 {
        log::info!(
            "skipped {} unusable line(s) (invalid JSON, invalid UTF-8 or binary) and {} line(s) over the length limit",
            st.garbage,
            st.oversized
        );
    }
    if st.bytes > 0 {
        log::info!("scanned {} bytes in {:.2} ms", st.bytes, seen.elapsed_ms);
    }
    if counts.overload.refusals > 0 && p.overload_threshold.is_none() {
        log::info!(
            "{} overload refusal(s) in the window (HTTP 529/overloaded_error): counted, but `overload_threshold` is not set, so overload does not open the circuit",
            counts.overload.refusals
        );
    }
    ctx.state.data.prune(now, p.window);
    let data = &ctx.state.data;
    let gauges = [
        ("files_followed", data.cursors.len() as u64),
        ("circuit_open", u64::from(data.incident.is_some())),
        (
            "calls_this_hour",
            data.hours.back().map_or(0, |b| b.calls()),
        ),
    ];
    for (k, v) in gauges {
        ctx.metric_set(k, v);
    }
    for (k, c) in [
        ("rate_limit", counts.rate_limit),
        ("quota", counts.quota),
        ("overload", counts.overload),
    ] {
        ctx.metric_set(&format!("window_{k}_refusals"), c.refusals);
        ctx.metric_set(&format!("window_{k}_decisions"), c.decisions);
    }
    let mut summary = format!(
        "read {} bytes from {} file(s); in the window: rate limit {} refused/{} decided, quota {}/{}, overload {}/{}; {} excluded, {} garbage, {} oversized",
        st.bytes,
        seen.files,
        counts.rate_limit.refusals,
        counts.rate_limit.decisions,
        counts.quota.refusals,
        counts.quota.decisions,
        counts.overload.refusals,
        counts.overload.decisions,
        st.excluded,
        st.garbage,
        st.oversized
    );
    for n in &decision.notes {
        summary.push_str("; ");
        summary.push_str(n);
    }
    if !seen.failures.is_empty() {
        return Outcome::failed(summary, seen.failures.join("; "));
    }
    if st.bytes == 0
        && seen.signals == 0
        && !decision.changed
        && seen.events == 0
        && decision.stale.is_empty()
    {
        return Outcome::noop("nothing new");
    }
    Outcome::ok(summary)
}

fn status(ctx: &mut Ctx<Data>, cfg: &Config, maint: Option<&Maintenance>) -> Result<Outcome> {
    let now = ctx.now();
    let c =
        common::control::read_circuit(&ctx.paths.state_dir).map_err(|e| common::exit::one_line(&e));
    let globs = log_globs(ctx, cfg);
    if ctx.json {
        let doc = status_json::document(
            status_json::Inputs {
                data: &ctx.state.data,
                last_run: ctx.state.last_run.as_ref(),
                last_success: ctx.state.last_success,
                effects: &ctx.state.effects,
                circuit: c,
                maintenance: maint,
                globs: &globs,
                now,
            },
            cfg,
            &|p| std::fs::metadata(p).map(|m| m.len()).ok(),
        );
        println!("{}", serde_json::to_string(&doc)?);
    } else {
        print!(
            "{}",
            status::render(&ctx.state.data, c, cfg, &globs, now, maint)
        );
    }
    Ok(Outcome::noop("status"))
}

fn manual_open(
    ctx: &mut Ctx<Data>,
    cfg: &Config,
    reason: &str,
    maint: Option<&Maintenance>,
) -> Result<Outcome> {
    let now = ctx.now();
    let policy = Policy::from_config(cfg);
    // An interrupted close is finished before a new incident opens.
    act::incident(ctx, &policy, hook_timeout(cfg), maint)?;
    let run_id = ctx.run_id.clone();
    if let Err(msg) = decide::manual_open(&mut ctx.state.data, reason, &run_id, &policy, now) {
        println!("{msg}");
        return Ok(Outcome::ok(msg));
    }
    act::incident(ctx, &policy, hook_timeout(cfg), maint)?;
    let msg = match &ctx.state.data.incident {
        Some(inc) => format!(
            "circuit opened (incident {}); it stays open until `check-ratelimit close`",
            inc.id
        ),
        None => "circuit state unchanged".into(),
    };
    println!("{msg}");
    Ok(Outcome::ok(msg))
}

fn manual_close(ctx: &mut Ctx<Data>, cfg: &Config, maint: Option<&Maintenance>) -> Result<Outcome> {
    let now = ctx.now();
    let policy = Policy::from_config(cfg);
    let msg = decide::manual_close(&mut ctx.state.data, &policy, now);
    act::incident(ctx, &policy, hook_timeout(cfg), maint)?;
    println!("{msg}");
    Ok(Outcome::ok(msg))
}

/// The binary's entry point (`src/main.rs` calls it; why here: [`common::main`]).
pub fn main() -> std::process::ExitCode {
    common::main::<CheckRatelimit>()
}

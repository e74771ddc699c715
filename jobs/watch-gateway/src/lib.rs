//! watch-gateway: the watchdog that brings the agent gateway back, least disruptive step
//! first, and never fights a planned restart.
//!
//! Every probe (one per run, or one every `probe_interval_secs` under `--watch 55s`):
//! 1. **gather** — `/healthz` and `/readyz` with bounded timeouts, the gateway's process from
//!    its lock file, the suite's maintenance file and rate-limit circuit ([`probe`]);
//! 2. **decide** — what the probe means ([`classify`]: healthy, degraded, down, flapping;
//!    failed or not) and what the ladder does next ([`ladder`]: open an incident, wait, take a
//!    step, halt, close) — pure functions of the probe, the state and `now`;
//! 3. **act** — the step, every side effect through the effect journal ([`act`]: restart,
//!    config restore through backup-config, diagnosis and one escalation alert, the budget's
//!    halt and its one critical alert, the recovery message);
//! 4. **record** — the probe, the health and its uptime, the starts seen (flapping).
//!
//! Subcommands: `status`, `maintenance --for 10m --reason TEXT` / `--end`, `resume` (after the
//! restart budget tripped), `restart` (a manual restart through the same step). See
//! docs/jobs/watch-gateway.md.

pub mod act;
pub mod classify;
pub mod commands;
pub mod config;
pub mod data;
pub mod diagnose;
pub mod gateway;
pub mod ladder;
pub mod probe;
pub mod procfs;
pub mod stuck;

use act::{Clock, Run};
use anyhow::Result;
use chrono::{DateTime, Duration, Utc};
use classify::{Assessment, Policy};
use common::contracts::control::Maintenance;
use common::contracts::facts::watch_gateway::GatewayFacts;
use common::{Ctx, Job, Mode, Outcome, Paths, Severity};
use config::Config;
use data::{Data, Health, Probe};
use gateway::Env;
use ladder::{Plan, Situation};
use std::time::Instant;

/// Command line of `watch-gateway` (besides the common flags).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Keep probing every `probe_interval_secs` until DURATION has passed (e.g. 55s), inside one
    /// lock: a once-a-minute cron entry with `--watch 55s` probes every few seconds
    #[arg(long, value_name = "DURATION", value_parser = commands::parse_duration)]
    pub watch: Option<std::time::Duration>,
    #[command(subcommand)]
    pub cmd: Option<Cmd>,
}

#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Health, the open incident and its ladder, the restart budget, maintenance (read-only)
    Status,
    /// Declare planned maintenance (state/maintenance.json): probes are recorded, nothing is
    /// restarted or alerted until it ends; without options, show it
    Maintenance {
        /// How long, e.g. 10m, 1h
        #[arg(long = "for", value_name = "DURATION", value_parser = commands::parse_duration)]
        duration: Option<std::time::Duration>,
        /// Why (shown in status and the report)
        #[arg(long, requires = "duration")]
        reason: Option<String>,
        /// End the maintenance now
        #[arg(long, conflicts_with = "duration")]
        end: bool,
    },
    /// Re-arm automatic restarts after the restart budget tripped
    Resume,
    /// Restart the gateway now through the ladder's restart step (not counted in the budget)
    Restart {
        /// Why (logged and recorded)
        #[arg(long)]
        reason: Option<String>,
    },
}

/// The job.
#[derive(Debug)]
pub struct WatchGateway;

impl Job for WatchGateway {
    const NAME: &'static str = "watch-gateway";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const ABOUT: &'static str = "Probe the agent gateway; bring it back (restart, config restore, diagnosis), least disruptive step first; never during planned maintenance.";
    const EXAMPLES: &'static str = "  watch-gateway --watch 55s                          # cron, every minute\n  \
         watch-gateway status\n  \
         watch-gateway maintenance --for 10m --reason \"upgrade\"\n  \
         watch-gateway maintenance --end\n  \
         watch-gateway resume                               # after the restart budget tripped\n  \
         watch-gateway restart --reason \"stuck replies\"";
    type Args = Args;
    type Config = Config;
    type Data = Data;
    type Facts = GatewayFacts;

    fn mode(args: &Args) -> Mode {
        match args.cmd {
            None => Mode::Run,
            Some(Cmd::Resume | Cmd::Restart { .. }) => Mode::Command,
            // Lock-free: the maintenance file is the suite's, written atomically, and must not
            // wait behind a 55 s watch run.
            Some(Cmd::Status | Cmd::Maintenance { .. }) => Mode::ReadOnly,
        }
    }

    fn validate(cfg: &Config, paths: &Paths) -> Result<()> {
        config::validate(cfg, paths)
    }

    fn facts(d: &Data, now: DateTime<Utc>) -> Option<GatewayFacts> {
        Some(data::facts(d, now, d.budget_max))
    }

    fn gauges(f: &GatewayFacts) -> Vec<common::metrics::Gauge> {
        use common::metrics::Gauge;
        let mut g = Vec::new();
        for state in [
            "healthy",
            "degraded",
            "down",
            "flapping",
            "maintenance",
            "unknown",
        ] {
            g.push(
                Gauge::new(
                    "gateway_health",
                    "The agent gateway's health at the last probe (1 for the current state).",
                    f64::from(u8::from(f.health == state)),
                )
                .label("state", state),
            );
        }
        g.push(Gauge::new(
            "gateway_up",
            "1 when the agent gateway answered its liveness probe (healthy or degraded).",
            f64::from(u8::from(f.health == "healthy" || f.health == "degraded")),
        ));
        g.push(Gauge::new(
            "gateway_restarts_last_hour",
            "Automatic restarts in the last hour (the budget counts these).",
            f64::from(f.restarts_last_hour),
        ));
        g.push(Gauge::new(
            "gateway_restart_budget_per_hour",
            "The restart budget: automatic restarts allowed per hour.",
            f64::from(f.max_restarts_per_hour),
        ));
        g.push(Gauge::new("gateway_recovery_halted", "1 when the restart budget tripped and recovery waits for a human (watch-gateway resume).", f64::from(u8::from(f.halted.is_some()))));
        g.push(Gauge::new(
            "gateway_incident_open",
            "1 while a gateway incident is open.",
            f64::from(u8::from(
                f.incidents.iter().any(|i| i.recovered_at.is_none()),
            )),
        ));
        if let Some(t) = f.mean_time_to_recover_secs {
            g.push(Gauge::new(
                "gateway_mean_time_to_recover_seconds",
                "Mean time from the first failed probe to recovery, over the incidents kept.",
                t as f64,
            ));
        }
        if let Some(t) = f.last_probe_at {
            g.push(Gauge::new(
                "gateway_last_probe_timestamp_seconds",
                "Unix time of the last probe.",
                t.timestamp_millis() as f64 / 1000.0,
            ));
        }
        g
    }

    fn run(ctx: &mut Ctx<Data>, cfg: &Config, args: &Args) -> Result<Outcome> {
        ctx.state.data.budget_max = cfg.max_restarts_per_hour;
        match &args.cmd {
            None => watch(ctx, cfg, args.watch),
            Some(Cmd::Status) => commands::status(ctx, cfg, ctx.json),
            Some(Cmd::Maintenance {
                duration,
                reason,
                end,
            }) => commands::maintenance(ctx, *duration, reason.as_deref(), *end),
            Some(Cmd::Resume) => commands::resume(ctx),
            Some(Cmd::Restart { reason }) => commands::restart(ctx, cfg, reason.as_deref()),
        }
    }
}

/// The thresholds of the config as durations.
pub fn policy(cfg: &Config) -> Policy {
    let s = |n: u64| Duration::seconds(n as i64);
    Policy {
        window: s(cfg.window_secs),
        startup_grace: s(cfg.startup_grace_secs),
        not_ready_grace: s(cfg.not_ready_grace_secs),
        drain_grace: s(cfg.drain_grace_secs),
        flap_restarts: cfg.flap_restarts,
        flap_window: s(cfg.flap_window_secs),
        max_restarts_per_hour: cfg.max_restarts_per_hour,
        restarts: cfg.restarts(),
    }
}

/// What one probe gathered.
#[derive(Debug, Clone)]
pub struct Seen {
    pub now: DateTime<Utc>,
    pub probe: Probe,
    /// Planned maintenance in force.
    pub maintenance: Option<Maintenance>,
    pub circuit_open: bool,
    /// The gateway watch-gateway started for the open incident has exited.
    pub launched_died: bool,
}

/// What the probe means and what to do.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub assessment: Assessment,
    pub plan: Plan,
    /// The gateway started at this time (from `/readyz` uptime), first seen now.
    pub new_start: Option<DateTime<Utc>>,
}

/// Counts of one run.
#[derive(Debug, Default)]
struct Tally {
    probes: u64,
    failed: u64,
    steps: Vec<String>,
    opened: bool,
    recovered: bool,
    halted: bool,
}

/// A cron run: probe → decide → act → record, again every `probe_interval_secs` under
/// `--watch` until its time is up.
fn watch(ctx: &mut Ctx<Data>, cfg: &Config, watch: Option<std::time::Duration>) -> Result<Outcome> {
    let pol = policy(cfg);
    let mut env = commands::env(ctx)?;
    let http = commands::probe_client(ctx, cfg)?;
    let clock = Clock {
        start: ctx.now(),
        t0: Instant::now(),
    };
    let mut tally = Tally::default();
    loop {
        let probed_at = Instant::now();
        let seen = gather(ctx, cfg, &mut env, &http, clock.now());
        let verdict = decide(&ctx.state.data, &seen, &pol);
        let mut run = Run {
            cfg,
            pol: &pol,
            env: &mut env,
            clock,
        };
        act(ctx, &mut run, &seen, &verdict, &mut tally)?;
        record(ctx, &seen, &verdict);
        tally.probes += 1;
        tally.failed += u64::from(verdict.assessment.failed.is_some());
        if !wait_next(ctx, cfg, watch, clock.t0, probed_at) {
            break;
        }
    }
    Ok(outcome(&ctx.state.data, &tally))
}

/// Gather: the probe, maintenance, the circuit, whether a gateway we started has exited.
pub fn gather(
    ctx: &Ctx<Data>,
    cfg: &Config,
    env: &mut Env,
    http: &common::http::Http,
    now: DateTime<Utc>,
) -> Seen {
    let cli = cfg.cli_health.then(|| {
        let mut c = env.gw.cli();
        c.timeout = c.timeout.min(std::time::Duration::from_secs(15));
        c
    });
    let probe = probe::probe(http, &env.target, now, cli.as_ref());
    let maintenance = match common::control::read_maintenance(&ctx.paths.state_dir) {
        Ok(m) => m.filter(|m| m.active_at(now)),
        Err(e) => {
            // Once per run (not every probe): a WARN reaches cron's mail.
            if !std::mem::replace(&mut env.warned_maintenance, true) {
                log::warn!(
                    "{}; it is ignored: recovery is not held back by a file that does not parse",
                    common::exit::one_line(&e)
                );
            }
            None
        }
    };
    env.reap();
    let d = &ctx.state.data;
    let launched_died = match (&d.launched, &d.incident) {
        (Some(l), Some(i)) => {
            l.incident.as_deref() == Some(i.id.as_str()) && !procfs::alive(l.pid, l.start_ticks)
        }
        _ => false,
    };
    Seen {
        now,
        probe,
        maintenance,
        circuit_open: ctx.circuit().is_open(),
        launched_died,
    }
}

/// Decide: classify the probe and plan the ladder (pure).
pub fn decide(d: &Data, seen: &Seen, pol: &Policy) -> Verdict {
    let started = seen.probe.started_at().filter(|_| seen.probe.live);
    let new_start = started.filter(|s| {
        d.starts
            .last()
            .is_none_or(|l| (*s - *l).num_seconds().abs() > 10)
    });
    let mut starts = d.starts.clone();
    starts.extend(new_start);
    let assessment = classify::assess(
        &seen.probe,
        d.unready_since,
        d.draining_since,
        &starts,
        seen.circuit_open,
        seen.now,
        pol,
    );
    let plan = ladder::plan(
        &Situation {
            now: seen.now,
            failed: assessment.failed.as_deref(),
            live: seen.probe.live,
            incident: d.incident.as_ref(),
            maintenance: seen.maintenance.is_some(),
            halted: d.halted.is_some(),
            restarts_used: d.restarts_in_budget(seen.now),
            launched_died: seen.launched_died,
        },
        pol,
    );
    Verdict {
        assessment,
        plan,
        new_start,
    }
}

/// Act on the plan (each side effect journaled), then the flapping alert.
fn act(
    ctx: &mut Ctx<Data>,
    run: &mut Run<'_>,
    seen: &Seen,
    v: &Verdict,
    tally: &mut Tally,
) -> Result<()> {
    if seen.launched_died {
        act::note_launch_exit(ctx, run.env, seen.now);
    }
    let probe = &seen.probe;
    match &v.plan {
        Plan::Idle => {}
        Plan::Hold(why) => log::debug!("holding: {why}"),
        Plan::Open(cause) => {
            act::open(ctx, cause, probe, seen.now, run.pol)?;
            tally.opened = true;
        }
        Plan::Step(level) => take_steps(ctx, run, seen, *level, tally)?,
        Plan::Halt => {
            act::halt(ctx, run, probe)?;
            tally.halted = true;
        }
        Plan::Recovered => {
            act::recovered(ctx, run, seen.now, seen.maintenance.is_some())?;
            tally.recovered = true;
        }
    }
    // Planned maintenance: probes are recorded, nobody is alerted.
    if seen.maintenance.is_some() {
        return Ok(());
    }
    if v.assessment.health == Health::Flapping {
        report_flapping(ctx, run.pol, seen, v)?;
    }
    if probe.live && v.assessment.failed.is_none() {
        stuck::check(ctx, run, seen.now)?;
    }
    Ok(())
}

/// Take a step, and the next ones at once while nothing disruptive happened (a config check
/// that found nothing is followed by the diagnosis without waiting another window).
fn take_steps(
    ctx: &mut Ctx<Data>,
    run: &mut Run<'_>,
    seen: &Seen,
    first: u32,
    tally: &mut Tally,
) -> Result<()> {
    let mut level = first;
    for _ in 0..3 {
        let end = act::step(ctx, run, level, &seen.probe)?;
        tally
            .steps
            .push(format!("{} {}", ladder::name(level), end.status.as_str()));
        if !end.continue_now || ctx.should_stop() {
            break;
        }
        let again = Seen {
            now: run.clock.now(),
            ..seen.clone()
        };
        match decide(&ctx.state.data, &again, run.pol).plan {
            Plan::Step(next) if next > level => level = next,
            Plan::Halt => {
                act::halt(ctx, run, &seen.probe)?;
                tally.halted = true;
                break;
            }
            _ => break,
        }
    }
    Ok(())
}

/// One warning per flapping episode.
fn report_flapping(ctx: &mut Ctx<Data>, pol: &Policy, seen: &Seen, v: &Verdict) -> Result<()> {
    let mut starts = ctx.state.data.starts.clone();
    starts.extend(v.new_start);
    let Some(episode) = classify::flap_episode(&starts, seen.now, pol) else {
        return Ok(());
    };
    if ctx.state.data.flapping_reported == Some(episode) {
        return Ok(());
    }
    ctx.state.data.flapping_reported = Some(episode);
    let n = starts.iter().filter(|s| **s >= episode).count();
    let text = format!(
        "The agent gateway is flapping: it started {n} times since {} (threshold {} within {} min). watch-gateway does not restart a gateway that keeps coming back; look at its log for what ends it.",
        classify::fmt_time(episode),
        pol.flap_restarts,
        pol.flap_window.num_minutes()
    );
    let key = format!("gateway/flapping/{}", episode.format("%Y%m%dT%H%M%SZ"));
    ctx.alert_with_interval(
        &key,
        Severity::Warning,
        &text,
        Some(std::time::Duration::from_secs(400 * 86400)),
    )?;
    Ok(())
}

/// Record: the probe, health and its uptime, starts, streaks, maintenance.
fn record(ctx: &mut Ctx<Data>, seen: &Seen, v: &Verdict) {
    let a = &v.assessment;
    let now = seen.now;
    let d = &mut ctx.state.data;
    let prev = d
        .last_probe
        .as_ref()
        .and_then(|p| p.at)
        .map(|at| (at, d.health, d.in_maintenance));
    d.account(prev, now, Duration::seconds(150));
    if let Some(s) = v.new_start {
        d.note_start(s);
    }
    let in_maint = seen.maintenance.is_some();
    if in_maint != d.in_maintenance {
        log::info!(
            "planned maintenance {}",
            match &seen.maintenance {
                Some(m) => format!(
                    "in force until {}{}: probes are recorded, nothing is restarted or alerted",
                    m.ignore_until.map(classify::fmt_time).unwrap_or_default(),
                    m.reason
                        .as_deref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                ),
                None => "over".to_string(),
            }
        );
    }
    d.in_maintenance = in_maint;
    d.maintenance_until = seen.maintenance.as_ref().and_then(|m| m.ignore_until);
    let changed = d.health != a.health;
    if changed {
        log::info!(
            "gateway {} → {}: {}{}",
            d.health.as_str(),
            a.health.as_str(),
            seen.probe.describe(),
            a.note
                .as_deref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default()
        );
        d.health = a.health;
        d.health_since = Some(now);
    }
    d.unready_since = a.unready_since;
    d.draining_since = a.draining_since;
    d.failing_since = if a.failed.is_some() || !seen.probe.live {
        d.failing_since.or(Some(now))
    } else {
        None
    };
    if let Some(inc) = d.incident.as_mut().filter(|_| a.failed.is_some()) {
        inc.failed_probes += 1;
        inc.last_detail = seen.probe.describe();
    }
    d.last_probe = Some(seen.probe.clone());
    ctx.metric_add("probes", 1);
    ctx.metric_set("probe_latency_ms", seen.probe.latency_ms);
    ctx.metric_set(
        "restarts_last_hour",
        ctx.state.data.restarts_last_hour(now) as u64,
    );
    if changed && let Err(e) = ctx.checkpoint() {
        log::error!("{}", common::exit::one_line(&e));
    }
}

/// Sleep until the next probe; `false` when the run should end.
fn wait_next(
    ctx: &Ctx<Data>,
    cfg: &Config,
    watch: Option<std::time::Duration>,
    t0: Instant,
    probed_at: Instant,
) -> bool {
    let Some(watch) = watch else { return false };
    let next = probed_at + std::time::Duration::from_secs_f64(cfg.probe_interval_secs);
    if ctx.should_stop() || next >= t0 + watch {
        return false;
    }
    while Instant::now() < next {
        if ctx.should_stop() {
            return false;
        }
        std::thread::sleep((next - Instant::now()).min(std::time::Duration::from_millis(50)));
    }
    true
}

fn outcome(d: &Data, t: &Tally) -> Outcome {
    let mut s = format!(
        "gateway {} ({}); {} probe(s), {} failed",
        d.health.as_str(),
        d.last_probe
            .as_ref()
            .map(Probe::describe)
            .unwrap_or_default(),
        t.probes,
        t.failed
    );
    if let Some(i) = &d.incident {
        s.push_str(&format!("; incident {} at step {}", i.id, i.level));
    }
    if !t.steps.is_empty() {
        s.push_str(&format!("; steps: {}", t.steps.join(", ")));
    }
    if t.recovered {
        s.push_str("; recovered");
    }
    if d.halted.is_some() {
        s.push_str("; restarts halted");
    }
    if t.opened || t.recovered || t.halted || !t.steps.is_empty() {
        Outcome::ok(s)
    } else {
        Outcome::noop(s)
    }
}

/// The binary's entry point (`src/main.rs` calls it; why here: [`common::main`]).
pub fn main() -> std::process::ExitCode {
    common::main::<WatchGateway>()
}

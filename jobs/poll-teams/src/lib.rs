//! poll-teams: Microsoft Teams messages into the agent's inbox exactly once (allow-listed by
//! AAD object id), then into the agent gateway exactly once (`POST <hooks.path>/agent`) as
//! each chat's mode says; operator commands behind a prefix (`/jobs status`, `/jobs stop`,
//! …) that work even while the suite is paused; alerts on unanswered and duplicated replies.
//!
//! One run = passes (one, or repeated with `--watch`) under the job's lock. Each pass:
//!
//! 1. **gather** — read every chat and channel from Graph; write new events to the inbox
//!    (Maildir: the journal of intake) and run operator commands as they come;
//! 2. **decide + act** — deliver the inbox events the gateway should get (`deliver`);
//! 3. **decide + act** — the reply detectors raise their alerts (`detect`);
//! 4. **record** — metrics and the summary; the runtime saves state and facts.
//!
//! See `docs/jobs/poll-teams.md`.

pub mod commands;
pub mod config;
pub mod data;
pub mod deliver;
pub mod detect;
pub mod gather;
pub mod hook;
pub mod html;
pub mod inbox;
pub mod intake;
pub mod show;
pub mod status;

use anyhow::Result;
use chrono::{DateTime, Utc};
use common::config::ConfigFile;
use common::contracts::facts::poll_teams::InboxFacts;
use common::{Ctx, Job, Mode, Outcome, Paths};
use std::time::{Duration, Instant};

pub use config::Config;
pub use data::Data;

/// Command line of poll-teams.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Keep polling every `watch_interval_secs` until DURATION has passed (e.g. 55s, 5m), inside
    /// one lock: a once-a-minute cron entry with `--watch 55s` gives sub-minute latency
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub watch: Option<Duration>,
    #[command(subcommand)]
    pub cmd: Option<Sub>,
}

/// Subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Sub {
    /// Print each chat's watermark and mode, the inbox, deliveries, detections and recent
    /// operator commands (read-only)
    Status,
    /// Deliver an event again whose delivery outcome is unknown (after you checked the gateway
    /// did not get it): forgets its journal entry; the next run delivers it
    Redeliver {
        /// The event's file name in the inbox's new/
        file: String,
    },
}

/// `--watch`: `90`, `90s`, `5m`, `1.5m`, between 1 ms and 24 h.
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    common::duration::parse(s, Duration::from_millis(1), Duration::from_secs(86400))
}

/// The job.
#[derive(Debug)]
pub struct PollTeams;

impl Job for PollTeams {
    const NAME: &'static str = "poll-teams";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const ABOUT: &'static str = "Read Microsoft Teams chats into the agent's inbox and the gateway exactly once; run operator commands; watch the agent's replies.";
    const EXAMPLES: &'static str = "  poll-teams                  # one pass (cron: * * * * *)\n  \
         poll-teams --watch 55s      # poll every 5 s for 55 s\n  \
         poll-teams --dry-run -v     # show what would be written and delivered\n  \
         poll-teams --check-config   # also checks the gateway's hooks and Teams settings\n  \
         poll-teams status           # watermarks, inbox, deliveries, commands";
    const HONOURS_PAUSE: bool = false;
    const SCHEMA_VERSION: u32 = data::SCHEMA_VERSION;

    type Args = Args;
    type Config = Config;
    type Data = Data;
    type Facts = InboxFacts;

    fn mode(args: &Args) -> Mode {
        match args.cmd {
            Some(Sub::Status) => Mode::ReadOnly,
            Some(Sub::Redeliver { .. }) => Mode::Command,
            None => Mode::Run,
        }
    }

    fn migrate(from: u32, state: serde_json::Value) -> Result<serde_json::Value> {
        data::migrate(from, state)
    }

    fn facts(data: &Data, _now: DateTime<Utc>) -> Option<InboxFacts> {
        Some(facts_of(data))
    }

    fn gauges(f: &InboxFacts) -> Vec<common::metrics::Gauge> {
        use common::metrics::Gauge;
        let ts = |t: Option<DateTime<Utc>>| t.map(|t| t.timestamp_millis() as f64 / 1000.0);
        let mut g = vec![
            Gauge::new(
                "inbox_pending_events",
                "Inbox events not yet delivered to the gateway.",
                f.pending as f64,
            ),
            Gauge::new(
                "inbox_delivered_events",
                "Inbox events delivered to the gateway since the state file was created.",
                f.delivered as f64,
            ),
            Gauge::new(
                "inbox_rejected_events",
                "Inbox events the gateway refused for good (kept under rejected/).",
                f.rejected as f64,
            ),
            Gauge::new(
                "teams_unanswered_messages",
                "Messages from allowed senders with no agent reply in time, since records began.",
                f.unanswered as f64,
            ),
            Gauge::new(
                "teams_duplicate_replies",
                "Duplicated agent replies seen, since records began.",
                f.duplicate_replies as f64,
            ),
        ];
        if let Some(t) = ts(f.last_message_at) {
            g.push(Gauge::new(
                "inbox_last_message_timestamp_seconds",
                "Unix time of the newest message taken into the inbox.",
                t,
            ));
        }
        if let Some(t) = ts(f.last_delivery_at) {
            g.push(Gauge::new(
                "inbox_last_delivery_timestamp_seconds",
                "Unix time of the last delivery to the gateway.",
                t,
            ));
        }
        g
    }

    fn validate(cfg: &Config, paths: &Paths) -> Result<()> {
        cfg.validate(&paths.config)?;
        gather::validate(cfg, paths)
    }

    fn config_warnings(cfg: &Config, paths: &Paths, file: &ConfigFile) -> Vec<String> {
        gather::warnings(cfg, paths, file)
    }

    fn run(ctx: &mut Ctx<Data>, cfg: &Config, args: &Args) -> Result<Outcome> {
        match &args.cmd {
            Some(Sub::Status) => {
                if ctx.json {
                    show::print_json(ctx, cfg);
                } else {
                    show::print(ctx, cfg);
                }
                return Ok(Outcome::noop("status printed"));
            }
            Some(Sub::Redeliver { file }) => return redeliver(ctx, file),
            None => {}
        }
        let mut world = gather::setup(ctx, cfg)?;
        let mut tally = Tally {
            failures_at_start: commands::recover(ctx, cfg, &mut world.graph)?,
            ..Tally::default()
        };
        let t0 = Instant::now();
        loop {
            tally.passes += 1;
            tally.failures.clear();
            intake_pass(ctx, cfg, &mut world, &mut tally)?;
            delivery_pass(ctx, cfg, &world, &mut tally)?;
            detect::raise(ctx, cfg)?;
            if !wait_for_next_pass(ctx, cfg, args, t0) {
                break;
            }
        }
        record(ctx, cfg, &world, tally)
    }
}

/// What the passes of one run did.
#[derive(Debug, Default)]
struct Tally {
    passes: u64,
    fetched: u64,
    written: u64,
    delivered: u64,
    failures: Vec<String>,
    failures_at_start: usize,
    config_error: Option<String>,
}

/// Gather: every chat and channel into the inbox (commands run as they come).
fn intake_pass(
    ctx: &mut Ctx<Data>,
    cfg: &Config,
    world: &mut gather::World,
    tally: &mut Tally,
) -> Result<()> {
    let settings = cfg.sources();
    let sources =
        cfg.chats
            .iter()
            .map(|c| intake::Source::Chat(&c.id))
            .chain(cfg.channels.iter().map(|c| intake::Source::Channel {
                team: &c.team,
                channel: &c.channel,
            }));
    for (src, settings) in sources.zip(settings.iter()) {
        if ctx.should_stop() {
            break;
        }
        let pass = intake::Pass {
            cfg,
            people: &world.people,
            inbox: &world.inbox,
            src,
            settings,
        };
        let now = ctx.now();
        match intake::pass_source(ctx, &pass, &mut world.graph) {
            Ok(r) => {
                tally.fetched += r.fetched;
                tally.written += r.written;
                let cs = intake::state_of(&mut ctx.state.data, &src);
                cs.last_poll = Some(now);
                cs.last_error = None;
                if r.commands_failed > 0 {
                    tally.failures.push(format!(
                        "{} command(s) failed in {}",
                        r.commands_failed,
                        src.label()
                    ));
                }
            }
            Err(e) if common::exit::code_of(&e) != common::Exit::Failed => return Err(e),
            Err(e) => {
                let m = common::exit::one_line(&e);
                log::error!("{}: {m}; its watermark did not move", src.label());
                intake::state_of(&mut ctx.state.data, &src).last_error = Some(m.clone());
                tally.failures.push(format!("{}: {m}", src.label()));
            }
        }
    }
    Ok(())
}

/// Decide + act: inbox events into the gateway.
fn delivery_pass(
    ctx: &mut Ctx<Data>,
    cfg: &Config,
    world: &gather::World,
    tally: &mut Tally,
) -> Result<()> {
    let target = match &world.target {
        None => {
            // Every chat is in `journal` mode: nothing goes to the gateway, and what waits in
            // the inbox is still counted (the facts say how many events are pending).
            // (An inbox not created yet, as in a dry run, holds nothing.)
            let d = &mut ctx.state.data.delivery;
            (d.pending, d.pending_counted) = world
                .inbox
                .count_new(d.pending_counted)
                .unwrap_or((0, None));
            return Ok(());
        }
        Some(Err(why)) => {
            tally.config_error = Some(why.clone());
            return Ok(());
        }
        Some(Ok(t)) => t,
    };
    let r = deliver::pass(ctx, cfg, target, &world.inbox, &cfg.sources())?;
    tally.delivered += r.delivered;
    tally.failures.extend(r.failed);
    if r.config_error.is_some() {
        tally.config_error = r.config_error;
    }
    Ok(())
}

/// With `--watch`: sleep until the next pass; false when the run is over.
fn wait_for_next_pass(ctx: &Ctx<Data>, cfg: &Config, args: &Args, t0: Instant) -> bool {
    let Some(watch) = args.watch else {
        return false;
    };
    let next = Instant::now() + Duration::from_secs_f64(cfg.watch_interval_secs);
    if ctx.should_stop() || next >= t0 + watch {
        return false;
    }
    while Instant::now() < next && !ctx.should_stop() {
        std::thread::sleep((next - Instant::now()).min(Duration::from_millis(50)));
    }
    !ctx.should_stop()
}

/// Record: metrics and the run's outcome.
fn record(ctx: &mut Ctx<Data>, cfg: &Config, world: &gather::World, t: Tally) -> Result<Outcome> {
    let s = &world.graph.stats;
    ctx.metric_add("requests", s.requests);
    ctx.metric_add("pages", s.pages);
    ctx.metric_add("throttled", s.throttled);
    ctx.metric_add("token_requests", s.token_requests);
    ctx.metric_set("last_latency_ms", s.last_latency_ms);
    ctx.metric_set("passes", t.passes);
    let mut summary = format!(
        "{} event(s) delivered, {} message(s) fetched from {} chat(s) and {} channel(s) in {} pass(es)",
        t.written,
        t.fetched,
        cfg.chats.len(),
        cfg.channels.len(),
        t.passes
    );
    if cfg.delivers() {
        summary.push_str(&format!("; {} delivered to the gateway", t.delivered));
    }
    if let Some(e) = t.config_error {
        return Err(common::config_error(e));
    }
    let mut failures = t.failures;
    if t.failures_at_start > 0 {
        failures.insert(
            0,
            format!(
                "{} command(s) or reply(ies) left by an earlier run failed",
                t.failures_at_start
            ),
        );
    }
    if !failures.is_empty() {
        return Ok(Outcome::failed(summary, failures.join("; ")));
    }
    if t.written == 0 && t.delivered == 0 {
        return Ok(Outcome::noop(summary));
    }
    Ok(Outcome::ok(summary))
}

fn redeliver(ctx: &mut Ctx<Data>, file: &str) -> Result<Outcome> {
    if deliver::forget(ctx, file) {
        log::warn!(
            "{file}: its delivery journal entry is forgotten; the next run delivers it again"
        );
        Ok(Outcome::ok(format!("{file} will be delivered again")))
    } else {
        Err(common::data_error(format!(
            "{file}: no delivery of this event is recorded (see `poll-teams status`)"
        )))
    }
}

/// The public facts, from the private data.
pub fn facts_of(d: &Data) -> InboxFacts {
    let del = &d.delivery;
    InboxFacts {
        pending: del.pending,
        delivered: del.delivered,
        rejected: del.rejected,
        expired: del.expired,
        answered_live: del.answered_live,
        waiting: del.waiting,
        unsettled: del.in_flight.len() as u64,
        last_message_at: d
            .chats
            .values()
            .chain(d.channels.values())
            .filter_map(|c| c.watermark)
            .max(),
        last_delivery_at: del.last_delivery_at,
        gateway_down_since: del.gateway.down_since,
        unanswered: d.detections.unanswered,
        duplicate_replies: d.detections.duplicate_replies,
        commands: d.commands.len() as u64,
    }
}

/// The binary's entry point (`src/main.rs` calls it; why here: [`common::main`]).
pub fn main() -> std::process::ExitCode {
    common::main::<PollTeams>()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("55s").unwrap(), Duration::from_secs(55));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1.5m").unwrap(), Duration::from_secs(90));
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("2d").is_err());
    }

    #[test]
    fn facts_come_from_data() {
        let mut d = Data::default();
        d.delivery.delivered = 3;
        d.detections.unanswered = 1;
        let f = facts_of(&d);
        assert_eq!((f.delivered, f.unanswered, f.pending), (3, 1, 0));
    }
}

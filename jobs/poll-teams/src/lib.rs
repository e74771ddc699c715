//! poll-teams: Microsoft Teams chat messages into the agent's inbox exactly once,
//! allow-listed by AAD object id, with operator commands (`/status`, `/stop`, `/start`,
//! `/reset`, `/restore`, `/reboot`, `/help`) that work even while the suite is paused.
//!
//! One run = one pass over every configured chat (or repeated passes with `--watch`), under the
//! job's lock. See `docs/jobs/poll-teams.md`.

pub mod commands;
pub mod config;
pub mod html;
pub mod inbox;
pub mod poll;

use anyhow::Result;
use chrono::{DateTime, Utc};
use common::{Ctx, Job, Mode, Outcome, Paths};
use graph::Graph;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub use config::Config;

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
    /// Print each chat's watermark, the inbox and recent operator commands (read-only)
    Status,
}

/// Parse `90`, `90s`, `5m`, `1h`, `1.5m`.
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a duration such as 55s, 5m or 1h"))?;
    let mult = match unit {
        "ms" => 0.001,
        "s" | "sec" | "secs" => 1.0,
        "m" | "min" | "mins" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("`{s}`: unknown unit `{unit}` (use ms, s, m or h)")),
    };
    let secs = n * mult;
    if !(secs.is_finite() && secs > 0.0 && secs <= 86400.0) {
        return Err(format!("`{s}` must be between 1 ms and 24 h"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Per-chat progress.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ChatState {
    /// `lastModifiedDateTime` of the newest message handled.
    pub watermark: Option<DateTime<Utc>>,
    /// Ids handled at exactly the watermark.
    pub boundary: Vec<String>,
    /// Recently delivered message id → content hash (edits, deletions, reactions).
    pub known: BTreeMap<String, String>,
    pub last_poll: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// Channels: the `@odata.deltaLink` to read changes from next time.
    pub delta_link: Option<String>,
}

/// The job's state (`state/poll-teams.json`, `data`).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Data {
    pub chats: BTreeMap<String, ChatState>,
    /// Per-channel progress, by `<team id>/<channel id>`.
    pub channels: BTreeMap<String, ChatState>,
    /// Operator commands by `<chat>#<message id>`.
    pub commands: BTreeMap<String, commands::Record>,
    /// Denied sender id → day (UTC) it was last logged.
    pub denied_logged: BTreeMap<String, String>,
}

/// The job.
#[derive(Debug)]
pub struct PollTeams;

impl Job for PollTeams {
    const NAME: &'static str = "poll-teams";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const ABOUT: &'static str =
        "Read Microsoft Teams chats into the agent's inbox exactly once; run operator commands.";
    const EXAMPLES: &'static str = "  poll-teams                  # one pass (cron: * * * * *)\n  \
         poll-teams --watch 55s      # poll every 5 s for 55 s\n  \
         poll-teams --dry-run -v     # show what would be delivered\n  \
         poll-teams status           # watermarks, inbox, recent commands";
    const HONOURS_PAUSE: bool = false;

    type Args = Args;
    type Config = Config;
    type Data = Data;
    type Facts = common::contracts::facts::NoFacts;

    fn mode(args: &Args) -> Mode {
        match args.cmd {
            Some(Sub::Status) => Mode::ReadOnly,
            None => Mode::Run,
        }
    }

    fn validate(cfg: &Config, paths: &Paths) -> Result<()> {
        cfg.validate(&paths.config)
    }

    fn run(ctx: &mut Ctx<Data>, cfg: &Config, args: &Args) -> Result<Outcome> {
        if let Some(Sub::Status) = args.cmd {
            print_status(ctx, cfg);
            return Ok(Outcome::noop("status printed"));
        }
        let inbox = inbox::Inbox::new(ctx.paths.resolve(&cfg.inbox_dir));
        if !ctx.dry_run {
            inbox.prepare()?;
        }
        commands::recover(ctx, cfg.commands.reply)?;
        let mut graph = ctx.graph_with(&cfg.graph, "poll-teams.graph")?;
        let result = run_passes(ctx, cfg, args, &mut graph, &inbox);
        let s = &graph.stats;
        ctx.metric_add("requests", s.requests);
        ctx.metric_add("pages", s.pages);
        ctx.metric_add("throttled", s.throttled);
        ctx.metric_add("token_requests", s.token_requests);
        ctx.metric_set("last_latency_ms", s.last_latency_ms);
        result
    }
}

fn run_passes(
    ctx: &mut Ctx<Data>,
    cfg: &Config,
    args: &Args,
    graph: &mut Graph,
    inbox: &inbox::Inbox,
) -> Result<Outcome> {
    let t0 = Instant::now();
    let interval = Duration::from_secs_f64(cfg.watch_interval_secs);
    let mut passes = 0u64;
    let (mut fetched, mut delivered) = (0u64, 0u64);
    let mut failures: Vec<String> = Vec::new();
    loop {
        passes += 1;
        failures.clear();
        let reply_failures = commands::send_pending_replies(ctx, graph)?;
        if reply_failures > 0 {
            failures.push(format!("{reply_failures} reply(ies) could not be posted"));
        }
        let sources =
            cfg.chats
                .iter()
                .map(|c| poll::Source::Chat(c))
                .chain(cfg.channels.iter().map(|c| poll::Source::Channel {
                    team: &c.team,
                    channel: &c.channel,
                }));
        for src in sources {
            if ctx.should_stop() {
                break;
            }
            let label = match src {
                poll::Source::Chat(c) => format!("chat {c}"),
                poll::Source::Channel { team, channel } => {
                    format!("channel {channel} of team {team}")
                }
            };
            match poll::poll_source(ctx, cfg, graph, inbox, src) {
                Ok(r) => {
                    fetched += r.fetched;
                    delivered += r.delivered;
                    let cs = poll::state_of(&mut ctx.state.data, &src);
                    cs.last_poll = Some(Utc::now());
                    cs.last_error = None;
                    if r.commands_failed > 0 {
                        failures.push(format!(
                            "{} command(s) failed in {label}",
                            r.commands_failed
                        ));
                    }
                }
                Err(e) => {
                    if common::exit::code_of(&e) != common::Exit::Failed {
                        // Configuration and data errors end the run (exit 78/65).
                        return Err(e);
                    }
                    let m = common::exit::one_line(&e);
                    log::error!("{label}: {m}; its watermark did not move");
                    poll::state_of(&mut ctx.state.data, &src).last_error = Some(m.clone());
                    failures.push(format!("{label}: {m}"));
                }
            }
        }
        let Some(watch) = args.watch else { break };
        let next = Instant::now() + interval;
        if ctx.should_stop() || next >= t0 + watch {
            break;
        }
        while Instant::now() < next && !ctx.should_stop() {
            std::thread::sleep((next - Instant::now()).min(Duration::from_millis(50)));
        }
        if ctx.should_stop() {
            break;
        }
    }
    ctx.metric_set("passes", passes);
    let summary = format!(
        "{delivered} event(s) delivered, {fetched} message(s) fetched from {} chat(s) and {} channel(s) in {passes} pass(es)",
        cfg.chats.len(),
        cfg.channels.len()
    );
    if !failures.is_empty() {
        return Ok(Outcome::failed(summary, failures.join("; ")));
    }
    if delivered == 0 {
        return Ok(Outcome::noop(summary));
    }
    Ok(Outcome::ok(summary))
}

fn print_status(ctx: &Ctx<Data>, cfg: &Config) {
    let d = &ctx.state.data;
    println!("poll-teams status ({})", ctx.paths.root.display());
    for chat in &cfg.chats {
        let cs = d.chats.get(chat).cloned().unwrap_or_default();
        println!(
            "  chat {chat}\n    watermark: {}\n    last poll: {}\n    remembered messages: {}{}",
            cs.watermark
                .map(graph::format_time)
                .unwrap_or_else(|| "none (first run backfills the last backfill_secs)".into()),
            cs.last_poll
                .map(graph::format_time)
                .unwrap_or_else(|| "never".into()),
            cs.known.len(),
            cs.last_error
                .map(|e| format!("\n    last error: {e}"))
                .unwrap_or_default()
        );
    }
    for c in &cfg.channels {
        let cs = d
            .channels
            .get(&format!("{}/{}", c.team, c.channel))
            .cloned()
            .unwrap_or_default();
        println!(
            "  channel {} of team {}\n    watermark: {}\n    delta link stored: {}{}",
            c.channel,
            c.team,
            cs.watermark
                .map(graph::format_time)
                .unwrap_or_else(|| "none".into()),
            if cs.delta_link.is_some() { "yes" } else { "no" },
            cs.last_error
                .map(|e| format!("\n    last error: {e}"))
                .unwrap_or_default()
        );
    }
    let ib = ctx.paths.resolve(&cfg.inbox_dir);

    let count = |sub: &str| {
        std::fs::read_dir(ib.join(sub))
            .map(|r| r.count())
            .unwrap_or(0)
    };
    println!(
        "  inbox {}: {} new, {} cur",
        ib.display(),
        count("new"),
        count("cur")
    );
    let mut recs: Vec<&commands::Record> = d.commands.values().collect();
    recs.sort_by_key(|r| r.at);
    if recs.is_empty() {
        println!("  no operator commands yet");
    }
    for r in recs.iter().rev().take(10) {
        println!(
            "  {} {} from {}: {:?} ({}), reply {:?}",
            r.at.format("%Y-%m-%d %H:%M:%S"),
            r.command,
            r.from_name.as_deref().unwrap_or(&r.from),
            r.status,
            r.result,
            r.reply
        );
    }
    for (k, v) in &ctx.state.metrics {
        println!("  metric {k}: {v}");
    }
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
}

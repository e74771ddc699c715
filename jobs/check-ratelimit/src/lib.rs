//! check-ratelimit: reads what is new in the agent gateway's logs every few minutes and, when
//! the model provider is rate-limiting, opens a circuit (`state/circuit.json`) that stops the
//! token-burning workers and tells the operator once; closes it when the limit has reset.
//!
//! Modules: [`rules`] (what a rate-limit line is), [`scan`] (streaming scan), [`files`]
//! (rotation-aware cursors), [`command`] (journal command source), [`cooldown`] (the gateway's
//! cooldown file), [`circuit`] (the breaker and its exactly-once side effects), [`status`].

pub mod circuit;
pub mod command;
pub mod config;
pub mod cooldown;
pub mod files;
pub mod rules;
pub mod scan;
pub mod status;

use anyhow::Result;
use chrono::{DateTime, Duration, Utc};
use circuit::{Data, Match, Policy};
use common::{Ctx, Job, Mode, Outcome, Paths};
use config::Config;
use rules::{Kind, Rules};
use scan::{Scanner, Stats};

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
    const ABOUT: &'static str = "Scan the gateway's new log lines for model-provider rate limits and open/close the circuit that stops the retry spiral.";
    const EXAMPLES: &'static str = "  check-ratelimit                      # cron, every 5 minutes
  check-ratelimit status
  check-ratelimit open --reason \"provider incident, holding workers\"
  check-ratelimit close
  check-ratelimit --from-start --dry-run -v";
    type Args = Args;
    type Config = Config;
    type Data = Data;
    type Facts = common::contracts::facts::NoFacts;

    fn mode(args: &Args) -> Mode {
        match args.cmd {
            Some(Cmd::Status) => Mode::ReadOnly,
            Some(_) => Mode::Command,
            None => Mode::Run,
        }
    }

    fn validate(cfg: &Config, paths: &Paths) -> Result<()> {
        config::validate(cfg, paths)
    }

    fn run(ctx: &mut Ctx<Data>, cfg: &Config, args: &Args) -> Result<Outcome> {
        let now = ctx.now();
        let policy = policy(cfg);
        let maint = circuit::maintenance(&ctx.paths.state_dir, now);
        match &args.cmd {
            Some(Cmd::Status) => {
                let c = common::control::read_circuit(&ctx.paths.state_dir)
                    .map_err(|e| common::exit::one_line(&e));
                print!(
                    "{}",
                    status::render(&ctx.state.data, c, cfg, now, maint.as_ref())
                );
                Ok(Outcome::noop("status"))
            }
            Some(Cmd::Open { reason }) => {
                circuit::recover(&mut ctx.state.data);
                let msg = circuit::manual_open(ctx, &policy, now, reason, maint.as_ref())?;
                println!("{msg}");
                Ok(Outcome::ok(msg))
            }
            Some(Cmd::Close) => {
                circuit::recover(&mut ctx.state.data);
                let msg = circuit::manual_close(ctx, &policy, now, maint.as_ref())?;
                println!("{msg}");
                Ok(Outcome::ok(msg))
            }
            None => scheduled(ctx, cfg, args, &policy, now, maint.as_ref()),
        }
    }
}

fn policy(cfg: &Config) -> Policy {
    Policy {
        threshold: cfg.threshold,
        quota_threshold: cfg.quota_threshold,
        window: Duration::seconds(cfg.window_secs as i64),
        cool_off: Duration::seconds(cfg.cool_off_secs as i64),
        reminder: (cfg.reminder_secs > 0).then(|| Duration::seconds(cfg.reminder_secs as i64)),
        on_open: cfg.on_open.clone(),
        on_close: cfg.on_close.clone(),
        hook_timeout: std::time::Duration::from_secs(cfg.hook_timeout_secs),
        history_len: cfg.history_len,
    }
}

fn to_match(f: rules::Found, source: &str, now: DateTime<Utc>) -> Match {
    Match {
        at: f.at.map_or(now, |a| a.min(now)),
        kind: f.kind,
        source: source.to_string(),
        excerpt: f.excerpt,
        reset_at: f.reset.map(|r| r.0),
        reset_source: f.reset.map(|r| r.1.to_string()),
    }
}

/// Counts of one run, for metrics and the summary.
#[derive(Debug, Default)]
struct Tally {
    stats: Stats,
    rate_limit: u64,
    quota: u64,
}

impl Tally {
    fn count(&mut self, k: Kind) {
        match k {
            Kind::RateLimit => self.rate_limit += 1,
            Kind::Quota => self.quota += 1,
        }
    }
}

/// A cron run: scan what is new, then drive the circuit.
fn scheduled(
    ctx: &mut Ctx<Data>,
    cfg: &Config,
    args: &Args,
    policy: &Policy,
    now: DateTime<Utc>,
    maint: Option<&circuit::Maintenance>,
) -> Result<Outcome> {
    circuit::recover(&mut ctx.state.data);
    let rules = Rules::new(&cfg.include, &cfg.quota_include, &cfg.exclude)?;
    let patterns: Vec<_> = cfg
        .logs
        .iter()
        .map(|g| files::resolve_glob(&ctx.paths, g))
        .collect();
    let found = files::discover(&patterns)?;
    if args.from_start && ctx.state.data.initialized {
        log::warn!(
            "--from-start only applies to the first run; the cursors in state are kept (use --reset-state to start over)"
        );
    }
    let (plans, events) = files::plan(
        &ctx.state.data.cursors,
        found,
        ctx.state.data.initialized,
        args.from_start,
    )?;
    for e in &events {
        let (metric, msg) = match e {
            files::Event::Renamed { from, to } => (
                "files_rotated",
                format!(
                    "{} was rotated to {}: finishing it",
                    from.display(),
                    to.display()
                ),
            ),
            files::Event::Truncated { path, offset } => (
                "files_truncated",
                format!(
                    "{} was truncated or rewritten (had read {offset} bytes): reading it from the start",
                    path.display()
                ),
            ),
            files::Event::CopyOf { copy, of, offset } => (
                "files_copied",
                format!(
                    "{} is a copy of {} (copy-truncate rotation): resuming at byte {offset}",
                    copy.display(),
                    of.display()
                ),
            ),
            files::Event::New { path } => ("files_new", format!("new log file {}", path.display())),
            files::Event::Vanished { path, offset, size } => (
                "files_vanished",
                format!(
                    "{} vanished (read {offset} of at least {size} bytes); no longer followed",
                    path.display()
                ),
            ),
        };
        log::info!("{msg}");
        ctx.metric_add(metric, 1);
    }
    ctx.state.data.cursors = plans.iter().map(|p| p.cursor(0, p.skipping, now)).collect();
    ctx.state.data.initialized = true;

    let scan_started = std::time::Instant::now();
    let mut tally = Tally::default();
    let mut failures: Vec<String> = Vec::new();
    let mut scanner = Scanner::new(&rules, cfg.max_line_bytes);
    for (i, plan) in plans.iter().enumerate() {
        if ctx.should_stop() {
            break;
        }
        if plan.start >= plan.found.size && !plan.skipping {
            continue;
        }
        let source = plan.found.path.display().to_string();
        let reader = plan.reader()?;
        let res = scanner.scan(reader, plan.skipping, |prog, found, st| {
            let data = &mut ctx.state.data;
            if let Some(c) = data.cursors.get_mut(i) {
                *c = plan.cursor(prog.consumed, prog.skipping, now);
            }
            for f in found {
                tally.count(f.kind);
                data.absorb(to_match(f, &source, now));
            }
            tally.stats.add(st);
            !ctx.should_stop()
        });
        if let Err(e) = res {
            log::error!("cannot read {source}: {e}; will retry from the same offset");
            failures.push(format!("{source}: {e}"));
        }
    }

    if let Some(argv) = &cfg.command
        && !ctx.should_stop()
    {
        let cursor = ctx.state.data.command.clone().unwrap_or_default();
        match command::run(
            argv,
            std::time::Duration::from_secs(cfg.command_timeout_secs),
            &cursor,
            &rules,
            cfg.max_line_bytes,
            now,
            policy.window,
        ) {
            Ok(out) => {
                if out.without_time > 0 {
                    log::info!(
                        "command output: {} matching line(s) without a time skipped (cannot be deduplicated)",
                        out.without_time
                    );
                    ctx.metric_add("command_lines_without_time", out.without_time);
                }
                tally.stats.add(&out.stats);
                for f in out.found {
                    tally.count(f.kind);
                    ctx.state.data.absorb(to_match(f, "command", now));
                }
                ctx.state.data.command = Some(out.cursor);
            }
            Err(e) => {
                let msg = common::exit::one_line(&e);
                log::error!("{msg}");
                failures.push(msg);
            }
        }
    }

    let scan_ms = scan_started.elapsed().as_secs_f64() * 1000.0;
    if tally.stats.bytes > 0 {
        log::info!("scanned {} bytes in {scan_ms:.2} ms", tally.stats.bytes);
    }

    let cd_patterns: Vec<_> = cfg
        .cooldown_files
        .iter()
        .map(|g| files::resolve_glob(&ctx.paths, g))
        .collect();
    let (cooldowns, problems) = cooldown::read(&cd_patterns, now);
    for p in &problems {
        log::info!("cooldown file skipped: {p}");
    }
    ctx.metric_add("cooldown_file_errors", problems.len() as u64);
    let file_hint = cooldowns.iter().map(|c| c.until).max();

    let st = &tally.stats;
    ctx.metric_add("bytes_read", st.bytes);
    ctx.metric_add("matches_rate_limit", tally.rate_limit);
    ctx.metric_add("matches_quota", tally.quota);
    ctx.metric_add("lines_excluded", st.excluded);
    ctx.metric_add("lines_garbage", st.garbage);
    ctx.metric_add("lines_oversized", st.oversized);
    if st.garbage + st.oversized > 0 {
        log::info!(
            "skipped {} unusable line(s) (invalid JSON, invalid UTF-8 or binary) and {} line(s) longer than {} bytes",
            st.garbage,
            st.oversized,
            cfg.max_line_bytes
        );
    }
    ctx.metric_set("files_followed", ctx.state.data.cursors.len() as u64);

    if let Some(why) = ctx.stop_reason() {
        ctx.state
            .data
            .prune(now, policy.window.max(policy.cool_off));
        return Ok(Outcome::ok(format!(
            "stopped early ({why}) after {} bytes; progress saved",
            st.bytes
        )));
    }
    let decision = circuit::evaluate(ctx, policy, now, file_hint, maint)?;
    ctx.state.data.prune(now, policy.window);
    ctx.metric_set("circuit_open", u64::from(ctx.state.data.incident.is_some()));

    let mut summary = format!(
        "read {} bytes from {} file(s); {} rate-limit, {} quota match(es); {} excluded, {} garbage, {} oversized",
        st.bytes,
        plans.len(),
        tally.rate_limit,
        tally.quota,
        st.excluded,
        st.garbage,
        st.oversized
    );
    for n in &decision.notes {
        summary.push_str("; ");
        summary.push_str(n);
    }
    if !failures.is_empty() {
        return Ok(Outcome::failed(summary, failures.join("; ")));
    }
    if st.bytes == 0
        && tally.rate_limit + tally.quota == 0
        && !decision.changed
        && events.is_empty()
    {
        return Ok(Outcome::noop("nothing new"));
    }
    Ok(Outcome::ok(summary))
}

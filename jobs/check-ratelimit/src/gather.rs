//! Gathering what the gateway wrote since the last run: where its logs are, the new records
//! of every file and of the command source (absorbed into the state as they are read, with
//! the cursors, so progress is consistent when a run stops early), and its cooldowns.

use crate::config::Config;
use crate::data::Data;
use crate::decide::Cooldowns;
use crate::files::{self, Event};
use crate::scan::{Matcher, Scanner, Stats};
use crate::{cooldowns, journal};
use anyhow::Result;
use chrono::{DateTime, Duration, Utc};
use common::contracts::control::Maintenance;
use common::{Ctx, Paths};
use std::path::PathBuf;

/// The log globs: the configured ones, else the gateway's own location; and where they came
/// from, for messages.
pub fn log_globs(
    cfg: &Config,
    paths: &Paths,
    gateway: Option<&openclaw::Gateway>,
) -> (Vec<PathBuf>, String) {
    if !cfg.logs.is_empty() {
        let globs = cfg
            .logs
            .iter()
            .map(|g| paths.resolve(std::path::Path::new(g)))
            .collect();
        return (globs, "`check-ratelimit.logs`".into());
    }
    let gw_cfg = gateway.and_then(|g| openclaw::config::load(&g.config).ok());
    let profile = gateway.and_then(|g| g.profile.as_deref());
    let loc = openclaw::logs::location(gw_cfg.as_ref(), profile);
    let mut globs: Vec<PathBuf> = loc.globs().into_iter().map(PathBuf::from).collect();
    if loc.fixed.is_none() && gw_cfg.as_ref().and_then(|c| c.log_file()).is_none() {
        // The gateway falls back to a per-user directory when /tmp/openclaw is unsafe: read both.
        for dir in openclaw::logs::default_dirs() {
            let other = openclaw::logs::LogLocation { dir, ..loc.clone() };
            for g in other.globs() {
                let g = PathBuf::from(g);
                if !globs.contains(&g) {
                    globs.push(g);
                }
            }
        }
    }
    (globs, loc.source)
}

/// Warnings for `--check-config`: log globs that match no file.
pub fn config_warnings(
    cfg: &Config,
    paths: &Paths,
    gateway: Option<&openclaw::Gateway>,
) -> Vec<String> {
    let (globs, from) = log_globs(cfg, paths, gateway);
    let matched = globs.iter().any(|g| {
        glob::glob(&g.to_string_lossy())
            .is_ok_and(|mut it| it.any(|p| p.is_ok_and(|p| p.is_file())))
    });
    if matched || cfg.command.is_some() {
        return Vec::new();
    }
    vec![format!(
        "no gateway log file matches {} (from {from}): check-ratelimit will see nothing until one exists; set `check-ratelimit.logs`, or `gateway.config` / `gateway.profile` so the gateway's own location is found",
        globs
            .iter()
            .map(|g| g.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )]
}

/// What the scan of one run saw.
#[derive(Debug, Default)]
pub struct Scan {
    pub stats: Stats,
    /// Signals read this run.
    pub signals: u64,
    /// The same, per class.
    pub read: crate::decide::Counts,
    pub files: usize,
    pub events: usize,
    pub failures: Vec<String>,
    pub elapsed_ms: f64,
}

impl Scan {
    fn count(&mut self, o: &crate::records::Observation) {
        if let crate::records::Observation::Signal(s) = o {
            self.signals += 1;
            self.read.add(s);
        }
    }
}

/// Read the new records of every log file and of the command source into the state.
pub fn scan(
    ctx: &mut Ctx<Data>,
    cfg: &Config,
    matcher: &Matcher,
    globs: &[PathBuf],
    from_start: bool,
    window: Duration,
) -> Result<Scan> {
    let started = std::time::Instant::now();
    let now = ctx.now();
    let mut out = Scan::default();
    if from_start && ctx.state.data.initialized {
        log::warn!(
            "--from-start only applies to the first run; the cursors in state are kept (use --reset-state to start over)"
        );
    }
    let found = files::discover(globs)?;
    let (plans, events) = files::plan(
        &ctx.state.data.cursors,
        found,
        ctx.state.data.initialized,
        from_start,
    )?;
    report_events(ctx, &events);
    out.events = events.len();
    out.files = plans.len();
    ctx.state.data.cursors = plans.iter().map(|p| p.cursor(0, p.skipping, now)).collect();
    ctx.state.data.initialized = true;
    for (i, plan) in plans.iter().enumerate() {
        if ctx.should_stop() {
            break;
        }
        if plan.start >= plan.found.size && !plan.skipping {
            continue;
        }
        let source = plan.found.path.display().to_string();
        let mut scanner = Scanner::new(matcher, cfg.max_line_bytes, now, &source);
        let reader = plan.reader()?;
        let res = scanner.scan(reader, plan.skipping, |prog, found, st| {
            let data = &mut ctx.state.data;
            if let Some(c) = data.cursors.get_mut(i) {
                *c = plan.cursor(prog.consumed, prog.skipping, now);
            }
            for o in found {
                out.count(&o);
                data.absorb(o);
            }
            out.stats.add(st);
            !ctx.should_stop()
        });
        if let Err(e) = res {
            log::error!("cannot read {source}: {e}; will retry from the same offset");
            out.failures.push(format!("{source}: {e}"));
        }
    }
    if let Some(argv) = &cfg.command
        && !ctx.should_stop()
    {
        command_source(ctx, cfg, argv, matcher, window, &mut out);
    }
    out.elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok(out)
}

fn command_source(
    ctx: &mut Ctx<Data>,
    cfg: &Config,
    argv: &[String],
    matcher: &Matcher,
    window: Duration,
    out: &mut Scan,
) {
    let now = ctx.now();
    let cursor = ctx.state.data.command.clone().unwrap_or_default();
    let timeout = std::time::Duration::from_secs(cfg.command_timeout_secs);
    match journal::run(
        argv,
        timeout,
        &cursor,
        matcher,
        cfg.max_line_bytes,
        now,
        window,
    ) {
        Ok(res) => {
            if res.without_time > 0 {
                log::info!(
                    "command output: {} event(s) without a time skipped (cannot be deduplicated; use a journal format with times, e.g. `-o short-iso-precise`)",
                    res.without_time
                );
                ctx.metric_add("command_lines_without_time", res.without_time);
            }
            out.stats.add(&res.stats);
            for o in res.found {
                out.count(&o);
                ctx.state.data.absorb(o);
            }
            ctx.state.data.command = Some(res.cursor);
        }
        Err(e) => {
            let msg = common::exit::one_line(&e);
            log::error!("{msg}");
            out.failures.push(msg);
        }
    }
}

fn report_events(ctx: &mut Ctx<Data>, events: &[Event]) {
    for e in events {
        let (metric, msg) = match e {
            Event::Renamed { from, to } => (
                "files_rotated",
                format!(
                    "{} was rotated to {}: finishing it",
                    from.display(),
                    to.display()
                ),
            ),
            Event::Truncated { path, offset } => (
                "files_truncated",
                format!(
                    "{} was truncated or rewritten (had read {offset} bytes): reading it from the start",
                    path.display()
                ),
            ),
            Event::CopyOf { copy, of, offset } => (
                "files_copied",
                format!(
                    "{} is a copy of {} (copy-truncate rotation): resuming at byte {offset}",
                    copy.display(),
                    of.display()
                ),
            ),
            Event::New { path } => ("files_new", format!("new log file {}", path.display())),
            Event::Vanished { path, offset, size } => (
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
}

/// Whether this run should ask the gateway for its cooldowns: only while there is something
/// to decide (signals in the window, or the circuit open), since the CLI takes seconds.
pub fn wants_cooldowns(data: &Data, now: DateTime<Utc>, window: Duration) -> bool {
    data.incident.is_some() || !data.window_counts(now, window).is_empty()
}

/// The gateway's cooldowns: `models status --json` (bounded time) and the legacy files.
pub fn cooldowns(ctx: &mut Ctx<Data>, cfg: &Config, window: Duration) -> Cooldowns {
    let now = ctx.now();
    let mut cd = Cooldowns::default();
    if cfg.models_status && wants_cooldowns(&ctx.state.data, now, window) {
        let res = models_status(ctx, cfg);
        let read = crate::data::ModelsStatusRead {
            at: now,
            error: res.as_ref().err().cloned(),
            unusable: res.as_ref().map_or(0, Vec::len),
        };
        match res {
            Ok(list) => cd.live = Some(list),
            Err(e) => {
                log::warn!(
                    "gateway cooldowns: {e}; using the cooldowns in the gateway's log records instead (set `gateway.openclaw`, or `check-ratelimit.models_status: false` to stop asking)"
                );
                ctx.metric_add("models_status_errors", 1);
            }
        }
        ctx.state.data.models_status = Some(read);
    }
    let patterns: Vec<PathBuf> = cfg
        .cooldown_files
        .iter()
        .map(|g| ctx.paths.resolve(std::path::Path::new(g)))
        .collect();
    let (files, problems) = cooldowns::from_files(&patterns, now);
    for p in &problems {
        log::info!("cooldown file skipped: {p}");
    }
    ctx.metric_add("cooldown_file_errors", problems.len() as u64);
    cd.files = files;
    cd
}

fn models_status(ctx: &Ctx<Data>, cfg: &Config) -> Result<Vec<crate::data::KnownCooldown>, String> {
    let gw = ctx.gateway().map_err(|e| common::exit::one_line(&e))?;
    let cli = gw.cli();
    let timeout = std::time::Duration::from_secs(cfg.models_status_timeout_secs);
    let out = cli
        .run_with_timeout(&["models", "status", "--json"], timeout)
        .map_err(|e| common::exit::one_line(&e))?;
    if out.timed_out {
        return Err(format!(
            "`{}` {} (raise `check-ratelimit.models_status_timeout_secs`)",
            out.command,
            out.describe()
        ));
    }
    let doc = out.json().ok_or_else(|| {
        format!(
            "`{}` ({}) printed no JSON document{}",
            out.command,
            out.describe(),
            out.last_error_line()
                .map(|l| format!(": {l}"))
                .unwrap_or_default()
        )
    })?;
    cooldowns::from_models_status(&doc, ctx.now()).map_err(|e| format!("`{}`: {e}", out.command))
}

/// `state/maintenance.json` (`{"planned","reason","expectedDowntime","ignoreUntil"}`, or the
/// older `{"until"}`). An unreadable file is reported and ignored: alerts keep flowing rather
/// than being silenced by a typo.
pub fn maintenance(state_dir: &std::path::Path) -> Option<Maintenance> {
    common::control::maintenance_or_warn(state_dir, "alerts are not suppressed")
}

//! compact-memory: keeps an always-on agent's memory within budget without losing a line, and
//! without making the gateway's memory search worse.
//!
//! Each night, on the real OpenClaw gateway's terms (verified against OpenClaw 2026.9.6; see
//! `docs/jobs/compact-memory.md`):
//! 1. **gather** where things are and which limits apply from the gateway's own config
//!    (workspace, bootstrap budgets, dreaming's window, time zone), measure the bootstrap
//!    files, read what `MEMORY.md` refers to, move what earlier versions left inside the
//!    gateway's index, and list the notes and archived copies;
//! 2. **decide** which notes are old enough (past dreaming's window, not referenced, not
//!    held) and what each period needs;
//! 3. **act**: archive the originals byte for byte outside `memory/`, write one digest per
//!    period named by its last day (`memory/digests/2026-02-15-digest-2026-W07.md`, so it decays
//!    like its days), then remove the originals;
//! 4. **record** what was done, the budget report and the public facts.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod budget;
pub mod commands;
pub mod compact;
pub mod config;
pub mod data;
pub mod layout;
pub mod migrate;
pub mod plan;
pub mod refs;
pub mod rules;
pub mod setup;
pub mod summary;

use anyhow::Result;
use chrono::{DateTime, NaiveDate, Utc};
use common::contracts::facts::compact_memory::{BudgetFacts, FileBudget, MemoryFacts};
use common::{Ctx, Job, Mode, Outcome, Paths, data_error};
use compact::Done;
use layout::{Archived, InPlace, ScanNotes};
use plan::{Plan, Policy};
use setup::Setup;
use std::path::PathBuf;

pub use config::Config;
pub use data::Data;
pub use layout::PeriodKind;

/// Command line of compact-memory.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Rewrite rule-based and raw digests of complete periods with the model, if it is available
    #[arg(long)]
    pub upgrade: bool,
}

/// Subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Put the archived originals of one day (YYYY-MM-DD) back into memory/ and hold that day
    Restore { date: String },
    /// Let compaction take a restored day again
    Release { date: String },
    /// Print where things are, the digests, held days, memory budget and token use
    Status,
}

/// The job.
pub struct CompactMemory;

impl Job for CompactMemory {
    const NAME: &'static str = "compact-memory";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const ABOUT: &'static str = "Fold old daily memory notes into dated digests, archive the originals outside the gateway's memory index, report the memory budget.";
    const EXAMPLES: &'static str = "  compact-memory                      nightly run (cron)\n  compact-memory --dry-run -v         say what would be compacted\n  compact-memory --upgrade            rewrite rule-based digests with the model\n  compact-memory restore 2026-02-13   put that day's originals back\n  compact-memory release 2026-02-13   let compaction take it again\n  compact-memory status               where things are, digests, budget, tokens";
    const SCHEMA_VERSION: u32 = data::SCHEMA_VERSION;
    type Args = Args;
    type Config = Config;
    type Data = Data;
    type Facts = MemoryFacts;

    fn mode(args: &Args) -> Mode {
        match args.command {
            None => Mode::Run,
            Some(Command::Restore { .. }) | Some(Command::Release { .. }) => Mode::Command,
            Some(Command::Status) => Mode::ReadOnly,
        }
    }

    fn migrate(from: u32, state: serde_json::Value) -> Result<serde_json::Value> {
        data::migrate(from, state)
    }

    fn validate(cfg: &Config, paths: &Paths) -> Result<()> {
        cfg.validate(&paths.config)
    }

    fn facts(d: &Data, _now: DateTime<Utc>) -> Option<MemoryFacts> {
        Some(facts(d))
    }

    fn run(ctx: &mut Ctx<Data>, cfg: &Config, args: &Args) -> Result<Outcome> {
        match &args.command {
            None => nightly(ctx, cfg, args.upgrade),
            Some(Command::Restore { date }) => commands::restore(ctx, cfg, date),
            Some(Command::Release { date }) => commands::release(ctx, date),
            Some(Command::Status) => commands::status(ctx, cfg),
        }
    }
}

/// The nightly run: gather → decide → act → record.
fn nightly(ctx: &mut Ctx<Data>, cfg: &Config, upgrade: bool) -> Result<Outcome> {
    let setup = Setup::gather(ctx, cfg)?;
    let today = setup.zone.today(ctx.now());
    measure_budget(ctx, &setup);
    let refs = commands::references(&setup)?;
    let mut stats = data::RunStats {
        today: Some(today),
        keep_days: setup.keep.days,
        ..Default::default()
    };
    migrate::layout(ctx, &setup, &refs, &mut stats)?;
    let Some(found) = scan(ctx, &setup, &mut stats)? else {
        ctx.state.data.last = Some(stats);
        return Ok(Outcome::noop(format!(
            "no memory directory at {}; nothing to compact",
            setup.memory.display()
        )));
    };
    let protected = refs::protected_notes(&refs);
    commands::put_back_referenced(ctx.dry_run, &setup, &protected, &found.archived, &mut stats);
    let policy = Policy {
        today,
        keep_days: setup.keep.days,
        kind: cfg.period,
    };
    let plan = plan::plan(
        found.in_place,
        found.archived,
        &ctx.state.data.held,
        &protected,
        &policy,
    );
    ctx.state.data.tokens.start_run(today);
    let done = compact::run(ctx, &setup, cfg, &plan.periods, upgrade, stats);
    Ok(record(ctx, done, &plan))
}

/// Measure the bootstrap files against the budgets; problems are WARN lines.
fn measure_budget(ctx: &mut Ctx<Data>, setup: &Setup) {
    let (files, unreadable) = budget::read_files(&setup.workspace, &setup.bootstrap_files);
    let (retired, _) = budget::read_files(&setup.workspace, &setup.retired_files);
    let report = budget::evaluate(
        &files,
        &retired,
        unreadable,
        &setup.limits,
        &setup.agent,
        ctx.now(),
    );
    for p in &report.problems {
        log::warn!("memory budget: {p}");
    }
    for n in &report.notes {
        if n.contains("retired") {
            log::warn!("memory budget: {n}");
        } else {
            log::info!("memory budget: {n}");
        }
    }
    log::debug!("memory budget limits: {}", report.source);
    ctx.metric_set("memory_total_chars", report.total_chars);
    ctx.metric_set("memory_budget_over", report.over);
    ctx.state.data.budget = Some(report);
}

/// What is in `memory/` and the archive.
struct Found {
    in_place: Vec<InPlace>,
    archived: Vec<Archived>,
}

/// List the notes in place and the archived copies; `None` when there is no `memory/`.
fn scan(ctx: &mut Ctx<Data>, setup: &Setup, stats: &mut data::RunStats) -> Result<Option<Found>> {
    match std::fs::symlink_metadata(&setup.memory) {
        Err(_) => return Ok(None),
        Ok(m) if m.file_type().is_symlink() => {
            return Err(data_error(format!(
                "refusing to compact {}: it is a symbolic link (the gateway does not index a linked memory/ either); make it a real directory",
                setup.memory.display()
            )));
        }
        Ok(_) => {}
    }
    let mut notes = ScanNotes::default();
    let in_place = layout::scan_memory(&setup.memory, &mut notes)?;
    let archived = layout::scan_archive(&setup.archive, &mut notes)?;
    sweep_temps(&notes.temp_files, &setup.memory.join("digests"));
    let mut skipped = Vec::new();
    skipped.extend(
        notes
            .bad_dates
            .iter()
            .map(|n| format!("{n} (no such date)")),
    );
    skipped.extend(
        notes
            .not_regular
            .iter()
            .map(|n| format!("{n} (not a regular file)")),
    );
    skipped.extend(
        notes
            .archive_strays
            .iter()
            .map(|n| format!("{n} (not an archived note)")),
    );
    if !skipped.is_empty() {
        log::info!(
            "left alone {} dated-looking file(s) it cannot compact: {}",
            skipped.len(),
            skipped.join(", ")
        );
    }
    ctx.metric_set("skipped_files", skipped.len() as u64);
    stats.skipped_names = skipped;
    Ok(Some(Found { in_place, archived }))
}

/// Remove temp files of killed runs: ours in `memory/` (dated names only) and in `digests/`.
fn sweep_temps(in_memory: &[PathBuf], digests: &std::path::Path) {
    for p in in_memory {
        let stale = p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(common::fsutil::temp_is_stale);
        if stale && std::fs::remove_file(p).is_ok() {
            log::info!(
                "removed leftover temp file {} from a killed run",
                p.display()
            );
        }
    }
    if let Ok(removed) = common::fsutil::sweep_temp_files(digests) {
        for p in removed {
            log::info!(
                "removed leftover temp file {} from a killed run",
                p.display()
            );
        }
    }
}

/// Metrics, the last run's stats, and the outcome.
fn record(ctx: &mut Ctx<Data>, done: Done, plan: &Plan) -> Outcome {
    let Done {
        mut stats,
        degraded,
        stopped,
    } = done;
    stats.kept_for_references = plan.kept_for_references.clone();
    let methods: Vec<String> = stats
        .by_method
        .iter()
        .map(|(m, n)| format!("{n} {m}"))
        .collect();
    let mut summary = format!(
        "archived {} file(s), removed {} original(s), wrote {} digest(s){}",
        stats.files_archived,
        stats.originals_removed,
        stats.digests_written,
        if methods.is_empty() {
            String::new()
        } else {
            format!(" ({})", methods.join(", "))
        }
    );
    if stats.migrated > 0 {
        summary.push_str(&format!(
            "; moved {} file(s) of an earlier layout",
            stats.migrated
        ));
    }
    if let Some(why) = &stopped {
        summary.push_str(&format!("; stopped early ({why}), the next run continues"));
    }
    ctx.metric_set("daily_files_waiting", plan.waiting);
    ctx.metric_set("kept_for_references", plan.kept_for_references.len() as u64);
    ctx.metric_add("files_archived", stats.files_archived);
    ctx.metric_add("originals_removed", stats.originals_removed);
    ctx.metric_add("digests_written", stats.digests_written);
    ctx.metric_add("files_migrated", stats.migrated);
    ctx.metric_set("digests", ctx.state.data.digests.len() as u64);
    ctx.metric_set("model_tokens_today", ctx.state.data.tokens.day_tokens);
    let failed = stats.failed.clone();
    let idle = stats.files_archived == 0
        && stats.originals_removed == 0
        && stats.digests_written == 0
        && stats.migrated == 0
        && stats.put_back.is_empty();
    ctx.state.data.last = Some(stats);
    if !failed.is_empty() {
        return Outcome::failed(summary, failed.join("; "));
    }
    if !degraded.is_empty() {
        return Outcome::degraded(format!("{summary}; {}", degraded.join("; ")));
    }
    if idle && stopped.is_none() {
        return Outcome::noop("nothing to compact");
    }
    Outcome::ok(summary)
}

/// The public facts: the budget report with its source, and what was compacted.
pub fn facts(d: &Data) -> MemoryFacts {
    let last_compacted_day = d
        .digests
        .values()
        .flat_map(|r| r.sources.iter())
        .filter_map(|s| NaiveDate::parse_from_str(s.name.get(..10)?, "%Y-%m-%d").ok())
        .max();
    MemoryFacts {
        budget: d.budget.as_ref().map(|b| BudgetFacts {
            measured_at: Some(b.measured_at),
            source: b.source.clone(),
            per_file_limit: b.per_file_limit,
            total_limit: b.total_limit,
            files: b
                .files
                .iter()
                .map(|f| FileBudget {
                    name: f.name.clone(),
                    chars: f.chars,
                    limit: f.limit,
                    over: f.over,
                    retired: f.retired,
                })
                .collect(),
            total_chars: b.total_chars,
            over: b.over,
            problems: b.problems.clone(),
            notes: b.notes.clone(),
        }),
        digests: d.digests.len() as u64,
        archived: d.digests.values().map(|r| r.sources.len() as u64).sum(),
        last_compacted_day,
        keep_days: d.last.as_ref().map(|l| l.keep_days),
        archive_dir: d.archive_dir.as_ref().map(|p| p.display().to_string()),
    }
}

/// Parse a `YYYY-MM-DD` argument.
pub fn parse_date_arg(s: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
        common::coded(
            common::Exit::Usage,
            format!("{s:?} is not a date: give it as YYYY-MM-DD, e.g. 2026-02-13"),
        )
    })
}

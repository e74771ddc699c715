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
pub mod gauges;
pub mod layout;
pub mod migrate;
pub mod outcome;
pub mod plan;
pub mod refs;
pub mod rules;
pub mod setup;
pub mod status_json;
pub mod summary;

use anyhow::Result;
use chrono::{DateTime, NaiveDate, Utc};
use common::contracts::facts::compact_memory::MemoryFacts;
use common::{Ctx, Job, Mode, Outcome, Paths};
use plan::Policy;
use setup::Setup;

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
    /// (--json: one JSON document)
    Status,
}

/// The job.
pub struct CompactMemory;

impl Job for CompactMemory {
    const NAME: &'static str = "compact-memory";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const ABOUT: &'static str = "Fold old daily memory notes into dated digests, archive the originals outside the gateway's memory index, report the memory budget.";
    const EXAMPLES: &'static str = "  compact-memory                      nightly run (cron)\n  compact-memory --dry-run -v         say what would be compacted\n  compact-memory --upgrade            rewrite rule-based digests with the model\n  compact-memory restore 2026-02-13   put that day's originals back\n  compact-memory release 2026-02-13   let compaction take it again\n  compact-memory status               where things are, digests, budget, tokens\n  compact-memory status --json        the same as one JSON document";
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
        Some(outcome::facts(d))
    }

    fn gauges(facts: &MemoryFacts) -> Vec<common::metrics::Gauge> {
        gauges::of(facts)
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
    budget::measure(ctx, &setup);
    let refs = commands::references(&setup)?;
    let mut stats = data::RunStats {
        today: Some(today),
        keep_days: setup.keep.days,
        ..Default::default()
    };
    migrate::layout(ctx, &setup, &refs, &mut stats)?;
    let Some(found) = layout::scan(ctx, &setup, &mut stats)? else {
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
    Ok(outcome::record(ctx, done, &plan))
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

/// The binary's entry point (`src/main.rs` calls it; why here: [`common::main`]).
pub fn main() -> std::process::ExitCode {
    common::main::<CompactMemory>()
}

//! `backup-config`: never lose a working agent config, nor the gateway's state.
//!
//! Each hourly run, in order:
//! 1. **act on what a killed run left**: a restore under way is finished or reported
//!    ([`restore::finish_interrupted`]); copies kept by versions before 2 under the gateway's
//!    own `.clobbered.` name move to our directory, once ([`legacy`]);
//! 2. per watched config, **gather** it (its `$include`s resolved, one `stat` per file when
//!    nothing changed) and what each validator says (built-in, a configured command, the
//!    gateway's own), **decide** (valid, suspicious, invalid, a wipe), **act** (snapshot a new
//!    valid version as one id for the whole set, alert once per distinct bad content,
//!    auto-restore when enabled, prune) — [`hourly::check_file`];
//! 3. **the gateway's own rollbacks** of its config: new `.clobbered.*` / `.rejected.*` files,
//!    its log messages, a config back at an earlier version — one alert per rollback with what
//!    was lost ([`rollback::watch`]);
//! 4. **the gateway's databases**: snapshots through `openclaw backup sqlite create`, and the
//!    cron-jobs check ([`gateway_state::run`]);
//! 5. **record**: gauges here, public facts in [`facts`], state saved by the runtime.
//!
//! `restore` puts a version back (the whole set), keeping what it replaced under
//! `<backups>/<name>/replaced/`, never under a name the gateway uses.

pub mod commands;
pub mod config;
pub mod data;
pub mod decide;
pub mod facts;
pub mod gateway_state;
pub mod gauges;
pub mod hourly;
pub mod json;
pub mod legacy;
pub mod mask;
pub mod observe;
pub mod parse;
pub mod restore;
pub mod retention;
pub mod rollback;
pub mod select;
pub mod store;
pub mod validate;
pub mod versions;

use anyhow::Result;
use chrono::{DateTime, Utc};
use common::contracts::facts::backup_config::BackupFacts;
use common::{Ctx, Job, Mode, Outcome, Paths};
use data::{Data, Status};
use hourly::Report;
use std::collections::BTreeMap;

/// Command line of `backup-config` (besides the common flags).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Take the current version as good even if it is much smaller than the last good one
    #[arg(long)]
    pub accept: bool,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List the snapshots of every watched file (or of FILE), newest first, what each
    /// validator said, the gateway's rollbacks and its database snapshots
    List {
        /// A watched file's name, e.g. openclaw.json
        file: Option<String>,
    },
    /// Unified diff of a snapshot (default: the last good one) against the live file(s)
    Diff {
        /// Snapshot id, sha256 prefix, or a file name (its last good snapshot)
        snapshot: Option<String>,
        /// Which watched file (default: the first configured)
        #[arg(long)]
        file: Option<String>,
        /// Show the values of secret-looking keys instead of ***
        #[arg(long)]
        show_secrets: bool,
        /// Only count the lines added and removed per file (with --json: one JSON document)
        #[arg(long)]
        stat: bool,
    },
    /// Put a snapshot (default: the last good one) back, every file of it; what it replaces is kept
    Restore {
        /// Snapshot id, sha256 prefix, or a file name (its last good snapshot)
        snapshot: Option<String>,
        /// Which watched file (default: the first configured)
        #[arg(long)]
        file: Option<String>,
    },
    /// Re-hash every snapshot (configs and gateway databases) and report damaged ones (exit 65)
    Verify,
}

pub struct BackupConfig;

impl Job for BackupConfig {
    const NAME: &'static str = "backup-config";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const ABOUT: &'static str = "Check the agent's config files, snapshot every good version, watch the gateway's own rollbacks, back up its databases, restore the last good version on demand.";
    const EXAMPLES: &'static str = "  backup-config                      # hourly from cron: check, snapshot, alert\n  \
         backup-config list                 # snapshots, validators, rollbacks, databases\n  \
         backup-config diff                 # last good version vs the live file (secrets masked)\n  \
         backup-config diff --stat --json   # lines added/removed per file, as JSON\n  \
         backup-config restore --dry-run    # what a restore would do\n  \
         backup-config restore              # put the last good version back\n  \
         backup-config --accept             # take a much smaller new version as good\n  \
         backup-config verify               # re-hash every snapshot\n  \
         backup-config list --json          # snapshots and facts as one JSON document";
    const SCHEMA_VERSION: u32 = data::SCHEMA_VERSION;
    type Args = Args;
    type Config = config::Config;
    type Data = Data;
    type Facts = BackupFacts;

    fn mode(args: &Args) -> Mode {
        match args.command {
            None => Mode::Run,
            Some(Command::Restore { .. }) => Mode::Command,
            Some(_) => Mode::ReadOnly,
        }
    }

    fn migrate(from: u32, state: serde_json::Value) -> Result<serde_json::Value> {
        data::migrate(from, state)
    }

    fn facts(data: &Data, now: DateTime<Utc>) -> Option<BackupFacts> {
        Some(facts::build(data, now))
    }

    fn gauges(facts: &BackupFacts) -> Vec<common::metrics::Gauge> {
        gauges::of(facts)
    }

    fn validate(cfg: &config::Config, paths: &Paths) -> Result<()> {
        config::validate(cfg, paths)
    }

    fn run(ctx: &mut Ctx<Data>, cfg: &config::Config, args: &Args) -> Result<Outcome> {
        match &args.command {
            None => hourly_run(ctx, cfg, args.accept),
            Some(Command::List { file }) => commands::list(ctx, cfg, file.as_deref()),
            Some(Command::Diff {
                snapshot,
                file,
                show_secrets,
                stat,
            }) => commands::diff(
                ctx,
                cfg,
                snapshot.as_deref(),
                file.as_deref(),
                *show_secrets,
                *stat,
            ),
            Some(Command::Verify) => commands::verify(ctx, cfg),
            Some(Command::Restore { snapshot, file }) => {
                restore_command(ctx, cfg, snapshot.as_deref(), file.as_deref())
            }
        }
    }
}

/// The hourly run (see the module docs for the order).
fn hourly_run(ctx: &mut Ctx<Data>, cfg: &config::Config, accept: bool) -> Result<Outcome> {
    let mut report = Report::default();
    report.parts.extend(restore::finish_interrupted(ctx, cfg)?);
    legacy::move_old_copies(ctx, cfg)?;
    let before: BTreeMap<String, Option<String>> = ctx
        .state
        .data
        .files
        .iter()
        .map(|(k, v)| (k.clone(), v.current_sha256.clone()))
        .collect();
    let mut gateways = Vec::new();
    for fc in &cfg.files {
        if ctx.should_stop() {
            report.parts.push(format!(
                "stopped before {} ({})",
                fc.name(),
                ctx.stop_reason().unwrap_or_default()
            ));
            break;
        }
        ctx.metric_add("files_checked", 1);
        hourly::check_file(ctx, cfg, fc, accept, &mut report)?;
        if let Some(gw) = hourly::gateway_of(ctx, fc, &ctx.paths.resolve(&fc.path)) {
            gateways.push((fc.clone(), gw));
        }
    }
    rollback::watch(ctx, cfg, &gateways, &before, &mut report)?;
    gateway_state::run(ctx, cfg, &mut report)?;
    record_gauges(ctx);
    Ok(report.outcome())
}

/// `restore [SNAPSHOT] [--file NAME]`: one paragraph on stdout.
fn restore_command(
    ctx: &mut Ctx<Data>,
    cfg: &config::Config,
    snapshot: Option<&str>,
    file: Option<&str>,
) -> Result<Outcome> {
    restore::finish_interrupted(ctx, cfg)?;
    let (fc, snap) = select::select(cfg, &ctx.state.data, snapshot, file)?;
    let fc = fc.clone();
    let done = restore::restore(ctx, cfg, &fc, &snap, false)?;
    println!("{}", done.message);
    Ok(Outcome::ok(format!("restore {}: {}", fc.name(), snap.id)))
}

fn record_gauges(ctx: &mut Ctx<Data>) {
    let files = &ctx.state.data.files;
    let bad = files
        .values()
        .filter(|f| !matches!(f.status, Status::Good | Status::Unknown))
        .count();
    let total: usize = files.values().map(|f| f.snapshots.len()).sum();
    let dbs: usize = ctx
        .state
        .data
        .databases
        .values()
        .map(|d| d.snapshots.len())
        .sum();
    ctx.metric_set("files_not_good", bad as u64);
    ctx.metric_set("snapshots_stored", total as u64);
    ctx.metric_set("database_snapshots_stored", dbs as u64);
}

/// The binary's entry point (`src/main.rs` calls it; why here: [`common::main`]).
pub fn main() -> std::process::ExitCode {
    common::main::<BackupConfig>()
}

//! `backup-config`: never lose a working agent config.
//!
//! Each run checks the watched config files (JSON5 or strict JSON, required keys, optional
//! external validator, size-drop guard), snapshots every new good version under
//! `<root>/backups/<file-name>/`, alerts once per distinct bad content, and prunes snapshots by a
//! last-N / daily / weekly policy. `restore` puts the last good version back in one command,
//! keeping the replaced file as `<file>.clobbered.<UTC timestamp>`.

pub mod check;
pub mod commands;
pub mod config;
pub mod data;
pub mod mask;
pub mod parse;
pub mod restore;
pub mod retention;
pub mod store;
pub mod validate;

use anyhow::Result;
use common::{Ctx, Job, Mode, Outcome, Paths};

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
    /// List the snapshots of every watched file (or of FILE), newest first
    List {
        /// A watched file's name, e.g. openclaw.json
        file: Option<String>,
    },
    /// Unified diff of a snapshot (default: the last good one) against the live file
    Diff {
        /// Snapshot id, sha256 prefix, or a file name (its last good snapshot)
        snapshot: Option<String>,
        /// Which watched file (default: the first configured)
        #[arg(long)]
        file: Option<String>,
        /// Show the values of secret-looking keys instead of ***
        #[arg(long)]
        show_secrets: bool,
    },
    /// Put a snapshot (default: the last good one) back; the replaced file is kept
    Restore {
        /// Snapshot id, sha256 prefix, or a file name (its last good snapshot)
        snapshot: Option<String>,
        /// Which watched file (default: the first configured)
        #[arg(long)]
        file: Option<String>,
    },
    /// Re-hash every snapshot and report damaged ones (exit 65)
    Verify,
}

pub struct BackupConfig;

impl Job for BackupConfig {
    const NAME: &'static str = "backup-config";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const ABOUT: &'static str = "Check the agent's config files, snapshot every good version, restore the last good one on demand.";
    const EXAMPLES: &'static str = "  backup-config                      # hourly from cron: check, snapshot, alert\n  \
         backup-config list                 # snapshots of every watched file\n  \
         backup-config diff                 # last good version vs the live file (secrets masked)\n  \
         backup-config restore --dry-run    # what a restore would do\n  \
         backup-config restore              # put the last good version back\n  \
         backup-config --accept             # take a much smaller new version as good\n  \
         backup-config verify               # re-hash every snapshot";
    type Args = Args;
    type Config = config::Config;
    type Data = data::Data;
    type Facts = common::contracts::facts::NoFacts;

    fn mode(args: &Args) -> Mode {
        match args.command {
            None => Mode::Run,
            Some(Command::Restore { .. }) => Mode::Command,
            Some(_) => Mode::ReadOnly,
        }
    }

    fn validate(cfg: &config::Config, paths: &Paths) -> Result<()> {
        config::validate(cfg, paths)
    }

    fn run(ctx: &mut Ctx<data::Data>, cfg: &config::Config, args: &Args) -> Result<Outcome> {
        match &args.command {
            None => check::run(ctx, cfg, args.accept),
            Some(Command::List { file }) => commands::list(ctx, cfg, file.as_deref()),
            Some(Command::Diff {
                snapshot,
                file,
                show_secrets,
            }) => commands::diff(
                ctx,
                cfg,
                snapshot.as_deref(),
                file.as_deref(),
                *show_secrets,
            ),
            Some(Command::Verify) => commands::verify(ctx, cfg),
            Some(Command::Restore { snapshot, file }) => {
                restore::recover_pending(ctx)?;
                let (fc, snap) =
                    restore::select(cfg, &ctx.state.data, snapshot.as_deref(), file.as_deref())?;
                let fc = fc.clone();
                let done = restore::restore(ctx, cfg, &fc, &snap, false)?;
                println!("{}", done.message);
                Ok(Outcome::ok(format!("restore {}: {}", fc.name(), snap.id)))
            }
        }
    }
}

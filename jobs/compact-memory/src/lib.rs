//! compact-memory: keeps an always-on agent's memory within budget without losing a line.
//!
//! Each night it folds daily notes (`memory/YYYY-MM-DD.md` and same-day fragments) older than
//! `keep_days` into one dated digest per period (`memory/digests/2026-W07.md`), archives the
//! originals byte for byte under `memory/archive/YYYY/MM/`, and reports the size of the
//! bootstrap files against the gateway's budgets. See `docs/jobs/compact-memory.md`.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod budget;
pub mod compact;
pub mod layout;
pub mod restore;
pub mod rules;

use anyhow::Result;
use chrono::{DateTime, NaiveDate, Utc};
use common::{Ctx, Job, Mode, Outcome, Paths, config_error};
use model::{ModelConfig, TokenLedger};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

pub use layout::PeriodKind;

/// The `compact-memory` section of config.json.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The agent's workspace (holds `MEMORY.md` and `memory/`).
    pub workspace: PathBuf,
    /// The agent's time zone (IANA name, or `local` for the host's), in which file-name dates
    /// are written.
    pub timezone: String,
    /// Daily files younger than this many days are left alone (today and yesterday always).
    pub keep_days: u32,
    /// Digest period: `day`, `week` or `month`.
    pub period: PeriodKind,
    /// Per-file character budget of bootstrap files (the gateway's `bootstrapMaxChars`).
    pub per_file_chars: u64,
    /// Total character budget of bootstrap files (`bootstrapTotalMaxChars`).
    pub total_chars: u64,
    /// Bootstrap files measured against the budgets, relative to the workspace.
    pub bootstrap_files: Vec<String>,
    /// Size cap of a rule-based or raw digest's summary, in characters.
    pub digest_max_chars: usize,
    /// Most characters of notes sent to the model for one digest.
    pub model_input_max_chars: usize,
    /// The model used for summaries (off unless `enabled`).
    pub model: ModelConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            workspace: PathBuf::from("~/.openclaw/workspace"),
            timezone: "local".into(),
            keep_days: 7,
            period: PeriodKind::Week,
            per_file_chars: 20_000,
            total_chars: 60_000,
            bootstrap_files: [
                "AGENTS.md",
                "SOUL.md",
                "TOOLS.md",
                "IDENTITY.md",
                "USER.md",
                "HEARTBEAT.md",
                "BOOTSTRAP.md",
                "MEMORY.md",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            digest_max_chars: 6000,
            model_input_max_chars: 120_000,
            model: ModelConfig::default(),
        }
    }
}

/// The agent's time zone.
#[derive(Debug, Clone, Copy)]
pub enum Zone {
    Local,
    Named(chrono_tz::Tz),
}

impl Zone {
    /// Parse the `timezone` key.
    pub fn parse(s: &str) -> Result<Zone> {
        if s.eq_ignore_ascii_case("local") {
            return Ok(Zone::Local);
        }
        s.parse::<chrono_tz::Tz>().map(Zone::Named).map_err(|_| {
            config_error(format!(
                "`compact-memory.timezone`: unknown time zone {s:?}; use an IANA name such as \"Europe/Berlin\" or \"local\""
            ))
        })
    }

    /// The local date at `now`.
    pub fn today(self, now: DateTime<Utc>) -> NaiveDate {
        match self {
            Zone::Local => now.with_timezone(&chrono::Local).date_naive(),
            Zone::Named(tz) => now.with_timezone(&tz).date_naive(),
        }
    }
}

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
    /// Print the digests, held days, memory budget and token use
    Status,
}

/// How a digest's summary was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Model,
    Rules,
    Raw,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Model => "model",
            Method::Rules => "rules",
            Method::Raw => "raw",
        }
    }
}

/// One archived original listed in a digest. In state it is one `sha256sum`-style line,
/// `"<sha256>  <archive path relative to memory/>"`, which keeps the state file small (it is read
/// and written on every run) and lets `sha256sum -c` check the archive from `memory/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct SourceRecord {
    /// Original file name in `memory/`.
    pub name: String,
    /// Archive path relative to `memory/`.
    pub archive: String,
    pub sha256: String,
    /// Size (known when the digest was written; 0 when read back from state).
    pub bytes: u64,
}

impl From<SourceRecord> for String {
    fn from(s: SourceRecord) -> String {
        format!("{}  {}", s.sha256, s.archive)
    }
}

impl TryFrom<String> for SourceRecord {
    type Error = String;
    fn try_from(line: String) -> Result<Self, String> {
        let (sha, archive) = line
            .split_once("  ")
            .ok_or_else(|| format!("source {line:?} is not \"<sha256>  <archive path>\""))?;
        let file = archive.rsplit('/').next().unwrap_or(archive);
        let (name, _) = layout::parse_archive_name(file)
            .ok_or_else(|| format!("source {line:?}: {file:?} is not an archived note"))?;
        Ok(SourceRecord {
            name,
            archive: archive.to_string(),
            sha256: sha.to_string(),
            bytes: 0,
        })
    }
}

/// A digest written by the job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DigestRecord {
    /// Path relative to `memory/`.
    pub path: String,
    pub method: Method,
    /// Every day of the period was old enough when it was written.
    pub complete: bool,
    pub written_at: DateTime<Utc>,
    pub chars: u64,
    pub sha256: String,
    /// Why a better method was not used, if it was wanted.
    #[serde(default)]
    pub fallback: Option<String>,
    /// Model tokens spent on it.
    #[serde(default)]
    pub tokens: u64,
    pub sources: Vec<SourceRecord>,
}

/// A model call that was started but not seen to finish.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InFlight {
    pub period: String,
    pub started_at: DateTime<Utc>,
}

/// What the last run did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunStats {
    pub today: Option<NaiveDate>,
    pub files_archived: u64,
    pub originals_removed: u64,
    pub digests_written: u64,
    pub by_method: BTreeMap<String, u64>,
    pub fallbacks: Vec<String>,
    pub failed: Vec<String>,
    pub skipped_names: Vec<String>,
}

/// compact-memory's part of its state file.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Data {
    /// Digests by period key.
    pub digests: BTreeMap<String, DigestRecord>,
    /// Days restored by `restore` and left alone until `release`.
    pub held: BTreeSet<NaiveDate>,
    /// The memory budget report of the last run.
    pub budget: Option<budget::BudgetReport>,
    /// Model token use and budgets.
    pub tokens: TokenLedger,
    pub model_call_in_flight: Option<InFlight>,
    pub last: Option<RunStats>,
}

/// The job.
pub struct CompactMemory;

impl Job for CompactMemory {
    const NAME: &'static str = "compact-memory";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const ABOUT: &'static str = "Fold old daily memory notes into dated digests, archive the originals, report the memory budget.";
    const EXAMPLES: &'static str = "  compact-memory                      nightly run (cron)\n  compact-memory --dry-run -v         say what would be compacted\n  compact-memory --upgrade            rewrite rule-based digests with the model\n  compact-memory restore 2026-02-13   put that day's originals back\n  compact-memory release 2026-02-13   let compaction take it again\n  compact-memory status               digests, budget, tokens";
    type Args = Args;
    type Config = Config;
    type Data = Data;
    type Facts = common::contracts::facts::NoFacts;

    fn mode(args: &Args) -> Mode {
        match args.command {
            None => Mode::Run,
            Some(Command::Restore { .. }) | Some(Command::Release { .. }) => Mode::Command,
            Some(Command::Status) => Mode::ReadOnly,
        }
    }

    fn validate(cfg: &Config, _paths: &Paths) -> Result<()> {
        Zone::parse(&cfg.timezone)?;
        if cfg.keep_days > 36_500 {
            return Err(config_error(
                "`compact-memory.keep_days` is over 36500 days; use a number of days such as 7",
            ));
        }
        if cfg.digest_max_chars < 500 {
            return Err(config_error(
                "`compact-memory.digest_max_chars` must be at least 500",
            ));
        }
        if cfg.per_file_chars == 0 || cfg.total_chars == 0 {
            return Err(config_error(
                "`compact-memory.per_file_chars` and `total_chars` must be positive",
            ));
        }
        for f in &cfg.bootstrap_files {
            if f.is_empty() || f.starts_with('/') || f.split('/').any(|p| p == "..") {
                return Err(config_error(format!(
                    "`compact-memory.bootstrap_files`: {f:?} must be a path inside the workspace"
                )));
            }
        }
        cfg.model.validate("compact-memory.model")
    }

    fn run(ctx: &mut Ctx<Data>, cfg: &Config, args: &Args) -> Result<Outcome> {
        match &args.command {
            None => compact::run(ctx, cfg, args),
            Some(Command::Restore { date }) => restore::restore(ctx, cfg, date),
            Some(Command::Release { date }) => restore::release(ctx, date),
            Some(Command::Status) => restore::status(ctx, cfg),
        }
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

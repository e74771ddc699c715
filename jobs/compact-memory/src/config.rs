//! The `compact-memory` section of config.json, its checks, and the agent's time zone.
//!
//! Most of what the job needs comes from the gateway's own config (see `setup`): the
//! workspace, the budgets, dreaming's window, the time zone. The keys here choose the agent,
//! override what an operator must be able to override (`workspace`, `timezone`), and give
//! fallbacks for a gateway running without a config file (`per_file_chars`, `total_chars`).

use crate::layout::PeriodKind;
use anyhow::Result;
use chrono::{DateTime, NaiveDate, Utc};
use common::config_error;
use model::ModelConfig;
use serde::{Deserialize, Serialize};
use std::path::{Component, Path, PathBuf};

/// The `compact-memory` section of config.json.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The gateway agent whose workspace and budgets apply; default: the gateway's default
    /// agent (a single `default: true` entry, else the only one, else `main`).
    pub agent: Option<String>,
    /// The agent's workspace; default: the agent's workspace in the gateway's config.
    pub workspace: Option<PathBuf>,
    /// Where archived originals go; relative to the workspace. Must be outside `memory/`
    /// (the gateway indexes everything under it).
    pub archive_dir: PathBuf,
    /// The time zone of the notes' file names: an IANA name or `local`; default: the
    /// gateway's `agents.defaults.userTimezone`, else the host's.
    pub timezone: Option<String>,
    /// Notes younger than this many days stay in place (raised to dreaming's window + 1 while
    /// the gateway's dreaming is on; today and yesterday always stay).
    pub keep_days: u32,
    /// Digest period: `day`, `week` or `month`.
    pub period: PeriodKind,
    /// Per-file budget when the gateway has no config file (else its `bootstrapMaxChars`).
    pub per_file_chars: Option<u64>,
    /// Total budget when the gateway has no config file (else `bootstrapTotalMaxChars`).
    pub total_chars: Option<u64>,
    /// Files measured against the budgets; default: the gateway's bootstrap files.
    pub bootstrap_files: Option<Vec<String>>,
    /// Size cap of a rule-based or raw digest's summary, in characters.
    pub digest_max_chars: usize,
    /// Most characters of notes sent to the model for one digest.
    pub model_input_max_chars: usize,
    /// The model used for summaries (off unless `enabled`).
    pub model: ModelConfig,
}

/// The default archive directory, relative to the workspace.
pub const DEFAULT_ARCHIVE_DIR: &str = "memory-archive";

impl Default for Config {
    fn default() -> Self {
        Config {
            agent: None,
            workspace: None,
            archive_dir: PathBuf::from(DEFAULT_ARCHIVE_DIR),
            timezone: None,
            keep_days: 7,
            period: PeriodKind::Week,
            per_file_chars: None,
            total_chars: None,
            bootstrap_files: None,
            digest_max_chars: 6000,
            model_input_max_chars: 120_000,
            model: ModelConfig::default(),
        }
    }
}

/// Range checks whose messages name the file, the key and the accepted range.
struct Ranges<'a> {
    file: &'a Path,
}

impl Ranges<'_> {
    fn int(&self, key: &str, v: u64, lo: u64, hi: u64) -> Result<()> {
        if (lo..=hi).contains(&v) {
            return Ok(());
        }
        Err(config_error(format!(
            "{}: `compact-memory.{key}`: {v} is out of range {lo}..={hi}",
            self.file.display()
        )))
    }

    fn fail(&self, key: &str, what: impl std::fmt::Display) -> anyhow::Error {
        config_error(format!(
            "{}: `compact-memory.{key}`: {what}",
            self.file.display()
        ))
    }
}

impl Config {
    /// Every check that needs no file but the config itself; `file` names it in messages.
    pub fn validate(&self, file: &Path) -> Result<()> {
        let r = Ranges { file };
        r.int("keep_days", u64::from(self.keep_days), 0, 36_500)?;
        r.int(
            "digest_max_chars",
            self.digest_max_chars as u64,
            500,
            1_000_000,
        )?;
        r.int(
            "model_input_max_chars",
            self.model_input_max_chars as u64,
            1_000,
            10_000_000,
        )?;
        if let Some(n) = self.per_file_chars {
            r.int("per_file_chars", n, 1, 10_000_000)?;
        }
        if let Some(n) = self.total_chars {
            r.int("total_chars", n, 1, 10_000_000)?;
        }
        if let Some(tz) = &self.timezone {
            Zone::parse(tz).map_err(|why| r.fail("timezone", why))?;
        }
        if let Some(a) = &self.agent
            && (a.trim().is_empty() || a.contains('/'))
        {
            return Err(r.fail("agent", format!("{a:?} is not an agent id (e.g. \"main\")")));
        }
        if let Some(w) = &self.workspace
            && w.as_os_str().is_empty()
        {
            return Err(r.fail(
                "workspace",
                "is empty: remove the key to use the agent's workspace from the gateway's config, or give the workspace directory (e.g. \"~/.openclaw/workspace\")",
            ));
        }
        if self.archive_dir.as_os_str().is_empty() {
            return Err(r.fail(
                "archive_dir",
                format!("is empty: remove the key for the default \"{DEFAULT_ARCHIVE_DIR}\" or name a directory outside memory/"),
            ));
        }
        if self.archive_dir.is_relative() && inside_memory(&self.archive_dir) {
            return Err(r.fail(
                "archive_dir",
                format!(
                    "{} is inside memory/, which the gateway indexes (every copy would be found again by memory search); use a directory outside it such as \"{DEFAULT_ARCHIVE_DIR}\"",
                    self.archive_dir.display()
                ),
            ));
        }
        for f in self.bootstrap_files.iter().flatten() {
            if f.is_empty() || f.starts_with('/') || f.split('/').any(|p| p == "..") {
                return Err(r.fail(
                    "bootstrap_files",
                    format!("{f:?} must be a path inside the workspace"),
                ));
            }
        }
        self.model.validate("compact-memory.model")
    }
}

/// Whether a workspace-relative path lies in `memory/` (lexically: `memory`, `./memory/x`).
pub fn inside_memory(rel: &Path) -> bool {
    let mut parts = rel.components().filter(|c| !matches!(c, Component::CurDir));
    matches!(parts.next(), Some(Component::Normal(n)) if n == "memory")
}

/// The agent's time zone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Zone {
    Local,
    Named(chrono_tz::Tz),
}

impl Zone {
    /// Parse an IANA name or `local`; the error says what is accepted.
    pub fn parse(s: &str) -> Result<Zone, String> {
        if s.eq_ignore_ascii_case("local") {
            return Ok(Zone::Local);
        }
        s.parse::<chrono_tz::Tz>().map(Zone::Named).map_err(|_| {
            format!(
                "unknown time zone {s:?}; use an IANA name such as \"Europe/Berlin\" or \"local\""
            )
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

impl std::fmt::Display for Zone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Zone::Local => f.write_str("local"),
            Zone::Named(tz) => f.write_str(tz.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(c: &Config) -> String {
        c.validate(Path::new("/etc/aj/config.json"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn errors_name_the_file_and_the_key() {
        let mut c = Config {
            timezone: Some("Mars/Olympus".into()),
            ..Default::default()
        };
        let e = err(&c);
        assert!(
            e.contains("/etc/aj/config.json") && e.contains("`compact-memory.timezone`"),
            "{e}"
        );
        c.timezone = None;
        c.workspace = Some(PathBuf::new());
        let e = err(&c);
        assert!(e.contains("`compact-memory.workspace`: is empty"), "{e}");
        c.workspace = None;
        c.keep_days = 40_000;
        assert!(err(&c).contains("40000 is out of range 0..=36500"));
        c.keep_days = 7;
        c.per_file_chars = Some(0);
        assert!(err(&c).contains("`compact-memory.per_file_chars`: 0 is out of range"));
        c.per_file_chars = None;
        c.archive_dir = PathBuf::from("./memory/archive");
        assert!(err(&c).contains("inside memory/"));
        c.archive_dir = PathBuf::new();
        assert!(err(&c).contains("`compact-memory.archive_dir`: is empty"));
        c.archive_dir = PathBuf::from("memory-archive");
        c.digest_max_chars = 10;
        assert!(err(&c).contains("digest_max_chars"));
        c.digest_max_chars = 6000;
        assert!(c.validate(Path::new("c.json")).is_ok());
    }

    #[test]
    fn memory_is_recognised_lexically() {
        assert!(inside_memory(Path::new("memory")));
        assert!(inside_memory(Path::new("./memory/archive")));
        assert!(!inside_memory(Path::new("memory-archive")));
        assert!(!inside_memory(Path::new("archive/memory")));
    }
}

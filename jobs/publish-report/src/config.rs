//! The `publish-report` section of config.json, and the checks serde cannot express.

use anyhow::Result;
use chrono_tz::Tz;
use common::config_error;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Largest accepted `grace_secs` and `grace_overrides` value (30 days).
pub const MAX_GRACE_SECS: u64 = 30 * 86_400;
/// Largest accepted `cooloff_secs` (7 days).
pub const MAX_COOLOFF_SECS: u64 = 7 * 86_400;
/// Largest accepted `settle_secs` (1 day).
pub const MAX_SETTLE_SECS: u64 = 86_400;
/// Largest accepted `retry_periods`.
pub const MAX_RETRY_PERIODS: u32 = 60;
/// Largest accepted `clock_skew_secs` (1 day).
pub const MAX_CLOCK_SKEW_SECS: u64 = 86_400;
/// Largest accepted daily cap and failure threshold.
pub const MAX_PER_DAY: u32 = 1000;
/// Largest accepted destination `timeout_secs`.
pub const MAX_TIMEOUT_SECS: f64 = 3600.0;

/// How long a report's period is.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum PeriodKind {
    #[default]
    Daily,
    Weekly,
}

impl PeriodKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PeriodKind::Daily => "daily",
            PeriodKind::Weekly => "weekly",
        }
    }
}

/// Who writes the analysis paragraph.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnalysisMode {
    /// The model (`model` settings), falling back to the rules when it cannot be used.
    Model,
    /// Deterministic sentences from the collected facts.
    #[default]
    Rules,
    /// No analysis paragraph.
    None,
}

/// Kind of destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DestKind {
    /// JSON POST to a URL (`text`, `html`, `report_id`, …).
    Webhook,
    /// A file `<report id>.md` (and `.json`) written atomically into a directory.
    Directory,
    /// A Teams chat message posted through Microsoft Graph.
    Teams,
}

/// One place the report is published to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Destination {
    /// Unique name; keys the exactly-once bookkeeping in state (renaming it means "new destination").
    pub name: String,
    #[serde(rename = "type")]
    pub kind: DestKind,
    /// Webhook URL in the config (fine for a local relay); prefer `url_env` / `url_file`.
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub url_env: Option<String>,
    #[serde(default)]
    pub url_file: Option<PathBuf>,
    /// Directory for `directory` destinations (root-relative or `~`).
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Chat id for `teams` destinations (`19:…@thread.v2`).
    #[serde(default)]
    pub chat_id: Option<String>,
    /// Graph settings for `teams` destinations (default: the `graph` object of the
    /// `poll-teams` section). Posting needs the `password` grant.
    #[serde(default)]
    pub graph: Option<graph::GraphConfig>,
    /// Per-request timeout for webhooks, seconds (default: `runtime.http.timeout_secs`).
    #[serde(default)]
    pub timeout_secs: Option<f64>,
    /// Override of `max_publishes_per_day` for this destination.
    #[serde(default)]
    pub max_per_day: Option<u32>,
}

/// `publish-report` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Period used when `--period` is not given.
    pub period: PeriodKind,
    /// IANA time zone for periods and cron schedules (e.g. `Europe/Berlin`).
    pub timezone: String,
    /// The crontab file to read (root-relative or `~`).
    pub crontab: PathBuf,
    /// Read the crontab from this command's output instead (e.g. `["crontab", "-l"]`).
    pub crontab_command: Option<Vec<String>>,
    /// On Kubernetes: read the schedules from the suite's CronJobs instead (a suspended
    /// CronJob is a paused job); `{}` takes every default of a pod.
    pub cronjobs: Option<schedule::kubernetes::CronJobSource>,
    /// Where `<period>.md`, `<period>.json` and `status.html` are written.
    pub reports_dir: PathBuf,
    /// Seconds after a due time before a job that has not run counts as overdue.
    pub grace_secs: u64,
    /// Per-job grace overrides (job name → seconds).
    pub grace_overrides: BTreeMap<String, u64>,
    /// `model`, `rules` or `none`.
    pub analysis: AnalysisMode,
    /// Model settings for `analysis: "model"` (same keys as compact-memory's `model`).
    pub model: model::ModelConfig,
    /// Where the report goes.
    pub destinations: Vec<Destination>,
    /// Most publishes per destination per local day (every send attempt counts). Must stay
    /// above `failure_threshold`, so `--force` still has an attempt left once a cool-off starts.
    pub max_publishes_per_day: u32,
    /// Consecutive failures after which a destination cools off.
    pub failure_threshold: u32,
    /// Length of the cool-off, seconds.
    pub cooloff_secs: u64,
    /// Teams: seconds after a send attempt before "not found in the chat" counts as "never
    /// arrived" (so the report may be sent again); younger attempts stay `unknown`.
    pub settle_secs: u64,
    /// Previous periods a scheduled run retries when their report is still unsent (0: none).
    pub retry_periods: u32,
    /// A time in a state file or log more than this many seconds ahead of the clock is clock
    /// skew: a finding in the report, and no evidence for the dead-man check.
    pub clock_skew_secs: u64,
    /// Jobs the report covers (default: the whole suite).
    pub jobs: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            period: PeriodKind::Daily,
            timezone: "UTC".into(),
            crontab: PathBuf::from("crontab"),
            crontab_command: None,
            cronjobs: None,
            reports_dir: PathBuf::from("reports"),
            grace_secs: 900,
            grace_overrides: BTreeMap::new(),
            analysis: AnalysisMode::Rules,
            model: model::ModelConfig::default(),
            destinations: Vec::new(),
            max_publishes_per_day: 10,
            failure_threshold: 3,
            cooloff_secs: 3600,
            settle_secs: 600,
            retry_periods: 7,
            clock_skew_secs: 300,
            jobs: common::config::jobs()
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }
}

impl Config {
    /// The configured time zone (validated in [`Config::validate`]).
    pub fn tz(&self) -> Tz {
        self.timezone.parse().unwrap_or(Tz::UTC)
    }

    /// The daily cap of a destination.
    pub fn cap(&self, d: &Destination) -> u32 {
        d.max_per_day.unwrap_or(self.max_publishes_per_day)
    }

    /// How far ahead of the clock a time may be before it is clock skew.
    pub fn skew_tolerance(&self) -> chrono::Duration {
        chrono::Duration::seconds(self.clock_skew_secs.min(MAX_CLOCK_SKEW_SECS) as i64)
    }

    /// Where the schedules are read from: the CronJobs, else the command, else the file.
    pub fn source(&self, paths: &common::Paths) -> schedule::CrontabSource {
        match (&self.cronjobs, &self.crontab_command) {
            (Some(k), _) => schedule::CrontabSource::CronJobs(k.clone()),
            (None, Some(argv)) => schedule::CrontabSource::Command(argv.clone()),
            (None, None) => schedule::CrontabSource::File(paths.resolve(&self.crontab)),
        }
    }

    /// Grace of `job` before a missed run counts as overdue.
    pub fn grace(&self, job: &str) -> chrono::Duration {
        let secs = *self.grace_overrides.get(job).unwrap_or(&self.grace_secs);
        chrono::Duration::seconds(secs.min(MAX_GRACE_SECS) as i64)
    }

    /// Checks serde cannot express; errors name the key.
    pub fn validate(&self, file: &std::path::Path) -> Result<()> {
        let f = file.display();
        if self.timezone.parse::<Tz>().is_err() {
            return Err(config_error(format!(
                "{f}: `publish-report.timezone`: `{}` is not an IANA time zone (e.g. `Europe/Berlin`, `UTC`)",
                self.timezone
            )));
        }
        if let Some(c) = &self.crontab_command
            && c.is_empty()
        {
            return Err(config_error(format!(
                "{f}: `publish-report.crontab_command`: must name a program (argv list, no shell)"
            )));
        }
        if let Some(k) = &self.cronjobs {
            if self.crontab_command.is_some() {
                return Err(config_error(format!(
                    "{f}: `publish-report.cronjobs`: set either `cronjobs` (Kubernetes) or `crontab_command`, not both"
                )));
            }
            k.validate("publish-report.cronjobs")
                .map_err(|e| config_error(format!("{f}: {e}")))?;
        }
        self.validate_ranges(file)?;
        self.validate_jobs(file)?;
        if self.analysis == AnalysisMode::Model {
            if !self.model.enabled {
                return Err(config_error(format!(
                    "{f}: `publish-report.analysis` is \"model\" but `publish-report.model.enabled` is false"
                )));
            }
            self.model
                .validate("publish-report.model")
                .map_err(|e| config_error(format!("{f}: {}", common::exit::one_line(&e))))?;
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, d) in self.destinations.iter().enumerate() {
            if !seen.insert(d.name.clone()) {
                return Err(config_error(format!(
                    "{f}: `publish-report.destinations[{i}].name`: `{}` is used twice; destination names must be unique",
                    d.name
                )));
            }
            d.validate(file, i)?;
        }
        Ok(())
    }

    /// Every numeric key within its documented range.
    fn validate_ranges(&self, file: &std::path::Path) -> Result<()> {
        let f = file.display();
        let out_of = |key: &str, v: String, range: String| {
            Err(config_error(format!(
                "{f}: `publish-report.{key}`: {v} is out of range {range}"
            )))
        };
        if self.grace_secs > MAX_GRACE_SECS {
            return out_of(
                "grace_secs",
                self.grace_secs.to_string(),
                format!("0..={MAX_GRACE_SECS}"),
            );
        }
        if let Some((j, v)) = self
            .grace_overrides
            .iter()
            .find(|(_, v)| **v > MAX_GRACE_SECS)
        {
            return out_of(
                &format!("grace_overrides.{j}"),
                v.to_string(),
                format!("0..={MAX_GRACE_SECS}"),
            );
        }
        if !(1..=MAX_PER_DAY).contains(&self.max_publishes_per_day) {
            return out_of(
                "max_publishes_per_day",
                self.max_publishes_per_day.to_string(),
                format!("1..={MAX_PER_DAY}"),
            );
        }
        if !(1..=MAX_PER_DAY).contains(&self.failure_threshold) {
            return out_of(
                "failure_threshold",
                self.failure_threshold.to_string(),
                format!("1..={MAX_PER_DAY}"),
            );
        }
        if self.cooloff_secs > MAX_COOLOFF_SECS {
            return out_of(
                "cooloff_secs",
                self.cooloff_secs.to_string(),
                format!("0..={MAX_COOLOFF_SECS}"),
            );
        }
        if self.settle_secs > MAX_SETTLE_SECS {
            return out_of(
                "settle_secs",
                self.settle_secs.to_string(),
                format!("0..={MAX_SETTLE_SECS}"),
            );
        }
        if self.retry_periods > MAX_RETRY_PERIODS {
            return out_of(
                "retry_periods",
                self.retry_periods.to_string(),
                format!("0..={MAX_RETRY_PERIODS}"),
            );
        }
        if self.clock_skew_secs > MAX_CLOCK_SKEW_SECS {
            return out_of(
                "clock_skew_secs",
                self.clock_skew_secs.to_string(),
                format!("0..={MAX_CLOCK_SKEW_SECS}"),
            );
        }
        Ok(())
    }

    fn validate_jobs(&self, file: &std::path::Path) -> Result<()> {
        let f = file.display();
        for j in &self.jobs {
            if !common::contracts::registry::is_job(j) {
                return Err(config_error(format!(
                    "{f}: `publish-report.jobs`: `{j}` is not a job of the suite ({})",
                    common::config::jobs().join(", ")
                )));
            }
        }
        for j in self.grace_overrides.keys() {
            if !common::contracts::registry::is_job(j) {
                return Err(config_error(format!(
                    "{f}: `publish-report.grace_overrides.{j}`: not a job of the suite"
                )));
            }
        }
        Ok(())
    }
}

impl Destination {
    /// Checks of one destination; `i` is its index, for the key in messages.
    fn validate(&self, file: &std::path::Path, i: usize) -> Result<()> {
        let f = file.display();
        let key = format!("publish-report.destinations[{i}]");
        let bad = |msg: String| Err(config_error(format!("{f}: `{key}{msg}")));
        let ok_name = !self.name.is_empty()
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !ok_name {
            return bad(format!(
                ".name`: `{}` must be non-empty letters, digits, `-`, `_` or `.`",
                self.name
            ));
        }
        let urls = [
            self.url.is_some(),
            self.url_env.is_some(),
            self.url_file.is_some(),
        ];
        let has_url = urls.iter().any(|b| *b);
        if self.kind != DestKind::Teams && (self.chat_id.is_some() || self.graph.is_some()) {
            return bad("`: `chat_id` and `graph` are only for `teams` destinations".into());
        }
        match self.kind {
            DestKind::Teams => {
                if self.chat_id.as_deref().is_none_or(|c| c.trim().is_empty()) {
                    return bad(
                        ".chat_id`: a teams destination needs the chat id (19:…@thread.v2)".into(),
                    );
                }
                if has_url || self.path.is_some() {
                    return bad("`: `url*` and `path` are not for `teams` destinations".into());
                }
                if let Some(g) = &self.graph {
                    g.validate(&format!("{key}.graph")).map_err(|e| {
                        config_error(format!("{f}: {}", common::exit::one_line(&e)))
                    })?;
                }
            }
            DestKind::Webhook => {
                if urls.iter().filter(|b| **b).count() != 1 {
                    return bad(
                        "`: a webhook needs exactly one of `url`, `url_env`, `url_file`".into(),
                    );
                }
                if let Some(u) = &self.url
                    && !(u.starts_with("http://") || u.starts_with("https://"))
                {
                    return bad(".url`: the webhook URL must start with http:// or https://".into());
                }
                if self.path.is_some() {
                    return bad(".path`: only for `directory` destinations".into());
                }
            }
            DestKind::Directory => {
                if self.path.is_none() {
                    return bad(".path`: a directory destination needs a `path`".into());
                }
                if has_url {
                    return bad("`: `url*` keys are only for `webhook` destinations".into());
                }
            }
        }
        if let Some(t) = self.timeout_secs
            && !(t.is_finite() && t > 0.0 && t <= MAX_TIMEOUT_SECS)
        {
            return bad(format!(
                ".timeout_secs`: must be a number of seconds in (0, {MAX_TIMEOUT_SECS}]"
            ));
        }
        if let Some(n) = self.max_per_day
            && !(1..=MAX_PER_DAY).contains(&n)
        {
            return bad(format!(
                ".max_per_day`: {n} is out of range 1..={MAX_PER_DAY}"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The shipped example is a valid config.
    #[test]
    fn example_config_is_valid() {
        let text = include_str!("../config.example.json");
        let file =
            common::config::ConfigFile::parse(std::path::Path::new("config.example.json"), text)
                .unwrap();
        let cfg: Config = file.section("publish-report").unwrap();
        cfg.validate(std::path::Path::new("config.example.json"))
            .unwrap();
        assert_eq!(cfg.destinations.len(), 3);
        assert_eq!(cfg.tz(), chrono_tz::Europe::Berlin);
    }

    #[test]
    fn destination_checks_name_the_key() {
        let bad = |v: serde_json::Value| {
            let file = common::config::ConfigFile::parse(
                std::path::Path::new("c.json"),
                &serde_json::json!({"publish-report": v}).to_string(),
            )
            .unwrap();
            let cfg: Config = file.section("publish-report").unwrap();
            cfg.validate(std::path::Path::new("c.json"))
                .unwrap_err()
                .to_string()
        };
        let e = bad(serde_json::json!({"destinations": [{"name": "d", "type": "directory"}]}));
        assert!(e.contains("destinations[0].path"), "{e}");
        let e = bad(serde_json::json!({"destinations": [
            {"name": "d", "type": "directory", "path": "x"},
            {"name": "d", "type": "directory", "path": "y"}]}));
        assert!(e.contains("used twice"), "{e}");
        let e = bad(serde_json::json!({"destinations": [{"name": "t", "type": "teams"}]}));
        assert!(e.contains("chat_id"), "{e}");
        let e = bad(serde_json::json!({"destinations": [
            {"name": "w", "type": "webhook", "url": "http://127.0.0.1:1/", "url_env": "X"}]}));
        assert!(e.contains("exactly one of"), "{e}");
        let e = bad(serde_json::json!({"jobs": ["poll-teams", "nope"]}));
        assert!(e.contains("`nope`"), "{e}");
    }
}

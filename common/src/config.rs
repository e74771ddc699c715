//! The suite's configuration file: one JSON file, one section per job (the jobs of the
//! registry, [`contracts::registry`]), plus the shared sections the runtime owns: `runtime`
//! (logs, HTTP, alerts, pings), `graph` (the Microsoft Graph credentials that poll-teams,
//! publish-report and Teams alerts all use) and `gateway` (where the agent gateway lives).
//!
//! Loading is two-stage: [`ConfigFile::load`] checks the file parses and names only known
//! sections; each job then deserializes its own section into a plain struct with
//! [`ConfigFile::section`] (unknown keys and wrong types are errors that name the key path,
//! e.g. `poll-teams.chats[2]`, exit 78). Secrets never live in the file: a key `x_env` names an
//! environment variable and `x_file` a file holding the secret ([`resolve_secret`]).

use crate::exit::config_error;
use crate::http::HttpConfig;
use anyhow::Result;
pub use base::secret::{Secret, resolve_path, resolve_secret};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Sections owned by the runtime and shared by several jobs.
pub const SHARED_SECTIONS: &[&str] = &["runtime", "graph", "gateway"];

/// The names of the suite's jobs (from the registry: the repository's `crontab`).
pub fn jobs() -> Vec<&'static str> {
    contracts::registry::names().collect()
}

/// Whether `name` may be a top-level key of the config file.
pub fn is_section(name: &str) -> bool {
    SHARED_SECTIONS.contains(&name) || contracts::registry::is_job(name)
}

/// Every section name, shared ones first (for messages).
pub fn sections() -> Vec<&'static str> {
    SHARED_SECTIONS
        .iter()
        .copied()
        .chain(contracts::registry::names())
        .collect()
}

/// A parsed configuration file.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    pub path: PathBuf,
    sections: Map<String, Value>,
}

impl ConfigFile {
    /// An empty configuration (every section at its defaults).
    pub fn empty(path: PathBuf) -> Self {
        ConfigFile {
            path,
            sections: Map::new(),
        }
    }

    /// Read and check `path`. A missing file is an error: the hint says how to create one.
    pub fn load(path: &Path) -> Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(config_error(format!(
                    "config file {} does not exist: copy config.example.json there and edit it, \
                     or pass --config FILE / --root DIR",
                    path.display()
                )));
            }
            Err(e) => {
                return Err(config_error(format!(
                    "cannot read config file {}: {e}",
                    path.display()
                )));
            }
        };
        Self::parse(path, &text)
    }

    /// Parse config text (used by [`ConfigFile::load`] and tests).
    pub fn parse(path: &Path, text: &str) -> Result<Self> {
        let value: Value = serde_json::from_str(text).map_err(|e| {
            config_error(format!(
                "{} is not valid JSON at line {}, column {}: {e}; fix the file (strict JSON: no comments or trailing commas)",
                path.display(),
                e.line(),
                e.column()
            ))
        })?;
        let Value::Object(sections) = value else {
            return Err(config_error(format!(
                "{}: the top level must be an object with one key per job",
                path.display()
            )));
        };
        for (key, v) in &sections {
            if !is_section(key) {
                return Err(config_error(format!(
                    "{}: unknown key `{key}` at the top level (known: {})",
                    path.display(),
                    self::sections().join(", ")
                )));
            }
            if !v.is_object() {
                return Err(config_error(format!(
                    "{}: `{key}` must be an object",
                    path.display()
                )));
            }
        }
        Ok(ConfigFile {
            path: path.to_path_buf(),
            sections,
        })
    }

    /// Whether the file has a section `name`.
    pub fn has_section(&self, name: &str) -> bool {
        self.sections.contains_key(name)
    }

    /// The raw JSON of a section, if present.
    pub fn raw_section(&self, name: &str) -> Option<&Value> {
        self.sections.get(name)
    }

    /// Deserialize section `name` (defaults if absent). Errors name the key path, exit 78.
    pub fn section<T: DeserializeOwned + Default>(&self, name: &str) -> Result<T> {
        let Some(v) = self.sections.get(name) else {
            return Ok(T::default());
        };
        serde_path_to_error::deserialize(v).map_err(|e| {
            let inner = e.inner().to_string();
            let path = e.path().to_string();
            let key = if path == "." || path.is_empty() {
                name.to_string()
            } else {
                format!("{name}.{path}")
            };
            config_error(format!("{}: `{key}`: {inner}", self.path.display()))
        })
    }
}

/// The `runtime` section: settings shared by every job.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// Rotate `logs/<job>.log` when it would grow past this many bytes.
    pub log_max_bytes: u64,
    /// Rotated log files to keep.
    pub log_keep: u32,
    /// HTTP timeouts and retries.
    pub http: HttpConfig,
    /// Where alerts go and how often.
    pub alerts: crate::alert::AlertConfig,
    /// Dead-man ping base URLs per job (healthchecks.io style).
    pub pings: BTreeMap<String, String>,
    /// Timeout of one dead-man ping, seconds.
    pub ping_timeout_secs: u64,
    /// After SIGTERM/SIGINT (or the `--max-runtime` deadline), the longest the current step may
    /// take to finish before the process exits anyway.
    pub stop_grace_secs: u64,
    /// `text` (default) or `json` (one object per line: `ts`, `level`, `job`, `run_id`, `msg`).
    pub log_format: LogFormat,
    /// node_exporter's textfile-collector directory: each run writes
    /// `agent_jobs_<job>.prom` there (off when unset).
    pub textfile_dir: Option<PathBuf>,
}

/// The job log's line format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            log_max_bytes: 10 * 1024 * 1024,
            log_keep: 5,
            http: HttpConfig::default(),
            alerts: Default::default(),
            pings: BTreeMap::new(),
            ping_timeout_secs: 3,
            stop_grace_secs: 10,
            log_format: LogFormat::Text,
            textfile_dir: None,
        }
    }
}

impl RuntimeConfig {
    /// Checks that serde cannot express.
    pub fn validate(&self, file: &Path, this_job: &str) -> Result<()> {
        for job in self.pings.keys() {
            if !contracts::registry::is_job(job) && job != this_job {
                return Err(config_error(format!(
                    "{}: `runtime.pings.{job}`: not a job name (jobs: {})",
                    file.display(),
                    jobs().join(", ")
                )));
            }
        }
        if let Some(cmd) = &self.alerts.command
            && cmd.is_empty()
        {
            return Err(config_error(format!(
                "{}: `runtime.alerts.command`: must name a program (argv list, no shell)",
                file.display()
            )));
        }
        let r = Ranges { file };
        r.int("runtime.log_max_bytes", self.log_max_bytes, 0, 1 << 40)?;
        r.int("runtime.log_keep", u64::from(self.log_keep), 0, 100)?;
        r.int("runtime.ping_timeout_secs", self.ping_timeout_secs, 1, 60)?;
        r.int("runtime.stop_grace_secs", self.stop_grace_secs, 1, 600)?;
        r.int(
            "runtime.alerts.command_timeout_secs",
            self.alerts.command_timeout_secs,
            1,
            3600,
        )?;
        r.int(
            "runtime.alerts.min_interval_secs",
            self.alerts.min_interval_secs,
            0,
            30 * 86400,
        )?;
        let h = &self.http;
        r.secs(
            "runtime.http.connect_timeout_secs",
            h.connect_timeout_secs,
            0.1,
            600.0,
        )?;
        r.secs("runtime.http.timeout_secs", h.timeout_secs, 0.1, 3600.0)?;
        r.int("runtime.http.max_retries", u64::from(h.max_retries), 0, 20)?;
        r.int("runtime.http.backoff_base_ms", h.backoff_base_ms, 1, 60_000)?;
        r.secs(
            "runtime.http.backoff_max_secs",
            h.backoff_max_secs,
            0.0,
            3600.0,
        )?;
        r.secs(
            "runtime.http.retry_after_max_secs",
            h.retry_after_max_secs,
            0.0,
            86_400.0,
        )?;
        for (job, url) in &self.pings {
            r.url(&format!("runtime.pings.{job}"), url)?;
        }
        if let Some(u) = &self.alerts.webhook_url {
            r.url("runtime.alerts.webhook_url", u)?;
        }
        Ok(())
    }
}

impl RuntimeConfig {
    /// What `--check-config` can check without side effects beyond reading: the alert
    /// webhook's secret (`_env`/`_file`) resolves and is an http(s) URL.
    pub fn check_secrets(&self, root: &Path, file: &Path) -> Result<()> {
        let a = &self.alerts;
        if let Some(url) = resolve_secret(
            "runtime.alerts.webhook_url",
            a.webhook_url_env.as_deref(),
            a.webhook_url_file.as_deref(),
            root,
        )? {
            let l = url.expose().trim().to_ascii_lowercase();
            if !(l.starts_with("http://") || l.starts_with("https://")) {
                return Err(config_error(format!(
                    "{}: `runtime.alerts.webhook_url_{}`: the URL it holds is not http:// or https:// (value not shown: it is a secret)",
                    file.display(),
                    if a.webhook_url_file.is_some() {
                        "file"
                    } else {
                        "env"
                    }
                )));
            }
        }
        Ok(())
    }
}

/// Range checks with messages that name the file, the key and the accepted range.
#[derive(Debug, Clone, Copy)]
pub struct Ranges<'a> {
    pub file: &'a Path,
}

impl Ranges<'_> {
    /// An integer in `lo..=hi`.
    pub fn int(&self, key: &str, v: u64, lo: u64, hi: u64) -> Result<()> {
        if (lo..=hi).contains(&v) {
            return Ok(());
        }
        Err(config_error(format!(
            "{}: `{key}`: {v} is out of range {lo}..={hi}",
            self.file.display()
        )))
    }

    /// A finite number of seconds in `lo..=hi`.
    pub fn secs(&self, key: &str, v: f64, lo: f64, hi: f64) -> Result<()> {
        if v.is_finite() && v >= lo && v <= hi {
            return Ok(());
        }
        Err(config_error(format!(
            "{}: `{key}`: {v} is out of range {lo}..={hi} (seconds)",
            self.file.display()
        )))
    }

    /// An http:// or https:// URL.
    pub fn url(&self, key: &str, v: &str) -> Result<()> {
        let l = v.trim().to_ascii_lowercase();
        if (l.starts_with("http://") || l.starts_with("https://")) && l.len() > "https://".len() {
            return Ok(());
        }
        Err(config_error(format!(
            "{}: `{key}`: {v:?} is not an http:// or https:// URL",
            self.file.display()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::{Exit, code_of};

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields, default)]
    struct Teams {
        chats: Vec<String>,
        interval_secs: u64,
    }

    fn cfg(text: &str) -> Result<ConfigFile> {
        ConfigFile::parse(Path::new("config.json"), text)
    }

    #[test]
    fn unknown_top_level_key_is_named() {
        let err = cfg(r#"{"poll-teams":{}, "pol-teams":{}}"#).unwrap_err();
        assert_eq!(code_of(&err), Exit::Config);
        assert!(err.to_string().contains("`pol-teams`"), "{err}");
    }

    #[test]
    fn wrong_type_names_the_path() {
        let c = cfg(r#"{"poll-teams":{"chats":["a","b",3]}}"#).unwrap();
        let err = c.section::<Teams>("poll-teams").unwrap_err();
        assert_eq!(code_of(&err), Exit::Config);
        assert!(err.to_string().contains("`poll-teams.chats[2]`"), "{err}");
    }

    #[test]
    fn unknown_nested_key_is_named() {
        let c = cfg(r#"{"poll-teams":{"chatz":[]}}"#).unwrap();
        let err = c.section::<Teams>("poll-teams").unwrap_err();
        assert!(err.to_string().contains("chatz"), "{err}");
    }

    #[test]
    fn parse_error_has_line_and_column() {
        let err = cfg("{\n \"runtime\": {,}\n}").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }

    #[test]
    fn missing_section_is_default() {
        let c = cfg("{}").unwrap();
        let t: Teams = c.section("poll-teams").unwrap();
        assert!(t.chats.is_empty());
    }
}

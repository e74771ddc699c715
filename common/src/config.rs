//! The suite's configuration file: one JSON file, one section per job, plus `runtime`.
//!
//! Loading is two-stage: [`ConfigFile::load`] checks the file parses and names only known
//! sections; each job then deserializes its own section into a plain struct with
//! [`ConfigFile::section`] (unknown keys and wrong types are errors that name the key path,
//! e.g. `poll-teams.chats[2]`, exit 78). Secrets never live in the file: a key `x_env` names an
//! environment variable and `x_file` a file holding the secret ([`resolve_secret`]).

use crate::exit::config_error;
use crate::http::HttpConfig;
use anyhow::Result;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The sections a config file may contain.
pub const SECTIONS: &[&str] = &[
    "runtime",
    "poll-teams",
    "check-ratelimit",
    "compact-memory",
    "backup-config",
    "publish-report",
];

/// The names of the suite's jobs.
pub const JOBS: &[&str] = &[
    "poll-teams",
    "check-ratelimit",
    "compact-memory",
    "backup-config",
    "publish-report",
];

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
            if !SECTIONS.contains(&key.as_str()) {
                return Err(config_error(format!(
                    "{}: unknown key `{key}` at the top level (known: {})",
                    path.display(),
                    SECTIONS.join(", ")
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
        serde_path_to_error::deserialize(v.clone()).map_err(|e| {
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
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            log_max_bytes: 10 * 1024 * 1024,
            log_keep: 5,
            http: HttpConfig::default(),
            alerts: Default::default(),
            pings: BTreeMap::new(),
            ping_timeout_secs: 5,
        }
    }
}

impl RuntimeConfig {
    /// Checks that serde cannot express.
    pub fn validate(&self, file: &Path, this_job: &str) -> Result<()> {
        for job in self.pings.keys() {
            if !JOBS.contains(&job.as_str()) && job != this_job {
                return Err(config_error(format!(
                    "{}: `runtime.pings.{job}`: not a job name (jobs: {})",
                    file.display(),
                    JOBS.join(", ")
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
        Ok(())
    }
}

/// A secret value: its `Debug` never shows the value.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        crate::redact::register(&value);
        Secret(value)
    }
    /// The secret itself; never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

/// Resolve a secret given as `<key>_env` (an environment variable name) or `<key>_file`
/// (a file path, relative to the root). `key` is the key path without suffix, for messages,
/// e.g. `poll-teams.client_secret`. Returns `None` if neither is set.
pub fn resolve_secret(
    key: &str,
    env: Option<&str>,
    file: Option<&Path>,
    root: &Path,
) -> Result<Option<Secret>> {
    match (env, file) {
        (Some(_), Some(_)) => Err(config_error(format!(
            "`{key}_env` and `{key}_file` are both set: keep one"
        ))),
        (Some(var), None) => match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => Ok(Some(Secret::new(v.trim().to_string()))),
            _ => Err(config_error(format!(
                "`{key}_env` names the environment variable {var}, which is not set or empty \
                 (cron runs jobs with a bare environment: export it in the crontab, or use `{key}_file`)"
            ))),
        },
        (None, Some(f)) => {
            let path = resolve_path(root, f);
            let meta = std::fs::metadata(&path).map_err(|e| {
                config_error(format!(
                    "`{key}_file`: cannot read secret file {}: {e}",
                    path.display()
                ))
            })?;
            if meta.permissions().mode() & 0o077 != 0 {
                log::warn!(
                    "secret file {} (`{key}_file`) is readable by group or others: run chmod 600 {}",
                    path.display(),
                    path.display()
                );
            }
            let text = std::fs::read_to_string(&path).map_err(|e| {
                config_error(format!(
                    "`{key}_file`: cannot read secret file {}: {e}",
                    path.display()
                ))
            })?;
            let v = text.trim_end_matches(['\n', '\r']).to_string();
            if v.trim().is_empty() {
                return Err(config_error(format!(
                    "`{key}_file`: secret file {} is empty",
                    path.display()
                )));
            }
            Ok(Some(Secret::new(v)))
        }
        (None, None) => Ok(None),
    }
}

/// Resolve a configured path: `~/x` against `$HOME`, relative paths against the root.
pub fn resolve_path(root: &Path, p: &Path) -> PathBuf {
    if let Ok(rest) = p.strip_prefix("~")
        && let Some(home) = std::env::var_os("HOME")
    {
        return PathBuf::from(home).join(rest);
    }
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        root.join(p)
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

    #[test]
    fn secret_from_env_and_file() {
        let d = tempfile::tempdir().unwrap();
        let err = resolve_secret(
            "x.password",
            Some("AGENT_JOBS_TEST_UNSET_VAR"),
            None,
            d.path(),
        )
        .unwrap_err();
        assert_eq!(code_of(&err), Exit::Config);
        assert!(err.to_string().contains("AGENT_JOBS_TEST_UNSET_VAR"));
        let err =
            resolve_secret("x.password", None, Some(Path::new("nope.txt")), d.path()).unwrap_err();
        assert!(err.to_string().contains("x.password_file"), "{err}");
        std::fs::write(d.path().join("s.txt"), "pa55word-xyz\n").unwrap();
        let s = resolve_secret("x.password", None, Some(Path::new("s.txt")), d.path())
            .unwrap()
            .unwrap();
        assert_eq!(s.expose(), "pa55word-xyz");
        assert_eq!(format!("{s:?}"), "Secret([REDACTED])");
    }
}

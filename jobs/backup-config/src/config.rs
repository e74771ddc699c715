//! The `backup-config` section of config.json: which files to watch, how to validate each,
//! where snapshots go and how many to keep, and the gateway's databases. Checked in two stages:
//! serde (unknown keys, types), then [`validate`] for what serde cannot express (ranges,
//! names, places).

use anyhow::Result;
use common::{Paths, config_error};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// How a file is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// JSON5: comments, trailing commas, unquoted keys (the gateway's format).
    Json5,
    /// Strict JSON (RFC 8259).
    Json,
}

/// A gateway feature: `auto` (on when it applies and the gateway is there), `on`, `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Toggle {
    #[default]
    Auto,
    On,
    Off,
}

/// One watched file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileConfig {
    /// The file (`~` and root-relative paths allowed).
    pub path: PathBuf,
    /// Name of its snapshot directory under `backups_dir` [default: the file name].
    pub name: Option<String>,
    /// `json5` or `json`.
    pub format: Format,
    /// Dotted key paths that must be present and not null (default: `gateway.mode`, without
    /// which the gateway refuses to start).
    pub required_keys: Vec<String>,
    /// Whether this file is the gateway's config: then the gateway's own validator runs on each
    /// new version and the gateway's silent rollbacks of it are watched. `auto`: when its path
    /// is the `gateway` section's config path.
    pub gateway_checks: Toggle,
    /// Optional external validator (argv, no shell); `{file}` is replaced by the path.
    /// Exit 0 = valid.
    pub validator: Option<Vec<String>>,
    /// Seconds before the validator is killed (then the file counts as unchecked, not invalid).
    pub validator_timeout_secs: u64,
    /// A new valid version smaller than this fraction of the last good one is suspicious.
    pub min_size_ratio: f64,
}

impl Default for FileConfig {
    fn default() -> Self {
        FileConfig {
            path: PathBuf::from("~/.openclaw/openclaw.json"),
            name: None,
            format: Format::Json5,
            required_keys: vec!["gateway.mode".into()],
            gateway_checks: Toggle::Auto,
            validator: None,
            validator_timeout_secs: 30,
            min_size_ratio: 0.5,
        }
    }
}

impl FileConfig {
    /// The snapshot directory name (and the name used in commands and alerts).
    pub fn name(&self) -> String {
        match &self.name {
            Some(n) => n.clone(),
            None => self
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "config".into()),
        }
    }

    /// A fingerprint of the validation settings: a cached verdict is reused only while it
    /// is unchanged.
    pub fn validation_key(&self) -> String {
        format!(
            "{:?}|{:?}|{:?}|{}|{:?}",
            self.format,
            self.required_keys,
            self.validator,
            self.min_size_ratio,
            self.gateway_checks
        )
    }
}

/// The job's section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Files to watch, each with its own validation settings.
    pub files: Vec<FileConfig>,
    /// Where snapshots live (one sub-directory per file).
    pub backups_dir: PathBuf,
    /// Keep the last N distinct versions.
    pub keep_last: usize,
    /// Keep the newest version of each of the last D days.
    pub keep_daily_days: u32,
    /// Keep the newest version of each of the last W weeks.
    pub keep_weekly_weeks: u32,
    /// Restore the last good version automatically when a file stays invalid.
    pub auto_restore: bool,
    /// Consecutive invalid runs before an automatic restore.
    pub auto_restore_after_runs: u32,
    /// Substrings (case-insensitive) of key names whose string values `diff` masks.
    pub mask_keys: Vec<String>,
    /// Snapshots of the gateway's SQLite databases and the cron-jobs check.
    pub gateway_state: GatewayStateConfig,
}

/// `backup-config.gateway_state`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayStateConfig {
    /// `auto`: when the gateway's database exists; `on`: a failure fails the run; `off`.
    pub enabled: Toggle,
    /// The snapshot repositories (`<dir>/global/`, `<dir>/agent-<id>/`).
    pub dir: PathBuf,
    /// Hours between two snapshots of one database (0: every run).
    pub min_interval_hours: u32,
    /// Snapshots kept per database.
    pub keep_last: usize,
    /// Also snapshot each agent's own database (`openclaw-agent.sqlite`) when it exists.
    pub agents: bool,
    /// List the gateway's cron jobs each run and alert when some vanish.
    pub cron_check: bool,
}

impl Default for GatewayStateConfig {
    fn default() -> Self {
        GatewayStateConfig {
            enabled: Toggle::Auto,
            dir: PathBuf::from("backups/gateway-sqlite"),
            min_interval_hours: 24,
            keep_last: 7,
            agents: true,
            cron_check: true,
        }
    }
}

/// Largest `keep_last`, `keep_daily_days`, `keep_weekly_weeks`, `auto_restore_after_runs`.
pub const MAX_KEEP: u64 = 100_000;
/// Largest `validator_timeout_secs`.
pub const MAX_VALIDATOR_TIMEOUT_SECS: u64 = 3600;
/// Largest `gateway_state.min_interval_hours` (a year).
pub const MAX_INTERVAL_HOURS: u32 = 8760;

impl Default for Config {
    fn default() -> Self {
        Config {
            files: vec![FileConfig::default()],
            backups_dir: PathBuf::from("backups"),
            keep_last: 20,
            keep_daily_days: 14,
            keep_weekly_weeks: 8,
            auto_restore: false,
            auto_restore_after_runs: 3,
            mask_keys: ["token", "password", "passwd", "secret", "key", "credential"]
                .map(String::from)
                .to_vec(),
            gateway_state: GatewayStateConfig::default(),
        }
    }
}

impl Config {
    /// The snapshot directory of one file.
    pub fn snapshot_dir(&self, paths: &Paths, fc: &FileConfig) -> PathBuf {
        paths.resolve(&self.backups_dir).join(fc.name())
    }
    /// Where the content a restore replaced is kept: `<snapshot dir>/replaced/`.
    pub fn replaced_dir(&self, paths: &Paths, fc: &FileConfig) -> PathBuf {
        self.snapshot_dir(paths, fc).join("replaced")
    }
    /// Where the content the gateway rejected in a rollback is kept: `<snapshot dir>/rejected/`.
    pub fn rejected_dir(&self, paths: &Paths, fc: &FileConfig) -> PathBuf {
        self.snapshot_dir(paths, fc).join("rejected")
    }
}

/// Checks serde cannot express; errors name the key (exit 78).
pub fn validate(cfg: &Config, paths: &Paths) -> Result<()> {
    let file = paths.config.display().to_string();
    let key = |k: &str| format!("{file}: `backup-config.{k}`");
    if cfg.files.is_empty() {
        return Err(config_error(format!(
            "{}: list at least one file to watch",
            key("files")
        )));
    }
    validate_ranges(cfg, &key)?;
    let mut names = BTreeSet::new();
    for (i, fc) in cfg.files.iter().enumerate() {
        let k = |f: &str| key(&format!("files[{i}].{f}"));
        validate_file(cfg, fc, paths, &k)?;
        let name = fc.name();
        if !names.insert(name.clone()) {
            return Err(config_error(format!(
                "{}: two files share the name `{name}`: give one of them a distinct `name`",
                k("name")
            )));
        }
        let backups = paths.resolve(&cfg.backups_dir);
        let live = paths.resolve(&fc.path);
        let live_dir = live.parent().unwrap_or(Path::new("/"));
        if same_dir(live_dir, &backups) || same_dir(live_dir, &backups.join(&name)) {
            return Err(config_error(format!(
                "{}: snapshots of {} would sit next to it, among the gateway's own files: \
                 choose a directory elsewhere",
                key("backups_dir"),
                live.display()
            )));
        }
    }
    Ok(())
}

/// Every numeric key in its documented range.
fn validate_ranges(cfg: &Config, key: &dyn Fn(&str) -> String) -> Result<()> {
    let range = |k: &str, v: u64, lo: u64, hi: u64| -> Result<()> {
        if (lo..=hi).contains(&v) {
            Ok(())
        } else {
            Err(config_error(format!(
                "{}: {v} is out of range {lo}..={hi}",
                key(k)
            )))
        }
    };
    if cfg.keep_last == 0 {
        return Err(config_error(format!(
            "{}: must be at least 1 (the newest version is always kept)",
            key("keep_last")
        )));
    }
    range("keep_last", cfg.keep_last as u64, 1, MAX_KEEP)?;
    range(
        "keep_daily_days",
        u64::from(cfg.keep_daily_days),
        0,
        MAX_KEEP,
    )?;
    range(
        "keep_weekly_weeks",
        u64::from(cfg.keep_weekly_weeks),
        0,
        MAX_KEEP,
    )?;
    if cfg.auto_restore && cfg.auto_restore_after_runs == 0 {
        return Err(config_error(format!(
            "{}: must be at least 1",
            key("auto_restore_after_runs")
        )));
    }
    range(
        "auto_restore_after_runs",
        u64::from(cfg.auto_restore_after_runs),
        0,
        MAX_KEEP,
    )?;
    let gs = &cfg.gateway_state;
    range("gateway_state.keep_last", gs.keep_last as u64, 1, MAX_KEEP)?;
    range(
        "gateway_state.min_interval_hours",
        u64::from(gs.min_interval_hours),
        0,
        u64::from(MAX_INTERVAL_HOURS),
    )?;
    if gs.dir.as_os_str().is_empty() {
        return Err(config_error(format!(
            "{}: is empty",
            key("gateway_state.dir")
        )));
    }
    Ok(())
}

/// One watched file's keys.
fn validate_file(
    cfg: &Config,
    fc: &FileConfig,
    paths: &Paths,
    k: &dyn Fn(&str) -> String,
) -> Result<()> {
    if fc.path.as_os_str().is_empty() {
        return Err(config_error(format!("{}: is empty", k("path"))));
    }
    let name = fc.name();
    if name.is_empty()
        || name.starts_with('.')
        || name.contains('/')
        || name.contains(".bak")
        || name.contains('\0')
    {
        return Err(config_error(format!(
            "{}: `{name}` cannot be a snapshot directory name (no `/`, no leading `.`, no `.bak`: \
             that is the gateway's backup ring's name); set `name`",
            k("name")
        )));
    }
    if !(fc.min_size_ratio >= 0.0 && fc.min_size_ratio <= 1.0) {
        return Err(config_error(format!(
            "{}: must be between 0 and 1 (0 disables the size-drop guard)",
            k("min_size_ratio")
        )));
    }
    if let Some(v) = &fc.validator
        && (v.is_empty() || v[0].is_empty())
    {
        return Err(config_error(format!(
            "{}: must name a program, e.g. [\"jq\", \"-e\", \".\", \"{{file}}\"]",
            k("validator")
        )));
    }
    if !(1..=MAX_VALIDATOR_TIMEOUT_SECS).contains(&fc.validator_timeout_secs) {
        return Err(config_error(format!(
            "{}: {} is out of range 1..={MAX_VALIDATOR_TIMEOUT_SECS}",
            k("validator_timeout_secs"),
            fc.validator_timeout_secs
        )));
    }
    if let Some(rk) = fc
        .required_keys
        .iter()
        .find(|rk| rk.is_empty() || rk.split('.').any(str::is_empty))
    {
        return Err(config_error(format!(
            "{}: `{rk}` is not a dotted key path such as `gateway.mode`",
            k("required_keys")
        )));
    }
    let backups = paths.resolve(&cfg.backups_dir);
    if same_dir(&backups.join(&name), &paths.resolve(&cfg.gateway_state.dir)) {
        return Err(config_error(format!(
            "{}: `{name}` is also where `gateway_state.dir` keeps the gateway's databases: set `name`",
            k("name")
        )));
    }
    Ok(())
}

/// Same directory: same device and inode when both exist (catches symlinks), else same path.
fn same_dir(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => a == b,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn paths(root: &Path) -> Paths {
        Paths::new(root.to_path_buf(), None)
    }

    #[test]
    fn defaults_watch_the_gateway_config() {
        let c = Config::default();
        assert_eq!(c.files.len(), 1);
        assert_eq!(c.files[0].name(), "openclaw.json");
        assert_eq!(c.files[0].required_keys, ["gateway.mode"]);
        assert_eq!(
            (c.keep_last, c.keep_daily_days, c.keep_weekly_weeks),
            (20, 14, 8)
        );
        assert!(!c.auto_restore);
    }

    #[test]
    fn rejects_backups_next_to_the_file_and_bak_names() {
        let d = tempfile::tempdir().unwrap();
        let p = paths(d.path());
        let mut c = Config::default();
        c.files[0].path = d.path().join("gw/openclaw.json");
        c.backups_dir = PathBuf::from("gw");
        let e = validate(&c, &p).unwrap_err();
        assert!(e.to_string().contains("backups_dir"), "{e}");

        let mut c = Config::default();
        c.files[0].name = Some("openclaw.json.bak.9".into());
        let e = validate(&c, &p).unwrap_err();
        assert!(e.to_string().contains("files[0].name"), "{e}");
    }

    #[test]
    fn rejects_duplicate_names_and_bad_ratio() {
        let d = tempfile::tempdir().unwrap();
        let p = paths(d.path());
        let mut c = Config::default();
        c.files.push(FileConfig {
            path: "/other/openclaw.json".into(),
            ..Default::default()
        });
        let e = validate(&c, &p).unwrap_err();
        assert!(e.to_string().contains("share the name"), "{e}");

        let mut c = Config::default();
        c.files[0].min_size_ratio = 1.5;
        let e = validate(&c, &p).unwrap_err();
        assert!(e.to_string().contains("min_size_ratio"), "{e}");
        assert!(validate(&Config::default(), &p).is_ok());
    }
}

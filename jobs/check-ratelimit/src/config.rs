//! The `check-ratelimit` section of config.json: where the gateway writes its logs, what counts
//! as a rate limit, when the circuit opens and closes, and what to run when it does.

use anyhow::Result;
use common::Paths;
use serde::Deserialize;

/// `check-ratelimit` in config.json. Every key has a default (see docs/jobs/check-ratelimit.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Globs of gateway log files (JSON lines or plain text). Must also match rotated names.
    pub logs: Vec<String>,
    /// Optional command whose stdout is scanned every run (argv, no shell). `{since}` in an
    /// argument is replaced by the last time seen (`YYYY-MM-DD HH:MM:SS UTC`), `{since_rfc3339}`
    /// by the same time in RFC 3339.
    pub command: Option<Vec<String>>,
    /// Timeout of `command`, seconds.
    pub command_timeout_secs: u64,
    /// Globs of the gateway's cooldown files (`auth-profiles.json`); their future
    /// `usageStats.*.cooldownUntil` values are taken as the expected reset.
    pub cooldown_files: Vec<String>,
    /// Rate-limit matches within `window_secs` that open the circuit.
    pub threshold: u32,
    /// Quota/billing matches within `window_secs` that open a quota circuit.
    pub quota_threshold: u32,
    /// Sliding window, seconds, ending at the time of the run.
    pub window_secs: u64,
    /// Without a reset time from the gateway, close this long after the last match.
    pub cool_off_secs: u64,
    /// Re-alert while the circuit stays open, every this many seconds (0 = never).
    pub reminder_secs: u64,
    /// Commands run once when the circuit opens (argv lists, no shell).
    pub on_open: Vec<Vec<String>>,
    /// Commands run once when the circuit closes.
    pub on_close: Vec<Vec<String>>,
    /// Timeout of one `on_open`/`on_close` command, seconds.
    pub hook_timeout_secs: u64,
    /// Extra literal phrases that mean "rate-limited" (case-sensitive).
    pub include: Vec<String>,
    /// Extra literal phrases that mean "quota or billing exhausted" (case-sensitive).
    pub quota_include: Vec<String>,
    /// Extra literal phrases whose lines are never counted (case-sensitive).
    pub exclude: Vec<String>,
    /// Lines longer than this are skipped and counted as oversized.
    pub max_line_bytes: usize,
    /// Closed incidents kept in state for publish-report.
    pub history_len: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            logs: vec!["/tmp/openclaw/openclaw-*.log".into()],
            command: None,
            command_timeout_secs: 30,
            cooldown_files: Vec::new(),
            threshold: 3,
            quota_threshold: 1,
            window_secs: 300,
            cool_off_secs: 900,
            reminder_secs: 0,
            on_open: Vec::new(),
            on_close: Vec::new(),
            hook_timeout_secs: 60,
            include: Vec::new(),
            quota_include: Vec::new(),
            exclude: Vec::new(),
            max_line_bytes: 1024 * 1024,
            history_len: 50,
        }
    }
}

fn bad(paths: &Paths, key: &str, what: &str) -> anyhow::Error {
    common::config_error(format!(
        "{}: `check-ratelimit.{key}`: {what}",
        paths.config.display()
    ))
}

/// Checks serde cannot express (run before the lock is taken).
pub fn validate(cfg: &Config, paths: &Paths) -> Result<()> {
    if cfg.threshold == 0 {
        return Err(bad(paths, "threshold", "must be at least 1"));
    }
    if cfg.quota_threshold == 0 {
        return Err(bad(paths, "quota_threshold", "must be at least 1"));
    }
    if cfg.window_secs == 0 {
        return Err(bad(paths, "window_secs", "must be at least 1"));
    }
    if cfg.max_line_bytes < 1024 || cfg.max_line_bytes > 64 * 1024 * 1024 {
        return Err(bad(
            paths,
            "max_line_bytes",
            "must be between 1024 and 67108864",
        ));
    }
    if cfg.history_len == 0 {
        return Err(bad(paths, "history_len", "must be at least 1"));
    }
    for (i, g) in cfg.logs.iter().chain(&cfg.cooldown_files).enumerate() {
        let key = if i < cfg.logs.len() {
            format!("logs[{i}]")
        } else {
            format!("cooldown_files[{}]", i - cfg.logs.len())
        };
        if g.trim().is_empty() {
            return Err(bad(paths, &key, "empty glob"));
        }
        let resolved = paths.resolve(std::path::Path::new(g));
        if let Err(e) = glob::Pattern::new(&resolved.to_string_lossy()) {
            return Err(bad(paths, &key, &format!("not a valid glob ({e})")));
        }
    }
    for (name, list) in [("on_open", &cfg.on_open), ("on_close", &cfg.on_close)] {
        for (i, argv) in list.iter().enumerate() {
            if argv.first().is_none_or(|p| p.trim().is_empty()) {
                return Err(bad(
                    paths,
                    &format!("{name}[{i}]"),
                    "must be an argv list naming a program, e.g. [\"systemctl\", \"--user\", \"stop\", \"openclaw-subagents\"]",
                ));
            }
        }
    }
    if let Some(argv) = &cfg.command
        && argv.first().is_none_or(|p| p.trim().is_empty())
    {
        return Err(bad(
            paths,
            "command",
            "must be an argv list naming a program, e.g. [\"journalctl\", \"--user\", \"-u\", \"openclaw-gateway\", \"-o\", \"cat\", \"--since\", \"{since}\"]",
        ));
    }
    for (name, list) in [
        ("include", &cfg.include),
        ("quota_include", &cfg.quota_include),
        ("exclude", &cfg.exclude),
    ] {
        for (i, p) in list.iter().enumerate() {
            if p.len() < 4 {
                return Err(bad(
                    paths,
                    &format!("{name}[{i}]"),
                    "phrases must be at least 4 bytes long (a bare \"429\" also matches ids and durations)",
                ));
            }
        }
    }
    Ok(())
}

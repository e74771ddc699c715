//! The `watch-gateway` section of config.json: how often and how long to probe, when a probe
//! window counts as failed, the commands of each ladder step, the restart budget, the
//! diagnosis. Checked in two stages: serde (unknown keys, types), then [`validate`].

use anyhow::Result;
use common::Paths;
use serde::Deserialize;

/// `watch-gateway.stuck`: runs that have been active too long.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StuckConfig {
    pub enabled: bool,
    /// A run active longer than this is reported (once per session).
    pub threshold_secs: u64,
    /// Look at most this often (`openclaw sessions --json` takes 2–5 s).
    pub every_secs: u64,
    /// Optional command to end a stuck run (argv, no shell; `{session_id}` and `{key}` are
    /// replaced). Never run unless set.
    pub kill_command: Option<Vec<String>>,
}

impl Default for StuckConfig {
    fn default() -> Self {
        StuckConfig {
            enabled: false,
            threshold_secs: 3600,
            every_secs: 600,
            kill_command: None,
        }
    }
}

/// `watch-gateway` in config.json. Every key has a default (docs/jobs/watch-gateway.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Seconds between probes under `--watch`.
    pub probe_interval_secs: f64,
    /// Timeout of each HTTP probe (`/healthz`, `/readyz`), seconds.
    pub probe_timeout_secs: f64,
    /// Also ask `openclaw gateway health --json` (1–3 s of CPU) when HTTP answers.
    pub cli_health: bool,
    /// A failed probe window: failing this long takes the next ladder step.
    pub window_secs: u64,
    /// After a (re)start, no step for this long unless the started process died.
    pub startup_grace_secs: u64,
    /// Live but `/readyz` red this long counts as failed.
    pub not_ready_grace_secs: u64,
    /// `/readyz` `gateway-draining` this long counts as failed (the gateway drains up to 300 s).
    pub drain_grace_secs: u64,
    /// Flapping: this many gateway starts within `flap_window_secs`.
    pub flap_restarts: u32,
    pub flap_window_secs: u64,
    /// At most this many automatic restarts per hour; past it, halt until `resume`.
    pub max_restarts_per_hour: u32,
    /// Step 1 when the gateway answers HTTP (argv; a first element `openclaw` is the
    /// `gateway` section's CLI). `[]` together with `start_command: []`: watch-gateway never
    /// restarts the gateway, a supervisor does (the kubelet on Kubernetes).
    pub restart_command: Vec<String>,
    /// Step 1 when it does not: start it (`openclaw gateway run`) or a service manager's restart.
    pub start_command: Vec<String>,
    /// `start_command` is the gateway itself: launch it detached (own process group, output
    /// to `state/watch-gateway/console.out`) instead of waiting for it to exit.
    pub start_detached: bool,
    /// Before starting, stop a gateway process that runs but does not answer HTTP.
    pub stop_hung: bool,
    /// Seconds between SIGTERM and SIGKILL for a hung gateway.
    pub stop_timeout_secs: u64,
    /// Timeout of one ladder command (restart, service manager, restore), seconds.
    pub command_timeout_secs: u64,
    /// Step 2: backup-config's restore of the last good config (argv; a bare `backup-config`
    /// runs the binary next to this one, on this suite root).
    pub restore_command: Vec<String>,
    /// For the diagnostics bundle: the config against its last snapshot (secrets masked);
    /// empty = skipped.
    pub diff_command: Vec<String>,
    /// Run `openclaw doctor --lint --json` for the bundle.
    pub doctor: bool,
    /// Gateway log lines in the bundle.
    pub log_tail_lines: usize,
    /// Diagnostics bundles kept under `state/watch-gateway/bundles/`.
    pub bundles_kept: usize,
    /// The model asked for a diagnosis (shared model client settings).
    pub model: model::ModelConfig,
    /// Longest bundle text sent to the model, characters.
    pub diagnosis_max_chars: usize,
    /// Closed incidents kept in state (and in the facts).
    pub history_len: usize,
    pub stuck: StuckConfig,
}

impl Default for Config {
    fn default() -> Self {
        let argv = |a: &[&str]| a.iter().map(|s| s.to_string()).collect();
        Config {
            probe_interval_secs: 5.0,
            probe_timeout_secs: 3.0,
            cli_health: false,
            window_secs: 30,
            startup_grace_secs: 90,
            not_ready_grace_secs: 300,
            drain_grace_secs: 360,
            flap_restarts: 3,
            flap_window_secs: 900,
            max_restarts_per_hour: 3,
            restart_command: argv(&["openclaw", "gateway", "restart", "--safe", "--json"]),
            start_command: argv(&["openclaw", "gateway", "run"]),
            start_detached: true,
            stop_hung: true,
            stop_timeout_secs: 30,
            command_timeout_secs: 120,
            restore_command: argv(&["backup-config", "restore"]),
            diff_command: argv(&["backup-config", "diff"]),
            doctor: true,
            log_tail_lines: 200,
            bundles_kept: 10,
            model: model::ModelConfig::default(),
            diagnosis_max_chars: 24_000,
            history_len: 20,
            stuck: StuckConfig::default(),
        }
    }
}

impl Config {
    /// Whether watch-gateway restarts the gateway: not when `restart_command` and
    /// `start_command` are both `[]` (a supervisor does: the kubelet on Kubernetes).
    pub fn restarts(&self) -> bool {
        !(self.restart_command.is_empty() && self.start_command.is_empty())
    }
}

fn bad(paths: &Paths, key: &str, what: &str) -> anyhow::Error {
    common::config_error(format!(
        "{}: `watch-gateway.{key}`: {what}",
        paths.config.display()
    ))
}

fn range_u64(paths: &Paths, key: &str, v: u64, lo: u64, hi: u64) -> Result<()> {
    if (lo..=hi).contains(&v) {
        Ok(())
    } else {
        Err(bad(paths, key, &format!("{v} is out of range {lo}..={hi}")))
    }
}

fn range_f64(paths: &Paths, key: &str, v: f64, lo: f64, hi: f64) -> Result<()> {
    if v.is_finite() && (lo..=hi).contains(&v) {
        Ok(())
    } else {
        Err(bad(paths, key, &format!("{v} is out of range {lo}..={hi}")))
    }
}

fn argv(paths: &Paths, key: &str, v: &[String], example: &str) -> Result<()> {
    if v.first().is_none_or(|p| p.trim().is_empty()) {
        return Err(bad(
            paths,
            key,
            &format!("must be an argv list naming a program, e.g. {example}"),
        ));
    }
    Ok(())
}

/// Checks serde cannot express (run before the lock is taken).
pub fn validate(cfg: &Config, paths: &Paths) -> Result<()> {
    range_f64(
        paths,
        "probe_interval_secs",
        cfg.probe_interval_secs,
        0.2,
        60.0,
    )?;
    range_f64(
        paths,
        "probe_timeout_secs",
        cfg.probe_timeout_secs,
        0.1,
        30.0,
    )?;
    range_u64(paths, "window_secs", cfg.window_secs, 1, 3600)?;
    range_u64(paths, "startup_grace_secs", cfg.startup_grace_secs, 0, 3600)?;
    range_u64(
        paths,
        "not_ready_grace_secs",
        cfg.not_ready_grace_secs,
        1,
        86400,
    )?;
    range_u64(paths, "drain_grace_secs", cfg.drain_grace_secs, 1, 86400)?;
    range_u64(paths, "flap_restarts", u64::from(cfg.flap_restarts), 2, 100)?;
    range_u64(paths, "flap_window_secs", cfg.flap_window_secs, 60, 86400)?;
    range_u64(
        paths,
        "max_restarts_per_hour",
        u64::from(cfg.max_restarts_per_hour),
        1,
        60,
    )?;
    range_u64(paths, "stop_timeout_secs", cfg.stop_timeout_secs, 1, 600)?;
    range_u64(
        paths,
        "command_timeout_secs",
        cfg.command_timeout_secs,
        1,
        3600,
    )?;
    range_u64(
        paths,
        "log_tail_lines",
        cfg.log_tail_lines as u64,
        0,
        10_000,
    )?;
    range_u64(paths, "bundles_kept", cfg.bundles_kept as u64, 1, 1000)?;
    range_u64(
        paths,
        "diagnosis_max_chars",
        cfg.diagnosis_max_chars as u64,
        1000,
        1_000_000,
    )?;
    range_u64(paths, "history_len", cfg.history_len as u64, 1, 1000)?;
    if cfg.restarts() {
        argv(
            paths,
            "restart_command",
            &cfg.restart_command,
            "[\"openclaw\", \"gateway\", \"restart\", \"--safe\", \"--json\"] (or [] with `start_command: []` when a supervisor such as the kubelet restarts the gateway)",
        )?;
        argv(
            paths,
            "start_command",
            &cfg.start_command,
            "[\"openclaw\", \"gateway\", \"run\"] or [\"systemctl\", \"--user\", \"restart\", \"openclaw-gateway\"] (or [] with `restart_command: []` when a supervisor such as the kubelet restarts the gateway)",
        )?;
    }
    argv(
        paths,
        "restore_command",
        &cfg.restore_command,
        "[\"backup-config\", \"restore\"]",
    )?;
    if !cfg.diff_command.is_empty() {
        argv(
            paths,
            "diff_command",
            &cfg.diff_command,
            "[\"backup-config\", \"diff\"] (or [] to skip)",
        )?;
    }
    cfg.model
        .validate("watch-gateway.model")
        .map_err(|e| bad(paths, "model", &common::exit::one_line(&e)))?;
    let s = &cfg.stuck;
    range_u64(
        paths,
        "stuck.threshold_secs",
        s.threshold_secs,
        60,
        7 * 86400,
    )?;
    range_u64(paths, "stuck.every_secs", s.every_secs, 10, 86400)?;
    if let Some(k) = &s.kill_command {
        argv(
            paths,
            "stuck.kill_command",
            k,
            "[\"my-kill-run\", \"{session_id}\"]",
        )?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn paths() -> Paths {
        Paths::new("/suite".into(), None)
    }

    #[test]
    fn defaults_are_valid_and_ranges_name_the_key() {
        validate(&Config::default(), &paths()).unwrap();
        let c = Config {
            window_secs: 0,
            ..Default::default()
        };
        let e = validate(&c, &paths()).unwrap_err().to_string();
        assert!(
            e.contains("watch-gateway.window_secs") && e.contains("0"),
            "{e}"
        );
        let c = Config {
            probe_timeout_secs: f64::NAN,
            ..Default::default()
        };
        assert!(validate(&c, &paths()).is_err());
        let c = Config {
            start_command: vec![" ".into()],
            ..Default::default()
        };
        let e = validate(&c, &paths()).unwrap_err().to_string();
        assert!(e.contains("start_command") && e.contains("argv"), "{e}");
        let c = Config {
            start_command: vec![],
            ..Default::default()
        };
        let e = validate(&c, &paths()).unwrap_err().to_string();
        assert!(e.contains("start_command") && e.contains("kubelet"), "{e}");
        let c = Config {
            start_command: vec![],
            restart_command: vec![],
            ..Default::default()
        };
        validate(&c, &paths()).unwrap();
        assert!(!c.restarts() && Config::default().restarts());
        let c = Config {
            max_restarts_per_hour: 0,
            ..Default::default()
        };
        assert!(validate(&c, &paths()).is_err());
    }

    #[test]
    fn the_example_parses() {
        let text = include_str!("../config.example.json");
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        let c: Config = serde_json::from_value(v["watch-gateway"].clone()).unwrap();
        validate(&c, &paths()).unwrap();
    }
}

//! The `check-ratelimit` section of config.json: where the gateway's records are, when the
//! circuit opens and closes, what to run when it does, and the cost watch.
//!
//! The defaults are tuned to OpenClaw 2026.9.6 (docs/jobs/check-ratelimit.md, "Why these
//! defaults"): the gateway retries a rate-limited request itself up to 9 times (10 refusals),
//! puts the auth profile in cooldown (30 s, 1, 2, 4 min … for rate limits), and does not retry
//! long-window limits at all.

use anyhow::Result;
use common::Paths;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

/// `check-ratelimit` in config.json. Every key has a default (see docs/jobs/check-ratelimit.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Globs of the gateway's log files (JSON lines or console text). Empty: the gateway's own
    /// location (`logging.file` of its config, else its default directory and the fallback
    /// directory, for the profile in `gateway.profile`).
    pub logs: Vec<String>,
    /// Optional command whose stdout (console text) is read every run (argv, no shell).
    /// `{since}` → the cursor as `YYYY-MM-DD HH:MM:SS UTC`, `{since_rfc3339}` → RFC 3339.
    pub command: Option<Vec<String>>,
    /// Timeout of `command`, seconds.
    pub command_timeout_secs: u64,
    /// Ask `openclaw models status --json` (through `gateway.openclaw`) for the gateway's
    /// cooldowns while refusals are in the window or the circuit is open.
    pub models_status: bool,
    /// Timeout of one `models status` call, seconds.
    pub models_status_timeout_secs: u64,
    /// Globs of legacy cooldown files (`auth-profiles.json`, `auth-state.json`).
    pub cooldown_files: Vec<String>,
    /// Refused requests (rate limit) within `window_secs` that open the circuit.
    pub threshold: u32,
    /// The gateway's decisions (a cooldown or disabled window, a run that gave up on the
    /// model) within `window_secs` that open the circuit.
    pub cooldown_threshold: u32,
    /// Quota/billing refusals within `window_secs` that open a `quota` circuit.
    pub quota_threshold: u32,
    /// Overload refusals within `window_secs` that open an `overload` circuit (none: overload
    /// is counted and reported but never opens it).
    pub overload_threshold: Option<u32>,
    /// Sliding window, seconds, ending at the time of the run.
    pub window_secs: u64,
    /// Without a reset time from the gateway, close this long after the last signal.
    pub cool_off_secs: u64,
    /// After a long-window limit (daily/weekly/monthly, current quota…), stay open at least
    /// this long after the last signal, whatever the gateway's own cooldown says.
    pub long_window_cool_off_secs: u64,
    /// Re-alert while the circuit stays open, every this many seconds (0 = never).
    pub reminder_secs: u64,
    /// Commands run once when the circuit opens: argv lists, or `{"argv": [...],
    /// "idempotent": true}` for a command that may safely run again after an interrupted run.
    pub on_open: Vec<Hook>,
    /// Commands run once when the circuit closes (same forms).
    pub on_close: Vec<Hook>,
    /// Timeout of one `on_open`/`on_close` command, seconds.
    pub hook_timeout_secs: u64,
    /// Extra phrases meaning "rate-limited" in a provider's message (case-insensitive).
    pub include: Vec<String>,
    /// Extra phrases meaning "quota or billing exhausted" (case-insensitive).
    pub quota_include: Vec<String>,
    /// Lines containing one of these phrases are never counted (case-insensitive).
    pub exclude: Vec<String>,
    /// Lines longer than this are skipped and counted as oversized.
    pub max_line_bytes: usize,
    /// Closed incidents kept in state for publish-report.
    pub history_len: usize,
    /// Model calls in one hour, with no turn a person or a job started, that make an idle-burn
    /// episode (0 = off). Needs the gateway's `logging.level` at `debug`.
    pub idle_calls_per_hour: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            logs: Vec::new(),
            command: None,
            command_timeout_secs: 30,
            models_status: true,
            models_status_timeout_secs: 30,
            cooldown_files: Vec::new(),
            threshold: 10,
            cooldown_threshold: 1,
            quota_threshold: 1,
            overload_threshold: None,
            window_secs: 900,
            cool_off_secs: 600,
            long_window_cool_off_secs: 3600,
            reminder_secs: 0,
            on_open: Vec::new(),
            on_close: Vec::new(),
            hook_timeout_secs: 60,
            include: Vec::new(),
            quota_include: Vec::new(),
            exclude: Vec::new(),
            max_line_bytes: 1024 * 1024,
            history_len: 50,
            idle_calls_per_hour: 60,
        }
    }
}

/// An `on_open` / `on_close` command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    pub argv: Vec<String>,
    /// Running it twice is harmless (stopping workers that are stopped): an outcome left
    /// unknown by a killed run is run again (at least once), and a failure is retried.
    pub idempotent: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HookObject {
    argv: Vec<String>,
    #[serde(default)]
    idempotent: bool,
}

impl<'de> Deserialize<'de> for Hook {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Hook, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Hook;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "an argv list such as [\"systemctl\", \"--user\", \"stop\", \"workers\"] or {\"argv\": [...], \"idempotent\": true}",
                )
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Hook, A::Error> {
                let argv = Vec::<String>::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                Ok(Hook {
                    argv,
                    idempotent: false,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Hook, A::Error> {
                let o = HookObject::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Hook {
                    argv: o.argv,
                    idempotent: o.idempotent,
                })
            }
        }
        d.deserialize_any(V)
    }
}

fn bad(paths: &Paths, key: &str, what: &str) -> anyhow::Error {
    common::config_error(format!(
        "{}: `check-ratelimit.{key}`: {what}",
        paths.config.display()
    ))
}

const DAY: u64 = 86_400;

/// Checks serde cannot express (run before the lock is taken, and by `--check-config`).
pub fn validate(cfg: &Config, paths: &Paths) -> Result<()> {
    let ranges: [(&str, u64, u64, u64); 12] = [
        ("threshold", cfg.threshold.into(), 1, 1_000_000),
        (
            "cooldown_threshold",
            cfg.cooldown_threshold.into(),
            1,
            1_000_000,
        ),
        ("quota_threshold", cfg.quota_threshold.into(), 1, 1_000_000),
        ("window_secs", cfg.window_secs, 1, 7 * DAY),
        ("cool_off_secs", cfg.cool_off_secs, 0, 7 * DAY),
        (
            "long_window_cool_off_secs",
            cfg.long_window_cool_off_secs,
            0,
            31 * DAY,
        ),
        ("reminder_secs", cfg.reminder_secs, 0, 31 * DAY),
        ("command_timeout_secs", cfg.command_timeout_secs, 1, 3600),
        (
            "models_status_timeout_secs",
            cfg.models_status_timeout_secs,
            1,
            600,
        ),
        ("hook_timeout_secs", cfg.hook_timeout_secs, 1, 3600),
        ("history_len", cfg.history_len as u64, 1, 10_000),
        ("idle_calls_per_hour", cfg.idle_calls_per_hour, 0, 1_000_000),
    ];
    for (key, v, lo, hi) in ranges {
        if !(lo..=hi).contains(&v) {
            return Err(bad(paths, key, &format!("{v} is out of range {lo}..={hi}")));
        }
    }
    if let Some(t) = cfg.overload_threshold
        && !(1..=1_000_000).contains(&t)
    {
        return Err(bad(
            paths,
            "overload_threshold",
            &format!("{t} is out of range 1..=1000000 (null: overload never opens the circuit)"),
        ));
    }
    if !(1024..=64 * 1024 * 1024).contains(&cfg.max_line_bytes) {
        return Err(bad(
            paths,
            "max_line_bytes",
            "must be between 1024 and 67108864",
        ));
    }
    validate_globs(cfg, paths)?;
    validate_commands(cfg, paths)?;
    for (name, list) in [
        ("include", &cfg.include),
        ("quota_include", &cfg.quota_include),
        ("exclude", &cfg.exclude),
    ] {
        for (i, p) in list.iter().enumerate() {
            if p.trim().len() < 4 {
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

fn validate_globs(cfg: &Config, paths: &Paths) -> Result<()> {
    let named = cfg
        .logs
        .iter()
        .enumerate()
        .map(|(i, g)| (format!("logs[{i}]"), g))
        .chain(
            cfg.cooldown_files
                .iter()
                .enumerate()
                .map(|(i, g)| (format!("cooldown_files[{i}]"), g)),
        );
    for (key, g) in named {
        if g.trim().is_empty() {
            return Err(bad(paths, &key, "empty glob"));
        }
        let resolved = paths.resolve(std::path::Path::new(g));
        if let Err(e) = glob::Pattern::new(&resolved.to_string_lossy()) {
            return Err(bad(paths, &key, &format!("not a valid glob ({e})")));
        }
    }
    Ok(())
}

fn validate_commands(cfg: &Config, paths: &Paths) -> Result<()> {
    for (name, list) in [("on_open", &cfg.on_open), ("on_close", &cfg.on_close)] {
        for (i, h) in list.iter().enumerate() {
            if h.argv.first().is_none_or(|p| p.trim().is_empty()) {
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
            "must be an argv list naming a program, e.g. [\"journalctl\", \"--user\", \"-u\", \"openclaw-gateway\", \"-o\", \"short-iso-precise\", \"--since\", \"{since}\"]",
        ));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hooks_as_lists_or_objects() {
        let c: Config = serde_json::from_str(
            r#"{"on_open": [["a", "b"], {"argv": ["c"], "idempotent": true}], "on_close": [{"argv": ["d"]}]}"#,
        )
        .unwrap();
        assert_eq!(
            c.on_open[0],
            Hook {
                argv: vec!["a".into(), "b".into()],
                idempotent: false
            }
        );
        assert!(c.on_open[1].idempotent);
        assert!(!c.on_close[0].idempotent);
        let e =
            serde_json::from_str::<Config>(r#"{"on_open": [{"argv": ["c"], "idempotant": true}]}"#)
                .unwrap_err();
        assert!(e.to_string().contains("idempotant"), "{e}");
        let e = serde_json::from_str::<Config>(r#"{"on_open": ["c"]}"#).unwrap_err();
        assert!(e.to_string().contains("argv list"), "{e}");
    }

    #[test]
    fn ranges_are_checked() {
        let paths = Paths::new("/suite".into(), None);
        for (k, v) in [
            ("threshold", serde_json::json!(0)),
            ("window_secs", serde_json::json!(0)),
            ("window_secs", serde_json::json!(99_999_999_999u64)),
            ("hook_timeout_secs", serde_json::json!(0)),
            ("overload_threshold", serde_json::json!(0)),
            ("history_len", serde_json::json!(0)),
        ] {
            let c: Config = serde_json::from_value(serde_json::json!({ k: v })).unwrap();
            let e = validate(&c, &paths).unwrap_err().to_string();
            assert!(e.contains(k), "{k}: {e}");
        }
        validate(&Config::default(), &paths).unwrap();
    }
}

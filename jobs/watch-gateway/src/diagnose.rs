//! Step 3: why does the gateway not come back? A diagnostics bundle (gathered here, written
//! with secrets redacted), then a diagnosis: the model's, else the rules' (known signatures),
//! else "see the bundle".
//!
//! The bundle: the incident and what was tried, the last probe, the gateway's lock and process,
//! who holds its port, the tail of its log file and of the console output of a gateway
//! watch-gateway launched, the newest stability bundle (`<state>/logs/stability/`, written on
//! fatal errors and failed lifecycle steps; verified against OpenClaw 2026.9.6, source
//! `diagnostic-stability-bundle-*.mjs`), `openclaw doctor --lint --json`, `openclaw config
//! validate --json`, the config against its last snapshot (backup-config's diff, secrets
//! masked), disk and memory.

use crate::data::{Incident, Probe};
use crate::gateway::{Env, tail_lines};
use crate::procfs;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What the rules look at, extracted from a bundle.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Signals {
    /// Console and log tails, doctor findings, validation issues: the text searched.
    pub text: String,
    pub port: Option<u16>,
    /// Listeners on the gateway's port: (pid, command).
    pub port_owners: Vec<(Option<u32>, Option<String>)>,
    /// The gateway's pid (lock file), to tell its own listener apart.
    pub gateway_pid: Option<u32>,
    /// `config validate --json` said invalid: its issues.
    pub config_invalid: Option<String>,
    /// `MemAvailable / MemTotal` in percent.
    pub mem_available_pct: Option<f64>,
    /// The fullest of the filesystems holding the gateway's state and the suite.
    pub disk_used_pct: Option<f64>,
}

/// Known signatures, in the order they are tried. Each: (name, phrases, explanation).
const SIGNATURES: &[(&str, &[&str], &str)] = &[
    (
        "config invalid",
        &[
            "Invalid config at",
            "Gateway start blocked",
            "JSON5 parse failed",
            "Config auto-restore from backup failed",
            "is not parseable and cannot be repaired",
        ],
        "the gateway's config does not load: restore the last good version (`backup-config restore`) or fix the key named above, then `watch-gateway resume`",
    ),
    (
        "out of memory",
        &[
            "JavaScript heap out of memory",
            "ENOMEM",
            "Out of memory",
            "out of memory",
            "oom-kill",
        ],
        "the gateway ran out of memory: free memory or raise the limit, then `watch-gateway resume`",
    ),
    (
        "disk full",
        &[
            "ENOSPC",
            "no space left on device",
            "No space left on device",
        ],
        "a disk is full: free space (logs, backups, the gateway's state), then `watch-gateway resume`",
    ),
    (
        "auth failure",
        &[
            "authentication_error",
            "invalid x-api-key",
            "Invalid API key",
            "Incorrect API key",
            "401 Unauthorized",
            "EACCES",
            "permission denied",
        ],
        "an authentication or permission failure: check the provider's API key and the files' owners and modes, then `watch-gateway resume`",
    ),
    (
        "state dir in use",
        &[
            "StateDatabaseCoordinatorContentionError",
            "another OpenClaw process owns",
        ],
        "another gateway process owns the state dir: stop it (`openclaw gateway status --deep`), then `watch-gateway resume`",
    ),
];

const PORT_PHRASES: &[&str] = &[
    "EADDRINUSE",
    "already in use",
    "another gateway instance is already listening",
];

/// The rules' diagnosis, or `None` when no known signature matches.
pub fn rules(s: &Signals) -> Option<String> {
    let mut found: Vec<String> = Vec::new();
    let foreign: Vec<String> = s
        .port_owners
        .iter()
        .filter(|(pid, cmd)| {
            pid.is_some_and(|p| Some(p) != s.gateway_pid)
                && !cmd
                    .as_deref()
                    .is_some_and(|c| c.starts_with("openclaw-gatewa"))
        })
        .map(|(pid, cmd)| {
            format!(
                "pid {}{}",
                pid.unwrap_or(0),
                cmd.as_deref()
                    .map(|c| format!(" ({c})"))
                    .unwrap_or_default()
            )
        })
        .collect();
    let port_text = PORT_PHRASES.iter().any(|p| s.text.contains(p));
    if port_text || !foreign.is_empty() {
        let port = s
            .port
            .map(|p| format!("port {p}"))
            .unwrap_or_else(|| "the gateway's port".into());
        let by = if foreign.is_empty() {
            String::new()
        } else {
            format!(" by {}", foreign.join(", "))
        };
        found.push(format!(
            "port in use: {port} is held{by}, so the gateway cannot listen (EADDRINUSE); stop that process or move the gateway to another port (`gateway.port` in its config), then `watch-gateway resume`"
        ));
    }
    for (name, phrases, what) in SIGNATURES {
        let hit = phrases.iter().find(|p| s.text.contains(*p));
        let extra = match *name {
            "config invalid" => s.config_invalid.clone(),
            "out of memory" => s
                .mem_available_pct
                .filter(|m| *m < 5.0)
                .map(|m| format!("only {m:.1} % of memory available")),
            "disk full" => s
                .disk_used_pct
                .filter(|d| *d >= 98.0)
                .map(|d| format!("a filesystem is {d:.0} % full")),
            _ => None,
        };
        if hit.is_some() || extra.is_some() {
            let evidence = match (hit, extra) {
                (_, Some(e)) => e,
                (Some(h), None) => format!("\"{h}\" in the gateway's output"),
                (None, None) => String::new(),
            };
            found.push(format!("{name} ({evidence}): {what}"));
        }
    }
    if found.is_empty() {
        return None;
    }
    let mut out = found.remove(0);
    if !found.is_empty() {
        out.push_str(&format!(". Also: {}", found.join("; ")));
    }
    Some(out)
}

/// A gathered bundle: the JSON written to disk and the signals for the rules.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub value: Value,
    pub signals: Signals,
}

/// The newest stability bundle of the gateway: (path, reason, error message).
fn newest_stability(state_dir: &Path) -> Option<Value> {
    let dir = state_dir.join("logs/stability");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let p = files.pop()?;
    let text = std::fs::read_to_string(&p).ok()?;
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    Some(json!({
        "file": p.display().to_string(),
        "reason": v.get("reason"),
        "generatedAt": v.get("generatedAt"),
        "error": v.get("error").and_then(|e| e.get("message")).or_else(|| v.get("error")),
    }))
}

/// The tail of the gateway's log, one readable line per record: (file, every line, the
/// lines from `since` on — what the rules look at, so an old failure is not taken for a new
/// one; lines without a time are kept).
fn gateway_log_tail(env: &Env, lines: usize, since: DateTime<Utc>) -> (String, String, String) {
    let loc = openclaw::logs::location(env.gw_config.as_ref(), env.gw.profile.as_deref());
    let mut files: Vec<PathBuf> = Vec::new();
    for g in loc.globs() {
        if let Ok(paths) = glob_simple(&g) {
            files.extend(paths);
        }
    }
    files.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    let Some(newest) = files.pop() else {
        return (loc.source, String::new(), String::new());
    };
    let raw = tail_lines(&newest, lines);
    let mut all = Vec::new();
    let mut recent = Vec::new();
    for l in raw.lines() {
        let (text, at) = match openclaw::record::Record::parse(l) {
            Some(r) => (
                format!(
                    "{} {} {}{}",
                    r.date()
                        .map(|d| d.format("%H:%M:%S").to_string())
                        .unwrap_or_default(),
                    r.level().as_deref().unwrap_or("?"),
                    r.subsystem().map(|s| format!("[{s}] ")).unwrap_or_default(),
                    r.text()
                ),
                r.date(),
            ),
            None => (l.to_string(), None),
        };
        if at.is_none_or(|t| t >= since) {
            recent.push(text.clone());
        }
        all.push(text);
    }
    (
        newest.display().to_string(),
        all.join("\n"),
        recent.join("\n"),
    )
}

/// Files matching a pattern whose only wildcards are in the file name (`[0-9]`, `*`).
fn glob_simple(pattern: &str) -> std::io::Result<Vec<PathBuf>> {
    let p = Path::new(pattern);
    let (Some(dir), Some(name)) = (p.parent(), p.file_name().and_then(|n| n.to_str())) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)?.flatten() {
        if let Some(n) = e.file_name().to_str()
            && wildcard(name, n)
        {
            out.push(e.path());
        }
    }
    Ok(out)
}

/// `*`, `?` and `[..]` classes (with ranges) against a file name.
fn wildcard(pat: &str, s: &str) -> bool {
    let p: Vec<char> = pat.chars().collect();
    let t: Vec<char> = s.chars().collect();
    fn go(p: &[char], t: &[char]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some('*') => (0..=t.len()).any(|i| go(&p[1..], &t[i..])),
            Some('?') => !t.is_empty() && go(&p[1..], &t[1..]),
            Some('[') => {
                let Some(end) = p.iter().position(|c| *c == ']') else {
                    return false;
                };
                let Some(c) = t.first() else { return false };
                let class = &p[1..end];
                let mut ok = false;
                let mut i = 0;
                while i < class.len() {
                    if i + 2 < class.len() && class[i + 1] == '-' {
                        ok |= (class[i]..=class[i + 2]).contains(c);
                        i += 3;
                    } else {
                        ok |= class[i] == *c;
                        i += 1;
                    }
                }
                ok && go(&p[end + 1..], &t[1..])
            }
            Some(c) => t.first() == Some(c) && go(&p[1..], &t[1..]),
        }
    }
    go(&p, &t)
}

fn meminfo() -> Option<(u64, u64)> {
    let t = std::fs::read_to_string("/proc/meminfo").ok()?;
    let get = |k: &str| {
        t.lines()
            .find_map(|l| l.strip_prefix(k))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((get("MemTotal:")?, get("MemAvailable:")?))
}

/// `df -Pk` of each path: (path, used %, available KiB).
fn disks(paths: &[&Path]) -> Vec<(String, f64, u64)> {
    let mut out = Vec::new();
    for p in paths {
        let argv = vec!["df".to_string(), "-Pk".to_string(), p.display().to_string()];
        let Ok(o) = common::cmd::run_spec(&common::cmd::Spec {
            argv: &argv,
            timeout: Duration::from_secs(10),
            stdin: None,
            env: &[],
            log_output: false,
            keep: 16 * 1024,
        }) else {
            continue;
        };
        if let Some(line) = o.stdout.lines().nth(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() >= 5 {
                let used = f[4].trim_end_matches('%').parse().unwrap_or(0.0);
                let avail = f[3].parse().unwrap_or(0);
                out.push((p.display().to_string(), used, avail));
            }
        }
    }
    out
}

/// A CLI call's JSON, or what went wrong, for the bundle.
fn cli_json(env: &Env, args: &[&str]) -> Value {
    match env.gw.cli().run(args) {
        Ok(o) => match o.json() {
            Some(v) => v,
            None => json!({"exit": o.describe(), "stderr": o.last_error_line()}),
        },
        Err(e) => json!({"error": common::exit::one_line(&e)}),
    }
}

/// `config validate --json`: `Some(issues)` when the gateway says the config is invalid.
pub fn validate_issues(v: &Value) -> Option<String> {
    if v.get("valid").and_then(Value::as_bool) != Some(false) {
        return None;
    }
    let issues: Vec<String> = v
        .get("issues")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|i| {
                    format!(
                        "{}: {}",
                        i.get("path").and_then(Value::as_str).unwrap_or("?"),
                        i.get("message").and_then(Value::as_str).unwrap_or("?")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let msg = v
        .get("error")
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .unwrap_or("invalid");
    Some(if issues.is_empty() {
        msg.to_string()
    } else {
        format!("{msg}: {}", issues.join("; "))
    })
}

/// `openclaw config validate --json`, run now.
pub fn validate(env: &Env) -> Value {
    cli_json(env, &["config", "validate", "--json"])
}

/// Config-problem signatures in a text (console output, log tail).
pub fn config_problem_in(text: &str) -> Option<String> {
    SIGNATURES[0].1.iter().find_map(|p| {
        text.lines()
            .rev()
            .find(|l| l.contains(p))
            .map(|l| l.trim().to_string())
    })
}

/// Why a gateway start failed, from its console output (`Gateway failed to start: …`).
pub fn start_failure(console: &str) -> Option<String> {
    let line = console
        .lines()
        .rev()
        .find(|l| l.contains("Gateway failed to start") || l.contains("Gateway start blocked"))?;
    let text = line
        .split_once("Gateway ")
        .map(|(_, r)| format!("Gateway {r}"))
        .unwrap_or_else(|| line.to_string());
    Some(text.chars().take(300).collect())
}

/// What the bundle is made of (gathered once, then turned into signals and JSON).
struct Parts {
    lock: Option<procfs::Lock>,
    port: Option<u16>,
    listeners: Vec<procfs::Listener>,
    console: String,
    log_file: String,
    log_tail: String,
    /// The log lines around this incident only: what the rules look at.
    log_recent: String,
    validate: Value,
    doctor: Value,
    diff: Value,
    mem: Option<(u64, u64)>,
    disks: Vec<(String, f64, u64)>,
}

/// Gather the bundle (takes seconds: doctor and validate run the gateway's CLI).
pub fn collect(
    env: &Env,
    cfg: &crate::config::Config,
    inc: &Incident,
    probe: &Probe,
    previous_recovery: Option<DateTime<Utc>>,
) -> Bundle {
    let lock = procfs::read_lock(&env.gw.state_dir, &env.gw.config);
    let port = env.port.or(lock.as_ref().and_then(|l| l.port));
    // Evidence for this incident: from 30 s before it began, but never from before the
    // previous incident was recovered (its failure is not this one's).
    let since = (inc.started_at - chrono::Duration::seconds(30))
        .max(previous_recovery.unwrap_or(DateTime::<Utc>::MIN_UTC));
    let (log_file, log_tail, log_recent) = gateway_log_tail(env, cfg.log_tail_lines, since);
    let p = Parts {
        listeners: port.map(procfs::listeners).unwrap_or_default(),
        lock,
        port,
        console: env.console_tail(80),
        log_file,
        log_tail,
        log_recent,
        validate: validate(env),
        doctor: if cfg.doctor {
            cli_json(env, &["doctor", "--lint", "--json"])
        } else {
            Value::Null
        },
        diff: config_diff(env, cfg, inc),
        mem: meminfo(),
        disks: disks(&[&env.gw.state_dir, &env.root]),
    };
    Bundle {
        signals: signals(env, &p),
        value: to_json(env, &p, inc, probe),
    }
}

/// The config against its last snapshot (`diff_command`), or why not.
fn config_diff(env: &Env, cfg: &crate::config::Config, inc: &Incident) -> Value {
    if cfg.diff_command.is_empty() {
        return Value::Null;
    }
    let vars = env.command_env(&inc.id, "3-diagnose");
    let timeout = Duration::from_secs(cfg.command_timeout_secs.min(60));
    match env.run(&cfg.diff_command, timeout, &vars) {
        Ok(o) => Value::String(o.stdout.chars().take(8000).collect()),
        Err(e) => json!({"error": common::exit::one_line(&e)}),
    }
}

fn signals(env: &Env, p: &Parts) -> Signals {
    let doctor: Vec<&str> = p
        .doctor
        .get("findings")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|f| f.get("message").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    Signals {
        text: format!("{}\n{}\n{}", p.console, p.log_recent, doctor.join("\n")),
        port: p.port,
        port_owners: p
            .listeners
            .iter()
            .map(|l| (l.pid, l.command.clone()))
            .collect(),
        gateway_pid: p
            .lock
            .as_ref()
            .filter(|l| procfs::alive(l.pid, l.start_time))
            .map(|l| l.pid),
        config_invalid: validate_issues(&p.validate).or_else(|| env.gw_config_error.clone()),
        mem_available_pct: p.mem.map(|(t, a)| a as f64 * 100.0 / t.max(1) as f64),
        disk_used_pct: p.disks.iter().map(|d| d.1).reduce(f64::max),
    }
}

fn to_json(env: &Env, p: &Parts, inc: &Incident, probe: &Probe) -> Value {
    json!({
        "incident": {
            "id": inc.id,
            "started_at": inc.started_at,
            "cause": inc.cause,
            "tried": inc.tried(),
        },
        "probe": probe,
        "gateway": {
            "url": env.target.base_url,
            "config": env.gw.config.display().to_string(),
            "config_error": env.gw_config_error,
            "state_dir": env.gw.state_dir.display().to_string(),
            "lock": p.lock.as_ref().map(|l| json!({
                "file": l.file.display().to_string(), "pid": l.pid, "port": l.port,
                "createdAt": l.created_at, "alive": procfs::alive(l.pid, l.start_time),
            })),
        },
        "port": {"port": p.port, "listeners": p.listeners},
        "console_tail": p.console,
        "gateway_log": {"file": p.log_file, "tail": p.log_tail},
        "stability_bundle": newest_stability(&env.gw.state_dir),
        "config_validate": p.validate,
        "doctor_lint": p.doctor,
        "config_diff": p.diff,
        "memory_kib": p.mem.map(|(t, a)| json!({"total": t, "available": a})),
        "disks": p.disks.iter().map(|(d, u, a)| json!({"path": d, "used_percent": u, "available_kib": a})).collect::<Vec<_>>(),
        "loadavg": std::fs::read_to_string("/proc/loadavg").ok().map(|s| s.trim().to_string()),
    })
}

/// Write the bundle (secrets redacted, mode 0600) as `bundles/<incident>.json`; keep the
/// newest `keep`. Returns its path.
pub fn write(env: &Env, inc: &Incident, b: &Bundle, keep: usize) -> anyhow::Result<PathBuf> {
    let dir = env.work_dir.join("bundles");
    common::fsutil::ensure_dir_durable(&dir, 0o700)?;
    let text = serde_json::to_string_pretty(&b.value)?;
    let text = common::redact::redact(&text).into_owned();
    let path = dir.join(format!("{}.json", inc.id));
    common::fsutil::write_atomic(&path, text.as_bytes())?;
    let mut all: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("gw-") && n.ends_with(".json"))
        })
        .collect();
    all.sort();
    while all.len() > keep {
        let old = all.remove(0);
        let _ = std::fs::remove_file(&old);
    }
    Ok(path)
}

/// What the model is told.
pub const SYSTEM: &str = "You diagnose why an AI agent gateway (OpenClaw) is down and does not \
come back after restarts. Given a diagnostics bundle as JSON, answer in at most four plain \
sentences: the most likely cause, the evidence for it in the bundle, and the operator's next \
step. No Markdown, no greeting, no speculation beyond the bundle.";

/// The prompt: the bundle, redacted and cut to `max_chars`.
pub fn prompt(b: &Bundle, max_chars: usize) -> String {
    let text = serde_json::to_string(&b.value).unwrap_or_default();
    let text = common::redact::redact(&text);
    let cut: String = text.chars().take(max_chars).collect();
    format!("The diagnostics bundle:\n{cut}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A captured file under `tests/fixtures/openclaw-2026.9.6/`.
    fn console(name: &str) -> String {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/openclaw-2026.9.6")
            .join(name);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    #[test]
    fn port_conflict_from_the_captured_console_and_the_listener() {
        let s = Signals {
            text: console("gateway-health/console-port-in-use.txt"),
            port: Some(18791),
            ..Default::default()
        };
        let d = rules(&s).unwrap();
        assert!(d.starts_with("port in use: port 18791"), "{d}");
        // From the listener alone, naming the holder.
        let s = Signals {
            port: Some(18791),
            port_owners: vec![(Some(77), Some("python3".into()))],
            gateway_pid: Some(12),
            ..Default::default()
        };
        assert!(rules(&s).unwrap().contains("pid 77 (python3)"));
        // The gateway's own listener is not a conflict.
        let s = Signals {
            port: Some(18791),
            port_owners: vec![(Some(12), Some("openclaw-gatewa".into()))],
            gateway_pid: Some(12),
            ..Default::default()
        };
        assert_eq!(rules(&s), None);
    }

    #[test]
    fn config_memory_disk_auth() {
        let s = Signals {
            text: console("gateway-health/console-invalid-config.txt"),
            ..Default::default()
        };
        let d = rules(&s).unwrap();
        assert!(d.starts_with("config invalid"), "{d}");
        assert!(
            config_problem_in(&s.text)
                .unwrap()
                .contains("Invalid config")
        );
        let s = Signals {
            mem_available_pct: Some(2.0),
            disk_used_pct: Some(99.0),
            ..Default::default()
        };
        let d = rules(&s).unwrap();
        assert!(d.starts_with("out of memory (only 2.0 %"), "{d}");
        assert!(
            d.contains("Also: disk full (a filesystem is 99 % full)"),
            "{d}"
        );
        let s = Signals {
            text: "error: authentication_error: invalid x-api-key".into(),
            ..Default::default()
        };
        assert!(rules(&s).unwrap().starts_with("auth failure"));
        assert_eq!(rules(&Signals::default()), None);
    }

    #[test]
    fn validate_output_and_wildcards() {
        let v: Value =
            serde_json::from_str(&console("config-cases/unknownkey/validate.stdout.json")).unwrap();
        let i = validate_issues(&v).unwrap();
        assert!(i.contains("Unrecognized key"), "{i}");
        assert_eq!(validate_issues(&json!({"valid": true, "path": "/x"})), None);
        assert!(wildcard(
            "openclaw-[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9].log",
            "openclaw-2026-11-28.log"
        ));
        assert!(!wildcard(
            "openclaw-[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9].log",
            "openclaw-dev-2026-11-28.log"
        ));
        assert!(wildcard("gw.[1-9].log", "gw.3.log") && wildcard("*.log", "a.log"));
    }
}

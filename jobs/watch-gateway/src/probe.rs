//! Gather: one probe of the gateway. HTTP liveness and readiness with bounded timeouts, the
//! process from its lock file, optionally `openclaw gateway health --json`.
//!
//! The probe routes (verified against OpenClaw 2026.9.6, source
//! `gateway-http-route-contracts-*.mjs` `GATEWAY_PROBE_ROUTES`, `server-start-*.mjs`
//! `handleGatewayProbeRequest`; docs `gateway/health.md`), unauthenticated, GET:
//! - `/healthz` → 200 `{"ok":true,"status":"live"}` whenever HTTP is up, also while a restart
//!   drains;
//! - `/readyz` → 200 `{"ready":true,"failing":[],"uptimeMs":…,"eventLoop":{"degraded":…}}`, or
//!   503 `{"ready":false,"failing":["startup-sidecars"|"gateway-draining"|…],…}`.
//!
//! Other paths may answer 200 with the Control UI's HTML, so a 200 alone proves nothing: the
//! body must be the gateway's JSON.

use crate::data::{Probe, Process};
use crate::procfs;
use chrono::{DateTime, Utc};
use common::http::{Http, Method, Retry};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Instant;

/// What to probe.
#[derive(Debug, Clone)]
pub struct Target {
    /// `http://127.0.0.1:18789`
    pub base_url: String,
    /// The gateway's state dir (lock files) and config (to pick its lock).
    pub state_dir: PathBuf,
    pub config: PathBuf,
}

/// `/readyz` as parsed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ready {
    pub ready: bool,
    pub failing: Vec<String>,
    pub uptime_ms: Option<u64>,
    pub degraded: bool,
    pub reasons: Vec<String>,
}

/// `/healthz`: `Ok` when it is the gateway saying it is live, else why not.
pub fn parse_healthz(status: u16, body: &str) -> Result<(), String> {
    let v: Option<Value> = serde_json::from_str(body.trim()).ok();
    let Some(v) = v.filter(Value::is_object) else {
        return Err(format!(
            "/healthz answered HTTP {status} without the gateway's JSON (is gateway.url right?)"
        ));
    };
    let ok = v.get("ok").and_then(Value::as_bool) == Some(true)
        || v.get("status").and_then(Value::as_str) == Some("live");
    match (status, ok) {
        (200, true) => Ok(()),
        _ => Err(format!("/healthz answered HTTP {status}: {}", short(body))),
    }
}

/// `/readyz` (200 or 503 with the gateway's JSON); `None` for anything else.
pub fn parse_readyz(status: u16, body: &str) -> Option<Ready> {
    if status != 200 && status != 503 {
        return None;
    }
    let v: Value = serde_json::from_str(body.trim()).ok()?;
    let ready = v.get("ready")?.as_bool()?;
    let strings = |x: Option<&Value>| -> Vec<String> {
        x.and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let el = v.get("eventLoop");
    Some(Ready {
        ready,
        failing: strings(v.get("failing")),
        uptime_ms: v.get("uptimeMs").and_then(Value::as_u64),
        degraded: el
            .and_then(|e| e.get("degraded"))
            .and_then(Value::as_bool)
            .unwrap_or(false),
        reasons: strings(el.and_then(|e| e.get("reasons"))),
    })
}

fn short(s: &str) -> String {
    let s = s.trim();
    let mut out: String = s.chars().take(120).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

/// Probe once. Never fails: every problem is part of what it saw.
pub fn probe(
    http: &Http,
    t: &Target,
    at: DateTime<Utc>,
    cli: Option<&openclaw::cli::Cli>,
) -> Probe {
    let t0 = Instant::now();
    let mut p = Probe {
        at: Some(at),
        ..Default::default()
    };
    let get = |path: &str| {
        http.send(
            Method::GET,
            &format!("{}{path}", t.base_url),
            Retry::Never,
            |r| r,
        )
    };
    match get("/healthz") {
        Ok(r) => match parse_healthz(r.status, &r.text()) {
            Ok(()) => p.live = true,
            Err(e) => p.error = Some(e),
        },
        Err(e) => p.error = Some(common::exit::one_line(&e)),
    }
    if p.live {
        match get("/readyz") {
            Ok(r) => match parse_readyz(r.status, &r.text()) {
                Some(rd) => {
                    p.ready = Some(rd.ready);
                    p.failing = rd.failing;
                    p.uptime_ms = rd.uptime_ms;
                    p.event_loop_degraded = rd.degraded;
                    p.event_loop_reasons = rd.reasons;
                }
                None => {
                    p.error = Some(format!(
                        "/readyz answered HTTP {} without the gateway's JSON",
                        r.status
                    ))
                }
            },
            Err(e) => p.error = Some(format!("/readyz: {}", common::exit::one_line(&e))),
        }
    }
    p.latency_ms = t0.elapsed().as_millis() as u64;
    match procfs::read_lock(&t.state_dir, &t.config) {
        Some(l) => {
            p.pid = Some(l.pid);
            p.process_since = l.created_at;
            p.process = if procfs::alive(l.pid, l.start_time) {
                Process::Running
            } else {
                Process::Gone
            };
        }
        None => p.process = Process::Gone,
    }
    if p.live
        && let Some(cli) = cli
    {
        p.cli_ok = Some(cli_health(cli));
    }
    p
}

/// `openclaw gateway health --json`: `ok` (1–3 s; exit 1 with `ok:false` when unreachable).
fn cli_health(cli: &openclaw::cli::Cli) -> bool {
    match cli.run(&["gateway", "health", "--json"]) {
        Ok(out) => out
            .json()
            .and_then(|v| v.get("ok").and_then(Value::as_bool))
            .unwrap_or(false),
        Err(e) => {
            log::info!("{}", common::exit::one_line(&e));
            false
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A captured answer: `tests/fixtures/openclaw-2026.9.6/<dir>/<file>` = status line, body.
    fn capture(dir: &str, file: &str) -> (u16, String) {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/openclaw-2026.9.6")
            .join(dir)
            .join(file);
        let t = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let (status, body) = t.split_once('\n').unwrap();
        (status.trim().parse().unwrap(), body.to_string())
    }

    #[test]
    fn captured_probe_answers() {
        let (s, b) = capture("gateway-hooks", "get-healthz.txt");
        assert_eq!(parse_healthz(s, &b), Ok(()));
        let (s, b) = capture("gateway-hooks", "get-readyz.txt");
        let r = parse_readyz(s, &b).unwrap();
        assert!(!r.ready);
        assert_eq!(r.failing, vec!["startup-sidecars"]);
        assert!(r.uptime_ms.is_some());
        let (s, b) = capture("gateway-health", "get-readyz-ready.txt");
        let r = parse_readyz(s, &b).unwrap();
        assert!(r.ready && r.failing.is_empty(), "{r:?}");
    }

    #[test]
    fn a_200_that_is_not_the_gateway_is_not_live() {
        let e = parse_healthz(200, "<!doctype html><html>Control UI</html>").unwrap_err();
        assert!(e.contains("without the gateway's JSON"), "{e}");
        let (_, b) = capture("gateway-hooks", "get-healthz.txt");
        assert!(parse_healthz(503, &b).is_err());
        assert!(parse_readyz(200, "<html>").is_none());
        assert!(parse_readyz(404, "{\"ready\":true}").is_none());
    }
}

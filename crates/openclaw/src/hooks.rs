//! The gateway's hook ingress, `POST <hooks.path>/agent`: the request a client sends, what each
//! answer means, and the gateway's own record of a hook run it admitted.
//!
//! Verified against OpenClaw 2026.9.6 (gateway source `dist/hooks-B9gt5Q49.mjs`
//! `createHooksRequestHandler` / `createGatewayHookDispatcher`, `dist/hooks-HRQZlwij.mjs`
//! `normalizeAgentPayload`, `resolveHookIdempotencyKey`; docs `gateway/config-hooks.md`,
//! `automation/cron-jobs/webhooks.md`; captures `tests/fixtures/openclaw-2026.9.6/gateway-hooks`):
//!
//! - the token goes in `Authorization: Bearer <token>` (never `?token=`, which is a 400);
//! - 200 `{"ok":true,"runId":…}` once the run is *admitted* (it has its session lane and has
//!   started), within the 15 s admission timeout; failures after admission are still 200;
//! - `idempotencyKey` (at most 256 characters, longer keys are silently ignored) replays the
//!   same `runId` without a new run only while the gateway remembers it: in memory, while the
//!   run is pending or running, and for 5 minutes after it completes (at most 1000 completed
//!   keys); a restart forgets every key, and the same key with another payload (message, name,
//!   agent, delivery fields…) is a new run. A client that must not run a message twice keeps
//!   its own durable record and checks the gateway's log ([`completed_run`]) after a crash;
//! - every admitted run ends with one log record `hook agent run completed runId=…` (subsystem
//!   `gateway/hooks`) whose structured part carries the request's `name` and the HTTP `runId`;
//!   admission itself, 4xx answers and replays are not logged.

use crate::logs::LogLocation;
use crate::record::Record;
use serde::Serialize;
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

/// Largest request body the gateway reads (`DEFAULT_HOOKS_MAX_BODY_BYTES`): larger is a 413.
pub const MAX_BODY_BYTES: usize = 262_144;
/// Longest `idempotencyKey` the gateway uses; longer keys are ignored (no de-duplication).
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 256;
/// How long the gateway waits for a run to be admitted before it answers 503 and cancels it
/// (`HOOK_AGENT_START_ADMISSION_TIMEOUT_MS`).
pub const ADMISSION_TIMEOUT: Duration = Duration::from_secs(15);
/// How long the gateway keeps a completed run's key for replays (in memory only).
pub const REPLAY_KEPT_AFTER_COMPLETION: Duration = Duration::from_secs(300);
/// The text of the record each admitted hook run ends with.
pub const COMPLETED_TEXT: &str = "hook agent run completed";

/// The JSON body of `POST <hooks.path>/agent` (fields the gateway reads; unknown fields are
/// ignored by it). Only literal `deliver: false` opts out of delivery; `channel` and `to` must
/// be set together and name a registered channel plugin.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentRequest {
    pub message: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_key: Option<String>,
    pub idempotency_key: String,
    pub deliver: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
}

/// What an answer of `POST <hooks.path>/agent` means for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// 200: the run was admitted (or an earlier admission of the same key was replayed).
    Admitted { run_id: String },
    /// 400 or 413: the gateway will never take this request as it is; do not retry.
    Rejected(String),
    /// 401: wrong or missing token.
    Unauthorized,
    /// 404 or 405: no hook endpoint at this URL (hooks disabled, wrong `hooks.path`, or not
    /// the gateway).
    NoEndpoint(String),
    /// The gateway is not taking work right now (503 `gateway_unavailable` while it restarts
    /// or stops, 503 `Plugin runtime is starting`): try again once it is back.
    GatewayBusy(String),
    /// 409 (config changed, session conflict), 429 (auth throttling), 408, 500, 502, 503
    /// admission timeout, other 5xx: not admitted; try again later.
    Retry {
        status: u16,
        reason: String,
        retry_after: Option<Duration>,
    },
}

/// Classify an answer (status first, then the body: not every error body is JSON).
pub fn classify(status: u16, body: &[u8], retry_after: Option<Duration>) -> Answer {
    let text = String::from_utf8_lossy(body);
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let error = json
        .as_ref()
        .and_then(|v| {
            v.get("error").and_then(|e| {
                e.as_str()
                    .map(str::to_string)
                    .or_else(|| e.get("message").and_then(Value::as_str).map(str::to_string))
            })
        })
        .unwrap_or_else(|| text.trim().chars().take(300).collect());
    match status {
        200..=299 => match json
            .as_ref()
            .and_then(|v| v.get("runId"))
            .and_then(Value::as_str)
        {
            Some(id) if json.as_ref().and_then(|v| v.get("ok")) == Some(&Value::Bool(true)) => {
                Answer::Admitted {
                    run_id: id.to_string(),
                }
            }
            _ => Answer::Retry {
                status,
                reason: format!("HTTP {status} without an admitted run: {error}"),
                retry_after,
            },
        },
        400 | 413 => Answer::Rejected(format!("HTTP {status}: {error}")),
        401 => Answer::Unauthorized,
        404 | 405 => Answer::NoEndpoint(format!("HTTP {status}: {error}")),
        503 if is_gateway_closed(json.as_ref(), &text) => {
            Answer::GatewayBusy(format!("HTTP 503: {error}"))
        }
        _ => Answer::Retry {
            status,
            reason: format!("HTTP {status}: {error}"),
            retry_after,
        },
    }
}

/// 503 while the gateway closes admission (restart, stop, suspend) or is still starting,
/// as opposed to the per-run admission timeout.
fn is_gateway_closed(json: Option<&Value>, text: &str) -> bool {
    let code = json
        .and_then(|v| v.get("error"))
        .and_then(|e| e.get("code"))
        .and_then(Value::as_str);
    code == Some("gateway_unavailable") || text.contains("Plugin runtime is starting")
}

/// One admitted hook run, as the gateway logged its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedRun {
    pub run_id: String,
    /// `ok`, `error` or `skipped`.
    pub status: String,
    pub file: PathBuf,
}

/// The completion record of the hook run named `name` in one log line, if it is one.
pub fn completed_run(line: &str, name: &str) -> Option<(String, String)> {
    let rec = Record::parse(line)?;
    let fields = rec.fields()?;
    if fields.str("name").as_deref() != Some(name)
        || fields.str("sourcePath").as_deref() != Some("/hooks/agent")
    {
        return None;
    }
    let text = rec.message().unwrap_or_else(|| rec.text());
    if !text.starts_with(COMPLETED_TEXT) {
        return None;
    }
    Some((
        fields.str("runId")?.into_owned(),
        fields.str("status").unwrap_or_default().into_owned(),
    ))
}

/// Search the gateway's log files for the completion record of the hook run named `name`.
/// `Err` when no log file can be read at all (then nothing can be proven either way).
pub fn find_completed_run(loc: &LogLocation, name: &str) -> anyhow::Result<Option<CompletedRun>> {
    let files = loc.files();
    if files.is_empty() {
        anyhow::bail!(
            "no gateway log file found ({}: {})",
            loc.source,
            loc.globs().join(", ")
        );
    }
    let needle = serde_json::to_string(name).unwrap_or_default();
    let mut read_any = false;
    for f in &files {
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        read_any = true;
        if !text.contains(&needle) {
            continue;
        }
        for line in text.lines().filter(|l| l.contains(&needle)) {
            if let Some((run_id, status)) = completed_run(line, name) {
                return Ok(Some(CompletedRun {
                    run_id,
                    status,
                    file: f.clone(),
                }));
            }
        }
    }
    if !read_any {
        anyhow::bail!(
            "cannot read the gateway's log files ({})",
            files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let (dir, file) = name.split_once('/').unwrap_or(("gateway-hooks", name));
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/openclaw-2026.9.6")
            .join(dir)
            .join(file);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    /// A captured answer file: status line, then the body.
    fn answer(name: &str) -> Answer {
        let t = fixture(name);
        let (status, body) = t.split_once('\n').unwrap_or((&t, ""));
        classify(status.trim().parse().unwrap(), body.trim().as_bytes(), None)
    }

    #[test]
    fn captured_answers_are_classified() {
        assert!(matches!(answer("hook-first.txt"), Answer::Admitted { .. }));
        assert_eq!(answer("hook-first.txt"), answer("hook-same-key.txt"));
        assert_eq!(answer("hook-bad-token.txt"), Answer::Unauthorized);
        assert!(
            matches!(answer("hook-no-message.txt"), Answer::Rejected(m) if m.contains("message required"))
        );
        assert!(matches!(answer("hook-not-json.txt"), Answer::Rejected(_)));
        for refused in [
            "hook-channel-msteams.txt",
            "hook-session-key.txt",
            "hook-unknown-agent.txt",
            "hook-too-large.txt",
        ] {
            let a = answer(&format!("gateway-hook-refusals/{refused}"));
            assert!(matches!(a, Answer::Rejected(_)), "{refused}: {a:?}");
        }
        assert!(matches!(
            answer("gateway-hook-refusals/hook-channel-msteams.txt"),
            Answer::Rejected(m) if m.contains("channel must be last")
        ));
        assert!(matches!(
            answer("gateway-hook-refusals/hook-unknown-path.txt"),
            Answer::NoEndpoint(_)
        ));
    }

    /// Answers the gateway gives only under races or restarts (not captured on demand): the
    /// bodies its source writes (`dist/hooks-B9gt5Q49.mjs`, `dist/route-auth-JLczms7i.mjs`).
    #[test]
    fn documented_error_answers() {
        let busy = br#"{"error":{"message":"Gateway is temporarily unavailable while suspending or restarting","type":"service_unavailable","code":"gateway_unavailable"}}"#;
        assert!(matches!(classify(503, busy, None), Answer::GatewayBusy(_)));
        assert!(matches!(
            classify(503, b"Plugin runtime is starting", None),
            Answer::GatewayBusy(_)
        ));
        let timeout = br#"{"ok":false,"error":"hook agent run did not start before admission timeout","runId":"x"}"#;
        assert!(matches!(
            classify(503, timeout, None),
            Answer::Retry { status: 503, .. }
        ));
        assert!(matches!(
            classify(
                409,
                br#"{"ok":false,"error":"hook configuration changed; retry request"}"#,
                None
            ),
            Answer::Retry { status: 409, .. }
        ));
        assert!(matches!(
            classify(502, br#"{"ok":false,"error":"hook agent run failed before entering the agent runner","runId":"r"}"#, None),
            Answer::Retry { status: 502, .. }
        ));
        assert!(matches!(
            classify(200, b"<html>", None),
            Answer::Retry { status: 200, .. }
        ));
    }

    #[test]
    fn completion_records_are_found_by_name() {
        let log = fixture("gateway.log.jsonl");
        let found: Vec<_> = log
            .lines()
            .filter_map(|l| completed_run(l, "Teams"))
            .collect();
        assert_eq!(found.len(), 2, "two admitted runs in the capture");
        assert_eq!(found[0].1, "ok");
        assert!(log.lines().all(|l| completed_run(l, "Other").is_none()));
    }

    #[test]
    fn request_serializes_like_the_documented_fields() {
        let r = AgentRequest {
            message: "m".into(),
            name: "n".into(),
            agent_id: Some("main".into()),
            session_key: None,
            idempotency_key: "k".into(),
            deliver: false,
            channel: None,
            to: None,
            account_id: None,
            timeout_seconds: None,
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"message":"m","name":"n","agentId":"main","idempotencyKey":"k","deliver":false})
        );
    }
}

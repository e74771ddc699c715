//! A fake agent gateway for the demo, built from what OpenClaw 2026.9.6 really produced
//! (`tests/fixtures/openclaw-2026.9.6/`): its HTTP probes (`GET /healthz`, `GET /readyz`) and
//! its log file, re-timed to now.
//!
//! The probes answer with the `gateway-health` capture. `/healthz` is the captured answer as it
//! is. `/readyz` is the captured ready answer without its `eventLoop` sample: that capture was
//! made on a busy 2-core machine and reports the event loop degraded (`"reasons":["cpu"]`); the
//! gateway leaves `eventLoop` out of the answer while it has no sample to report
//! (`withEventLoopHealth`, `dist/server-start-*.mjs`), so the answer without it is the gateway's
//! own shape of "ready". `uptimeMs` grows with the fake's clock. Any other path answers 200
//! with HTML, as the gateway's Control UI does.

use crate::http::{Reply, Server};
use anyhow::{Context, Result, bail};
use chrono::{DateTime, Duration, FixedOffset, Timelike, Utc};
use serde_json::Value;
use std::path::Path;
use std::time::Instant;

/// A running fake gateway; stops when dropped.
#[derive(Debug)]
pub struct FakeGateway {
    server: Server,
}

impl FakeGateway {
    /// Serve the probes captured in `captures` (a `gateway-health` capture directory:
    /// `get-healthz.txt`, `get-readyz-ready.txt`) on a free loopback port.
    pub fn start(captures: &Path) -> Result<FakeGateway> {
        let (hs, hb) = read_capture(&captures.join("get-healthz.txt"))?;
        let (rs, rb) = read_capture(&captures.join("get-readyz-ready.txt"))?;
        let ready: Value = serde_json::from_str(&rb).with_context(|| {
            format!(
                "{}: the body is not JSON",
                captures.join("get-readyz-ready.txt").display()
            )
        })?;
        let started = Instant::now();
        let server = Server::start(0, move |req| match req.path.as_str() {
            "/healthz" => Reply::raw(hs, "application/json; charset=utf-8", hb.clone()),
            "/readyz" => {
                let up = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                let body = ready_without_sample(&ready, up);
                Reply::raw(rs, "application/json; charset=utf-8", body.to_string())
            }
            _ => Reply::raw(
                200,
                "text/html; charset=utf-8",
                "<!doctype html><html><head><title>OpenClaw Control</title></head><body></body></html>",
            ),
        })
        .context("starting the fake gateway")?;
        Ok(FakeGateway { server })
    }

    /// `http://127.0.0.1:<port>`
    pub fn url(&self) -> String {
        self.server.url()
    }
}

/// A capture file: the status code on the first line, the body after it.
fn read_capture(path: &Path) -> Result<(u16, String)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let (status, body) = text.split_once('\n').unwrap_or((&text, ""));
    let status = status
        .trim()
        .parse()
        .with_context(|| format!("{}: the first line must be the HTTP status", path.display()))?;
    Ok((status, body.trim_end().to_string()))
}

/// The captured ready answer without its event-loop sample, `uptimeMs` advanced by `up_ms`.
pub fn ready_without_sample(captured: &Value, up_ms: u64) -> Value {
    let mut v = captured.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("eventLoop");
        let base = o.get("uptimeMs").and_then(Value::as_u64).unwrap_or(0);
        o.insert("uptimeMs".into(), Value::from(base.saturating_add(up_ms)));
    }
    v
}

/// Epoch-millisecond fields of the gateway's records that are points in time.
const EPOCH_MS_KEYS: [&str; 2] = ["\"cooldownUntil\":", "\"disabledUntil\":"];

/// A captured JSONL gateway log moved in time so that its newest record is at `end`: every
/// RFC 3339 time in a line (`time`, `_meta.date`) and every `cooldownUntil`/`disabledUntil`
/// moves by the same whole number of milliseconds; nothing else changes, byte for byte.
pub fn retime_log(text: &str, end: DateTime<Utc>) -> Result<String> {
    let newest = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v.get("time").and_then(Value::as_str).map(str::to_string))
        .filter_map(|t| DateTime::parse_from_rfc3339(&t).ok())
        .max();
    let Some(newest) = newest else {
        bail!("no record with a `time` field: not a gateway log (JSONL)");
    };
    let delta = Duration::milliseconds((end - newest.with_timezone(&Utc)).num_milliseconds());
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.split_inclusive('\n') {
        out.push_str(&shift_epoch_ms(&shift_times(line, delta), delta));
    }
    Ok(out)
}

/// `YYYY-MM-DDTHH:MM:SS` at the start of `b`.
fn is_datetime(b: &[u8]) -> bool {
    const PATTERN: &[u8; 19] = b"dddd-dd-ddTdd:dd:dd";
    b.len() >= PATTERN.len()
        && PATTERN.iter().zip(b).all(|(p, c)| match p {
            b'd' => c.is_ascii_digit(),
            _ => p == c,
        })
}

/// Every RFC 3339 time in `line` moved by `delta`, written in its own style (fraction digits,
/// `Z` or offset).
fn shift_times(line: &str, delta: Duration) -> String {
    let b = line.as_bytes();
    let mut out = String::with_capacity(line.len());
    let (mut i, mut copied) = (0, 0);
    while i < b.len() {
        if !is_datetime(&b[i..]) {
            i += 1;
            continue;
        }
        let mut j = i + 19;
        let mut digits = 0;
        if b.get(j) == Some(&b'.') {
            j += 1;
            while b.get(j).is_some_and(u8::is_ascii_digit) {
                j += 1;
                digits += 1;
            }
        }
        let end = match b.get(j) {
            Some(b'Z') => j + 1,
            Some(b'+' | b'-') if j + 6 <= b.len() => j + 6,
            _ => j,
        };
        match DateTime::parse_from_rfc3339(&line[i..end]) {
            Ok(t) if end > j => {
                out.push_str(&line[copied..i]);
                out.push_str(&format_like(t + delta, digits, b[j] == b'Z'));
                i = end;
                copied = end;
            }
            _ => i += 1,
        }
    }
    out.push_str(&line[copied..]);
    out
}

fn format_like(t: DateTime<FixedOffset>, digits: usize, zulu: bool) -> String {
    let mut s = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    if digits > 0 {
        let nanos = format!("{:09}", t.nanosecond() % 1_000_000_000);
        s.push('.');
        s.push_str(&nanos[..digits.min(9)]);
    }
    if zulu {
        s.push('Z');
    } else {
        s.push_str(&t.format("%:z").to_string());
    }
    s
}

/// The epoch-millisecond times of [`EPOCH_MS_KEYS`] in `line` moved by `delta`.
fn shift_epoch_ms(line: &str, delta: Duration) -> String {
    let mut out = line.to_string();
    for key in EPOCH_MS_KEYS {
        let mut from = 0;
        while let Some(at) = out[from..].find(key).map(|p| p + from + key.len()) {
            let len = out[at..].bytes().take_while(u8::is_ascii_digit).count();
            let Ok(ms) = out[at..at + len].parse::<i64>() else {
                from = at;
                continue;
            };
            let moved = (ms + delta.num_milliseconds()).to_string();
            out.replace_range(at..at + len, &moved);
            from = at + moved.len();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const LOG: &str = concat!(
        r#"{"0":"{\"subsystem\":\"agent/embedded\"}","1":{"event":"embedded_run_agent_end","isError":true},"2":"embedded run agent end","_meta":{"date":"2026-11-28T04:13:53.211Z","logLevelName":"WARN"},"time":"2026-11-28T04:13:53.211+00:00","message":"embedded run agent end"}"#,
        "\n",
        r#"{"0":"{\"subsystem\":\"agent/embedded\"}","1":{"event":"auth_profile_failure_state_updated","cooldownUntil":1795839404727},"2":"auth profile failure state updated","_meta":{"date":"2026-11-28T04:16:14.742Z"},"time":"2026-11-28T04:16:14.742+00:00","message":"auth profile failure state updated"}"#,
        "\n"
    );

    #[test]
    fn the_newest_record_lands_at_the_end_and_everything_moves_together() {
        let end = DateTime::parse_from_rfc3339("2027-01-02T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let out = retime_log(LOG, end).unwrap();
        let lines: Vec<Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[1]["time"], "2027-01-02T10:00:00.000+00:00");
        assert_eq!(lines[1]["_meta"]["date"], "2027-01-02T10:00:00.000Z");
        // 04:13:53.211 was 141.531 s before 04:16:14.742.
        assert_eq!(lines[0]["time"], "2027-01-02T09:57:38.469+00:00");
        assert_eq!(lines[0]["_meta"]["date"], "2027-01-02T09:57:38.469Z");
        // The cooldown ended 29.985 s after its record, and still does.
        let until = lines[1]["1"]["cooldownUntil"].as_i64().unwrap();
        assert_eq!(
            until - end.timestamp_millis(),
            1_795_839_404_727 - 1_795_839_374_742
        );
        // Nothing else changed.
        assert_eq!(out.len(), LOG.len());
        assert!(out.ends_with('\n'));
    }

    #[test]
    fn text_that_is_not_a_log_is_refused() {
        assert!(retime_log("hello\n", Utc::now()).is_err());
    }

    #[test]
    fn ready_answer_loses_its_sample_and_keeps_its_shape() {
        let captured = json!({"ready": true, "failing": [], "uptimeMs": 4709,
                              "eventLoop": {"degraded": true, "reasons": ["cpu"]}});
        let v = ready_without_sample(&captured, 1000);
        assert_eq!(
            v.to_string(),
            r#"{"ready":true,"failing":[],"uptimeMs":5709}"#
        );
    }

    #[test]
    fn the_captured_probes_are_served() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/openclaw-2026.9.6/gateway-health");
        let gw = FakeGateway::start(&dir).unwrap();
        let get = |path: &str| {
            use std::io::{Read, Write};
            let mut s = std::net::TcpStream::connect(gw.server.addr).unwrap();
            write!(
                s,
                "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            let mut r = String::new();
            s.read_to_string(&mut r).unwrap();
            r
        };
        let h = get("/healthz");
        assert!(h.starts_with("HTTP/1.1 200"), "{h}");
        assert!(h.ends_with(r#"{"ok":true,"status":"live"}"#), "{h}");
        let r = get("/readyz");
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        assert!(
            r.contains(r#"{"ready":true,"failing":[],"uptimeMs":"#),
            "{r}"
        );
        assert!(!r.contains("eventLoop"), "{r}");
        assert!(get("/").contains("text/html"));
    }
}

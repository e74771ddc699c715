//! What one line of the gateway's output means: a provider refusal, a gateway decision, a
//! model call, a turn, or nothing.
//!
//! Two forms, verified against OpenClaw 2026.9.6 (fixtures `tests/fixtures/openclaw-2026.9.6/`):
//!
//! - **The JSONL log file**: records read by their fields with [`openclaw::record::Record`]
//!   (the gateway's subsystem logger writes the structured object in `"1"` or `"2"`, without
//!   the console text: `subsystem.ts` `emitLog`). Counted: `embedded_run_agent_end` with
//!   `isError` and a `failoverReason` (one refused request; `builtin-openclaw-*.mjs`),
//!   `auth_profile_failure_state_updated` with `windowType` `cooldown`/`disabled` (the
//!   gateway's cooldown decision, with `cooldownUntil`/`disabledUntil`; `usage-*.mjs`
//!   `logAuthProfileFailureStateChange`), `embedded_run_failover_decision` with `decision`
//!   `surface_error`/`fallback_model` (the run gave up on the model; `embedded-agent-*.mjs`
//!   `createFailoverDecisionLogger`).
//! - **The console / journal text**: the same events as `key=value` lines
//!   (`[agent/embedded] embedded run agent end: runId=… isError=true model=M provider=P
//!   error=<copy> rawError=<provider message>`, `auth profile failure state updated: … reason=R
//!   window=cooldown`, `embedded run failover decision: … decision=surface_error reason=R`).
//!   The agent-end line has no reason: its class comes from the gateway's copy and the
//!   provider message ([`crate::vocab`]). A text line counts only when the event starts the
//!   message (after the time, journal prefix and `[subsystem]` tags, with no quote before it),
//!   so a quoted preview of someone's message cannot pose as an event.
//!
//! Both forms also give `[model-fetch] start|response|error` (model calls; `provider-transport-
//! fetch-*.mjs`) and the turn records used by the cost watch (`session turn created: …
//! trigger=user|heartbeat`, `message received:` in `diagnostic-*.mjs`; `hook agent run
//! completed` in `hooks-*.mjs`; `[agent] run … ended` in `agent-command-*.mjs`).
//!
//! Not counted (they repeat a refusal already counted, or are not the model provider):
//! `transient same-model retry`, `lane task error`, `model_fallback_decision`, `[openclaw]
//! Reason: …`, Teams typing-indicator 429s, hook-auth and gateway-auth throttling.

use crate::data::{Class, Signal, Strength};
use crate::vocab::{self, Extra};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use memchr::memmem;
use openclaw::record::{Object, Record};
use std::borrow::Cow;
use std::sync::OnceLock;

/// Needles of the structured events (file form): exact, the gateway writes them.
pub const EVENT_NEEDLES: &[&str] = &[
    "embedded_run_agent_end",
    "auth_profile_failure_state_updated",
    "embedded_run_failover_decision",
];

/// Needles of the text forms: the events' console form, model calls (both forms), turns.
pub const TEXT_NEEDLES: &[&str] = &[
    "embedded run agent end: ",
    "auth profile failure state updated: ",
    "embedded run failover decision: ",
    "[model-fetch] ",
    "session turn created: ",
    "message received: ",
    "hook agent run completed",
    "[agent] run ",
];

/// Every needle: a line without one is never looked at.
pub fn needles() -> impl Iterator<Item = &'static str> {
    EVENT_NEEDLES.iter().chain(TEXT_NEEDLES).copied()
}

/// What the scanner searches for: one piece of each needle (a line holding the needle holds
/// its piece), chosen so that the piece's first four bytes are rare in the gateway's log. The
/// multi-needle search finds places by those first bytes and verifies each, and `embe`, `sess`,
/// `mess` or `auth` start a word several times in most records (measured on the captured
/// records: about 4 verifications per line with the whole needles, under 0.2 with these).
pub const SEARCH_KEYS: &[&str] = &[
    "_agent_end",
    "e_state_updated",
    "n_failover_decision",
    "nt end: ",
    " updated: ",
    "er decision: ",
    "l-fetch] ",
    " turn created: ",
    "ge received: ",
    "k agent run completed",
    "nt] run ",
];

/// What a line turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    /// A refused request or a gateway decision.
    Signal(Signal),
    /// A `[model-fetch] response` (`status`) or `error` (no status).
    Response {
        at: DateTime<Utc>,
        provider: Option<String>,
        model: Option<String>,
        status: Option<u16>,
    },
    /// A `[model-fetch] start` (debug level: one per model call).
    CallStart { at: DateTime<Utc> },
    /// A turn: `explained` when a person or a job started it (message, hook, cron, agent
    /// command), not when the heartbeat did.
    Turn { at: DateTime<Utc>, explained: bool },
}

impl Observation {
    /// When it happened.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Observation::Signal(s) => s.at,
            Observation::Response { at, .. }
            | Observation::CallStart { at }
            | Observation::Turn { at, .. } => *at,
        }
    }

    /// The same, with a time in the future moved to `now`.
    pub fn clamped(mut self, now: DateTime<Utc>) -> Observation {
        match &mut self {
            Observation::Signal(s) => s.at = s.at.min(now),
            Observation::Response { at, .. }
            | Observation::CallStart { at }
            | Observation::Turn { at, .. } => *at = (*at).min(now),
        }
        self
    }
}

/// The verdict on one candidate line.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // one per candidate line, moved once
pub enum Verdict {
    Seen(Observation),
    /// Not an event we count (a success, another failure reason, a quoted text…).
    Nothing,
    /// Contains a configured `exclude` phrase.
    Excluded,
    /// Unusable: invalid JSON, invalid UTF-8 or binary bytes.
    Garbage(&'static str),
}

/// Interpret one line (without its newline). `now` stands in for a line without a time and
/// caps a time in the future; `source` names where it was read.
pub fn interpret(line: &[u8], now: DateTime<Utc>, source: &str, extra: &Extra) -> Verdict {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let trimmed = trim_start(line);
    if trimmed.first() == Some(&b'{') {
        let Ok(json) = std::str::from_utf8(trimmed) else {
            return Verdict::Garbage("invalid UTF-8");
        };
        let Some(top) = Object::parse(json) else {
            return Verdict::Garbage("invalid JSON");
        };
        let rec = Record::from_object(top);
        let at = rec.date().map_or(now, |d| d.min(now));
        return match structured(&rec, at, source, extra) {
            Some(o) => Verdict::Seen(o),
            None if rec.fields().is_some_and(|f| f.has("event")) => Verdict::Nothing,
            None => text_event(&rec.text(), at, source, extra, true),
        };
    }
    let Ok(text) = std::str::from_utf8(line) else {
        return Verdict::Garbage("invalid UTF-8");
    };
    if text.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Verdict::Garbage("binary bytes");
    }
    let at = text_time(text).map_or(now, |d| d.min(now));
    text_event(text, at, source, extra, false)
}

/// A structured event of the JSONL file.
fn structured(rec: &Record, at: DateTime<Utc>, source: &str, extra: &Extra) -> Option<Observation> {
    let f = rec.fields()?;
    let s = |k: &str| f.str(k).map(Cow::into_owned);
    let base = |class, strength| Signal {
        at,
        class,
        strength,
        decision: None,
        provider: s("provider"),
        model: s("model"),
        profile: s("profileId"),
        run_id: s("runId"),
        status: None,
        long_window: false,
        reset_at: None,
        reset_source: None,
        source: source.to_string(),
        example: String::new(),
    };
    match f.str("event")?.as_ref() {
        "embedded_run_agent_end" => {
            if f.bool("isError") != Some(true) {
                return None;
            }
            let raw = s("rawErrorPreview").unwrap_or_default();
            let message = s("providerErrorMessagePreview").unwrap_or_else(|| raw.clone());
            let copy = s("error").unwrap_or_default();
            let class = match f.str("failoverReason") {
                Some(r) => vocab::class_of_reason(&r)?,
                None => vocab::classify(&copy, &raw, extra)?,
            };
            let mut sig = base(class, Strength::Refusal);
            sig.status = f
                .num("httpCode")
                .map(|c| c as u16)
                .or_else(|| vocab::status_prefix(&raw));
            refusal_details(&mut sig, &raw, &message, &copy);
            Some(Observation::Signal(sig))
        }
        "auth_profile_failure_state_updated" => {
            let window = s("windowType")?;
            if window != "cooldown" && window != "disabled" {
                return None;
            }
            let class = vocab::class_of_reason(&f.str("reason")?)?;
            let mut sig = base(class, Strength::Decision);
            let key = if window == "disabled" {
                "disabledUntil"
            } else {
                "cooldownUntil"
            };
            sig.reset_at = f
                .num(key)
                .and_then(|ms| Utc.timestamp_millis_opt(ms as i64).single());
            sig.reset_source = sig.reset_at.map(|_| key.to_string());
            sig.decision = Some(window);
            Some(Observation::Signal(sig))
        }
        "embedded_run_failover_decision" => {
            let decision = s("decision")?;
            if decision != "surface_error" && decision != "fallback_model" {
                return None;
            }
            let class = vocab::class_of_reason(&f.str("failoverReason")?)?;
            let mut sig = base(class, Strength::Decision);
            sig.decision = Some(decision);
            sig.status = f.num("httpCode").map(|c| c as u16);
            let raw = s("rawErrorPreview").unwrap_or_default();
            let message = s("providerErrorMessagePreview").unwrap_or_else(|| raw.clone());
            refusal_details(&mut sig, &raw, &message, "");
            Some(Observation::Signal(sig))
        }
        _ => None,
    }
}

/// Long window, retry-after reset and the example, from the provider's message.
fn refusal_details(sig: &mut Signal, raw: &str, message: &str, copy: &str) {
    sig.long_window = vocab::is_long_window(message) || vocab::is_long_window(raw);
    if let Some(secs) = vocab::retry_after_secs(raw) {
        sig.reset_at = Some(sig.at + chrono::Duration::seconds(secs as i64));
        sig.reset_source = Some("Retry-After".into());
    }
    let shown = if !message.is_empty() {
        message
    } else if !raw.is_empty() {
        raw
    } else {
        copy
    };
    sig.example = excerpt(shown);
}

/// A text event: the console/journal form, or the text of a JSONL record without fields.
/// `record`: the text is a record's message (the event must start it).
fn text_event(text: &str, at: DateTime<Utc>, source: &str, extra: &Extra, record: bool) -> Verdict {
    let Some((needle, body)) = event_start(text, record) else {
        return Verdict::Nothing;
    };
    let obs = match needle {
        "embedded run agent end: " => agent_end_text(body, at, source, extra),
        "auth profile failure state updated: " => cooldown_text(body, at, source),
        "embedded run failover decision: " => failover_text(body, at, source),
        "[model-fetch] " => model_fetch_text(body, at),
        "session turn created: " => Some(Observation::Turn {
            at,
            explained: kv(body, "trigger") != Some("heartbeat"),
        }),
        "message received: " | "hook agent run completed" => Some(Observation::Turn {
            at,
            explained: true,
        }),
        "[agent] run " if body.contains(" ended") => Some(Observation::Turn {
            at,
            explained: true,
        }),
        _ => None,
    };
    obs.map_or(Verdict::Nothing, Verdict::Seen)
}

/// The event needle that starts the message, and the text after it. Before it may stand only
/// a time, a journal prefix (`host ident[pid]:`) and `[subsystem]` tags: no quote, so a
/// quoted preview of a message never counts.
fn event_start(text: &str, record: bool) -> Option<(&'static str, &str)> {
    static FINDERS: OnceLock<Vec<memmem::Finder<'static>>> = OnceLock::new();
    let finders = FINDERS.get_or_init(|| {
        TEXT_NEEDLES
            .iter()
            .map(|n| memmem::Finder::new(n.as_bytes()))
            .collect()
    });
    for (n, finder) in TEXT_NEEDLES.iter().zip(finders) {
        // The needles start with ASCII: `i` is a char boundary.
        let Some(i) = finder.find(text.as_bytes()) else {
            continue;
        };
        let before = &text[..i];
        let ok = if record {
            before.trim().is_empty() || is_tags(before)
        } else {
            !before.contains('"')
                && !before.contains('\'')
                && (before.trim().is_empty()
                    || before.trim_end().ends_with(']')
                    || before.trim_end().ends_with(':'))
        };
        if ok {
            return Some((n, &text[i + n.len()..]));
        }
    }
    None
}

/// `[a] [b] ` only.
fn is_tags(s: &str) -> bool {
    s.split_whitespace()
        .all(|w| w.starts_with('[') && w.ends_with(']'))
}

fn agent_end_text(
    body: &str,
    at: DateTime<Utc>,
    source: &str,
    extra: &Extra,
) -> Option<Observation> {
    if kv(body, "isError") != Some("true") {
        return None;
    }
    let copy = between(body, "error=", &[" rawError="]).unwrap_or_default();
    let raw = between(body, "rawError=", &[]).unwrap_or_default();
    let class = vocab::classify(copy, raw, extra)?;
    let mut sig = text_signal(body, at, source, class, Strength::Refusal);
    sig.status = vocab::status_prefix(raw);
    let message = json_message(raw).unwrap_or_else(|| raw.to_string());
    refusal_details(&mut sig, raw, &message, copy);
    Some(Observation::Signal(sig))
}

fn cooldown_text(body: &str, at: DateTime<Utc>, source: &str) -> Option<Observation> {
    let window = kv(body, "window")?;
    if window != "cooldown" && window != "disabled" {
        return None;
    }
    let class = vocab::class_of_reason(kv(body, "reason")?)?;
    let mut sig = text_signal(body, at, source, class, Strength::Decision);
    sig.decision = Some(window.to_string());
    Some(Observation::Signal(sig))
}

fn failover_text(body: &str, at: DateTime<Utc>, source: &str) -> Option<Observation> {
    let decision = kv(body, "decision")?;
    if decision != "surface_error" && decision != "fallback_model" {
        return None;
    }
    let class = vocab::class_of_reason(kv(body, "reason")?)?;
    let mut sig = text_signal(body, at, source, class, Strength::Decision);
    sig.decision = Some(decision.to_string());
    if let Some((p, m)) = kv(body, "from").and_then(|f| f.split_once('/')) {
        sig.provider = Some(p.to_string());
        sig.model = Some(m.to_string());
    }
    let raw = between(body, "rawError=", &[]).unwrap_or_default();
    sig.status = vocab::status_prefix(raw);
    Some(Observation::Signal(sig))
}

fn text_signal(
    body: &str,
    at: DateTime<Utc>,
    source: &str,
    class: Class,
    strength: Strength,
) -> Signal {
    let s = |k: &str| kv(body, k).map(str::to_string);
    Signal {
        at,
        class,
        strength,
        decision: None,
        provider: s("provider"),
        model: s("model"),
        profile: s("profile"),
        run_id: s("runId"),
        status: None,
        long_window: false,
        reset_at: None,
        reset_source: None,
        source: source.to_string(),
        example: String::new(),
    }
}

/// `response provider=P api=A model=M status=S …`, `start provider=…`, `error provider=…`.
fn model_fetch_text(body: &str, at: DateTime<Utc>) -> Option<Observation> {
    let provider = kv(body, "provider").map(str::to_string);
    let model = kv(body, "model").map(str::to_string);
    if body.starts_with("start ") {
        return Some(Observation::CallStart { at });
    }
    if body.starts_with("response ") {
        let status = kv(body, "status").and_then(|s| s.parse().ok());
        return Some(Observation::Response {
            at,
            provider,
            model,
            status,
        });
    }
    if body.starts_with("error ") {
        return Some(Observation::Response {
            at,
            provider,
            model,
            status: None,
        });
    }
    None
}

/// The value of ` key=value` (up to the next space).
pub fn kv<'a>(body: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("{key}=");
    let mut from = 0;
    while let Some(i) = body[from..].find(&pat) {
        let s = from + i;
        if s == 0 || body[..s].ends_with(' ') {
            let v = &body[s + pat.len()..];
            return Some(v.split(' ').next().unwrap_or(""));
        }
        from = s + pat.len();
    }
    None
}

/// The text after ` key=` up to the first of `ends` (or the end).
fn between<'a>(body: &'a str, key: &str, ends: &[&str]) -> Option<&'a str> {
    let i = if body.starts_with(key) {
        0
    } else {
        body.find(&format!(" {key}"))? + 1
    };
    let v = &body[i + key.len()..];
    let end = ends
        .iter()
        .filter_map(|e| v.find(e))
        .min()
        .unwrap_or(v.len());
    Some(v[..end].trim())
}

/// `error.message` of a JSON body in `429: {…}`, when it parses.
fn json_message(raw: &str) -> Option<String> {
    let i = raw.find('{')?;
    let v: serde_json::Value =
        serde_json::from_str(raw[i..].split("; Retry-After").next()?).ok()?;
    v.get("error")?.get("message")?.as_str().map(str::to_string)
}

fn trim_start(b: &[u8]) -> &[u8] {
    let i = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    &b[i..]
}

/// A leading time: RFC 3339 (`2026-11-28T04:16:14.742Z`, optionally bracketed) or the
/// journal's `short-iso` / `short-iso-precise` (`2026-11-28T04:16:14.742123+0000`).
pub fn text_time(text: &str) -> Option<DateTime<Utc>> {
    let first = text.split_whitespace().next()?;
    let first = first.trim_start_matches('[').trim_end_matches(']');
    if let Ok(d) = DateTime::parse_from_rfc3339(first) {
        return Some(d.with_timezone(&Utc));
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%z"] {
        if let Ok(d) = DateTime::parse_from_str(first, f) {
            return Some(d.with_timezone(&Utc));
        }
    }
    NaiveDateTime::parse_from_str(first, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|n| n.and_utc())
}

/// A short, redacted excerpt (one line, at most 200 characters).
pub fn excerpt(s: &str) -> String {
    let one: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    common::redact::redact(one.trim()).into_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-11-28T05:00:00Z".parse().unwrap()
    }

    fn fixture(name: &str, file: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/../../tests/fixtures/openclaw-2026.9.6/{name}/{file}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    fn signals(name: &str, file: &str) -> Vec<Signal> {
        fixture(name, file)
            .lines()
            .filter_map(
                |l| match interpret(l.as_bytes(), now(), "t", &Extra::default()) {
                    Verdict::Seen(Observation::Signal(s)) => Some(s),
                    _ => None,
                },
            )
            .collect()
    }

    #[test]
    fn every_needle_holds_a_search_key() {
        for n in needles() {
            assert!(
                SEARCH_KEYS.iter().any(|k| n.contains(k)),
                "no search key is a piece of {n:?}: the scanner would never look at its lines"
            );
        }
    }

    #[test]
    fn every_captured_record_seen_holds_a_search_key() {
        let dir = format!(
            "{}/../../tests/fixtures/openclaw-2026.9.6",
            env!("CARGO_MANIFEST_DIR")
        );
        let mut seen = 0;
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            for file in ["gateway.log.jsonl", "console.txt"] {
                let Ok(t) = std::fs::read_to_string(e.path().join(file)) else {
                    continue;
                };
                for l in t.lines() {
                    if let Verdict::Seen(_) = interpret(l.as_bytes(), now(), "t", &Extra::default())
                    {
                        seen += 1;
                        assert!(
                            SEARCH_KEYS.iter().any(|k| l.contains(k)),
                            "the scanner would skip {l}"
                        );
                    }
                }
            }
        }
        assert!(seen > 50, "only {seen} records seen in the fixtures");
    }

    fn count(v: &[Signal], class: Class, strength: Strength) -> usize {
        v.iter()
            .filter(|s| s.class == class && s.strength == strength)
            .count()
    }

    #[test]
    fn file_records_of_a_retried_429_are_one_refusal() {
        let s = signals("turn-429-retried", "gateway.log.jsonl");
        assert_eq!(s.len(), 1, "{s:#?}");
        assert_eq!(s[0].class, Class::RateLimit);
        assert_eq!(s[0].strength, Strength::Refusal);
        assert_eq!(s[0].provider.as_deref(), Some("fake"));
        assert_eq!(s[0].model.as_deref(), Some("fake-model"));
        assert_eq!(s[0].status, Some(429));
        assert!(!s[0].long_window);
        assert_eq!(s[0].reset_source.as_deref(), Some("Retry-After"));
        assert_eq!((s[0].reset_at.unwrap() - s[0].at).num_seconds(), 2);
        assert!(
            s[0].example.contains("per-minute rate limit"),
            "{}",
            s[0].example
        );
    }

    #[test]
    fn the_full_429_run_is_ten_refusals_and_one_cooldown_run() {
        for form in ["gateway.log.jsonl", "console.txt"] {
            let s = signals("turn-429-cooldown", form);
            assert_eq!(count(&s, Class::RateLimit, Strength::Refusal), 10, "{form}");
            assert_eq!(
                count(&s, Class::RateLimit, Strength::Decision),
                2,
                "{form}: cooldown + surface_error"
            );
            let cd = s
                .iter()
                .find(|x| x.decision.as_deref() == Some("cooldown"))
                .unwrap();
            assert_eq!(cd.profile.as_deref(), Some("sha256:b382fb4793f3"));
            assert_eq!(
                cd.run_id.as_deref(),
                Some("a04b2ccb-191b-47be-bc54-c0a6f6bda3ab")
            );
            if form == "gateway.log.jsonl" {
                assert_eq!(cd.reset_at.unwrap().timestamp_millis(), 1795839404727);
            }
        }
    }

    #[test]
    fn overload_and_retryable_402_are_classified_as_the_gateway_did() {
        for form in ["gateway.log.jsonl", "console.txt"] {
            let s = signals("turn-529-overloaded", form);
            assert_eq!(count(&s, Class::Overload, Strength::Refusal), 8, "{form}");
            assert_eq!(count(&s, Class::Overload, Strength::Decision), 1, "{form}");
            assert_eq!(s.len(), 9, "{form}");
            let s = signals("turn-402-spending", form);
            assert_eq!(
                count(&s, Class::RateLimit, Strength::Refusal),
                10,
                "{form}: {s:#?}"
            );
            assert_eq!(count(&s, Class::RateLimit, Strength::Decision), 2, "{form}");
            assert!(s.iter().all(|x| x.class == Class::RateLimit));
        }
        let s = signals("turn-402-spending", "gateway.log.jsonl");
        assert_eq!(s[0].status, Some(402));
        assert!(s[0].example.contains("spending limit"));
    }

    #[test]
    fn billing_is_quota_in_both_forms() {
        for form in ["gateway.log.jsonl", "console.txt"] {
            let s = signals("turn-402-billing", form);
            assert_eq!(
                count(&s, Class::Quota, Strength::Refusal),
                1,
                "{form}: {s:#?}"
            );
            assert_eq!(count(&s, Class::Quota, Strength::Decision), 2, "{form}");
            assert_eq!(s.len(), 3, "{form}");
        }
        let s = signals("turn-402-billing", "gateway.log.jsonl");
        let d = s
            .iter()
            .find(|x| x.decision.as_deref() == Some("disabled"))
            .unwrap();
        assert_eq!(d.reset_at.unwrap().timestamp_millis(), 1795842404672);
        assert_eq!(d.reset_source.as_deref(), Some("disabledUntil"));
    }

    #[test]
    fn the_long_window_quota_429_is_flagged_long() {
        for form in ["gateway.log.jsonl", "console.txt"] {
            let s = signals("turn-long-window", form);
            assert_eq!(count(&s, Class::RateLimit, Strength::Refusal), 1, "{form}");
            assert_eq!(count(&s, Class::RateLimit, Strength::Decision), 2, "{form}");
            assert!(s[0].long_window, "{form}: {:?}", s[0]);
        }
    }

    #[test]
    fn successes_and_quotes_count_nothing() {
        for name in ["turn-ok", "turn-quote", "turn-debug"] {
            for form in ["gateway.log.jsonl", "console.txt"] {
                let s = signals(name, form);
                let want = usize::from(name == "turn-debug");
                assert_eq!(s.len(), want, "{name} {form}: {s:#?}");
            }
        }
        // A quoted copy of the event in someone's message is not the event.
        let e = Extra::default();
        for l in [
            r#"2026-11-28T04:00:00Z [telegram] telegram inbound: chatId=1 preview="[agent/embedded] embedded run agent end: runId=x isError=true error=⚠️ API rate limit reached.""#,
            r#"{"0":{"message":"embedded run agent end: runId=x isError=true error=API rate limit reached"},"1":"verbose","_meta":{"date":"2026-11-28T04:00:00Z","logLevelName":"DEBUG","name":"openclaw"}}"#,
            "2026-11-28T04:00:00Z [msteams] msteams typing action=start failed: status code 429 \"API calls quota exceeded\"",
        ] {
            assert_eq!(
                interpret(l.as_bytes(), now(), "t", &e),
                Verdict::Nothing,
                "{l}"
            );
        }
    }

    #[test]
    fn model_calls_and_turns_at_debug_level() {
        let mut starts = 0;
        let mut ok = 0;
        let mut turns = 0;
        for l in fixture("turn-debug", "gateway.log.jsonl").lines() {
            match interpret(l.as_bytes(), now(), "t", &Extra::default()) {
                Verdict::Seen(Observation::CallStart { .. }) => starts += 1,
                Verdict::Seen(Observation::Response {
                    status: Some(200), ..
                }) => ok += 1,
                Verdict::Seen(Observation::Turn {
                    explained: true, ..
                }) => turns += 1,
                _ => {}
            }
        }
        assert_eq!((starts, ok, turns), (3, 2, 2));
    }

    #[test]
    fn journal_prefix_times_and_garbage() {
        let l = "2026-11-28T04:16:14.742123+0000 vm openclaw[123]: [agent/embedded] auth profile failure state updated: runId=r profile=sha256:ab provider=fake reason=rate_limit window=cooldown reused=false";
        let Verdict::Seen(Observation::Signal(s)) =
            interpret(l.as_bytes(), now(), "t", &Extra::default())
        else {
            panic!()
        };
        assert_eq!(s.at.to_rfc3339(), "2026-11-28T04:16:14.742123+00:00");
        assert_eq!(s.strength, Strength::Decision);
        let e = Extra::default();
        assert_eq!(
            interpret(b"{\"1\":\"x\", ", now(), "t", &e),
            Verdict::Garbage("invalid JSON")
        );
        assert_eq!(
            interpret(b"\xff\xfe [model-fetch] start", now(), "t", &e),
            Verdict::Garbage("invalid UTF-8")
        );
        assert_eq!(
            interpret(b"\x00[model-fetch] start", now(), "t", &e),
            Verdict::Garbage("binary bytes")
        );
    }
}

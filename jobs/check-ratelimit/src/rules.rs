//! What a rate-limit line looks like: the built-in phrases of the gateway and the model
//! providers, the false positives to exclude, quota/billing exhaustion as its own class, and how
//! to read a matched line's time and expected reset.
//!
//! Matching works on raw bytes so it can run over large buffers: one Aho-Corasick automaton of
//! rare literals finds candidates; only a candidate's line is then looked at (exclusions, class,
//! JSON parse, timestamp). A bare `429` is never a phrase: it also occurs in ids and durations.

use aho_corasick::{AhoCorasick, Input, MatchKind};
use anyhow::{Context, Result};
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Phrases meaning "the model provider is rate-limiting us" (gateway events and provider texts).
pub const RATE_LIMIT: &[&str] = &[
    "API rate limit reached",
    "rate_limit_error",
    "reason=rate_limit",
    "\"reason\":\"rate_limit\"",
    "\\\"reason\\\":\\\"rate_limit\\\"",
    "(rate_limit)",
    "status=429",
    "HTTP 429",
    "rate_limit_exceeded",
    "Rate limit reached for",
    "usage quota",
    "weekly usage limit",
    "exceeded your current quota",
    "resource_exhausted",
    "RESOURCE_EXHAUSTED",
    "tokens per minute",
    "tokens per min (",
    "is in cooldown",
];

/// Phrases meaning "quota or billing exhausted": needs a human, not a timer.
pub const QUOTA: &[&str] = &[
    "insufficient_quota",
    "enforced_spend_limit_reached",
    "spend limit",
    "credit balance",
    "HTTP 402",
    "status=402",
    "Payment Required",
    "billing_hard_limit_reached",
];

/// Lines that look like a rate limit but are not the model provider's (Teams typing indicator).
pub const EXCLUDE: &[&str] = &[
    "msteams typing",
    "typing action=",
    "API calls quota exceeded",
];

/// Class of a match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    RateLimit,
    Quota,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::RateLimit => "rate_limit",
            Kind::Quota => "quota",
        }
    }
}

/// A matched line, interpreted.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub kind: Kind,
    /// The line's own time, if it has one.
    pub at: Option<DateTime<Utc>>,
    /// Expected reset: (`cooldownUntil` or `retry-after`), with its source.
    pub reset: Option<(DateTime<Utc>, &'static str)>,
    /// A short, redacted excerpt of the message.
    pub excerpt: String,
}

/// What a candidate line turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Match(Found),
    Excluded,
    /// Unusable line (invalid JSON, invalid UTF-8, binary bytes): skipped and counted.
    Garbage(&'static str),
}

/// The compiled rule set.
pub struct Rules {
    trigger: AhoCorasick,
    quota: AhoCorasick,
    exclude: AhoCorasick,
    hints: AhoCorasick,
}

impl std::fmt::Debug for Rules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Rules")
    }
}

const HINT_KEYS: &[&str] = &["cooldownUntil", "retry-after", "retry_after", "retryAfter"];

impl Rules {
    /// Built-in rules plus the configured extra phrases.
    pub fn new(include: &[String], quota_include: &[String], exclude: &[String]) -> Result<Rules> {
        let mut trig: Vec<String> = RATE_LIMIT.iter().map(|s| s.to_string()).collect();
        trig.extend(QUOTA.iter().map(|s| s.to_string()));
        trig.extend(include.iter().cloned());
        trig.extend(quota_include.iter().cloned());
        let mut quota: Vec<String> = QUOTA.iter().map(|s| s.to_string()).collect();
        quota.extend(quota_include.iter().cloned());
        let mut excl: Vec<String> = EXCLUDE.iter().map(|s| s.to_string()).collect();
        excl.extend(exclude.iter().cloned());
        let build = |p: &[String]| {
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostFirst)
                .build(p)
                .context("cannot compile the match rules")
        };
        Ok(Rules {
            trigger: build(&trig)?,
            quota: build(&quota)?,
            exclude: build(&excl)?,
            hints: AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .build(HINT_KEYS)
                .context("cannot compile the hint rules")?,
        })
    }

    /// The first candidate at or after `from` in `hay`: (start, end) of the phrase.
    pub fn next_candidate(&self, hay: &[u8], from: usize) -> Option<(usize, usize)> {
        self.trigger
            .find(Input::new(hay).range(from..hay.len()))
            .map(|m| (m.start(), m.end()))
    }

    /// Classify one line (without its newline).
    pub fn classify(&self, line: &[u8]) -> Verdict {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if self.exclude.is_match(line) {
            return Verdict::Excluded;
        }
        let kind = if self.quota.is_match(line) {
            Kind::Quota
        } else {
            Kind::RateLimit
        };
        let trimmed = trim_start(line);
        let (at, excerpt) = if trimmed.first() == Some(&b'{') {
            let v: Value = match serde_json::from_slice(trimmed) {
                Ok(v) => v,
                Err(_) => return Verdict::Garbage("invalid JSON"),
            };
            (json_time(&v), json_text(&v))
        } else {
            let Ok(text) = std::str::from_utf8(line) else {
                return Verdict::Garbage("invalid UTF-8");
            };
            if text.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
                return Verdict::Garbage("binary bytes");
            }
            (text_time(text), text.trim().to_string())
        };
        let reset = self.reset_hint(line, at);
        Verdict::Match(Found {
            kind,
            at,
            reset,
            excerpt: excerpt_of(&excerpt),
        })
    }

    /// `cooldownUntil` (epoch ms) or `retry-after` (seconds after the line's time) in a line.
    fn reset_hint(
        &self,
        line: &[u8],
        at: Option<DateTime<Utc>>,
    ) -> Option<(DateTime<Utc>, &'static str)> {
        let mut best: Option<(DateTime<Utc>, &'static str)> = None;
        for m in self.hints.find_iter(line) {
            let Some(num) = number_after(&line[m.end()..]) else {
                continue;
            };
            let hint = if m.pattern().as_usize() == 0 {
                let ms = num as i64;
                let t = Utc.timestamp_millis_opt(ms).single();
                let Some(t) = t else { continue };
                // Sanity: epoch ms within a week of the line (or of now).
                let near = at.unwrap_or_else(Utc::now);
                if t < near - Duration::days(1) || t > near + Duration::days(7) {
                    continue;
                }
                (t, "cooldownUntil")
            } else {
                if !(0.0..=7.0 * 86400.0).contains(&num) {
                    continue;
                }
                let base = at.unwrap_or_else(Utc::now);
                (
                    base + Duration::milliseconds((num * 1000.0) as i64),
                    "retry-after",
                )
            };
            if best.is_none_or(|b| hint.0 > b.0) {
                best = Some(hint);
            }
        }
        best
    }
}

fn trim_start(b: &[u8]) -> &[u8] {
    let i = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    &b[i..]
}

/// The number after a key: skips `"`, `:`, `=`, spaces; accepts digits and one dot.
fn number_after(b: &[u8]) -> Option<f64> {
    let mut i = 0;
    while i < b.len() && i < 8 && matches!(b[i], b'"' | b'\\' | b':' | b'=' | b' ') {
        i += 1;
    }
    let start = i;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') && i - start < 20 {
        i += 1;
    }
    std::str::from_utf8(&b[start..i]).ok()?.parse().ok()
}

/// A line's time: `time` (local with offset), else `_meta.date` (UTC), else `date`/`timestamp`.
pub fn json_time(v: &Value) -> Option<DateTime<Utc>> {
    let cands = [
        v.get("time"),
        v.get("_meta").and_then(|m| m.get("date")),
        v.get("date"),
        v.get("timestamp"),
    ];
    cands
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .find_map(parse_time)
}

fn json_text(v: &Value) -> String {
    for k in ["1", "2", "message", "msg"] {
        if let Some(s) = v.get(k).and_then(Value::as_str) {
            return s.to_string();
        }
    }
    match v.get("1") {
        Some(o) => o.to_string(),
        None => v.to_string(),
    }
}

/// A leading RFC 3339 time (`2026-03-05T00:03:55.510Z [agent/embedded] …`), optionally bracketed.
pub fn text_time(text: &str) -> Option<DateTime<Utc>> {
    let first = text.split_whitespace().next()?;
    let first = first.trim_start_matches('[').trim_end_matches(']');
    parse_time(first)
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

fn excerpt_of(s: &str) -> String {
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

    fn rules() -> Rules {
        Rules::new(&[], &[], &[]).unwrap()
    }

    fn class(line: &str) -> Verdict {
        let r = rules();
        assert!(
            r.next_candidate(line.as_bytes(), 0).is_some(),
            "not a candidate: {line}"
        );
        r.classify(line.as_bytes())
    }

    #[test]
    fn gateway_json_rate_limit_with_time() {
        let l = r#"{"0":"{\"subsystem\":\"agent/embedded\"}","1":"embedded run agent end: runId=372ec411 isError=true error=⚠️ API rate limit reached. Please try again later.","_meta":{"date":"2026-03-05T00:03:55.510Z","logLevelName":"WARN"},"time":"2026-03-05T08:03:55.512+08:00"}"#;
        let Verdict::Match(f) = class(l) else {
            panic!("no match")
        };
        assert_eq!(f.kind, Kind::RateLimit);
        assert_eq!(f.at.unwrap().to_rfc3339(), "2026-03-05T00:03:55.512+00:00");
        assert!(
            f.excerpt.starts_with("embedded run agent end"),
            "{}",
            f.excerpt
        );
        assert_eq!(f.reset, None);
    }

    #[test]
    fn structured_event_carries_cooldown_until() {
        let l = r#"{"0":"{\"subsystem\":\"agent/embedded\"}","1":{"event":"auth_profile_failure_state_updated","provider":"anthropic","reason":"rate_limit","windowType":"cooldown","cooldownUntil":1776272598213,"failureCounts":{"rate_limit":1}},"2":"auth profile failure state updated","_meta":{"date":"2026-04-15T17:02:48.534Z"},"time":"2026-04-16T01:02:48.536+08:00"}"#;
        let Verdict::Match(f) = class(l) else {
            panic!("no match")
        };
        let (t, src) = f.reset.unwrap();
        assert_eq!(t.timestamp_millis(), 1776272598213);
        assert_eq!(src, "cooldownUntil");
    }

    #[test]
    fn plain_text_time_and_retry_after() {
        let l = "2026-03-05T00:03:55.510Z [agent/embedded] [provider-transport-fetch] response provider=anthropic model=claude status=429 retry-after: 23";
        let Verdict::Match(f) = class(l) else {
            panic!("no match")
        };
        let at = f.at.unwrap();
        assert_eq!(f.reset.unwrap().0 - at, Duration::seconds(23));
    }

    #[test]
    fn quota_is_its_own_class() {
        let l = r#"2026-03-05T00:03:55Z [agent/embedded] rawError=HTTP 429: {"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota"}}"#;
        let Verdict::Match(f) = class(l) else {
            panic!("no match")
        };
        assert_eq!(f.kind, Kind::Quota);
    }

    #[test]
    fn typing_indicator_is_excluded_and_ids_are_not_candidates() {
        let l = r#"2026-03-05T00:03:55Z [msteams] msteams typing action=start failed: HTTP 429 status code 429 "API calls quota exceeded""#;
        assert_eq!(class(l), Verdict::Excluded);
        let r = rules();
        for l in [
            "run runId=4291-429a durationMs=429 tokens=14290 ok",
            "GET /v1.0/chats/19:429@thread.v2 200 in 429ms",
        ] {
            assert!(r.next_candidate(l.as_bytes(), 0).is_none(), "{l}");
        }
    }

    #[test]
    fn garbage_is_classified_not_crashed() {
        assert_eq!(
            class(r#"{"1":"API rate limit reached", "time":"#),
            Verdict::Garbage("invalid JSON")
        );
        let r = rules();
        let mut bin = b"\x00\x01\xfe API rate limit reached".to_vec();
        assert_eq!(r.classify(&bin), Verdict::Garbage("invalid UTF-8"));
        bin.retain(|b| *b != 0xfe);
        assert_eq!(r.classify(&bin), Verdict::Garbage("binary bytes"));
    }

    #[test]
    fn configured_phrases_extend_the_rules() {
        let r = Rules::new(
            &["upstream said slow down".into()],
            &["account suspended".into()],
            &["synthetic probe".into()],
        )
        .unwrap();
        let m = |s: &str| {
            assert!(r.next_candidate(s.as_bytes(), 0).is_some());
            r.classify(s.as_bytes())
        };
        assert!(
            matches!(m("x upstream said slow down"), Verdict::Match(f) if f.kind == Kind::RateLimit)
        );
        assert!(matches!(m("x account suspended"), Verdict::Match(f) if f.kind == Kind::Quota));
        assert_eq!(
            m("synthetic probe: API rate limit reached"),
            Verdict::Excluded
        );
    }
}

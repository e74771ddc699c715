//! One record of the gateway's JSONL log file, read by type, not by position.
//!
//! Shape (gateway source `logger.ts` `buildLogger`, `subsystem.ts` `emitLog`; fixtures
//! `tests/fixtures/openclaw-2026.9.6/*/gateway.log.jsonl`): `"0"` is the logger's name (for a
//! subsystem logger the JSON text `{"subsystem":"agent/embedded"}`; for the root logger the
//! message itself), then either `"1"` = the text, or one of `"1"`/`"2"` = a structured object
//! (`{"event": "embedded_run_agent_end", …}`) and the other the short text (`"embedded run
//! agent end"`) — the order is not fixed. `_meta` holds `date` (UTC), `logLevelName` and `name`;
//! `time` is local time with offset; `message` the joined text.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// A parsed record.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub value: Value,
}

impl Record {
    /// Parse one line; `None` if it is not a JSON object with `_meta`.
    pub fn parse(line: &str) -> Option<Record> {
        let t = line.trim();
        if !t.starts_with('{') {
            return None;
        }
        let value: Value = serde_json::from_str(t).ok()?;
        value.get("_meta")?.as_object()?;
        Some(Record { value })
    }

    /// `_meta.logLevelName` (`INFO`, `WARN`, `ERROR`, `DEBUG`).
    pub fn level(&self) -> Option<&str> {
        self.value.get("_meta")?.get("logLevelName")?.as_str()
    }

    /// `_meta.date` (UTC), else `time`.
    pub fn date(&self) -> Option<DateTime<Utc>> {
        let s = self
            .value
            .get("_meta")
            .and_then(|m| m.get("date"))
            .or_else(|| self.value.get("time"))?
            .as_str()?;
        DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|d| d.with_timezone(&Utc))
    }

    /// The subsystem (`agent/embedded`, `gateway/hooks`), when the logger is a subsystem logger.
    pub fn subsystem(&self) -> Option<String> {
        let name = self.value.get("_meta")?.get("name")?.as_str()?;
        let v: Value = serde_json::from_str(name).ok()?;
        v.get("subsystem")
            .or_else(|| v.get("module"))
            .and_then(Value::as_str)
            .map(str::to_string)
    }

    /// Whether the record comes from the root logger (forwarded console output such as
    /// `Config auto-restored from backup: …`).
    pub fn is_root(&self) -> bool {
        self.value
            .get("_meta")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            == Some("openclaw")
    }

    /// The record's text: the string in `"1"` or `"2"`, else the root logger's `"0"`, else
    /// `message`.
    pub fn text(&self) -> &str {
        for k in ["1", "2"] {
            if let Some(Value::String(s)) = self.value.get(k) {
                return s;
            }
        }
        if self.is_root()
            && let Some(Value::String(s)) = self.value.get("0")
        {
            return s;
        }
        self.value
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// The structured object in `"1"` or `"2"`, if any.
    pub fn fields(&self) -> Option<&Map<String, Value>> {
        ["1", "2"]
            .iter()
            .find_map(|k| self.value.get(*k).and_then(Value::as_object))
    }

    /// `fields().event` (`embedded_run_agent_end`, `auth_profile_failure_state_updated`, …).
    pub fn event(&self) -> Option<&str> {
        self.fields()?.get("event")?.as_str()
    }

    /// A string field of the structured object.
    pub fn str_field(&self, k: &str) -> Option<&str> {
        self.fields()?.get(k)?.as_str()
    }

    /// A numeric field of the structured object (numbers or numeric strings).
    pub fn num_field(&self, k: &str) -> Option<f64> {
        match self.fields()?.get(k)? {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structured_and_text_records() {
        let s = r#"{"0":"{\"subsystem\":\"agent/embedded\"}","1":{"event":"embedded_run_agent_end","isError":true,"failoverReason":"rate_limit","httpCode":"429"},"2":"embedded run agent end","_meta":{"date":"2026-11-28T04:13:53.123Z","logLevelName":"WARN","name":"{\"subsystem\":\"agent/embedded\"}"},"time":"2026-11-28T04:13:53.123+00:00"}"#;
        let r = Record::parse(s).unwrap();
        assert_eq!(r.event(), Some("embedded_run_agent_end"));
        assert_eq!(r.text(), "embedded run agent end");
        assert_eq!(r.subsystem().as_deref(), Some("agent/embedded"));
        assert_eq!(r.level(), Some("WARN"));
        assert_eq!(r.num_field("httpCode"), Some(429.0));
        assert_eq!(
            r.date().unwrap().to_rfc3339(),
            "2026-11-28T04:13:53.123+00:00"
        );
        // Order inverted: text in "1", object in "2".
        let s = r#"{"0":"{\"subsystem\":\"x\"}","1":"SQLite session write failed","2":{"a":1},"_meta":{"date":"2026-11-28T00:00:00Z","logLevelName":"ERROR","name":"{\"subsystem\":\"x\"}"}}"#;
        let r = Record::parse(s).unwrap();
        assert_eq!(r.text(), "SQLite session write failed");
        assert_eq!(r.num_field("a"), Some(1.0));
        // The root logger: the text is "0".
        let s = r#"{"0":"Config auto-restored from backup: /x/openclaw.json (size-drop-vs-last-good:938->28)","_meta":{"date":"2026-11-28T00:00:00Z","logLevelName":"WARN","name":"openclaw"},"message":"m"}"#;
        let r = Record::parse(s).unwrap();
        assert!(r.is_root());
        assert!(r.text().starts_with("Config auto-restored from backup"));
        assert!(Record::parse("plain text").is_none());
        assert!(Record::parse("{\"a\":1}").is_none());
    }

    #[test]
    fn every_captured_record_parses() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/openclaw-2026.9.6");
        let mut n = 0;
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path().join("gateway.log.jsonl");
            let Ok(t) = std::fs::read_to_string(&p) else {
                continue;
            };
            for line in t.lines().filter(|l| !l.trim().is_empty()) {
                let r = Record::parse(line).unwrap_or_else(|| panic!("{}: {line}", p.display()));
                assert!(r.date().is_some() && r.level().is_some(), "{line}");
                n += 1;
            }
        }
        assert!(n > 100, "only {n} records in the fixtures");
    }
}

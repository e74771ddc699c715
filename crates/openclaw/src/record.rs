//! One record of the gateway's JSONL log file, read by type, not by position.
//!
//! Shape (gateway source `logger.ts` `buildLogger`, `subsystem.ts` `emitLog`; fixtures
//! `tests/fixtures/openclaw-2026.9.6/*/gateway.log.jsonl`): `"0"` is the logger's name (for a
//! subsystem logger the JSON text `{"subsystem":"agent/embedded"}`; for the root logger the
//! message itself), then either `"1"` = the text, or one of `"1"`/`"2"` = a structured object
//! (`{"event": "embedded_run_agent_end", …}`) and the other the short text (`"embedded run
//! agent end"`) — the order is not fixed. `_meta` holds `date` (UTC), `logLevelName` and `name`;
//! `time` is local time with offset; `message` the joined text.
//!
//! A record borrows from its line: the line is checked as JSON once, each member is kept as its
//! raw text, and a value is decoded only when it is asked for (check-ratelimit reads a few
//! fields of tens of thousands of records per run; building a tree of every value was a
//! quarter of its scan time).

use chrono::{DateTime, Utc};
use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// A JSON object's members as raw JSON texts, in order; a key given twice means its last value
/// (as a JSON parser building a map would).
#[derive(Debug, Clone, Default)]
pub struct Object<'a> {
    members: Vec<(Cow<'a, str>, &'a RawValue)>,
}

impl<'a> Object<'a> {
    /// Parse a JSON object; `None` if `json` is not one.
    pub fn parse(json: &'a str) -> Option<Object<'a>> {
        serde_json::from_str(json).ok()
    }

    /// The raw JSON text of member `k`.
    pub fn raw(&self, k: &str) -> Option<&'a RawValue> {
        self.members
            .iter()
            .rev()
            .find(|(key, _)| key == k)
            .map(|(_, v)| *v)
    }

    /// Whether member `k` exists (whatever its value).
    pub fn has(&self, k: &str) -> bool {
        self.raw(k).is_some()
    }

    /// Member `k` if it is a string.
    pub fn str(&self, k: &str) -> Option<Cow<'a, str>> {
        json_str(self.raw(k)?)
    }

    /// Member `k` if it is a number or a numeric string.
    pub fn num(&self, k: &str) -> Option<f64> {
        let raw = self.raw(k)?;
        match raw.get().as_bytes().first()? {
            b'"' => json_str(raw)?.trim().parse().ok(),
            b'-' | b'0'..=b'9' => raw.get().parse().ok(),
            _ => None,
        }
    }

    /// Member `k` if it is `true` or `false`.
    pub fn bool(&self, k: &str) -> Option<bool> {
        match self.raw(k)?.get() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }

    /// Member `k` if it is an object.
    pub fn object(&self, k: &str) -> Option<Object<'a>> {
        Object::parse(self.raw(k)?.get())
    }
}

/// A raw JSON value as a string, borrowed unless it holds escapes.
fn json_str(raw: &RawValue) -> Option<Cow<'_, str>> {
    let s = raw.get();
    let inner = s.strip_prefix('"')?.strip_suffix('"')?;
    if inner.contains('\\') {
        serde_json::from_str::<String>(s).ok().map(Cow::Owned)
    } else {
        Some(Cow::Borrowed(inner))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Object<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Members<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for Members<'a> {
            type Value = Object<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Object<'a>, A::Error> {
                let mut members = Vec::with_capacity(m.size_hint().unwrap_or(8));
                while let Some((Key(k), v)) = m.next_entry::<Key<'a>, &'a RawValue>()? {
                    members.push((k, v));
                }
                Ok(Object { members })
            }
        }
        d.deserialize_map(Members(std::marker::PhantomData))
    }
}

/// A key, borrowed from the text unless it holds escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct K<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for K<'a> {
            type Value = Key<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(K(std::marker::PhantomData))
    }
}

/// A parsed record, borrowing from its line.
#[derive(Debug, Clone)]
pub struct Record<'a> {
    top: Object<'a>,
    meta: Object<'a>,
    /// The structured object in `"1"` or `"2"`.
    fields: Option<Object<'a>>,
}

impl<'a> Record<'a> {
    /// Parse one line; `None` if it is not a JSON object with an object `_meta`.
    pub fn parse(line: &'a str) -> Option<Record<'a>> {
        let t = line.trim();
        if !t.starts_with('{') {
            return None;
        }
        let top = Object::parse(t)?;
        let meta = top.object("_meta")?;
        Some(Record::with_meta(top, meta))
    }

    /// A record of any JSON object (without `_meta`: no level, no date but `time`).
    pub fn from_object(top: Object<'a>) -> Record<'a> {
        let meta = top.object("_meta").unwrap_or_default();
        Record::with_meta(top, meta)
    }

    fn with_meta(top: Object<'a>, meta: Object<'a>) -> Record<'a> {
        let fields = ["1", "2"].iter().find_map(|k| {
            top.raw(k)
                .filter(|r| r.get().starts_with('{'))
                .and_then(|r| Object::parse(r.get()))
        });
        Record { top, meta, fields }
    }

    /// A top-level member that is a string (`message`, `time`, `"0"`).
    pub fn top_str(&self, k: &str) -> Option<Cow<'a, str>> {
        self.top.str(k)
    }

    /// `message`: the gateway's joined text of the record.
    pub fn message(&self) -> Option<Cow<'a, str>> {
        self.top.str("message")
    }

    /// `_meta.logLevelName` (`INFO`, `WARN`, `ERROR`, `DEBUG`).
    pub fn level(&self) -> Option<Cow<'a, str>> {
        self.meta.str("logLevelName")
    }

    /// `_meta.date` (UTC), else `time`.
    pub fn date(&self) -> Option<DateTime<Utc>> {
        let s = self.meta.str("date").or_else(|| self.top.str("time"))?;
        DateTime::parse_from_rfc3339(&s)
            .ok()
            .map(|d| d.with_timezone(&Utc))
    }

    /// The subsystem (`agent/embedded`, `gateway/hooks`), when the logger is a subsystem logger.
    pub fn subsystem(&self) -> Option<String> {
        let name = self.meta.str("name")?;
        let v = Object::parse(&name)?;
        v.str("subsystem")
            .or_else(|| v.str("module"))
            .map(Cow::into_owned)
    }

    /// Whether the record comes from the root logger (forwarded console output such as
    /// `Config auto-restored from backup: …`).
    pub fn is_root(&self) -> bool {
        self.meta.raw("name").map(RawValue::get) == Some("\"openclaw\"")
    }

    /// The record's text: the string in `"1"` or `"2"`, else the root logger's `"0"`, else
    /// `message`.
    pub fn text(&self) -> Cow<'a, str> {
        for k in ["1", "2"] {
            if let Some(s) = self.top.str(k) {
                return s;
            }
        }
        if self.is_root()
            && let Some(s) = self.top.str("0")
        {
            return s;
        }
        self.message().unwrap_or(Cow::Borrowed(""))
    }

    /// The structured object in `"1"` or `"2"`, if any.
    pub fn fields(&self) -> Option<&Object<'a>> {
        self.fields.as_ref()
    }

    /// `fields().event` (`embedded_run_agent_end`, `auth_profile_failure_state_updated`, …).
    pub fn event(&self) -> Option<Cow<'a, str>> {
        self.fields()?.str("event")
    }

    /// A string field of the structured object.
    pub fn str_field(&self, k: &str) -> Option<Cow<'a, str>> {
        self.fields()?.str(k)
    }

    /// A numeric field of the structured object (numbers or numeric strings).
    pub fn num_field(&self, k: &str) -> Option<f64> {
        self.fields()?.num(k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structured_and_text_records() {
        let s = r#"{"0":"{\"subsystem\":\"agent/embedded\"}","1":{"event":"embedded_run_agent_end","isError":true,"failoverReason":"rate_limit","httpCode":"429"},"2":"embedded run agent end","_meta":{"date":"2026-11-28T04:13:53.123Z","logLevelName":"WARN","name":"{\"subsystem\":\"agent/embedded\"}"},"time":"2026-11-28T04:13:53.123+00:00"}"#;
        let r = Record::parse(s).unwrap();
        assert_eq!(r.event().as_deref(), Some("embedded_run_agent_end"));
        assert_eq!(r.text(), "embedded run agent end");
        assert_eq!(r.subsystem().as_deref(), Some("agent/embedded"));
        assert_eq!(r.level().as_deref(), Some("WARN"));
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
    fn members_are_read_by_name_whatever_the_order_spacing_or_escapes() {
        let s = r#"{ "_meta" : { "logLevelName" : "ERROR" , "date": "2026-11-28T00:00:00Z" },
            "2" : { "reason" : "rate_limit", "n": "42 ", "b": false, "d\u0061te": "esc\"aped", "reason": "billing" },
            "1": "text" }"#;
        let r = Record::parse(s).unwrap();
        assert_eq!(r.level().as_deref(), Some("ERROR"));
        assert_eq!(r.text(), "text");
        let f = r.fields().unwrap();
        // A key given twice: the last value, as a map-building parser would keep.
        assert_eq!(f.str("reason").as_deref(), Some("billing"));
        assert_eq!(f.num("n"), Some(42.0));
        assert_eq!(f.bool("b"), Some(false));
        assert_eq!(f.bool("n"), None);
        assert_eq!(f.str("date").as_deref(), Some("esc\"aped"));
        assert!(f.has("b") && !f.has("missing"));
        assert_eq!(f.str("b"), None, "a boolean is not a string");
        // Not JSON, not an object, no _meta.
        assert!(Record::parse(r#"{"_meta": {}, "1": "#).is_none());
        assert!(Record::parse(r#"{"_meta": [1]}"#).is_none());
        assert!(Object::parse("[1, 2]").is_none());
        let r = Record::from_object(
            Object::parse(r#"{"message": "m", "time": "2026-11-28T01:00:00+01:00"}"#).unwrap(),
        );
        assert_eq!(r.text(), "m");
        assert_eq!(r.date().unwrap().to_rfc3339(), "2026-11-28T00:00:00+00:00");
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

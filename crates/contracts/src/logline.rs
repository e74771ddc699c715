//! A line of a job's log file (`logs/<job>.log`): written by the runtime's logger, read by
//! publish-report. One type, one formatter and one parser per format, so the two ends cannot
//! drift.
//!
//! Text (the default): `2026-11-21T10:00:03.123Z WARN  poll-teams[3fa9c1] message` — the
//! timestamp is UTC with milliseconds (24 bytes, so text order is time order), the level is
//! padded to 5. JSON (`runtime.log_format = "json"`): one object per line with `ts`, `level`,
//! `job`, `run_id`, `msg` and any structured fields.

use serde::{Deserialize, Serialize};

/// Width of the text format's timestamp (`2026-11-21T10:00:03.123Z`).
pub const TS_LEN: usize = 24;

/// The levels a line can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
            Level::Trace => "TRACE",
        }
    }
    pub fn parse(s: &str) -> Option<Level> {
        Some(match s {
            "ERROR" => Level::Error,
            "WARN" => Level::Warn,
            "INFO" => Level::Info,
            "DEBUG" => Level::Debug,
            "TRACE" => Level::Trace,
            _ => return None,
        })
    }
}

/// One log line, borrowed from the text it was parsed from (or to be formatted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine<'a> {
    /// RFC 3339 UTC with milliseconds, as written (`2026-11-21T10:00:03.123Z`).
    pub ts: std::borrow::Cow<'a, str>,
    pub level: Level,
    pub job: std::borrow::Cow<'a, str>,
    pub run_id: std::borrow::Cow<'a, str>,
    pub msg: std::borrow::Cow<'a, str>,
}

impl LogLine<'_> {
    /// The text format, with a trailing newline.
    pub fn to_text(&self) -> String {
        format!(
            "{} {:<5} {}[{}] {}\n",
            self.ts,
            self.level.as_str(),
            self.job,
            self.run_id,
            self.msg
        )
    }

    /// The JSON format, with a trailing newline; `fields` are added after the fixed keys.
    pub fn to_json(&self, fields: &[(&str, serde_json::Value)]) -> String {
        let mut m = serde_json::Map::new();
        m.insert("ts".into(), self.ts.as_ref().into());
        m.insert("level".into(), self.level.as_str().into());
        m.insert("job".into(), self.job.as_ref().into());
        m.insert("run_id".into(), self.run_id.as_ref().into());
        m.insert("msg".into(), self.msg.as_ref().into());
        for (k, v) in fields {
            m.entry(k.to_string()).or_insert_with(|| v.clone());
        }
        let mut s = serde_json::Value::Object(m).to_string();
        s.push('\n');
        s
    }

    /// Parse one line (without its newline) in either format; `None` if it is neither.
    pub fn parse(line: &str) -> Option<LogLine<'_>> {
        if line.starts_with('{') {
            return Self::parse_json(line);
        }
        Self::parse_text(line)
    }

    /// The text format only.
    pub fn parse_text(line: &str) -> Option<LogLine<'_>> {
        let ts = line.get(..TS_LEN)?;
        let b = ts.as_bytes();
        if b[4] != b'-' || b[10] != b'T' || b[23] != b'Z' {
            return None;
        }
        let rest = line.get(TS_LEN..)?.strip_prefix(' ')?;
        let (level, rest) = rest.split_once(' ')?;
        let level = Level::parse(level)?;
        let rest = rest.trim_start_matches(' ');
        let open = rest.find('[')?;
        let close = open + rest[open..].find("] ")?;
        let job = &rest[..open];
        if job.is_empty() || job.contains(' ') {
            return None;
        }
        Some(LogLine {
            ts: ts.into(),
            level,
            job: job.into(),
            run_id: rest[open + 1..close].into(),
            msg: rest[close + 2..].into(),
        })
    }

    /// The JSON format only.
    pub fn parse_json(line: &str) -> Option<LogLine<'static>> {
        let v: serde_json::Value = serde_json::from_str(line).ok()?;
        let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
        Some(LogLine {
            ts: s("ts")?.into(),
            level: Level::parse(&s("level")?)?,
            job: s("job")?.into(),
            run_id: s("run_id").unwrap_or_default().into(),
            msg: s("msg").unwrap_or_default().into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line() -> LogLine<'static> {
        LogLine {
            ts: "2026-11-21T10:00:03.123Z".into(),
            level: Level::Warn,
            job: "poll-teams".into(),
            run_id: "3fa9c1".into(),
            msg: "chat 19:x] failed: [429] ".into(),
        }
    }

    #[test]
    fn text_round_trip() {
        let l = line();
        let t = l.to_text();
        assert_eq!(
            t,
            "2026-11-21T10:00:03.123Z WARN  poll-teams[3fa9c1] chat 19:x] failed: [429] \n"
        );
        assert_eq!(LogLine::parse(t.trim_end_matches('\n')), Some(l));
    }

    #[test]
    fn json_round_trip() {
        let l = line();
        let t = l.to_json(&[("chat", "19:x".into()), ("msg", "not this".into())]);
        let back = LogLine::parse(t.trim_end()).unwrap();
        assert_eq!(back, l);
        assert!(t.contains("\"chat\":\"19:x\""), "{t}");
    }

    #[test]
    fn not_a_log_line() {
        for l in [
            "",
            "hello",
            "2026-11-21T10:00:03.123Z NOPE  x[1] m",
            "2026-11-21 10:00:03.123Z WARN  x[1] m",
            "{\"ts\":1}",
        ] {
            assert_eq!(LogLine::parse(l), None, "{l}");
        }
    }
}

//! Sentences that mix the report's own words with values read from elsewhere.
//!
//! A value read from a state file, a log or the gateway (an error message, a chat id, a
//! circuit reason) is untrusted: it may hold Markdown or HTML. A [`Text`] keeps the two apart,
//! so each renderer can show values literally: a code span in Markdown (unless the value is a
//! plain word), escaped in HTML. In the JSON report a text is its plain string.

use serde::{Serialize, Serializer};

/// One piece of a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Span {
    /// The report's own words (trusted, shown as is).
    Plain(String),
    /// The report's own words, emphasised.
    Strong(String),
    /// A value read from elsewhere: shown literally.
    Value(String),
}

/// A sentence.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Text(pub Vec<Span>);

impl Text {
    pub fn new() -> Text {
        Text(Vec::new())
    }
    /// Own words.
    pub fn plain(s: impl Into<String>) -> Text {
        Text(vec![Span::Plain(s.into())])
    }
    /// A value alone.
    pub fn value(s: impl Into<String>) -> Text {
        Text(vec![Span::Value(s.into())])
    }
    /// Append own words.
    pub fn words(mut self, s: impl Into<String>) -> Text {
        self.0.push(Span::Plain(s.into()));
        self
    }
    /// Append emphasised own words.
    pub fn strong(mut self, s: impl Into<String>) -> Text {
        self.0.push(Span::Strong(s.into()));
        self
    }
    /// Append a value (redacted and shortened to `max` characters).
    pub fn val(mut self, s: &str) -> Text {
        self.0.push(Span::Value(clean(s, 300)));
        self
    }
    /// Append another text.
    pub fn then(mut self, other: Text) -> Text {
        self.0.extend(other.0);
        self
    }
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|s| match s {
            Span::Plain(t) | Span::Strong(t) | Span::Value(t) => t.is_empty(),
        })
    }
    /// The sentence as plain text (JSON, logs, the model's prompt).
    pub fn plain_text(&self) -> String {
        self.0
            .iter()
            .map(|s| match s {
                Span::Plain(t) | Span::Strong(t) | Span::Value(t) => t.as_str(),
            })
            .collect()
    }
}

impl std::fmt::Display for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.plain_text())
    }
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.plain_text())
    }
}

/// An untrusted value made fit for the report: secrets redacted, whitespace collapsed to
/// single spaces (a multi-line error body becomes one line), at most `max` characters.
pub fn clean(s: &str, max: usize) -> String {
    let redacted = common::redact::redact(s);
    let mut out = String::with_capacity(redacted.len().min(max + 4));
    let mut n = 0;
    let mut space = false;
    for c in redacted.trim().chars() {
        if c.is_whitespace() || c.is_control() {
            space = true;
            continue;
        }
        if n >= max {
            out.push('…');
            return out;
        }
        if space && !out.is_empty() {
            out.push(' ');
            n += 1;
        }
        space = false;
        out.push(c);
        n += 1;
    }
    out
}

/// A time as the report shows it: `2026-11-21 07:05 UTC`.
pub fn when(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A time or a dash.
pub fn when_or_dash(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map_or_else(|| "—".into(), when)
}

/// A duration in words: `45 s`, `12 min`, `3.5 h`, `2.0 days`.
pub fn span(secs: i64) -> String {
    let s = secs.unsigned_abs();
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        7200..=172_799 => format!("{:.1} h", s as f64 / 3600.0),
        _ => format!("{:.1} days", s as f64 / 86400.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_collapses_redacts_and_shortens() {
        assert_eq!(clean("  a\n\n b\tc ", 10), "a b c");
        assert_eq!(clean("abcdef", 3), "abc…");
        let t = clean("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.x", 100);
        assert!(!t.contains("eyJhbGci"), "{t}");
        assert_eq!(clean("x\u{1b}[31my", 10), "x [31my");
    }

    #[test]
    fn texts_serialize_as_their_plain_string() {
        let t = Text::plain("last run failed: ").val("<b>x</b>");
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            "\"last run failed: <b>x</b>\""
        );
        assert!(!t.is_empty() && Text::new().is_empty());
    }
}

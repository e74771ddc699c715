//! The Markdown backend: `reports/<period>.md`, the webhook's `text`, `--print`.
//!
//! Values read from elsewhere never become markup: a plain word (`rate_limit`,
//! `openclaw.json`) is written as is, anything else as a code span (GFM renders no HTML or
//! emphasis inside one; `|` is escaped so a table cell cannot be split); untrusted prose (the
//! analysis paragraph) is backslash-escaped.

use super::doc::*;
use crate::text::{Span, Text};

/// Render a document.
pub fn render(d: &Document) -> String {
    let mut o = String::with_capacity(16 * 1024);
    o.push_str(&format!("# {}\n\n", d.title));
    o.push_str(&format!(
        "**{}.** {}.\n\n",
        escape_prose(&d.headline),
        inline(&d.subtitle, false)
    ));
    for b in &d.banners {
        o.push_str(&format!("> {}.\n\n", inline(&b.text, false)));
    }
    for s in &d.sections {
        let blocks: Vec<String> = s.blocks.iter().filter_map(block).collect();
        if blocks.is_empty() {
            continue;
        }
        o.push_str(&format!("## {}\n\n", s.title));
        for b in blocks {
            o.push_str(&b);
            o.push('\n');
        }
    }
    o.push_str(&format!("{}\n\n{}\n", inline(&d.footer, false), d.id_line));
    o
}

fn block(b: &Block) -> Option<String> {
    Some(match b {
        Block::Para(t) => format!("{}\n", inline(t, false)),
        Block::Prose(p) => format!("{}\n", escape_prose(p)),
        Block::Note(t) => format!("_{}_\n", inline(t, false)),
        Block::List(items) => {
            let mut o = String::new();
            for t in items {
                o.push_str(&format!("- {}\n", inline(t, false)));
            }
            o
        }
        Block::Table(t) => table(t),
        Block::RunCharts => return None,
    })
}

fn table(t: &Table) -> String {
    let mut o = format!(
        "| {} |\n|{}\n",
        t.head.join(" | "),
        "---|".repeat(t.head.len())
    );
    for row in &t.rows {
        let cells: Vec<String> = row
            .iter()
            .map(|c| match c {
                Cell::Text(t) => inline(t, true),
                Cell::Job(name) => value(name, true),
                Cell::Status(s) => format!("{} {}", badge(*s), s.as_str()),
            })
            .collect();
        o.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    o
}

/// A sentence; `in_table` escapes `|` everywhere (GFM splits cells on it even in code spans).
pub fn inline(t: &Text, in_table: bool) -> String {
    let mut o = String::new();
    for s in &t.0 {
        match s {
            Span::Plain(x) => o.push_str(&own_words(x, in_table)),
            Span::Strong(x) => o.push_str(&format!("**{}**", own_words(x, in_table))),
            Span::Value(x) => o.push_str(&value(x, in_table)),
        }
    }
    o
}

/// The report's own words: on one line, `|` escaped in tables.
fn own_words(s: &str, in_table: bool) -> String {
    let s = s.replace(['\n', '\r'], " ");
    if in_table { s.replace('|', "\\|") } else { s }
}

/// A value shown literally: as is when it is a plain word, else a code span.
pub fn value(s: &str, in_table: bool) -> String {
    if s.is_empty() {
        return String::new();
    }
    if is_plain_word(s) {
        return s.to_string();
    }
    code_span(s, in_table)
}

/// Letters, digits and `.:/@+-`, with `_` only between letters or digits: nothing Markdown
/// or HTML reads as markup.
fn is_plain_word(s: &str) -> bool {
    let b = s.as_bytes();
    s.len() <= 80
        && !matches!(b[0], b'-' | b'+')
        && b.iter().enumerate().all(|(i, &c)| {
            c.is_ascii_alphanumeric()
                || matches!(c, b'.' | b':' | b'/' | b'@' | b'-' | b'+')
                || (c == b'_'
                    && i > 0
                    && i + 1 < b.len()
                    && b[i - 1].is_ascii_alphanumeric()
                    && b[i + 1].is_ascii_alphanumeric())
        })
}

/// A code span holding `s` literally: a backtick fence longer than any run inside, padded
/// when the content starts or ends with a backtick.
pub fn code_span(s: &str, in_table: bool) -> String {
    let mut s = s.replace(['\n', '\r'], " ");
    if in_table {
        s = s.replace('|', "\\|");
    }
    let mut longest = 0;
    let mut run = 0;
    for c in s.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') || s.starts_with(' ') && s.ends_with(' ') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{s}{pad}{fence}")
}

/// Untrusted prose: every character Markdown or HTML could read as markup is escaped, and a
/// leading list or heading marker is neutralised.
pub fn escape_prose(s: &str) -> String {
    let one_line = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let chars: Vec<char> = one_line.chars().collect();
    let alnum = |j: Option<usize>| {
        j.and_then(|j| chars.get(j))
            .is_some_and(|x| x.is_alphanumeric())
    };
    let mut o = String::with_capacity(one_line.len() + 8);
    for (i, &c) in chars.iter().enumerate() {
        // `_` between letters or digits never emphasises (`per_file_chars` stays readable).
        let plain_underscore = c == '_' && alnum(i.checked_sub(1)) && alnum(Some(i + 1));
        let markup = matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '&' | '|' | '~' | '#'
        ) && !plain_underscore;
        if markup || (i == 0 && matches!(c, '-' | '+' | '=')) {
            o.push('\\');
        }
        o.push(c);
    }
    // `1. text` at the start would be an ordered list.
    if let Some(dot) = o.find(". ")
        && dot > 0
        && o[..dot].bytes().all(|b| b.is_ascii_digit())
    {
        o.insert(dot, '\\');
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_words_or_code_spans() {
        assert_eq!(value("rate_limit", false), "rate_limit");
        assert_eq!(value("openclaw.json", false), "openclaw.json");
        assert_eq!(value("19:x@thread.v2", false), "19:x@thread.v2");
        assert_eq!(
            value("<script>alert(1)</script>", false),
            "`<script>alert(1)</script>`"
        );
        assert_eq!(value("_em_", false), "`_em_`");
        assert_eq!(value("a `b` c", false), "``a `b` c``");
        assert_eq!(value("`x", false), "`` `x ``");
        assert_eq!(value("a|b", true), "`a\\|b`");
        assert_eq!(value("two\nlines", false), "`two lines`");
        assert_eq!(value("- item", false), "`- item`");
    }

    #[test]
    fn prose_cannot_become_markup() {
        assert_eq!(escape_prose("a <b> & *c*"), "a \\<b\\> \\& \\*c\\*");
        assert_eq!(escape_prose("# title"), "\\# title");
        assert_eq!(escape_prose("- item"), "\\- item");
        assert_eq!(escape_prose("1. first"), "1\\. first");
        assert_eq!(escape_prose("plain words, fine."), "plain words, fine.");
        assert_eq!(escape_prose("per_file_chars _x_"), "per_file_chars \\_x\\_");
    }
}

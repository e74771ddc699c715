//! Plain-text rendering of Teams message HTML for the agent: tags stripped, entities decoded,
//! `<br>`/`<p>`/`<div>` as newlines, links kept as `text (url)`, `<at>` mentions as `@Name`,
//! `<script>`/`<style>` content dropped, control characters removed. Never fails: anything that
//! is not a well-formed tag is kept as text.

/// Render HTML as plain text.
pub fn to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    // Pending link targets, innermost last: (href, output position where the link text starts).
    let mut links: Vec<(Option<String>, usize)> = Vec::new();
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            push_text(&mut out, rest);
            break;
        };
        push_text(&mut out, &rest[..lt]);
        rest = &rest[lt..];
        let Some(end) = tag_end(rest) else {
            // A lone '<': keep it as text.
            out.push('<');
            rest = &rest[1..];
            continue;
        };
        let tag = &rest[1..end];
        rest = &rest[end + 1..];
        if tag.starts_with("!--") || tag.starts_with('!') || tag.starts_with('?') {
            continue;
        }
        let closing = tag.starts_with('/');
        let body = tag.trim_start_matches('/');
        let name: String = body
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        match (name.as_str(), closing) {
            ("script" | "style", false) => {
                // Drop everything up to the matching close tag.
                let close = format!("</{name}");
                match find_ci(rest, &close) {
                    Some(i) => {
                        rest = &rest[i..];
                        if let Some(e) = rest.find('>') {
                            rest = &rest[e + 1..];
                        } else {
                            rest = "";
                        }
                    }
                    None => rest = "",
                }
            }
            ("br", _) => out.push('\n'),
            (
                "p" | "div" | "tr" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "ul" | "ol"
                | "blockquote" | "pre" | "table",
                _,
            ) => newline(&mut out),
            ("li", false) => {
                newline(&mut out);
                out.push_str("- ");
            }
            ("li", true) => newline(&mut out),
            ("td" | "th", true) => out.push('\t'),
            ("at", false) => out.push('@'),
            ("a", false) => links.push((attr(body, "href"), out.len())),
            ("a", true) => {
                if let Some((Some(href), start)) = links.pop() {
                    let text = out.get(start..).unwrap_or("").trim().to_string();
                    if !href.is_empty() && text != href {
                        if text.is_empty() {
                            out.push_str(&href);
                        } else {
                            out.push_str(" (");
                            out.push_str(&href);
                            out.push(')');
                        }
                    }
                }
            }
            ("img", _) => {
                let alt = attr(body, "alt").unwrap_or_default();
                out.push_str(&format!(
                    "[image{}]",
                    if alt.is_empty() {
                        String::new()
                    } else {
                        format!(": {alt}")
                    }
                ));
            }
            ("emoji", false) => {
                if let Some(alt) = attr(body, "alt") {
                    out.push_str(&alt);
                }
            }
            _ => {}
        }
    }
    tidy(&out)
}

/// Where the tag starting at `s[0] == '<'` ends (index of its `>`), honouring quotes.
fn tag_end(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    if b.len() < 2 || !(b[1].is_ascii_alphabetic() || b[1] == b'/' || b[1] == b'!' || b[1] == b'?')
    {
        return None;
    }
    let mut quote = None;
    for (i, &c) in b.iter().enumerate().skip(1) {
        match (quote, c) {
            (None, b'"' | b'\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, b'>') => return Some(i),
            _ => {}
        }
    }
    None
}

fn find_ci(hay: &str, needle: &str) -> Option<usize> {
    hay.to_ascii_lowercase().find(&needle.to_ascii_lowercase())
}

/// The decoded value of attribute `name` in a tag body (`a href="x" id=y`).
fn attr(tag: &str, name: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find(name) {
        let at = from + i;
        from = at + name.len();
        let before_ok = at > 0 && lower.as_bytes()[at - 1].is_ascii_whitespace();
        let after = lower[from..].trim_start();
        if !before_ok || !after.starts_with('=') {
            continue;
        }
        let vstart = tag.len() - after.len() + 1;
        let v = tag[vstart..].trim_start();
        let value = match v.chars().next() {
            Some(q @ ('"' | '\'')) => v[1..].split(q).next().unwrap_or(""),
            _ => v
                .split(|c: char| c.is_whitespace() || c == '>')
                .next()
                .unwrap_or(""),
        };
        return Some(decode_entities(value));
    }
    None
}

fn newline(out: &mut String) {
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
}

fn push_text(out: &mut String, text: &str) {
    // Source newlines are layout, not content, in HTML.
    let decoded = decode_entities(text);
    for c in decoded.chars() {
        match c {
            '\n' | '\r' | '\t' => {
                if !out.ends_with(' ') && !out.ends_with('\n') && !out.is_empty() {
                    out.push(' ');
                }
            }
            c if c.is_control() => {}
            '\u{a0}' => out.push(' '),
            c => out.push(c),
        }
    }
}

/// Decode HTML entities (named ones Teams uses, decimal and hex); unknown ones stay as they are.
pub fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let end = rest[1..].find(';').map(|e| e + 1).filter(|e| *e <= 12);
        let decoded = end.and_then(|e| {
            let ent = &rest[1..e];
            let ch = match ent {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some(' '),
                _ => {
                    if let Some(h) = ent.strip_prefix("#x").or_else(|| ent.strip_prefix("#X")) {
                        u32::from_str_radix(h, 16).ok().and_then(char::from_u32)
                    } else if let Some(d) = ent.strip_prefix('#') {
                        d.parse::<u32>().ok().and_then(char::from_u32)
                    } else {
                        None
                    }
                }
            };
            ch.map(|c| (c, e))
        });
        match decoded {
            Some((c, e)) => {
                if !c.is_control() || c == '\n' || c == '\t' {
                    out.push(c);
                }
                rest = &rest[e + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Trim spaces at line ends, at most one blank line in a row, no leading/trailing blank lines.
fn tidy(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut blank = 0;
    for line in s.lines() {
        let line = line.trim_matches(|c: char| c == ' ' || c == '\t');
        if line.is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
            if blank > 0 {
                out.push('\n');
            }
        }
        blank = 0;
        out.push_str(line);
    }
    out
}

pub use common::html::escape;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn teams_markup() {
        assert_eq!(
            to_text("<div><at id=\"0\">Isaiah Langer</at> see the file</div>"),
            "@Isaiah Langer see the file"
        );
        assert_eq!(to_text("<p>one</p><p>two<br>three</p>"), "one\ntwo\nthree");
        assert_eq!(
            to_text("see <a href=\"https://x.example/a?b=1&amp;c=2\">the doc</a>"),
            "see the doc (https://x.example/a?b=1&c=2)"
        );
        assert_eq!(
            to_text("<a href=\"https://x.example\">https://x.example</a>"),
            "https://x.example"
        );
        assert_eq!(
            to_text("a &amp; b &lt;c&gt; &#233;&#x263A; &bogus; &"),
            "a & b <c> é☺ &bogus; &"
        );
    }

    #[test]
    fn hostile_markup_is_inert() {
        let t = to_text("<p>hi</p><script>alert('x')</script><style>p{}</style>ok");
        assert_eq!(t, "hi\nok");
        assert_eq!(to_text("<SCRIPT>evil()</SCRIPT >x"), "x");
        assert_eq!(to_text("<script>never closed"), "");
        assert_eq!(to_text("1 < 2 and 3 > 2"), "1 < 2 and 3 > 2");
        assert_eq!(to_text("a\u{0}b\u{1b}[31mc"), "ab[31mc");
        assert_eq!(to_text("<img src=x onerror=alert(1)>"), "[image]");
        assert_eq!(to_text("&#0;&#x1b;x"), "x");
    }

    #[test]
    fn escape_roundtrip() {
        let s = "<b>\"x\" & 'y'</b>";
        assert_eq!(decode_entities(&escape(s)), s);
    }
}

//! HTML escaping for everything the suite renders as HTML: Teams messages (alerts, command
//! replies, reports) and the status page.

/// Escape text for HTML/XML text and attribute values. Control characters other than tab and
/// newlines, which XML 1.0 forbids, become U+FFFD.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => o.push('\u{fffd}'),
            c => o.push(c),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_markup_and_controls() {
        assert_eq!(
            super::escape("<a href=\"x\">Tom & 'Jerry'</a>\u{1b}\n"),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;\u{fffd}\n"
        );
    }
}

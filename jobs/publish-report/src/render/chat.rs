//! The chat backend: the HTML fragment posted to Teams (and sent as a webhook's `html`).
//! Teams keeps a subset of HTML: no styles, no scripts; every text is escaped.

use super::doc::*;
use crate::text::{Span, Text};
use common::html::escape;

/// Render a document as a chat message: the headline, then each section's chat lines.
pub fn render(d: &Document) -> String {
    let mut o = format!(
        "<p><b>{}</b><br/>{}</p>",
        escape(&d.title),
        escape(&d.headline)
    );
    for b in &d.banners {
        o.push_str(&format!("<p>{}</p>", inline(&b.text)));
    }
    for s in &d.sections {
        match s.chat.as_slice() {
            [] => {}
            [one] => o.push_str(&format!("<p>{}</p>", inline(one))),
            many => {
                o.push_str("<ul>");
                for t in many {
                    o.push_str(&format!("<li>{}</li>", inline(t)));
                }
                o.push_str("</ul>");
            }
        }
    }
    o.push_str(&format!("<p><small>{}</small></p>", escape(&d.id_line)));
    o
}

/// A sentence as escaped HTML (shared with the status page).
pub fn inline(t: &Text) -> String {
    let mut o = String::new();
    for s in &t.0 {
        match s {
            Span::Plain(x) => o.push_str(&escape(x)),
            Span::Strong(x) => o.push_str(&format!("<b>{}</b>", escape(x))),
            Span::Value(x) => o.push_str(&format!("<code>{}</code>", escape(x))),
        }
    }
    o
}

//! The deterministic summarizers: the rule-based extractive digest (headings, decisions,
//! lessons, TODOs, people, numbers, first lines of sections; duplicates removed; within a size
//! cap) and, when even that finds nothing to say, the raw text truncated with pointers to the
//! archive. Both take arbitrary bytes (huge lines, binary, invalid UTF-8) and never fail hard.

use aho_corasick::AhoCorasick;
use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::sync::OnceLock;

/// Longest line kept in a digest, in characters.
pub const MAX_LINE_CHARS: usize = 240;

/// One source as the summarizers see it.
#[derive(Debug, Clone)]
pub struct SourceText<'a> {
    /// Short label shown next to extracted lines (`02-13`).
    pub label: String,
    /// Where the full text is (`archive/2026/02/2026-02-13.md`).
    pub archive: String,
    pub bytes: &'a [u8],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Cat {
    Decision,
    Lesson,
    Todo,
    Number,
    Timeline,
}

impl Cat {
    fn title(self) -> &'static str {
        match self {
            Cat::Decision => "Decisions",
            Cat::Lesson => "Lessons",
            Cat::Todo => "TODOs",
            Cat::Number => "Numbers",
            Cat::Timeline => "Timeline",
        }
    }
}

/// Whether the bytes look like binary data rather than notes.
pub fn looks_binary(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(64 * 1024)];
    if head.is_empty() {
        return false;
    }
    let bad = head
        .iter()
        .filter(|&&c| c == 0 || (c < 0x20 && !matches!(c, b'\n' | b'\r' | b'\t' | 0x0c)))
        .count();
    bad * 10 > head.len()
}

/// Make one line safe and short: control characters dropped, tabs as spaces, trimmed, at most
/// `max` characters (an ellipsis marks the cut).
pub fn clean_line(line: &str, max: usize) -> String {
    let mut out = String::with_capacity(line.len().min(max * 4));
    if line.len() <= max && line.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return line.trim().to_string();
    }
    let mut n = 0;
    let mut cut = false;
    for c in line.chars() {
        let c = if c == '\t' { ' ' } else { c };
        if c.is_control() || c == '\u{feff}' {
            continue;
        }
        if n == max {
            cut = true;
            break;
        }
        out.push(c);
        n += 1;
    }
    let mut s = out.trim().to_string();
    if cut {
        s.push('…');
    }
    s
}

/// A hash of a line's letters and digits, lowercased: lines that differ only in case,
/// punctuation or spacing count as duplicates (FNV-1a).
fn norm_hash(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |b: u8| {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    };
    for c in s.chars() {
        if c.is_ascii() {
            if c.is_ascii_alphanumeric() {
                eat(c.to_ascii_lowercase() as u8);
            }
        } else if c.is_alphanumeric() {
            for l in c.to_lowercase() {
                let mut buf = [0u8; 4];
                for b in l.encode_utf8(&mut buf).bytes() {
                    eat(b);
                }
            }
        }
    }
    h
}

/// Keywords of each category (matched ASCII-case-insensitively), in priority order.
const KEYWORDS: &[(Cat, &[&str])] = &[
    (
        Cat::Decision,
        &["decision", "decided", "agreed", "we will ", "going forward"],
    ),
    (
        Cat::Lesson,
        &[
            "lesson",
            "learned",
            "learnt",
            "gotcha",
            "note to self",
            "turns out",
        ],
    ),
    (
        Cat::Todo,
        &[
            "todo",
            "to do:",
            "follow up",
            "follow-up",
            "action item",
            "remind",
        ],
    ),
    (
        Cat::Number,
        &[
            "%", "$", "€", "£", " rps", " ms", " gb", " mb", " kb", " tokens", " usd", " eur",
            " users", " hours", " days", " minutes",
        ],
    ),
];

fn matcher() -> Option<&'static (AhoCorasick, Vec<Cat>)> {
    static M: OnceLock<Option<(AhoCorasick, Vec<Cat>)>> = OnceLock::new();
    M.get_or_init(|| {
        let mut pats = Vec::new();
        let mut cats = Vec::new();
        for (cat, words) in KEYWORDS {
            for w in *words {
                pats.push(*w);
                cats.push(*cat);
            }
        }
        let ac = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(&pats)
            .ok()?;
        Some((ac, cats))
    })
    .as_ref()
}

/// The category of a line, if any: the highest-priority keyword found. A "number" line must
/// also hold a digit.
fn classify(body: &str, checkbox: bool) -> Option<Cat> {
    let mut best: Option<Cat> = if checkbox { Some(Cat::Todo) } else { None };
    let Some((ac, cats)) = matcher() else {
        return best;
    };
    for m in ac.find_overlapping_iter(body) {
        let c = cats[m.pattern().as_usize()];
        if c == Cat::Number && !body.bytes().any(|b| b.is_ascii_digit()) {
            continue;
        }
        if best.is_none_or(|b| c < b) {
            best = Some(c);
            if c == Cat::Decision {
                break;
            }
        }
    }
    best
}

const PERSON_CUES: &[&str] = &[
    "with", "from", "by", "asked", "told", "thanks", "thank", "ping", "pinged", "cc", "met",
    "called", "emailed", "for",
];

fn people_in(line: &str, people: &mut BTreeMap<String, u32>) {
    if !line.contains('@') && !line.bytes().any(|c| c.is_ascii_uppercase()) {
        return;
    }
    let mut words = line.split_whitespace().take(200);
    while let Some(w) = words.next() {
        if let Some(h) = w.strip_prefix('@') {
            let h: String = h
                .chars()
                .take_while(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
                .collect();
            let h = h.trim_end_matches('.');
            if h.len() >= 2 {
                *people.entry(format!("@{h}")).or_default() += 1;
            }
            continue;
        }
        let cue = w.trim_matches(|c: char| !c.is_alphanumeric());
        if !PERSON_CUES.iter().any(|p| p.eq_ignore_ascii_case(cue)) {
            continue;
        }
        let mut name: Vec<&str> = Vec::new();
        for next in words.clone().take(2) {
            let t = next.trim_matches(|c: char| !c.is_alphanumeric());
            let mut cs = t.chars();
            let cap = cs.next().is_some_and(|c| c.is_uppercase());
            if cap && t.len() >= 2 && cs.all(|c| c.is_lowercase() || c == '-' || c == '\'') {
                name.push(t);
                if t.len() != next.len() {
                    break; // punctuation ends the name
                }
            } else {
                break;
            }
        }
        if !name.is_empty() {
            *people.entry(name.join(" ")).or_default() += 1;
        }
    }
}

fn is_date_heading(h: &str) -> bool {
    h.len() >= 10
        && h.as_bytes()[..10].iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        })
        && h[10..].trim().is_empty()
}

/// What rules found in the sources.
#[derive(Default)]
struct Extract {
    items: Vec<(Cat, String)>,
    /// Lines found but not kept (their category was already over the cap).
    dropped: usize,
    people: BTreeMap<String, u32>,
    /// Archive paths of binary sources.
    binary: Vec<String>,
    lines_read: u64,
}

/// The rule-based digest of `sources`, at most about `cap` characters. `Err` when there is
/// nothing to extract (every source empty or binary), so the caller falls back to raw text.
pub fn rules_digest(sources: &[SourceText<'_>], cap: usize) -> Result<String, String> {
    let mut x = Extract::default();
    let mut seen: HashSet<u64> = HashSet::new();
    // Characters kept per category so far: past the cap, lines are only counted.
    let mut kept = [0usize; 5];
    for src in sources {
        if looks_binary(src.bytes) {
            x.binary.push(src.archive.clone());
            continue;
        }
        extract_source(src, cap, &mut x, &mut seen, &mut kept);
    }
    if x.items.is_empty() && x.people.is_empty() {
        return Err(if x.lines_read == 0 && !x.binary.is_empty() {
            format!("{} source(s) hold binary data", x.binary.len())
        } else {
            "no lines to extract".into()
        });
    }
    Ok(render_extract(x, cap))
}

/// Extract one source's lines into `x`: categorized lines, the first line of each section
/// (timeline), people; duplicates (by [`norm_hash`]) skipped.
fn extract_source(
    src: &SourceText<'_>,
    cap: usize,
    x: &mut Extract,
    seen: &mut HashSet<u64>,
    kept: &mut [usize; 5],
) {
    let text = String::from_utf8_lossy(src.bytes);
    let mut heading: Option<String> = None;
    let mut want_first = false;
    for raw in text.lines() {
        let line = clean_line(raw, MAX_LINE_CHARS);
        if line.is_empty() {
            continue;
        }
        x.lines_read += 1;
        if line.starts_with('#') {
            let h = line.trim_start_matches('#').trim().to_string();
            if h.is_empty() || is_date_heading(&h) {
                continue;
            }
            people_in(&h, &mut x.people);
            heading = Some(h);
            want_first = true;
            continue;
        }
        let body = line
            .trim_start_matches(['-', '*', '+', '>', ' '])
            .trim()
            .to_string();
        if body.is_empty() {
            continue;
        }
        people_in(&body, &mut x.people);
        let c = match classify(&body, line.starts_with("- [ ]")) {
            Some(c) => c,
            None if want_first => Cat::Timeline,
            None => continue,
        };
        want_first = false;
        if !seen.insert(norm_hash(&body)) {
            continue;
        }
        if kept[c as usize] > cap {
            x.dropped += 1;
            continue;
        }
        let text = if c == Cat::Timeline {
            let h = heading.as_deref().unwrap_or("");
            format!("{} {h}: {body}", src.label)
        } else {
            format!("{body} ({})", src.label)
        };
        kept[c as usize] += text.len() + 3;
        x.items.push((c, text));
    }
    if want_first
        && let Some(h) = heading
        && seen.insert(norm_hash(&h))
    {
        x.items.push((Cat::Timeline, format!("{} {h}", src.label)));
    }
}

/// The "People" section: the 30 most named, with counts ("" when nobody).
fn people_section(people: &BTreeMap<String, u32>) -> String {
    if people.is_empty() {
        return String::new();
    }
    let mut ps: Vec<(&String, &u32)> = people.iter().collect();
    ps.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let list: Vec<String> = ps
        .iter()
        .take(30)
        .map(|(n, k)| format!("{n} ({k})"))
        .collect();
    format!("### People\n\n{}\n\n", list.join(", "))
}

/// The digest text: categories in order (People before the timeline), within `cap`.
fn render_extract(mut x: Extract, cap: usize) -> String {
    x.items.sort_by_key(|(c, _)| *c);
    let mut out = String::new();
    let mut omitted = x.dropped;
    let mut current: Option<Cat> = None;
    let people_line = people_section(&x.people);
    let budget = cap.saturating_sub(people_line.chars().count().min(cap / 4) + 120);
    let mut used = 0usize;
    for (cat, text) in &x.items {
        let line = format!("- {text}\n");
        let header = if current != Some(*cat) {
            format!(
                "{}### {}\n\n",
                if current.is_some() { "\n" } else { "" },
                cat.title()
            )
        } else {
            String::new()
        };
        let need = header.chars().count() + line.chars().count();
        if used + need > budget {
            omitted += 1;
            continue;
        }
        if *cat == Cat::Timeline && current != Some(Cat::Timeline) && !people_line.is_empty() {
            if current.is_some() {
                out.push('\n');
            }
            out.push_str(&people_line);
            used += people_line.chars().count();
            current = Some(Cat::Timeline);
            let _ = write!(out, "### {}\n\n{line}", Cat::Timeline.title());
            used += need;
            continue;
        }
        out.push_str(&header);
        out.push_str(&line);
        used += need;
        current = Some(*cat);
    }
    if current != Some(Cat::Timeline) && !people_line.is_empty() {
        if current.is_some() {
            out.push('\n');
        }
        out.push_str(people_line.trim_end());
        out.push('\n');
    }
    if omitted > 0 {
        let _ = write!(
            out,
            "\n_{omitted} more line(s) omitted to stay within {cap} characters; the full text is in the archived sources._\n"
        );
    }
    if !x.binary.is_empty() {
        let _ = write!(
            out,
            "\n_Binary content not summarized: {}._\n",
            x.binary.join(", ")
        );
    }
    out
}

/// The last resort: the beginning of each source as plain text, indented (so nothing in it is
/// read as Markdown structure), with where the full text is.
pub fn raw_digest(sources: &[SourceText<'_>], cap: usize) -> String {
    let per = (cap / sources.len().max(1)).max(200);
    let mut out = String::new();
    for src in sources {
        let _ = writeln!(out, "### {} (full text: `{}`)\n", src.label, src.archive);
        if looks_binary(src.bytes) {
            let _ = writeln!(out, "    (binary data, {} bytes)\n", src.bytes.len());
            continue;
        }
        let text = String::from_utf8_lossy(src.bytes);
        let mut n = 0;
        let mut cut = false;
        for raw in text.lines() {
            let line = clean_line(raw, MAX_LINE_CHARS);
            let len = line.chars().count() + 5;
            if n + len > per {
                cut = true;
                break;
            }
            n += len;
            let _ = writeln!(out, "    {line}");
        }
        if cut {
            let _ = writeln!(out, "    … (truncated)");
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src<'a>(label: &str, bytes: &'a [u8]) -> SourceText<'a> {
        SourceText {
            label: label.into(),
            archive: format!("archive/2026/02/{label}.md"),
            bytes,
        }
    }

    const DAY: &str = "# 2026-02-20\n\n## 09:14 Teams: operator asked for the Q1 numbers\n- pulled figures from finance share, saved to reports/q1.md\n- decision: weekly summary goes out Mondays 08:00\n- lesson: Graph throttles chat GETs above 20 rps\n- TODO: ask Robin Kline about the Q2 budget\n- revenue up 12% quarter on quarter\n";

    #[test]
    fn extracts_categories_and_dedups() {
        let a = DAY.as_bytes();
        let out = rules_digest(&[src("02-20", a), src("02-21", a)], 8000).unwrap();
        assert!(
            out.contains(
                "### Decisions\n\n- decision: weekly summary goes out Mondays 08:00 (02-20)"
            ),
            "{out}"
        );
        assert!(out.contains("lesson: Graph throttles"), "{out}");
        assert!(out.contains("### TODOs"), "{out}");
        assert!(out.contains("revenue up 12%"), "{out}");
        assert!(out.contains("Robin Kline"), "{out}");
        assert!(
            out.contains("02-20 09:14 Teams: operator asked for the Q1 numbers: pulled figures"),
            "{out}"
        );
        assert_eq!(
            out.matches("weekly summary").count(),
            1,
            "deduplicated: {out}"
        );
        assert!(!out.contains("(02-21)"), "second copy removed: {out}");
    }

    #[test]
    fn respects_the_cap() {
        let mut big = String::new();
        for i in 0..5000 {
            big.push_str(&format!(
                "- decision {i}: something decided about item {i}\n"
            ));
        }
        let out = rules_digest(&[src("02-20", big.as_bytes())], 2000).unwrap();
        assert!(out.chars().count() <= 2300, "{}", out.chars().count());
        assert!(out.contains("more line(s) omitted"), "{out}");
    }

    #[test]
    fn hostile_bytes_never_panic() {
        let huge = "x".repeat(3_000_000);
        let mut invalid = b"# h\n- decision: caf\xc3 \xff\xfe ok\n".to_vec();
        invalid.extend_from_slice("é".repeat(300).as_bytes());
        let binary: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 256) as u8).collect();
        let ctrl = "- decision: a\u{0}b\u{1b}[31mred\u{7}\n".as_bytes();
        let srcs = [
            src("a", huge.as_bytes()),
            src("b", &invalid),
            src("c", &binary),
            src("d", ctrl),
        ];
        let out = rules_digest(&srcs, 4000).unwrap();
        assert!(out.lines().all(|l| l.chars().count() < 400), "{out}");
        assert!(out.contains("Binary content not summarized"), "{out}");
        assert!(!out.contains('\u{1b}') && !out.contains('\u{0}'), "{out:?}");
        let raw = raw_digest(&srcs, 4000);
        assert!(raw.contains("binary data"), "{raw}");
        assert!(raw.chars().count() < 8000, "{}", raw.chars().count());
    }

    #[test]
    fn nothing_to_extract_is_an_error() {
        let binary = vec![0u8; 1000];
        assert!(rules_digest(&[src("a", &binary)], 1000).is_err());
        assert!(rules_digest(&[src("a", b"")], 1000).is_err());
    }

    #[test]
    fn clean_line_cuts_on_char_boundaries() {
        let s = "é".repeat(500);
        let c = clean_line(&s, 10);
        assert_eq!(c.chars().count(), 11);
        assert!(c.ends_with('…'));
    }
}

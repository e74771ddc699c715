//! The files `MEMORY.md` refers to. Dreaming's promotion writes source references into it
//! (gateway source `short-term-promotion.ts`): `Source: memory/2026-01-05.md#L3-L4` on the
//! consolidation path, and on the append-only fallback
//! `<!-- openclaw-memory-promotion:memory:memory/2026-01-05.md:3:4 -->` plus
//! `[… source=memory/2026-01-05.md:3-4]`. Nothing in the gateway rewrites old references, and
//! `memory_get` on a missing path fails, so the job never moves a file `MEMORY.md` names.

use crate::layout::{NameKind, classify_name};
use std::collections::BTreeSet;

/// Every workspace-relative `memory/….md` path named in `text` (any of the forms above, or
/// written by hand).
pub fn referenced_paths(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(i) = text[from..].find("memory/").map(|i| i + from) {
        from = i + "memory/".len();
        // `memory/` must start the path: `x/memory/` is some other directory.
        if i > 0 && is_path_byte(bytes[i - 1]) {
            continue;
        }
        let end = text[i..]
            .bytes()
            .position(|b| !is_path_byte(b))
            .map_or(text.len(), |n| i + n);
        let path = &text[i..end];
        if path.ends_with(".md") && path.len() > "memory/.md".len() && !path.contains("/../") {
            out.insert(path.to_string());
        }
        from = end.max(from);
    }
    out
}

/// The top-level notes (`memory/<name>`, names only) among `paths` that the job manages:
/// these stay in place, or are put back from the archive.
pub fn protected_notes(paths: &BTreeSet<String>) -> BTreeSet<String> {
    paths
        .iter()
        .filter_map(|p| p.strip_prefix("memory/"))
        .filter(|n| !n.contains('/') && matches!(classify_name(n), NameKind::Dated(_)))
        .map(str::to_string)
        .collect()
}

/// Characters a reference's path may hold (no spaces, no `#`, `:`, brackets or quotes, which
/// end it in every form the gateway writes).
fn is_path_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'-' | b'_' | b'+' | b'~') || b >= 0x80
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEMORY: &str = "# Memory\n\
        - prefers short answers Source: memory/2026-01-05.md#L3-L4 <!-- trigger: a --> <!-- importance: 7 -->\n\
        ## Promoted From Short-Term Memory (2026-02-01)\n\
        <!-- openclaw-memory-promotion:memory:memory/2026-01-06-1430.md:3:4 -->\n\
        - deploys on Fridays [score=0.812 signals=5 recalls=3 avg=0.700 source=memory/2026-01-07-standup.md:3-4]\n\
        - from the old archive Source: memory/archive/2026/01/2026-01-08.md#L1-L2\n\
        - a digest Source: memory/digests/2026-01-11-digest-2026-W02.md#L9-L9\n\
        - not ours: see docs/memory/2026-01-09.md and memory/notes.txt and (memory/topic.md)\n";

    #[test]
    fn finds_every_form_the_gateway_writes() {
        let refs = referenced_paths(MEMORY);
        let want: BTreeSet<String> = [
            "memory/2026-01-05.md",
            "memory/2026-01-06-1430.md",
            "memory/2026-01-07-standup.md",
            "memory/archive/2026/01/2026-01-08.md",
            "memory/digests/2026-01-11-digest-2026-W02.md",
            "memory/topic.md",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(refs, want);
        let notes: Vec<String> = protected_notes(&refs).into_iter().collect();
        assert_eq!(
            notes,
            [
                "2026-01-05.md",
                "2026-01-06-1430.md",
                "2026-01-07-standup.md"
            ]
        );
    }

    #[test]
    fn odd_text_is_harmless() {
        assert!(referenced_paths("").is_empty());
        assert!(referenced_paths("memory/").is_empty());
        assert!(referenced_paths("memory/.md").is_empty());
        assert!(referenced_paths("memory/../etc/x.md").is_empty());
        assert_eq!(referenced_paths("é memory/2026-01-05.md").len(), 1);
    }
}

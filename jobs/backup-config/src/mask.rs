//! Masking of secret values for `diff`: the string value of any key whose name contains one of
//! the configured words (token, password, secret, key, ...) becomes `"***"`.
//!
//! Works on the text, not on a parsed value, because the file worth diffing is usually the one
//! that no longer parses: a tolerant JSON5 scanner (strings, comments, identifiers) finds
//! `key: "value"` pairs and rewrites only the value, leaving every other byte (layout,
//! comments, broken tails) as it was. Numbers and booleans are not masked (`maxTokens: 4096`).

/// Mask secret string values in `text` with `"***"`. Returns the new text and the raw values
/// masked (for comparing two versions without showing them).
pub fn mask(text: &str, words: &[String]) -> (String, Vec<String>) {
    mask_with(text, words, &|_| "***")
}

/// Like [`mask`], with the replacement chosen per raw value (e.g. `*** (changed)`).
pub fn mask_with(
    text: &str,
    words: &[String],
    label: &dyn Fn(&str) -> &'static str,
) -> (String, Vec<String>) {
    let words: Vec<String> = words.iter().map(|w| w.to_ascii_lowercase()).collect();
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    let mut masked = Vec::new();
    // A string/identifier just seen that could be a key: is it a secret-looking one?
    let mut key_candidate: Option<bool> = None;
    // After `secret_key:` and waiting for its value.
    let mut mask_next = false;
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                i = (i + 2).min(b.len());
            }
            b'"' | b'\'' => {
                let end = string_end(b, i);
                if mask_next {
                    let inner_end = if end > i + 1 && b[end - 1] == c {
                        end - 1
                    } else {
                        end
                    };
                    let raw = text.get(i + 1..inner_end).unwrap_or("");
                    out.push_str(&text[copied..i]);
                    out.push(c as char);
                    out.push_str(label(raw));
                    out.push(c as char);
                    copied = end;
                    masked.push(raw.to_string());
                    mask_next = false;
                    key_candidate = None;
                } else {
                    let inner_end = if end > i + 1 && b[end - 1] == c {
                        end - 1
                    } else {
                        end
                    };
                    let inner = text.get(i + 1..inner_end).unwrap_or("");
                    key_candidate = Some(is_secret(inner, &words));
                }
                i = end;
            }
            b':' => {
                mask_next = key_candidate == Some(true);
                key_candidate = None;
                i += 1;
            }
            _ if c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80 => {
                let start = i;
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric()
                        || b[i] == b'_'
                        || b[i] == b'$'
                        || b[i] == b'.'
                        || b[i] == b'+'
                        || b[i] == b'-'
                        || b[i] >= 0x80)
                {
                    i += 1;
                }
                let word = text.get(start..i).unwrap_or("");
                key_candidate = if mask_next {
                    None
                } else {
                    Some(is_secret(word, &words))
                };
                mask_next = false;
            }
            _ => {
                key_candidate = None;
                mask_next = false;
                i += 1;
            }
        }
    }
    out.push_str(&text[copied..]);
    (out, masked)
}

/// A unified diff of `old` against `new` with secret values masked on both sides (a secret
/// that changed shows as `"*** (changed)"` on the new side). `None` when the texts are equal;
/// `Some("")` when they differ only in masked values. At most `max_lines` lines.
pub fn masked_diff(
    old: &str,
    new: &str,
    labels: (&str, &str),
    words: &[String],
    max_lines: usize,
) -> Option<String> {
    let (a, b) = masked_pair(old, new, words)?;
    if a == b {
        return Some(String::new());
    }
    let d = similar::TextDiff::from_lines(&a, &b);
    let mut u = d.unified_diff();
    let full = u.context_radius(3).header(labels.0, labels.1).to_string();
    let total = full.lines().count();
    if total <= max_lines {
        return Some(full);
    }
    let mut cut: String = full
        .lines()
        .take(max_lines)
        .flat_map(|l| [l, "\n"])
        .collect();
    cut.push_str(&format!("… ({} more diff lines)\n", total - max_lines));
    Some(cut)
}

/// How two versions differ, in lines of the masked texts `masked_diff` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineStat {
    Same,
    /// They differ only in masked secret values.
    SecretsOnly,
    Changed {
        added: u64,
        removed: u64,
    },
}

/// The line counts of [`masked_diff`] (`diff --stat`).
pub fn masked_stat(old: &str, new: &str, words: &[String]) -> LineStat {
    let Some((a, b)) = masked_pair(old, new, words) else {
        return LineStat::Same;
    };
    if a == b {
        return LineStat::SecretsOnly;
    }
    let (mut added, mut removed) = (0, 0);
    for c in similar::TextDiff::from_lines(&a, &b).iter_all_changes() {
        match c.tag() {
            similar::ChangeTag::Insert => added += 1,
            similar::ChangeTag::Delete => removed += 1,
            similar::ChangeTag::Equal => {}
        }
    }
    LineStat::Changed { added, removed }
}

/// Both versions with secret values masked (a secret that changed shows as `"*** (changed)"`
/// on the new side); `None` when the texts are equal.
fn masked_pair(old: &str, new: &str, words: &[String]) -> Option<(String, String)> {
    if old == new {
        return None;
    }
    let (a, old_vals) = mask(old, words);
    let old_vals: std::collections::BTreeSet<String> = old_vals.into_iter().collect();
    let label = |v: &str| {
        if old_vals.contains(v) {
            "***"
        } else {
            "*** (changed)"
        }
    };
    let (b, _) = mask_with(new, words, &label);
    Some((a, b))
}

fn is_secret(key: &str, words: &[String]) -> bool {
    let k = key.to_ascii_lowercase();
    words
        .iter()
        .any(|w| !w.is_empty() && k.contains(w.as_str()))
}

/// Byte index just past the string starting at `start` (or the end of the text if unterminated).
fn string_end(b: &[u8], start: usize) -> usize {
    let q = b[start];
    let mut i = start + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            x if x == q => return i + 1,
            b'\n' => return i,
            _ => i += 1,
        }
    }
    b.len()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn words() -> Vec<String> {
        crate::config::Config::default().mask_keys
    }

    #[test]
    fn masks_secret_values_only() {
        let text = r#"{
  "env": { "ANTHROPIC_API_KEY": "sk-ant-abc123" },
  channels: { msteams: { appPassword: 'hunter2', appId: "0000-1" } },
  // token: "in a comment is not a value"
  "gateway": { "mode": "token", "auth": { "mode": "token", "token": "s3cr3t\"q" } },
  "agents": { "maxTokens": 4096, "secretsEnabled": true },
}"#;
        let (m, vals) = mask(text, &words());
        assert_eq!(vals, ["sk-ant-abc123", "hunter2", "s3cr3t\\\"q"], "{m}");
        for leaked in ["sk-ant-abc123", "hunter2", "s3cr3t"] {
            assert!(!m.contains(leaked), "{leaked} leaked:\n{m}");
        }
        for kept in [
            "0000-1",
            "\"mode\": \"token\"",
            "4096",
            "secretsEnabled\": true",
            "// token",
        ] {
            assert!(m.contains(kept), "{kept} lost:\n{m}");
        }
        assert!(m.contains("\"ANTHROPIC_API_KEY\": \"***\""), "{m}");
        assert!(m.contains("appPassword: '***'"), "{m}");
        assert_eq!(m.lines().count(), text.lines().count());
    }

    #[test]
    fn diffs_are_masked_and_bounded() {
        let old = "{\n  token: \"aaa\",\n  level: \"info\",\n}\n";
        let new = "{\n  token: \"bbb\",\n  level: \"debug\",\n}\n";
        let d = masked_diff(old, new, ("old", "new"), &words(), 100).unwrap();
        assert!(d.contains("+  token: \"*** (changed)\""), "{d}");
        assert!(d.contains("-  level: \"info\""), "{d}");
        assert!(!d.contains("aaa") && !d.contains("bbb"), "{d}");
        assert_eq!(masked_diff(old, old, ("a", "b"), &words(), 9), None);
        // a changed secret is a change, shown without its value; an unchanged one is not
        let only_secret = old.replace("aaa", "ccc");
        let d = masked_diff(old, &only_secret, ("a", "b"), &words(), 99).unwrap();
        assert!(d.contains("*** (changed)") && !d.contains("ccc"), "{d}");
        let swapped = "{ token: \"x\", key: \"y\" }";
        let back = "{ token: \"y\", key: \"x\" }";
        assert_eq!(
            masked_diff(swapped, back, ("a", "b"), &words(), 9),
            Some(String::new())
        );
        let short = masked_diff(old, new, ("old", "new"), &words(), 3).unwrap();
        assert!(short.ends_with("more diff lines)\n"), "{short}");
    }

    #[test]
    fn stats_count_the_lines_the_diff_shows() {
        let old = "{\n  token: \"aaa\",\n  level: \"info\",\n}\n";
        let new = "{\n  token: \"bbb\",\n  level: \"debug\",\n  extra: 1,\n}\n";
        assert_eq!(
            masked_stat(old, new, &words()),
            LineStat::Changed {
                added: 3,
                removed: 2
            }
        );
        assert_eq!(masked_stat(old, old, &words()), LineStat::Same);
        let swapped = "{ token: \"x\", key: \"y\" }";
        let back = "{ token: \"y\", key: \"x\" }";
        assert_eq!(masked_stat(swapped, back, &words()), LineStat::SecretsOnly);
    }

    #[test]
    fn masks_in_a_truncated_file() {
        let (m, vals) = mask("{\"gateway\": {\"token\": \"abcd-unfinish", &words());
        assert_eq!(vals, ["abcd-unfinish"]);
        assert_eq!(m, "{\"gateway\": {\"token\": \"***\"");
    }
}

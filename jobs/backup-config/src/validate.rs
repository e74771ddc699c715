//! Is a config file good? Parses (JSON5 or strict JSON), is an object, has the required key
//! paths, and (optionally) the gateway's own validator agrees. Every "no" carries a message an
//! operator can act on: the line and column of a parse error, the missing key.

use crate::config::{FileConfig, Format};
use crate::parse::{self, Scan};
use anyhow::Result;
use std::path::Path;
use std::time::Duration;

/// The result of checking a file's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Valid,
    Invalid(String),
}

/// Check the content itself (no external command).
pub fn check_content(bytes: &[u8], fc: &FileConfig) -> Verdict {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let ok = &bytes[..e.valid_up_to()];
            let ok = std::str::from_utf8(ok).unwrap_or_default();
            let (line, col) = parse::line_col(ok, ok.len());
            return Verdict::Invalid(format!(
                "not valid UTF-8 text at line {line}, column {col} (byte {})",
                e.valid_up_to()
            ));
        }
    };
    if text.trim().is_empty() {
        return Verdict::Invalid(format!(
            "the file is empty ({} bytes of whitespace)",
            bytes.len()
        ));
    }
    let strict = fc.format == Format::Json;
    let found = match parse::scan(text, strict, &fc.required_keys) {
        Ok(f) => f,
        Err(e) => {
            let kind = if strict { "JSON" } else { "JSON5" };
            return Verdict::Invalid(format!("not valid {kind}: {e}"));
        }
    };
    if found.root != "an object" {
        return Verdict::Invalid(format!("the top level is {}, not an object", found.root));
    }
    for key in &fc.required_keys {
        if let Some(why) = missing_key(&found, key) {
            return Verdict::Invalid(why);
        }
    }
    Verdict::Valid
}

/// `Some(reason)` if the dotted key path is absent or null.
pub fn missing_key(found: &Scan, path: &str) -> Option<String> {
    let parts: Vec<&str> = path.split('.').collect();
    for n in 1..=parts.len() {
        let here = parts[..n].join(".");
        let parent = parts[..n - 1].join(".");
        let Some(kind) = found.kinds.get(&here) else {
            return Some(if n == 1 {
                format!("required key `{path}` is missing")
            } else {
                let pk = found.kinds.get(&parent).copied().unwrap_or("missing");
                if pk == "an object" {
                    format!(
                        "required key `{path}` is missing (`{parent}` has no key `{}`)",
                        parts[n - 1]
                    )
                } else {
                    format!("required key `{path}` is missing: `{parent}` is {pk}, not an object")
                }
            });
        };
        if n == parts.len() && *kind == "null" {
            return Some(format!("required key `{path}` is null"));
        }
    }
    None
}

/// Run the external validator on `path`. `Ok(verdict)` when it ran to an exit code; `Err`
/// when it could not decide (failed to start, timed out, killed): then the file is neither
/// good nor invalid this run.
pub fn run_validator(argv: &[String], timeout_secs: u64, path: &Path) -> Result<Verdict> {
    let shown = path.to_string_lossy();
    let argv: Vec<String> = argv.iter().map(|a| a.replace("{file}", &shown)).collect();
    let env = [("BACKUP_CONFIG_FILE", shown.to_string())];
    let out = common::cmd::run(&argv, Duration::from_secs(timeout_secs), None, &env)?;
    if out.timed_out || out.code.is_none() {
        anyhow::bail!(
            "validator `{}` {}: the file was not judged",
            argv.join(" "),
            out.describe()
        );
    }
    if out.success() {
        return Ok(Verdict::Valid);
    }
    let detail = [out.stderr.trim(), out.stdout.trim()]
        .into_iter()
        .find(|s| !s.is_empty())
        .map(|s| {
            let first: String = s.lines().take(3).collect::<Vec<_>>().join(" / ");
            format!(": {}", first.chars().take(300).collect::<String>())
        })
        .unwrap_or_default();
    Ok(Verdict::Invalid(format!(
        "validator `{}` rejected it ({}){detail}",
        argv.join(" "),
        out.describe()
    )))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn fc() -> FileConfig {
        FileConfig::default()
    }

    fn invalid(bytes: &[u8]) -> String {
        match check_content(bytes, &fc()) {
            Verdict::Invalid(m) => m,
            Verdict::Valid => panic!("accepted {:?}", String::from_utf8_lossy(bytes)),
        }
    }

    const GOOD: &str = r#"{
  // written by the wizard
  meta: { lastTouchedVersion: "2026.2.19" },
  gateway: { mode: "local", port: 18789, },
}"#;

    #[test]
    fn json5_with_comments_is_valid() {
        assert_eq!(check_content(GOOD.as_bytes(), &fc()), Verdict::Valid);
    }

    #[test]
    fn strict_json_mode_rejects_comments() {
        let mut c = fc();
        c.format = Format::Json;
        match check_content(GOOD.as_bytes(), &c) {
            Verdict::Invalid(m) => assert!(m.contains("not valid JSON: line 2"), "{m}"),
            Verdict::Valid => panic!("comments accepted in strict mode"),
        }
    }

    #[test]
    fn real_corruptions_get_the_right_message() {
        // #91148: wiped to the bare gateway mode
        let m = invalid(b"{\"gateway\":{\"mode\":\"local\"}}\n");
        assert_eq!(m, "required key `meta` is missing");
        // truncated mid-file
        let m = invalid(&GOOD.as_bytes()[..60]);
        assert!(m.contains("line 3") && m.contains("truncated"), "{m}");
        // a non-JSON prefix
        let m = invalid(format!("Config saved.\n{GOOD}").as_bytes());
        assert!(
            m.contains("line 1, column 1") && m.contains("`Config`"),
            "{m}"
        );
        // nested key missing
        let m = invalid(b"{meta:{}, gateway:{port:1}}");
        assert!(
            m.contains("`gateway.mode`") && m.contains("no key `mode`"),
            "{m}"
        );
        let m = invalid(b"{meta:{}, gateway:\"local\"}");
        assert!(m.contains("not an object"), "{m}");
        assert!(invalid(b"[1,2]").contains("an array"));
        assert!(invalid(b"   \n").contains("empty"));
        assert!(invalid(b"{meta:{}, gateway:{mode:null}}").contains("null"));
        let m = invalid(b"{\n\"a\": \"\xff\"}");
        assert!(m.contains("UTF-8") && m.contains("line 2"), "{m}");
    }

    #[test]
    fn validator_exit_code_decides() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c.json");
        std::fs::write(&p, "{}").unwrap();
        let ok = vec![
            "sh".into(),
            "-c".into(),
            "test -f \"$1\"".into(),
            "sh".into(),
            "{file}".into(),
        ];
        assert_eq!(run_validator(&ok, 5, &p).unwrap(), Verdict::Valid);
        let bad = vec![
            "sh".into(),
            "-c".into(),
            "echo 'unknown key: foo' >&2; exit 1".into(),
        ];
        match run_validator(&bad, 5, &p).unwrap() {
            Verdict::Invalid(m) => assert!(
                m.contains("unknown key: foo") && m.contains("exit 1"),
                "{m}"
            ),
            Verdict::Valid => panic!("exit 1 accepted"),
        }
        let slow = vec!["sleep".into(), "5".into()];
        assert!(run_validator(&slow, 1, &p).is_err());
    }
}

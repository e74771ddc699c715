//! Is a config version good? Three validators, each recorded with what it said:
//!
//! - **built-in** (pure, always): UTF-8 text, not empty, parses (JSON5, or strict JSON), the top
//!   level is an object, every `$include` resolves (confined to the config's directory, no
//!   cycle, no missing file), the required key paths are present and not null. Every "no"
//!   carries what an operator needs: the line and column of a parse error, the missing key.
//! - **command** (optional, `files[].validator`): any program; exit 0 = valid.
//! - **openclaw** (the gateway's own `openclaw config validate --json`, for the gateway's
//!   config when its CLI is there): catches what the built-in checks cannot (unknown keys,
//!   wrong types: `Unrecognized key: "bogusKey"`), and misses what they catch (it accepts the
//!   28-byte stub and a config without `gateway.mode`; verified against OpenClaw 2026.9.6).
//!   It runs on a private copy of the version read (`OPENCLAW_CONFIG_PATH=<copy>`, research and
//!   docs `cli/config.md`: validate reads with `observe: false` and writes nothing), so it
//!   judges exactly the bytes that will be snapshotted.
//!
//! Either validator's rejection makes the version invalid; a validator that could not decide
//! (timed out, not installed) is recorded as `not run`.

use crate::config::{FileConfig, Format};
use crate::data::ValidatorVerdict;
use crate::parse::{self, Scan};
use crate::store::Content;
use anyhow::Result;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// The result of checking a file's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Valid,
    Invalid(String),
}

/// What the built-in checks found about one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The first problem, `None` when valid.
    pub problem: Option<String>,
    /// Whether the (merged) config has a non-null `meta`.
    pub has_meta: bool,
}

impl Checked {
    pub fn verdict(&self) -> ValidatorVerdict {
        match &self.problem {
            None => verdict("built-in", "ok", ""),
            Some(p) => verdict("built-in", "rejected", p),
        }
    }
}

/// A [`ValidatorVerdict`].
pub fn verdict(validator: &str, said: &str, detail: &str) -> ValidatorVerdict {
    ValidatorVerdict {
        validator: validator.into(),
        verdict: said.into(),
        detail: detail.into(),
    }
}

/// Check one file's content on its own (no `$include` resolution).
pub fn check_content(bytes: &[u8], fc: &FileConfig) -> Verdict {
    match check_version(bytes, fc, None).problem {
        None => Verdict::Valid,
        Some(p) => Verdict::Invalid(p),
    }
}

/// The built-in checks of a version: the root's text, then (when the root uses `$include`)
/// the resolved set (`resolved`: the merged config, or why it could not be resolved).
pub fn check_version(
    root: &[u8],
    fc: &FileConfig,
    resolved: Option<&Result<Value, String>>,
) -> Checked {
    let bad = |p: String| Checked {
        problem: Some(p),
        has_meta: false,
    };
    let scan = match check_root(root, fc) {
        Ok(s) => s,
        Err(p) => return bad(p),
    };
    match resolved {
        Some(Err(e)) => bad(format!("`$include`: {e}")),
        Some(Ok(v)) => Checked {
            problem: fc
                .required_keys
                .iter()
                .find_map(|k| value_missing_key(v, k)),
            has_meta: v.get("meta").is_some_and(|m| !m.is_null()),
        },
        None => Checked {
            problem: fc.required_keys.iter().find_map(|k| missing_key(&scan, k)),
            has_meta: scan.kinds.get("meta").is_some_and(|k| *k != "null"),
        },
    }
}

/// Text, syntax and shape of the root file; the scan of its wanted keys.
fn check_root(bytes: &[u8], fc: &FileConfig) -> Result<Scan, String> {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let ok = &bytes[..e.valid_up_to()];
            let ok = std::str::from_utf8(ok).unwrap_or_default();
            let (line, col) = parse::line_col(ok, ok.len());
            return Err(format!(
                "not valid UTF-8 text at line {line}, column {col} (byte {})",
                e.valid_up_to()
            ));
        }
    };
    if text.trim().is_empty() {
        return Err(format!(
            "the file is empty ({} bytes of whitespace)",
            bytes.len()
        ));
    }
    let strict = fc.format == Format::Json;
    let mut wanted = fc.required_keys.clone();
    wanted.push("meta".into());
    let found = parse::scan(text, strict, &wanted).map_err(|e| {
        let kind = if strict { "JSON" } else { "JSON5" };
        format!("not valid {kind}: {e}")
    })?;
    if found.root != "an object" {
        return Err(format!("the top level is {}, not an object", found.root));
    }
    Ok(found)
}

/// `Some(reason)` if the dotted key path is absent or null.
pub fn missing_key(found: &Scan, path: &str) -> Option<String> {
    let parts: Vec<&str> = path.split('.').collect();
    for n in 1..=parts.len() {
        let here = parts[..n].join(".");
        let parent = parts[..n - 1].join(".");
        let Some(kind) = found.kinds.get(&here) else {
            let pk = found.kinds.get(&parent).copied().unwrap_or("missing");
            return Some(missing_text(path, &parts, n, &parent, pk));
        };
        if n == parts.len() && *kind == "null" {
            return Some(format!("required key `{path}` is null"));
        }
    }
    None
}

/// [`missing_key`] on a parsed (merged) value.
pub fn value_missing_key(v: &Value, path: &str) -> Option<String> {
    let parts: Vec<&str> = path.split('.').collect();
    let mut cur = v;
    for n in 1..=parts.len() {
        let parent = parts[..n - 1].join(".");
        let Some(next) = cur.get(parts[n - 1]).filter(|_| cur.is_object()) else {
            let pk = parse::kind(cur);
            return Some(missing_text(path, &parts, n, &parent, pk));
        };
        if n == parts.len() && next.is_null() {
            return Some(format!("required key `{path}` is null"));
        }
        cur = next;
    }
    None
}

fn missing_text(path: &str, parts: &[&str], n: usize, parent: &str, parent_kind: &str) -> String {
    if n == 1 {
        format!("required key `{path}` is missing")
    } else if parent_kind == "an object" {
        format!(
            "required key `{path}` is missing (`{parent}` has no key `{}`)",
            parts[n - 1]
        )
    } else {
        format!("required key `{path}` is missing: `{parent}` is {parent_kind}, not an object")
    }
}

/// Run the configured validator command on `path`. `Ok(verdict)` when it ran to an exit code;
/// `Err` when it could not decide (failed to start, timed out, killed).
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

/// Run the gateway's `openclaw config validate --json` on a version: its files are copied
/// into a private temp directory under `scratch` (same layout, so relative `$include`s
/// resolve), validated there, and removed. `live` is validated in place instead when an
/// `$include` names an absolute path (the copy would fail the gateway's confinement check).
pub fn run_gateway(
    cli: &openclaw::cli::Cli,
    content: &Content,
    live: &Path,
    scratch: &Path,
    timeout: Duration,
) -> ValidatorVerdict {
    let absolute = content.files().any(|(_, b)| absolute_include(b));
    let copy = if absolute {
        None
    } else {
        match scratch_copy(scratch, content) {
            Ok(d) => Some(d),
            Err(e) => {
                return verdict(
                    "openclaw",
                    "not run",
                    &format!("cannot stage a copy: {}", common::exit::one_line(&e)),
                );
            }
        }
    };
    let mut cli = cli.clone();
    cli.config = Some(match &copy {
        Some(d) => d.join(&content.root.0),
        None => live.to_path_buf(),
    });
    let out = cli.run_with_timeout(&["config", "validate", "--json"], timeout);
    if let Some(d) = &copy {
        let _ = std::fs::remove_dir_all(d);
    }
    match out {
        Ok(o) => gateway_verdict(o.code, o.timed_out, o.json().as_ref(), o.last_error_line()),
        Err(e) => verdict("openclaw", "not run", &common::exit::one_line(&e)),
    }
}

/// The verdict in `config validate --json`'s answer (exit 0/1 with
/// `{"valid", "path", "issues": [{"path", "message"}]}`, observed on 2026.9.6).
pub fn gateway_verdict(
    code: Option<i32>,
    timed_out: bool,
    doc: Option<&Value>,
    last_err: Option<&str>,
) -> ValidatorVerdict {
    if timed_out || code.is_none() {
        return verdict("openclaw", "not run", "timed out or killed: not judged");
    }
    let valid = doc.and_then(|d| d.get("valid")).and_then(Value::as_bool);
    match (code, valid) {
        (Some(0), Some(true) | None) => verdict("openclaw", "ok", ""),
        (_, Some(false)) | (Some(1), None) => {
            verdict("openclaw", "rejected", &gateway_issues(doc, last_err))
        }
        (Some(c), _) => verdict(
            "openclaw",
            "not run",
            &format!("exit {c}: {}", last_err.unwrap_or("no message")),
        ),
        (None, _) => verdict("openclaw", "not run", "killed"),
    }
}

fn gateway_issues(doc: Option<&Value>, last_err: Option<&str>) -> String {
    let issues: Vec<String> = doc
        .and_then(|d| d.get("issues"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|i| {
            let msg = i.get("message")?.as_str()?;
            Some(match i.get("path").and_then(Value::as_str) {
                Some(p) if !p.is_empty() && p != "<root>" => format!("{p}: {msg}"),
                _ => msg.to_string(),
            })
        })
        .collect();
    if !issues.is_empty() {
        return issues.join("; ").chars().take(600).collect();
    }
    doc.and_then(|d| d.pointer("/error/message"))
        .and_then(Value::as_str)
        .or(last_err)
        .unwrap_or("invalid (no detail)")
        .to_string()
}

/// Whether a text has an `$include` whose path is absolute or `~`-relative.
fn absolute_include(text: &[u8]) -> bool {
    let mut rest = text;
    while let Some(i) = rest.windows(8).position(|w| w == b"$include") {
        rest = &rest[i + 8..];
        // the first string after the key (`"$include": "/x"` or `['~/x']`): skip the key's
        // own closing quote, if any, then the `:`.
        let start = rest.iter().position(|c| *c == b':').map_or(0, |i| i + 1);
        let first = rest[start..]
            .iter()
            .position(|c| matches!(c, b'"' | b'\''))
            .and_then(|i| rest.get(start + i + 1));
        if matches!(first, Some(b'/' | b'~')) {
            return true;
        }
    }
    false
}

fn scratch_copy(scratch: &Path, content: &Content) -> Result<std::path::PathBuf> {
    crate::store::ensure_dir(scratch)?;
    let dir = scratch.join(format!(
        "{}{}.0",
        common::fsutil::temp_prefix("validate"),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    crate::store::ensure_dir(&dir)?;
    for (rel, bytes) in content.files() {
        let p = dir.join(crate::store::check_rel(rel)?);
        if let Some(parent) = p.parent() {
            common::fsutil::ensure_dir_durable(parent, 0o700)?;
        }
        std::fs::write(&p, bytes)?;
    }
    Ok(dir)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The gateway config's required keys, with `meta` (the defaults before 2026-11 also
    /// required it; the messages are the same either way).
    fn fc() -> FileConfig {
        FileConfig {
            required_keys: vec!["gateway.mode".into(), "meta".into()],
            ..FileConfig::default()
        }
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
    fn by_default_a_config_without_meta_is_good_and_meta_is_noted() {
        let d = FileConfig::default();
        let c = check_version(b"{gateway:{mode:'local'}}", &d, None);
        assert_eq!(c.problem, None);
        assert!(!c.has_meta);
        assert!(check_version(GOOD.as_bytes(), &d, None).has_meta);
    }

    #[test]
    fn included_sets_are_checked_merged() {
        let d = FileConfig::default();
        let root = b"{gateway:{$include:'./gw.json5'}}";
        let merged: Result<Value, String> = Ok(json!({"gateway": {"port": 1}, "meta": {}}));
        let c = check_version(root, &d, Some(&merged));
        assert_eq!(
            c.problem.as_deref(),
            Some("required key `gateway.mode` is missing (`gateway` has no key `mode`)")
        );
        assert!(c.has_meta);
        let broken: Result<Value, String> =
            Err("Failed to read include file: ./gw.json5 (resolved: /x/gw.json5)".into());
        let c = check_version(root, &d, Some(&broken));
        assert!(
            c.problem
                .unwrap()
                .starts_with("`$include`: Failed to read include file")
        );
        assert_eq!(
            value_missing_key(&json!({"gateway": "x"}), "gateway.mode").unwrap(),
            "required key `gateway.mode` is missing: `gateway` is a string, not an object"
        );
    }

    #[test]
    fn the_gateway_validators_answers_are_read_from_the_captures() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/openclaw-2026.9.6/config-cases");
        let said = |case: &str| {
            let code: i32 = std::fs::read_to_string(dir.join(case).join("validate.exit-code.txt"))
                .unwrap()
                .trim()
                .parse()
                .unwrap();
            let out = std::fs::read_to_string(dir.join(case).join("validate.stdout.json")).unwrap();
            let doc = openclaw::cli::json_document(&out);
            gateway_verdict(Some(code), false, doc.as_ref(), None)
        };
        assert_eq!(said("valid").verdict, "ok");
        assert_eq!(said("stub").verdict, "ok", "the gateway accepts the stub");
        assert_eq!(
            said("nomode").verdict,
            "ok",
            "and a config without gateway.mode"
        );
        let v = said("unknownkey");
        assert_eq!(
            v.line(),
            "openclaw: rejected (Unrecognized key: \"bogusKey\")"
        );
        assert!(
            said("truncated")
                .detail
                .contains("JSON5: invalid end of input at 69:19")
        );
        assert_eq!(said("deleted").detail, "file not found");
        assert_eq!(gateway_verdict(None, true, None, None).verdict, "not run");
    }

    #[test]
    fn absolute_includes_are_spotted() {
        assert!(absolute_include(b"{a:{$include: \"/etc/x.json5\"}}"));
        assert!(absolute_include(b"{a:{\"$include\": ['~/x.json5']}}"));
        assert!(!absolute_include(b"{a:{$include: './x.json5'}}"));
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

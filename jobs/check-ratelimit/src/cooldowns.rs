//! The gateway's own cooldowns, where they live in OpenClaw 2026.9.6:
//!
//! - `openclaw models status --json` → `auth.unusableProfiles[]` (`profileId`, `provider`,
//!   `kind` `cooldown`|`disabled`, `reason`, `until` epoch ms, `remainingMs`): the supported
//!   read (docs `cli/models.md`; it lists only windows still in force; no network without
//!   `--probe`). The cooldowns themselves are in SQLite (`authProfiles.state`), which is not
//!   read here: the same store holds the plaintext API keys.
//! - Legacy `auth-profiles.json` / `auth-state.json` files (`usageStats.<profile>.cooldownUntil`
//!   / `disabledUntil`, epoch ms), which the gateway only imports with `doctor --fix`: read
//!   when configured, as a second source.

use crate::data::KnownCooldown;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;
use std::path::PathBuf;

/// `auth.unusableProfiles` of a `models status --json` document (those still in force at
/// `now`).
pub fn from_models_status(doc: &Value, now: DateTime<Utc>) -> Result<Vec<KnownCooldown>, String> {
    let list = doc
        .get("auth")
        .and_then(|a| a.get("unusableProfiles"))
        .ok_or("no `auth.unusableProfiles` in its output")?
        .as_array()
        .ok_or("`auth.unusableProfiles` is not a list")?;
    let mut out = Vec::new();
    for p in list {
        let s = |k: &str| p.get(k).and_then(Value::as_str).map(str::to_string);
        let Some(until) = p
            .get("until")
            .and_then(Value::as_i64)
            .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
        else {
            continue;
        };
        if until <= now {
            continue;
        }
        let id = s("profileId");
        out.push(KnownCooldown {
            provider: s("provider"),
            profile: id.as_deref().map(hashed_profile),
            profile_id: id,
            model: None,
            kind: s("kind").unwrap_or_else(|| "cooldown".into()),
            reason: s("reason"),
            until,
            since: now,
            source: "models status".into(),
        });
    }
    Ok(out)
}

/// The profile id as the gateway's log names it: `sha256:` and the first 12 hex digits of the
/// SHA-256 of the id (`redactIdentifier`; `fake:manual` → `sha256:b382fb4793f3`).
pub fn hashed_profile(id: &str) -> String {
    if id.starts_with("sha256:") {
        return id.to_string();
    }
    let h = common::hash::sha256_hex(id.as_bytes());
    format!("sha256:{}", &h[..12])
}

/// Future cooldowns in the legacy files matched by the globs, and the files that could not
/// be read.
pub fn from_files(patterns: &[PathBuf], now: DateTime<Utc>) -> (Vec<KnownCooldown>, Vec<String>) {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for pat in patterns {
        let Ok(paths) = glob::glob(&pat.to_string_lossy()) else {
            problems.push(format!("bad glob {}", pat.display()));
            continue;
        };
        for p in paths.flatten() {
            let v: Value = match std::fs::read(&p)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
            {
                Ok(v) => v,
                Err(e) => {
                    problems.push(format!("{}: {e}", p.display()));
                    continue;
                }
            };
            out.extend(usage_stats(&v, now));
        }
    }
    (out, problems)
}

fn usage_stats(v: &Value, now: DateTime<Utc>) -> Vec<KnownCooldown> {
    let Some(stats) = v.get("usageStats").and_then(Value::as_object) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (profile, s) in stats {
        for (key, kind) in [("cooldownUntil", "cooldown"), ("disabledUntil", "disabled")] {
            let Some(until) = s
                .get(key)
                .and_then(Value::as_i64)
                .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
            else {
                continue;
            };
            if until > now {
                out.push(KnownCooldown {
                    provider: profile.split(':').next().map(str::to_string),
                    profile: Some(hashed_profile(profile)),
                    profile_id: Some(profile.clone()),
                    model: s
                        .get("cooldownModel")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    kind: kind.into(),
                    reason: s
                        .get("cooldownReason")
                        .or_else(|| s.get("disabledReason"))
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    until,
                    since: now,
                    source: "file".into(),
                });
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_captured_models_status_during_a_cooldown() {
        let t = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/openclaw-2026.9.6/turn-429-cooldown/models-status-during-cooldown.json"
        ))
        .unwrap();
        let doc: Value = serde_json::from_str(&t).unwrap();
        let now = Utc
            .timestamp_millis_opt(1795839404727 - 27117)
            .single()
            .unwrap();
        let c = from_models_status(&doc, now).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].profile_id.as_deref(), Some("fake:manual"));
        assert_eq!(
            c[0].profile.as_deref(),
            Some("sha256:b382fb4793f3"),
            "the log's name for it"
        );
        assert_eq!(c[0].provider.as_deref(), Some("fake"));
        assert_eq!(c[0].reason.as_deref(), Some("rate_limit"));
        assert_eq!(c[0].until.timestamp_millis(), 1795839404727);
        // After the window it is not listed (the gateway lists only windows in force).
        let later = Utc
            .timestamp_millis_opt(1795839404727 + 1)
            .single()
            .unwrap();
        assert!(from_models_status(&doc, later).unwrap().is_empty());
        // The success capture lists none.
        let ok: Value = serde_json::from_str(
            &std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../tests/fixtures/openclaw-2026.9.6/turn-ok/models-status.json"
            ))
            .unwrap(),
        )
        .unwrap();
        assert!(from_models_status(&ok, now).unwrap().is_empty());
        assert!(from_models_status(&serde_json::json!({"x": 1}), now).is_err());
    }

    #[test]
    fn legacy_files_future_windows_only() {
        let d = tempfile::tempdir().unwrap();
        let now = Utc::now();
        let fut = now.timestamp_millis() + 60_000;
        let past = now.timestamp_millis() - 60_000;
        std::fs::write(
            d.path().join("auth-profiles.json"),
            format!(r#"{{"profiles":{{}},"usageStats":{{"anthropic:default":{{"cooldownUntil":{fut},"errorCount":2}},"openai:default":{{"cooldownUntil":{past}}},"x:y":{{"disabledUntil":{fut},"disabledReason":"billing"}}}}}}"#),
        )
        .unwrap();
        std::fs::write(d.path().join("broken-auth-profiles.json"), "{").unwrap();
        let (c, problems) = from_files(&[d.path().join("*auth-profiles.json")], now);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].profile_id.as_deref(), Some("anthropic:default"));
        assert_eq!(c[0].until.timestamp_millis(), fut);
        assert_eq!(c[1].kind, "disabled");
        assert_eq!(problems.len(), 1);
    }
}

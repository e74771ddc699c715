//! The gateway's own cooldown state (`auth-profiles.json`, `usageStats.<profile>.cooldownUntil`
//! in epoch ms): when it says a profile is cooling down, that is the best estimate of when the
//! limit resets.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;
use std::path::PathBuf;

/// One profile cooling down.
#[derive(Debug, Clone, PartialEq)]
pub struct Cooldown {
    pub file: PathBuf,
    pub profile: String,
    pub until: DateTime<Utc>,
}

/// Future cooldowns in the files matched by the globs, and the files that could not be read.
pub fn read(patterns: &[PathBuf], now: DateTime<Utc>) -> (Vec<Cooldown>, Vec<String>) {
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
            let Some(stats) = v.get("usageStats").and_then(Value::as_object) else {
                continue;
            };
            for (profile, s) in stats {
                let Some(ms) = s.get("cooldownUntil").and_then(Value::as_i64) else {
                    continue;
                };
                if let Some(until) = Utc.timestamp_millis_opt(ms).single()
                    && until > now
                {
                    out.push(Cooldown {
                        file: p.clone(),
                        profile: profile.clone(),
                        until,
                    });
                }
            }
        }
    }
    (out, problems)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn future_cooldowns_only() {
        let d = tempfile::tempdir().unwrap();
        let now = Utc::now();
        let fut = now.timestamp_millis() + 60_000;
        let past = now.timestamp_millis() - 60_000;
        std::fs::write(
            d.path().join("auth-profiles.json"),
            format!(r#"{{"profiles":{{}},"usageStats":{{"anthropic:default":{{"cooldownUntil":{fut},"errorCount":2}},"openai:default":{{"cooldownUntil":{past}}}}}}}"#),
        )
        .unwrap();
        std::fs::write(d.path().join("broken-auth-profiles.json"), "{").unwrap();
        let (c, problems) = read(&[d.path().join("*auth-profiles.json")], now);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].profile, "anthropic:default");
        assert_eq!(c[0].until.timestamp_millis(), fut);
        assert_eq!(problems.len(), 1);
    }
}

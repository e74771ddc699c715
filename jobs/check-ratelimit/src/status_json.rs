//! `check-ratelimit status --json`: the status as one JSON document, for scripts.
//!
//! The shape (documented in `docs/jobs/check-ratelimit.md`, "Machine-readable output"; every
//! key is always present, `null` when there is nothing to say):
//!
//! ```text
//! { "job": "check-ratelimit", "as_of": <RFC 3339>,
//!   "last_run": <contracts::run::RunRecord | null>, "last_success": <time | null>,
//!   "facts": <contracts::facts::check_ratelimit::RatelimitFacts, as of as_of>,
//!   "circuit_file": <contracts::control::Circuit | null>, "circuit_file_error": <string | null>,
//!   "maintenance": <contracts::control::Maintenance | null>,
//!   "window_secs": <u64>,
//!   "incident_effects": { <effect key>: <contracts::effect::EffectRecord> },
//!   "log_globs": [<path>], "files": [{"path", "offset", "size", "state"}] }
//! ```

use crate::config::Config;
use crate::data::Data;
use chrono::{DateTime, Utc};
use common::contracts::control::{Circuit, Maintenance};
use common::contracts::effect::EffectRecord;
use common::contracts::facts::check_ratelimit::RatelimitFacts;
use common::contracts::run::RunRecord;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The document.
#[derive(Debug, Serialize)]
pub struct StatusDoc<'a> {
    pub job: &'static str,
    pub as_of: DateTime<Utc>,
    pub last_run: Option<&'a RunRecord>,
    pub last_success: Option<DateTime<Utc>>,
    /// The public facts computed now, with the configured window.
    pub facts: RatelimitFacts,
    /// `state/circuit.json` as the other jobs read it (closed when absent).
    pub circuit_file: Option<Circuit>,
    /// Why `state/circuit.json` could not be read (the other jobs treat it as open).
    pub circuit_file_error: Option<String>,
    /// Planned maintenance, when it holds now.
    pub maintenance: Option<&'a Maintenance>,
    pub window_secs: u64,
    /// The journal records of the current incident's steps (commands, alerts).
    pub incident_effects: BTreeMap<&'a str, &'a EffectRecord>,
    pub log_globs: Vec<String>,
    pub files: Vec<FileView>,
}

/// A followed log file.
#[derive(Debug, Serialize)]
pub struct FileView {
    pub path: String,
    /// Bytes read so far.
    pub offset: u64,
    /// Its size now (`null` when it is gone).
    pub size: Option<u64>,
    /// `ok`, `shrank` (the next run restarts at 0) or `gone`.
    pub state: &'static str,
}

/// What the document is made of (the state, the files read, the clock).
#[derive(Debug)]
pub struct Inputs<'a> {
    pub data: &'a Data,
    pub last_run: Option<&'a RunRecord>,
    pub last_success: Option<DateTime<Utc>>,
    pub effects: &'a BTreeMap<String, EffectRecord>,
    pub circuit: Result<Circuit, String>,
    pub maintenance: Option<&'a Maintenance>,
    pub globs: &'a [PathBuf],
    pub now: DateTime<Utc>,
}

/// Build the document; `size_of` gives a file's current size (`None`: gone).
pub fn document<'a>(
    i: Inputs<'a>,
    cfg: &Config,
    size_of: &dyn Fn(&Path) -> Option<u64>,
) -> StatusDoc<'a> {
    // The window the text shows: the configured one (the state keeps the last run's).
    let facts = crate::facts::public_in(i.data, i.now, cfg.window_secs);
    let prefix = i
        .data
        .incident
        .as_ref()
        .map(|inc| format!("incident/{}/", inc.id));
    let incident_effects = i
        .effects
        .iter()
        .filter(|(k, _)| prefix.as_deref().is_some_and(|p| k.starts_with(p)))
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    let (circuit_file, circuit_file_error) = match i.circuit {
        Ok(c) => (Some(c), None),
        Err(e) => (None, Some(e)),
    };
    StatusDoc {
        job: "check-ratelimit",
        as_of: i.now,
        last_run: i.last_run,
        last_success: i.last_success,
        facts,
        circuit_file,
        circuit_file_error,
        maintenance: i.maintenance.filter(|m| m.active_at(i.now)),
        window_secs: cfg.window_secs,
        incident_effects,
        log_globs: i.globs.iter().map(|g| g.display().to_string()).collect(),
        files: i
            .data
            .cursors
            .iter()
            .map(|c| {
                let size = size_of(&c.path);
                FileView {
                    path: c.path.display().to_string(),
                    offset: c.offset,
                    size,
                    state: match size {
                        Some(s) if s >= c.offset => "ok",
                        Some(_) => "shrank",
                        None => "gone",
                    },
                }
            })
            .collect(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_and_the_window_is_the_configured_one() {
        let now: DateTime<Utc> = "2026-03-05T12:00:00Z".parse().unwrap();
        let data = Data {
            window_secs: Some(60),
            ..Default::default()
        };
        let cfg = Config {
            window_secs: 300,
            ..Default::default()
        };
        let effects = BTreeMap::new();
        let globs = [PathBuf::from("/gw/openclaw-*.log")];
        let doc = document(
            Inputs {
                data: &data,
                last_run: None,
                last_success: None,
                effects: &effects,
                circuit: Err("bad json".into()),
                maintenance: None,
                globs: &globs,
                now,
            },
            &cfg,
            &|_| None,
        );
        let v = serde_json::to_value(&doc).unwrap();
        for k in [
            "job",
            "as_of",
            "last_run",
            "last_success",
            "facts",
            "circuit_file",
            "circuit_file_error",
            "maintenance",
            "window_secs",
            "incident_effects",
            "log_globs",
            "files",
        ] {
            assert!(v.get(k).is_some(), "{k} missing in {v}");
        }
        assert_eq!(v["window_secs"], 300);
        assert_eq!(v["circuit_file_error"], "bad json");
        assert_eq!(v["facts"]["circuit"]["state"], "closed");
        assert_eq!(v["facts"]["circuit"]["updated_at"], "2026-03-05T12:00:00Z");
    }
}

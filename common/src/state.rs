//! The job state file `<root>/state/<job>.json`: run bookkeeping shared by every job, plus the
//! job's own `data`.
//!
//! Promises: written only through [`crate::fsutil::write_atomic`] (old or new, never torn); a file
//! that does not parse is never overwritten (exit 65 naming file, line and column, with the hint
//! to fix it or run `--reset-state`); a `schema_version` newer than the binary is refused (exit
//! 65); an older one is migrated by the job.

use crate::exit::data_error;
use crate::fsutil;
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};

pub use contracts::effect::{EffectRecord, EffectStatus};
pub use contracts::run::{
    Counters, ERRORS_LEN, ErrorEntry, HISTORY_LEN, HistoryEntry, OutcomeKind, RunRecord,
};

/// Dedup bookkeeping of one alert key, as state files before the effect journal kept it
/// (`alerts`); read once and moved into `effects` (see [`State::adopt_legacy_alerts`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlertRecord {
    pub severity: String,
    pub first_at: DateTime<Utc>,
    pub last_sent_at: Option<DateTime<Utc>>,
    /// `sending` (recorded before delivery), `sent`, `failed: …`, or `logged` (no channel).
    pub status: String,
    pub sent: u64,
    pub suppressed: u64,
    pub last_text: String,
}

/// The whole state file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State<D> {
    pub schema_version: u32,
    pub job: String,
    pub last_run: Option<RunRecord>,
    pub last_success: Option<DateTime<Utc>>,
    #[serde(default)]
    pub consecutive_failures: u32,
    #[serde(default)]
    pub runs: Counters,
    #[serde(default)]
    pub history: VecDeque<HistoryEntry>,
    #[serde(default)]
    pub errors: VecDeque<ErrorEntry>,
    /// Job metrics: counters (added to by each run) and gauges (last value).
    #[serde(default)]
    pub metrics: BTreeMap<String, Value>,
    /// Legacy alert records (read, never written: moved into `effects` at load).
    #[serde(default, skip_serializing)]
    pub alerts: BTreeMap<String, AlertRecord>,
    /// The effect journal: every side effect's intent and result (see `crate::effect`).
    #[serde(default)]
    pub effects: BTreeMap<String, EffectRecord>,
    /// The dead-man ping endpoint's health (one warning per outage).
    #[serde(default, skip_serializing_if = "ping_ok")]
    pub pings: crate::ping::PingHealth,
    /// The job's public facts as of its last run (see `contracts::facts`).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub facts: Value,
    /// The job's own data.
    #[serde(default)]
    pub data: D,
}

impl<D: Default> State<D> {
    pub fn new(job: &str, schema_version: u32) -> Self {
        State {
            schema_version,
            job: job.to_string(),
            last_run: None,
            last_success: None,
            consecutive_failures: 0,
            runs: Counters::default(),
            history: VecDeque::new(),
            errors: VecDeque::new(),
            metrics: BTreeMap::new(),
            alerts: BTreeMap::new(),
            effects: BTreeMap::new(),
            pings: Default::default(),
            facts: Value::Null,
            data: D::default(),
        }
    }
}

impl<D> State<D> {
    /// Move alert records of the pre-journal format into the effect journal (`alert/<key>`).
    pub fn adopt_legacy_alerts(&mut self) {
        for (key, a) in std::mem::take(&mut self.alerts) {
            let status = match a.status.as_str() {
                "sent" | "logged" => EffectStatus::Done,
                "sending" => EffectStatus::Unknown,
                _ => EffectStatus::Failed,
            };
            self.effects
                .entry(crate::alert::effect_key(&key))
                .or_insert(EffectRecord {
                    what: format!("alert `{key}`"),
                    status,
                    idempotent: false,
                    attempts: a.sent as u32,
                    done: if status == EffectStatus::Done {
                        a.sent as u32
                    } else {
                        0
                    },
                    skipped: a.suppressed as u32,
                    first_at: a.first_at,
                    started_at: a.last_sent_at,
                    finished_at: a.last_sent_at,
                    result: Some(a.status.clone()),
                    value: Some(serde_json::json!({"severity": a.severity, "text": a.last_text})),
                    run_id: String::new(),
                });
        }
    }

    /// Record an error in the bounded ring.
    pub fn push_error(&mut self, at: DateTime<Utc>, message: String, run_id: &str) {
        self.errors.push_back(ErrorEntry {
            at,
            message,
            run_id: run_id.to_string(),
        });
        while self.errors.len() > ERRORS_LEN {
            self.errors.pop_front();
        }
    }

    /// Record a finished run: last_run, history, counters, failures, last_success.
    pub fn record_run(&mut self, rec: RunRecord) {
        self.runs.count(rec.outcome);
        match rec.outcome {
            OutcomeKind::Ok | OutcomeKind::Noop | OutcomeKind::Degraded => {
                self.consecutive_failures = 0;
                self.last_success = Some(rec.finished_at);
            }
            OutcomeKind::Failed => self.consecutive_failures += 1,
            OutcomeKind::Skipped => {}
        }
        if let Some(e) = &rec.error {
            self.push_error(rec.finished_at, e.clone(), &rec.run_id);
        }
        self.history.push_back(HistoryEntry {
            started_at: rec.started_at,
            duration_ms: rec.duration_ms,
            outcome: rec.outcome,
            exit_code: rec.exit_code,
        });
        while self.history.len() > HISTORY_LEN {
            self.history.pop_front();
        }
        self.last_run = Some(rec);
    }
}

fn ping_ok(p: &crate::ping::PingHealth) -> bool {
    p.failing_since.is_none() && p.last_error.is_none()
}

/// Where a job's state lives and how it is versioned.
#[derive(Debug, Clone)]
pub struct StateStore {
    pub path: PathBuf,
    pub job: &'static str,
    pub schema_version: u32,
}

/// A migration hook: `(from_version, whole state as JSON) -> migrated JSON`.
pub type Migrate = fn(u32, Value) -> Result<Value>;

impl StateStore {
    /// Load the state, or a fresh one if the file does not exist.
    pub fn load<D: DeserializeOwned + Default>(&self, migrate: Migrate) -> Result<State<D>> {
        let hint = format!(
            "fix it by hand, or run `{} --reset-state` to move it aside and start fresh",
            self.job
        );
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(State::new(self.job, self.schema_version));
            }
            Err(e) => {
                let what = if self.path.is_dir() {
                    "is a directory, not a file".to_string()
                } else {
                    format!("cannot be read ({e})")
                };
                return Err(data_error(format!(
                    "state file {} {what}; {hint} (the job must be able to read and write it: same user, mode 0600)",
                    self.path.display()
                )));
            }
        };
        // The file parsed once straight into the types, naming the key on error: no JSON tree
        // in the common case, and one instance of the job's deserializer in its binary (each
        // instance is seconds of a clean build). Anything else (another schema or job, a bad
        // value) is sorted out from a small header parse.
        let typed = |text: &[u8]| {
            serde_path_to_error::deserialize::<_, State<D>>(
                &mut serde_json::Deserializer::from_slice(text),
            )
            .map_err(|e| {
                data_error(format!(
                    "state file {}: `{}`: {}; {hint}",
                    self.path.display(),
                    e.path(),
                    e.inner()
                ))
            })
        };
        let first = typed(&bytes);
        if let Ok(state) = &first
            && state.schema_version == self.schema_version
            && state.job == self.job
        {
            return first;
        }
        #[derive(Deserialize)]
        struct Header {
            schema_version: Option<Value>,
            job: Option<Value>,
        }
        let header: Header = serde_json::from_slice(&bytes).map_err(|e| {
            data_error(format!(
                "state file {} does not parse at line {}, column {}: {e}; {hint}",
                self.path.display(),
                e.line(),
                e.column()
            ))
        })?;
        let version = header
            .schema_version
            .as_ref()
            .and_then(Value::as_u64)
            .ok_or_else(|| {
                data_error(format!(
                    "state file {} has no numeric `schema_version`; {hint}",
                    self.path.display()
                ))
            })? as u32;
        if let Some(job) = header.job.as_ref().and_then(Value::as_str)
            && job != self.job
        {
            return Err(data_error(format!(
                "state file {} belongs to job `{job}`, not `{}`; {hint}",
                self.path.display(),
                self.job
            )));
        }
        if version > self.schema_version {
            return Err(data_error(format!(
                "state file {} has schema_version {version}, newer than this {} understands ({}): \
                 it was written by a newer agent-jobs; upgrade the binary (or run --reset-state to start over)",
                self.path.display(),
                self.job,
                self.schema_version
            )));
        }
        if version == self.schema_version {
            return first;
        }
        let value: Value = serde_json::from_slice(&bytes).context("cannot re-read state")?;
        let mut v = migrate(version, value).with_context(|| {
            format!(
                "cannot migrate {} from schema {version} to {}",
                self.path.display(),
                self.schema_version
            )
        })?;
        v["schema_version"] = Value::from(self.schema_version);
        log::info!(
            "migrated {} from schema {version} to {}",
            self.path.display(),
            self.schema_version
        );
        typed(&serde_json::to_vec(&v).context("cannot serialize the migrated state")?)
    }

    /// Write the state atomically.
    pub fn save<D: Serialize>(&self, state: &State<D>) -> Result<()> {
        let mut text = serde_json::to_string_pretty(state).context("cannot serialize state")?;
        text = crate::redact::scrub_registered(&text).into_owned();
        text.push('\n');
        fsutil::write_atomic(&self.path, text.as_bytes())
    }

    /// Move the state file aside to `<job>.json.corrupt-<UTC timestamp>`; returns the new path.
    pub fn move_aside(&self) -> Result<Option<PathBuf>> {
        if !self.path.exists() {
            return Ok(None);
        }
        let ts = Utc::now().format("%Y%m%dT%H%M%SZ");
        let mut name = self.path.as_os_str().to_owned();
        name.push(format!(".corrupt-{ts}"));
        let dest = PathBuf::from(name);
        std::fs::rename(&self.path, &dest).with_context(|| {
            format!("cannot move {} to {}", self.path.display(), dest.display())
        })?;
        fsutil::sync_dir(self.path.parent().unwrap_or(Path::new(".")))?;
        Ok(Some(dest))
    }
}

/// Read any job's state file as loose JSON (for reports and `/status`); `None` if missing.
pub fn read_loose(path: &Path) -> Result<Option<Value>> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|e| {
            data_error(format!(
                "{} does not parse at line {}, column {}: {e}",
                path.display(),
                e.line(),
                e.column()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::{Exit, code_of};

    #[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
    struct Data {
        n: u32,
    }

    fn store(dir: &Path, v: u32) -> StateStore {
        StateStore {
            path: dir.join("j.json"),
            job: "j",
            schema_version: v,
        }
    }

    fn no_migrate(_: u32, v: Value) -> Result<Value> {
        Ok(v)
    }

    #[test]
    fn roundtrip_and_history_bound() {
        let d = tempfile::tempdir().unwrap();
        let s = store(d.path(), 1);
        let mut st: State<Data> = s.load(no_migrate).unwrap();
        for i in 0..60 {
            let now = Utc::now();
            st.record_run(RunRecord {
                started_at: now,
                finished_at: now,
                duration_ms: i,
                outcome: if i % 2 == 0 {
                    OutcomeKind::Ok
                } else {
                    OutcomeKind::Failed
                },
                exit_code: 0,
                error: (i % 2 == 1).then(|| format!("e{i}")),
                summary: None,
                pid: 1,
                host: "h".into(),
                version: "0".into(),
                run_id: "r".into(),
            });
        }
        st.data.n = 7;
        s.save(&st).unwrap();
        let back: State<Data> = s.load(no_migrate).unwrap();
        assert_eq!(back.history.len(), HISTORY_LEN);
        assert_eq!(back.errors.len(), ERRORS_LEN);
        assert_eq!(back.runs.total, 60);
        assert_eq!(back.consecutive_failures, 1);
        assert_eq!(back.data, Data { n: 7 });
    }

    #[test]
    fn corrupt_state_is_data_error_with_position() {
        let d = tempfile::tempdir().unwrap();
        let s = store(d.path(), 1);
        std::fs::write(&s.path, "{\n  \"schema_version\": 1,\n  oops\n}").unwrap();
        let err = s.load::<Data>(no_migrate).unwrap_err();
        assert_eq!(code_of(&err), Exit::DataErr);
        let m = err.to_string();
        assert!(m.contains("line 3") && m.contains("--reset-state"), "{m}");
    }

    #[test]
    fn a_wrong_value_is_named_by_its_key_and_another_jobs_file_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let s = store(d.path(), 1);
        let refused = |text: &str, says: &str| {
            std::fs::write(&s.path, text).unwrap();
            let m = s.load::<Data>(no_migrate).unwrap_err().to_string();
            assert!(m.contains(says), "{m}");
        };
        refused(
            r#"{"schema_version":1,"job":"j","last_run":null,"last_success":null,"data":{"n":"seven"}}"#,
            "`data.n`",
        );
        refused(
            r#"{"schema_version":1,"job":"other"}"#,
            "belongs to job `other`",
        );
        refused(r#"{"job":"j"}"#, "no numeric `schema_version`");
    }

    #[test]
    fn newer_schema_is_refused_older_is_migrated() {
        let d = tempfile::tempdir().unwrap();
        let s = store(d.path(), 2);
        std::fs::write(&s.path, r#"{"schema_version":3,"job":"j"}"#).unwrap();
        let err = s.load::<Data>(no_migrate).unwrap_err();
        assert_eq!(code_of(&err), Exit::DataErr);
        assert!(err.to_string().contains("newer"), "{err}");

        std::fs::write(
            &s.path,
            r#"{"schema_version":1,"job":"j","data":{"count":5}}"#,
        )
        .unwrap();
        fn mig(from: u32, mut v: Value) -> Result<Value> {
            assert_eq!(from, 1);
            let c = v["data"]["count"].take();
            v["data"] = serde_json::json!({ "n": c });
            Ok(v)
        }
        let st: State<Data> = s.load(mig).unwrap();
        assert_eq!(st.data.n, 5);
        assert_eq!(st.schema_version, 2);
    }

    #[test]
    fn legacy_alert_records_move_into_the_journal() {
        let d = tempfile::tempdir().unwrap();
        let s = store(d.path(), 1);
        std::fs::write(
            &s.path,
            r#"{"schema_version":1,"job":"j","last_run":null,"last_success":null,
                "alerts":{"disk":{"severity":"warning","first_at":"2026-11-01T00:00:00Z",
                  "last_sent_at":"2026-11-01T00:00:00Z","status":"sent","sent":1,"suppressed":4,
                  "last_text":"disk full"},
                 "net":{"severity":"critical","first_at":"2026-11-01T00:00:00Z",
                  "last_sent_at":"2026-11-01T00:00:00Z","status":"sending","sent":1,"suppressed":0,
                  "last_text":"net down"}}}"#,
        )
        .unwrap();
        let mut st: State<Data> = s.load(no_migrate).unwrap();
        st.adopt_legacy_alerts();
        assert!(st.alerts.is_empty());
        assert_eq!(st.effects["alert/disk"].status, EffectStatus::Done);
        assert_eq!(st.effects["alert/disk"].skipped, 4);
        assert_eq!(st.effects["alert/net"].status, EffectStatus::Unknown);
        s.save(&st).unwrap();
        let text = std::fs::read_to_string(&s.path).unwrap();
        assert!(
            !text.contains("\"alerts\""),
            "legacy key not written back: {text}"
        );
    }

    #[test]
    fn move_aside_keeps_the_bytes() {
        let d = tempfile::tempdir().unwrap();
        let s = store(d.path(), 1);
        std::fs::write(&s.path, "garbage").unwrap();
        let dest = s.move_aside().unwrap().unwrap();
        assert!(!s.path.exists());
        assert_eq!(std::fs::read_to_string(dest).unwrap(), "garbage");
    }
}

//! Suite-wide control files every job reads: `state/control.json` (pause),
//! `state/circuit.json` (the rate-limit circuit written by check-ratelimit) and
//! `state/maintenance.json` (planned maintenance, written by `watch-gateway maintenance`).
//!
//! Both are written atomically through [`crate::fsutil::write_atomic`], so a reader sees the
//! old or the new file, never a torn one.

use crate::exit::data_error;
use crate::fsutil;
use anyhow::Result;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::Path;

pub use contracts::control::{Circuit, CircuitState, Control, Maintenance};

fn read_json<T: DeserializeOwned + Default>(path: &Path) -> Result<T> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| {
            data_error(format!(
                "{} does not parse at line {}, column {}: {e}; fix or delete it",
                path.display(),
                e.line(),
                e.column()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(anyhow::Error::new(e).context(format!("cannot read {}", path.display()))),
    }
}

fn write_json<T: Serialize>(path: &Path, v: &T) -> Result<()> {
    let mut text = serde_json::to_string_pretty(v)?;
    text = crate::redact::scrub_registered(&text).into_owned();
    text.push('\n');
    fsutil::write_atomic(path, text.as_bytes())
}

/// Read `control.json` (absent = not paused).
pub fn read_control(state_dir: &Path) -> Result<Control> {
    read_json(&state_dir.join("control.json"))
}

/// Write `control.json` atomically.
pub fn write_control(state_dir: &Path, c: &Control) -> Result<()> {
    write_json(&state_dir.join("control.json"), c)
}

/// Read `circuit.json` (absent = closed).
pub fn read_circuit(state_dir: &Path) -> Result<Circuit> {
    read_json(&state_dir.join("circuit.json"))
}

/// Write `circuit.json` atomically.
pub fn write_circuit(state_dir: &Path, c: &Circuit) -> Result<()> {
    write_json(&state_dir.join("circuit.json"), c)
}

/// Read `maintenance.json` (absent = no maintenance). Both shapes of
/// [`Maintenance`] are accepted; a file that does not parse is an error naming it.
pub fn read_maintenance(state_dir: &Path) -> Result<Option<Maintenance>> {
    let p = state_dir.join("maintenance.json");
    if !p.exists() {
        return Ok(None);
    }
    read_json::<Maintenance>(&p).map(Some)
}

/// `maintenance.json` for a job that only obeys it: absent = none. A file that cannot be read
/// or parsed is reported (naming it and the expected shape) and ignored, so a typo never
/// silences alerts; `instead` says what the job does then ("alerts are not held").
pub fn maintenance_or_warn(state_dir: &Path, instead: &str) -> Option<Maintenance> {
    read_maintenance(state_dir).unwrap_or_else(|e| {
        log::warn!(
            "{}; expected {{\"planned\": true, \"reason\": \"…\", \"ignoreUntil\": \"2026-03-05T18:00:00Z\"}}; ignoring it, {instead}",
            crate::exit::one_line(&e)
        );
        None
    })
}

/// Write `maintenance.json` atomically.
pub fn write_maintenance(state_dir: &Path, m: &Maintenance) -> Result<()> {
    write_json(&state_dir.join("maintenance.json"), m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn absent_files_mean_running_and_closed() {
        let d = tempfile::tempdir().unwrap();
        assert!(!read_control(d.path()).unwrap().paused);
        assert!(!read_circuit(d.path()).unwrap().is_open());
    }

    #[test]
    fn roundtrip_and_corrupt() {
        let d = tempfile::tempdir().unwrap();
        let c = Control {
            paused: true,
            reason: Some("maintenance".into()),
            by: Some("op".into()),
            at: Some(Utc::now()),
        };
        write_control(d.path(), &c).unwrap();
        assert_eq!(read_control(d.path()).unwrap(), c);
        assert_eq!(read_maintenance(d.path()).unwrap(), None);
        let m = Maintenance {
            planned: true,
            reason: Some("upgrade".into()),
            ignore_until: Some(Utc::now()),
            ..Default::default()
        };
        write_maintenance(d.path(), &m).unwrap();
        let back = read_maintenance(d.path()).unwrap().unwrap();
        assert_eq!(back.reason, m.reason);
        std::fs::write(d.path().join("circuit.json"), "{").unwrap();
        let err = read_circuit(d.path()).unwrap_err();
        assert!(err.to_string().contains("circuit.json"), "{err}");
    }
}

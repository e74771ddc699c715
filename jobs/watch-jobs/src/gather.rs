//! Everything one check reads, typed by `contracts`; nothing here decides.
//!
//! | input | type | written by |
//! |---|---|---|
//! | the jobs to watch | `contracts::registry` (the repository's crontab), without watch-jobs | — |
//! | the installed crontab (`crontab -l`) or a file | [`schedule::Crontab`] | operators, `scripts/install-crontab` |
//! | `state/<job>.json` (last run, history) | `contracts::state::PublicState` | the runtime, every job |
//! | `logs/<job>.log` modification time (evidence when a state's time is ahead of the clock) | — | the runtime's logger |
//! | `state/control.json` (suite paused), `state/maintenance.json` | `contracts::control` | poll-teams, operators |

use chrono::{DateTime, Utc};
use common::contracts::control::{Control, Maintenance};
use common::contracts::state::PublicState;
use schedule::{Crontab, CrontabSource};
use serde::de::IgnoredAny;
use std::path::Path;

/// A job's state file as read: `Ok(None)` when it does not exist (the job never ran).
pub type StateRead = Result<Option<PublicState<IgnoredAny>>, String>;

/// What one job left on disk.
#[derive(Debug)]
pub struct Observed {
    pub job: String,
    pub state: StateRead,
    pub log_mtime: Option<DateTime<Utc>>,
}

/// Everything one check reads.
#[derive(Debug)]
pub struct Gathered {
    /// The parsed crontab, or why it could not be read (the check is off).
    pub crontab: Result<Crontab, String>,
    /// Where it was read from (for the facts and messages).
    pub source: String,
    pub control: Control,
    /// The maintenance window, when one is declared.
    pub maintenance: Option<Maintenance>,
    pub jobs: Vec<Observed>,
}

/// The jobs watch-jobs watches: the registry without itself.
pub fn watched_jobs() -> Vec<&'static str> {
    common::contracts::registry::names()
        .filter(|j| *j != crate::NAME)
        .collect()
}

/// Read everything: the crontab (from `source`, in zone `tz`), the control files, and each
/// watched job's state and log time.
pub fn gather(
    paths: &common::Paths,
    source: &CrontabSource,
    tz: chrono_tz::Tz,
    jobs: &[&str],
) -> Gathered {
    let names: Vec<&str> = common::contracts::registry::names().collect();
    let crontab = schedule::read_crontab(source, crate::NAME).map(|text| {
        let ct = schedule::parse_crontab(&text, tz, &names);
        for p in &ct.problems {
            log::info!("{p}; that line is not checked");
        }
        ct
    });
    Gathered {
        crontab,
        source: source.to_string(),
        control: control(&paths.state_dir),
        maintenance: maintenance(&paths.state_dir),
        jobs: jobs
            .iter()
            .map(|j| Observed {
                job: j.to_string(),
                state: read_state(&paths.state_file(j)),
                log_mtime: log_mtime(&paths.logs_dir.join(format!("{j}.log"))),
            })
            .collect(),
    }
}

/// Read a state file's public part (its facts are skipped).
pub fn read_state(path: &Path) -> StateRead {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        format!(
            "{} does not parse at line {}, column {}: {e}",
            path.display(),
            e.line(),
            e.column()
        )
    })
}

fn log_mtime(path: &Path) -> Option<DateTime<Utc>> {
    let m = std::fs::metadata(path).ok()?;
    Some(DateTime::<Utc>::from(m.modified().ok()?))
}

/// `state/control.json`. An unreadable file counts as "not paused" (logged): the other jobs
/// stop on it, and that is exactly what must be alerted.
fn control(state_dir: &Path) -> Control {
    match common::control::read_control(state_dir) {
        Ok(c) => c,
        Err(e) => {
            log::warn!(
                "{}; treating the suite as not paused",
                common::exit::one_line(&e)
            );
            Control::default()
        }
    }
}

/// `state/maintenance.json`. An unreadable file is reported and ignored: alerts keep flowing
/// rather than being silenced by a typo.
fn maintenance(state_dir: &Path) -> Option<Maintenance> {
    common::control::maintenance_or_warn(state_dir, "alerts are not held")
}

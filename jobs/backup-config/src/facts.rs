//! Record: what backup-config publishes to the other jobs and the report
//! (`contracts::facts::backup_config`), built from its data at the end of every run.

use crate::data::{Data, FileState, Rollback, Status};
use chrono::{DateTime, Utc};
use common::contracts::facts::Event;
use common::contracts::facts::backup_config::{BackupFacts, ConfigFacts, CronFacts, DatabaseFacts};

/// Rollback events published (the newest).
const ROLLBACK_EVENTS: usize = 20;

/// The public facts (pure).
pub fn build(data: &Data, _now: DateTime<Utc>) -> BackupFacts {
    BackupFacts {
        files: data
            .files
            .iter()
            .map(|(name, st)| config_facts(data, name, st))
            .collect(),
        invalid_events: data
            .files
            .iter()
            .filter(|(_, st)| {
                matches!(
                    st.status,
                    Status::Invalid | Status::Missing | Status::Suspicious | Status::Error
                )
            })
            .map(|(name, st)| invalid_event(name, st))
            .collect(),
        rollbacks: data
            .rollbacks
            .iter()
            .skip(data.rollbacks.len().saturating_sub(ROLLBACK_EVENTS))
            .map(rollback_event)
            .collect(),
        databases: data
            .databases
            .iter()
            .map(|(key, d)| DatabaseFacts {
                path: d.repository.clone(),
                snapshots: d.snapshots.len() as u64,
                latest_snapshot_at: d.snapshots.iter().map(|s| s.created_at).max(),
                problem: d.problem.clone(),
                source: key.clone(),
            })
            .collect(),
        cron: data.cron.as_ref().map(|c| CronFacts {
            jobs: c.total,
            listed_at: c.listed_at,
            skipped: c.skipped.clone(),
        }),
    }
}

fn config_facts(data: &Data, name: &str, st: &FileState) -> ConfigFacts {
    ConfigFacts {
        name: name.to_string(),
        path: st.path.clone(),
        status: st.status.as_str().into(),
        problem: st.problem.clone(),
        snapshots: st.snapshots.len() as u64,
        latest_snapshot_at: st.snapshots.iter().map(|s| s.taken_at).max(),
        last_good_at: st.last_good_snapshot().map(|s| s.last_seen_at),
        verdicts: st.verdicts.iter().map(|v| v.line()).collect(),
        includes: st.members.iter().skip(1).map(|m| m.rel.clone()).collect(),
        last_rollback_at: data
            .rollbacks
            .iter()
            .filter(|r| r.file == name)
            .map(|r| r.at)
            .max(),
    }
}

fn invalid_event(name: &str, st: &FileState) -> Event {
    Event {
        at: st
            .invalid_since
            .or(st.changed_at)
            .or(st.checked_at)
            .unwrap_or_default(),
        message: format!(
            "{name} ({}) is {}{}",
            st.path,
            st.status.as_str(),
            st.problem
                .as_ref()
                .map(|p| format!(": {p}"))
                .unwrap_or_default()
        ),
    }
}

fn rollback_event(r: &Rollback) -> Event {
    Event {
        at: r.at,
        message: format!(
            "{}: the gateway {}{}{}",
            r.file,
            r.kind,
            if r.reasons.is_empty() {
                String::new()
            } else {
                format!(" ({})", r.reasons.join(", "))
            },
            r.kept
                .as_ref()
                .map(|k| format!("; the lost version is kept as {k}"))
                .unwrap_or_default()
        ),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::data::ValidatorVerdict;

    #[test]
    fn facts_name_verdicts_rollbacks_and_problems() {
        let mut d = Data::default();
        d.files.insert(
            "openclaw.json".into(),
            FileState {
                path: "/h/openclaw.json".into(),
                status: Status::Invalid,
                problem: Some("required key `gateway.mode` is missing".into()),
                verdicts: vec![
                    ValidatorVerdict {
                        validator: "built-in".into(),
                        verdict: "rejected".into(),
                        detail: "x".into(),
                    },
                    ValidatorVerdict {
                        validator: "openclaw".into(),
                        verdict: "ok".into(),
                        detail: String::new(),
                    },
                ],
                ..Default::default()
            },
        );
        let at = Utc::now();
        d.rollbacks.push(Rollback {
            file: "openclaw.json".into(),
            at,
            noticed_at: at,
            kind: "auto-restored from backup".into(),
            reasons: vec!["gateway-mode-missing-vs-last-good".into()],
            artifact: None,
            log: None,
            kept: Some("/r/openclaw.json".into()),
            back_to: None,
        });
        let f = build(&d, at);
        assert_eq!(
            f.files[0].verdicts,
            ["built-in: rejected (x)", "openclaw: ok"]
        );
        assert_eq!(f.files[0].last_rollback_at, Some(at));
        assert!(
            f.invalid_events[0]
                .message
                .contains("is invalid: required key")
        );
        assert!(
            f.rollbacks[0]
                .message
                .contains("auto-restored from backup (gateway-mode-missing-vs-last-good)")
        );
    }
}

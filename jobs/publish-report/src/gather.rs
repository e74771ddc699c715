//! Everything publish-report reads from the rest of the suite, typed by `contracts`, in one
//! place: a field renamed in a writer is a compile error or a fix here, never a silently blank
//! section.
//!
//! | input | type | written by |
//! |---|---|---|
//! | `state/<job>.json` (run record, history, errors, metrics) | `contracts::state::PublicState` | the runtime, every job |
//! | the `facts` in it | `contracts::facts::*` ([`FACT_SOURCES`]) | check-ratelimit, backup-config, compact-memory, poll-teams, watch-gateway |
//! | `state/control.json`, `state/circuit.json`, `state/maintenance.json` | `contracts::control` | poll-teams, check-ratelimit, watch-gateway, operators |
//! | the jobs and their schedules | `contracts::registry` (the repository's crontab) | — |
//! | the installed crontab (paused = commented-out lines) | [`crate::cron`] | operators |
//! | `logs/<job>.log*` | `contracts::logline::LogLine` ([`crate::logscan`]) | the runtime's logger |
//! | the gateway's log file | `openclaw::record` ([`crate::gateway_log`]) | the gateway |
//!
//! A missing file is "no data"; an unreadable one is an input problem the report lists, never
//! a failed run.

use crate::contents::GatewayLog;
use crate::cron::Crontab;
use crate::logscan::LogCounts;
use chrono::{DateTime, Utc};
use contracts::control::{Circuit, Control, Maintenance};
use contracts::facts::backup_config::BackupFacts;
use contracts::facts::check_ratelimit::RatelimitFacts;
use contracts::facts::compact_memory::MemoryFacts;
use contracts::facts::poll_teams::InboxFacts;
use contracts::facts::watch_gateway::GatewayFacts;
use contracts::state::PublicState;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The jobs whose facts the report shows, with the facts type each publishes.
pub const FACT_SOURCES: &[(&str, &str)] = &[
    (RATELIMIT, "check_ratelimit::RatelimitFacts"),
    (BACKUP, "backup_config::BackupFacts"),
    (MEMORY, "compact_memory::MemoryFacts"),
    (INBOX, "poll_teams::InboxFacts"),
    (GATEWAY, "watch_gateway::GatewayFacts"),
];
pub const RATELIMIT: &str = "check-ratelimit";
pub const BACKUP: &str = "backup-config";
pub const MEMORY: &str = "compact-memory";
pub const INBOX: &str = "poll-teams";
pub const GATEWAY: &str = "watch-gateway";

/// A job's state file as read: `Ok(None)` when it does not exist.
pub type StateRead = Result<Option<PublicState<Value>>, String>;

/// Everything read for one report.
#[derive(Debug, Default)]
pub struct Gathered {
    /// The state file of every job in the report and of every fact source.
    pub states: BTreeMap<String, StateRead>,
    pub circuit: Option<Result<Circuit, String>>,
    pub control: Option<Control>,
    pub maintenance: Option<Maintenance>,
    pub ratelimit: Option<RatelimitFacts>,
    pub backup: Option<BackupFacts>,
    pub memory: Option<MemoryFacts>,
    pub inbox: Option<InboxFacts>,
    pub gateway: Option<GatewayFacts>,
    /// The crontab, when it could be read.
    pub crontab: Option<Crontab>,
    /// WARN/ERROR counts per job in the period.
    pub logs: BTreeMap<String, LogCounts>,
    /// Modification time of each job's current log file.
    pub log_mtimes: BTreeMap<String, DateTime<Utc>>,
    /// The gateway's own log, when this machine has a gateway.
    pub gateway_log: Option<GatewayLog>,
    /// Gateway log records dated ahead of the clock: (file, newest such time, count).
    pub gateway_log_ahead: Option<(String, DateTime<Utc>, u64)>,
    /// Inputs that could not be read.
    pub problems: Vec<String>,
}

/// Read a state file with its public part typed and the facts left as JSON.
pub fn read_state(path: &Path) -> StateRead {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let mut de = serde_json::Deserializer::from_slice(&bytes);
    serde_path_to_error::deserialize::<_, PublicState<Value>>(&mut de)
        .map(Some)
        .map_err(|e| {
            let inner = e.inner();
            if inner.is_syntax() || inner.is_eof() {
                format!(
                    "{} does not parse at line {}, column {}: {inner}",
                    path.display(),
                    inner.line(),
                    inner.column()
                )
            } else {
                format!("{}: `{}`: {inner}", path.display(), e.path())
            }
        })
}

/// The facts of a state as `F`: `Ok(None)` before the writer's first run with facts.
pub fn facts_of<F: DeserializeOwned>(
    state: &PublicState<Value>,
    path: &Path,
) -> Result<Option<F>, String> {
    match &state.facts {
        None | Some(Value::Null) => Ok(None),
        Some(v) => serde_path_to_error::deserialize::<_, F>(v.clone())
            .map(Some)
            .map_err(|e| {
                format!(
                    "{}: `facts.{}`: {} (a writer and this reader disagree: update both to the same version)",
                    path.display(),
                    e.path(),
                    e.inner()
                )
            }),
    }
}

/// Read the state of every job in `jobs` and of every fact source, and type the facts.
pub fn read_states(state_dir: &Path, jobs: &[String], g: &mut Gathered) {
    let names = jobs
        .iter()
        .map(String::as_str)
        .chain(FACT_SOURCES.iter().map(|(j, _)| *j));
    for job in names {
        if g.states.contains_key(job) {
            continue;
        }
        let read = read_state(&state_path(state_dir, job));
        if let Err(e) = &read {
            g.problems.push(format!("{job}: {e}"));
        }
        g.states.insert(job.to_string(), read);
    }
    g.ratelimit = typed_facts(state_dir, RATELIMIT, g);
    g.backup = typed_facts(state_dir, BACKUP, g);
    g.memory = typed_facts(state_dir, MEMORY, g);
    g.inbox = typed_facts(state_dir, INBOX, g);
    g.gateway = typed_facts(state_dir, GATEWAY, g);
}

fn state_path(state_dir: &Path, job: &str) -> PathBuf {
    state_dir.join(format!("{job}.json"))
}

fn typed_facts<F: DeserializeOwned>(state_dir: &Path, job: &str, g: &mut Gathered) -> Option<F> {
    let state = g.states.get(job)?.as_ref().ok()?.as_ref()?;
    match facts_of::<F>(state, &state_path(state_dir, job)) {
        Ok(f) => f,
        Err(e) => {
            g.problems.push(e);
            None
        }
    }
}

/// Read one control file: absent means its default (not paused, closed, no maintenance).
pub fn read_control_file<T: DeserializeOwned + Default>(path: &Path) -> Result<T, String> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| {
            format!(
                "{} does not parse at line {}, column {}: {e}",
                path.display(),
                e.line(),
                e.column()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// The three control files.
pub fn read_controls(state_dir: &Path, g: &mut Gathered) {
    let circuit = read_control_file::<Circuit>(&state_dir.join("circuit.json"));
    if let Err(e) = &circuit {
        g.problems.push(e.clone());
    }
    g.circuit = Some(circuit);
    match read_control_file::<Control>(&state_dir.join("control.json")) {
        Ok(c) => g.control = Some(c),
        Err(e) => g.problems.push(e),
    }
    match read_control_file::<Maintenance>(&state_dir.join("maintenance.json")) {
        Ok(m) => g.maintenance = Some(m),
        Err(e) => g.problems.push(e),
    }
}

pub use schedule::source::{CrontabSource, read_crontab};

/// Modification times of the jobs' current log files (`logs/<job>.log`).
pub fn log_mtimes(logs_dir: &Path, jobs: &[String]) -> BTreeMap<String, DateTime<Utc>> {
    jobs.iter()
        .filter_map(|j| {
            let m = std::fs::metadata(logs_dir.join(format!("{j}.log"))).ok()?;
            Some((j.clone(), DateTime::<Utc>::from(m.modified().ok()?)))
        })
        .collect()
}

/// Read everything one report needs, for `period` as of `now`.
pub fn gather(
    ctx: &common::Ctx<crate::data::Data>,
    cfg: &crate::config::Config,
    period: &crate::period::Period,
    now: DateTime<Utc>,
) -> Gathered {
    let mut g = Gathered::default();
    let state_dir = &ctx.paths.state_dir;
    read_states(state_dir, &cfg.jobs, &mut g);
    read_controls(state_dir, &mut g);
    let source = cfg.source(&ctx.paths);
    let names: Vec<&str> = contracts::registry::names().collect();
    match read_crontab(&source, "publish-report") {
        Ok(text) => g.crontab = Some(crate::cron::parse_crontab(&text, cfg.tz(), &names)),
        Err(e) => g.problems.push(e),
    }
    let limit = now + cfg.skew_tolerance();
    let window = crate::logscan::Window::new(period.from, period.as_of, limit);
    let (logs, problems) = crate::logscan::scan_dir(&ctx.paths.logs_dir, &window);
    g.logs = logs;
    g.problems.extend(problems);
    g.log_mtimes = log_mtimes(&ctx.paths.logs_dir, &cfg.jobs);
    read_gateway_log(ctx, period, limit, &mut g);
    g
}

/// The gateway's own log, when this machine has a gateway.
fn read_gateway_log(
    ctx: &common::Ctx<crate::data::Data>,
    period: &crate::period::Period,
    limit: DateTime<Utc>,
    g: &mut Gathered,
) {
    let gw = match ctx.gateway() {
        Ok(gw) => gw,
        Err(e) => return g.problems.push(common::exit::one_line(&e)),
    };
    let configured = ctx.config.has_section("gateway");
    let Some(loc) = crate::gateway_log::locate(&gw, configured, &mut g.problems) else {
        return;
    };
    let files = crate::gateway_log::files(&loc, period.from);
    let (log, ahead) = crate::gateway_log::scan(
        loc.source.clone(),
        &files,
        period.from,
        period.as_of,
        limit,
        &mut g.problems,
    );
    if let Some(newest) = ahead.newest {
        let where_ = files
            .last()
            .map(|p| p.display().to_string())
            .unwrap_or(loc.source);
        g.gateway_log_ahead = Some((where_, newest, ahead.count));
    }
    g.gateway_log = Some(log);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    //! Writer ↔ reader: each facts type is written the way every job's state is written (the
    //! runtime's `StateStore`, facts under `facts`) and read back here. A field a writer fills
    //! and this reader drops, or a type that changed on one side, fails these tests.
    use super::*;
    use chrono::TimeZone;
    use common::state::{State, StateStore};
    use contracts::control::CircuitState;
    use contracts::facts::Event;
    use contracts::facts::backup_config::{ConfigFacts, DatabaseFacts};
    use contracts::facts::check_ratelimit::{HourCount, IncidentSummary};
    use contracts::facts::compact_memory::{BudgetFacts, FileBudget};
    use contracts::facts::watch_gateway::GatewayIncident;

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 20, h, 0, 0).unwrap()
    }

    /// Write `facts` as job `job` through the runtime's writer.
    fn write<F: serde::Serialize>(dir: &Path, job: &'static str, facts: &F) {
        let store = StateStore {
            path: state_path(dir, job),
            job,
            schema_version: 1,
        };
        let mut st: State<Value> = State::new(job, 1);
        st.facts = serde_json::to_value(facts).unwrap();
        store.save(&st).unwrap();
    }

    pub fn ratelimit() -> RatelimitFacts {
        RatelimitFacts {
            circuit: Circuit {
                state: CircuitState::Open,
                kind: Some("quota".into()),
                since: Some(at(3)),
                reason: Some("weekly limit reached".into()),
                reset_at: Some(at(23)),
                incident_id: Some("inc-9".into()),
                matches: 4,
                updated_at: Some(at(4)),
            },
            incidents: vec![IncidentSummary {
                id: "inc-9".into(),
                kind: "quota".into(),
                opened_by: "auto".into(),
                started_at: at(3),
                ended_at: None,
                reason: "weekly limit reached".into(),
                refusals: 4,
                provider: Some("anthropic".into()),
                model: Some("claude-sonnet-4-6".into()),
                profile: Some("anthropic:default".into()),
                close_reason: None,
                decisions: 1,
            }],
            calls_per_hour: vec![HourCount {
                hour: at(2),
                calls: 17,
                tokens: Some(51_000),
                refusals: 4,
                every_call_logged: true,
            }],
            idle_burn: vec![Event {
                at: at(1),
                message: "40 calls with no inbound message".into(),
            }],
            ..Default::default()
        }
    }

    pub fn backup() -> BackupFacts {
        BackupFacts {
            files: vec![ConfigFacts {
                name: "openclaw.json".into(),
                path: "/home/agent/.openclaw/openclaw.json".into(),
                status: "invalid".into(),
                problem: Some("Unrecognized key: \"bogusKey\"".into()),
                snapshots: 12,
                latest_snapshot_at: Some(at(5)),
                last_good_at: Some(at(4)),
                verdicts: vec![
                    "built-in: ok".into(),
                    "openclaw: Unrecognized key \"bogusKey\"".into(),
                ],
                ..Default::default()
            }],
            invalid_events: vec![Event {
                at: at(5),
                message: "openclaw.json rejected by openclaw".into(),
            }],
            rollbacks: vec![Event {
                at: at(6),
                message: "Config auto-restored from backup".into(),
            }],
            databases: vec![DatabaseFacts {
                path: "/home/agent/.openclaw/state/openclaw.sqlite".into(),
                snapshots: 3,
                latest_snapshot_at: Some(at(5)),
                problem: Some("cron jobs dropped from 4 to 1".into()),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    pub fn memory() -> MemoryFacts {
        MemoryFacts {
            budget: Some(BudgetFacts {
                measured_at: Some(at(3)),
                source: "gateway config ~/.openclaw/openclaw.json (agent main)".into(),
                per_file_limit: 20_000,
                total_limit: 60_000,
                files: vec![FileBudget {
                    name: "USER.md".into(),
                    chars: 4_001,
                    limit: 4_000,
                    over: true,
                    retired: false,
                }],
                total_chars: 4_001,
                over: true,
                problems: vec!["USER.md is 4001 characters, over its budget of 4000".into()],
                ..Default::default()
            }),
            digests: 3,
            archived: 21,
            last_compacted_day: Some(at(0).date_naive()),
            ..Default::default()
        }
    }

    pub fn inbox() -> InboxFacts {
        InboxFacts {
            pending: 2,
            delivered: 140,
            rejected: 1,
            last_message_at: Some(at(7)),
            last_delivery_at: Some(at(7)),
            unanswered: 3,
            duplicate_replies: 1,
            ..Default::default()
        }
    }

    pub fn gateway() -> GatewayFacts {
        GatewayFacts {
            health: "healthy".into(),
            since: Some(at(9)),
            last_probe_at: Some(at(10)),
            restarts_last_hour: 1,
            halted: None,
            incidents: vec![GatewayIncident {
                id: "gw-2".into(),
                started_at: Some(at(8)),
                recovered_at: Some(at(9)),
                steps: vec!["restart".into()],
                diagnosis: Some("port in use".into()),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn every_facts_type_round_trips_through_the_runtime_writer() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), RATELIMIT, &ratelimit());
        write(d.path(), BACKUP, &backup());
        write(d.path(), MEMORY, &memory());
        write(d.path(), INBOX, &inbox());
        write(d.path(), GATEWAY, &gateway());
        let mut g = Gathered::default();
        read_states(d.path(), &[], &mut g);
        assert!(g.problems.is_empty(), "{:?}", g.problems);
        assert_eq!(g.ratelimit, Some(ratelimit()));
        assert_eq!(g.backup, Some(backup()));
        assert_eq!(g.memory, Some(memory()));
        assert_eq!(g.inbox, Some(inbox()));
        assert_eq!(g.gateway, Some(gateway()));
    }

    #[test]
    fn a_writer_that_disagrees_is_an_input_problem_naming_the_field() {
        let d = tempfile::tempdir().unwrap();
        let mut v = serde_json::to_value(ratelimit()).unwrap();
        v["incidents"][0]["started_at"] = Value::from("yesterday");
        write(d.path(), RATELIMIT, &v);
        let mut g = Gathered::default();
        read_states(d.path(), &[], &mut g);
        assert_eq!(g.ratelimit, None);
        let p = g.problems.join("\n");
        assert!(p.contains("`facts.incidents[0].started_at`"), "{p}");
        assert!(p.contains("check-ratelimit.json"), "{p}");
    }

    #[test]
    fn no_facts_yet_is_not_a_problem_and_broken_state_is() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), BACKUP, &Value::Null);
        std::fs::write(d.path().join("poll-teams.json"), "{\"schema_version\": 1,").unwrap();
        let mut g = Gathered::default();
        read_states(d.path(), &["poll-teams".to_string()], &mut g);
        assert_eq!(g.backup, None);
        assert!(matches!(g.states[BACKUP], Ok(Some(_))));
        assert_eq!(g.problems.len(), 1, "{:?}", g.problems);
        assert!(
            g.problems[0].contains("does not parse at line 1"),
            "{:?}",
            g.problems
        );
    }

    #[test]
    fn control_files_are_typed() {
        let d = tempfile::tempdir().unwrap();
        let mut g = Gathered::default();
        read_controls(d.path(), &mut g);
        assert!(g.problems.is_empty());
        assert!(!g.control.as_ref().unwrap().paused);
        std::fs::write(
            d.path().join("maintenance.json"),
            r#"{"planned": true, "reason": "upgrade", "ignoreUntil": "2026-11-20T12:00:00Z"}"#,
        )
        .unwrap();
        std::fs::write(d.path().join("circuit.json"), "{").unwrap();
        let mut g = Gathered::default();
        read_controls(d.path(), &mut g);
        assert!(g.maintenance.unwrap().active_at(at(11)));
        assert!(matches!(g.circuit, Some(Err(_))));
        assert_eq!(g.problems.len(), 1);
    }
}

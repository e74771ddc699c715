//! Collecting the report's facts from what the other jobs leave on disk: every `state/<job>.json`
//! (read loosely: a corrupt or odd file is reported, never fatal), `state/circuit.json`,
//! `state/control.json`, check-ratelimit's incident history, backup-config's snapshots and
//! invalid-config events, compact-memory's budget report, the logs' WARN/ERROR counts and the
//! crontab (schedules, paused lines, the dead-man check).

use crate::cron::{Crontab, JobSchedule};
use crate::logscan::LogCounts;
use crate::period::Period;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// Health of one job, worst first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Its state file cannot be read.
    Corrupt,
    /// It should have run and did not.
    Overdue,
    /// Its last run failed.
    Failing,
    /// Scheduled but no run recorded yet.
    NeverRun,
    /// Its last run worked with a fallback.
    Degraded,
    /// Its crontab line is commented out.
    Paused,
    /// Not in the crontab at all.
    Unscheduled,
    Ok,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Corrupt => "state unreadable",
            JobStatus::Overdue => "overdue",
            JobStatus::Failing => "failing",
            JobStatus::NeverRun => "never run",
            JobStatus::Degraded => "degraded",
            JobStatus::Paused => "paused",
            JobStatus::Unscheduled => "not scheduled",
            JobStatus::Ok => "ok",
        }
    }
    /// Needs an operator.
    pub fn is_problem(self) -> bool {
        matches!(
            self,
            JobStatus::Corrupt | JobStatus::Overdue | JobStatus::Failing | JobStatus::NeverRun
        )
    }
}

/// The last recorded run of a job.
#[derive(Debug, Clone, Serialize)]
pub struct LastRun {
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub outcome: String,
    pub exit_code: Option<i64>,
    pub duration_ms: Option<u64>,
    pub summary: Option<String>,
    pub error: Option<String>,
}

/// One point of the run history chart.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryPoint {
    pub started_at: DateTime<Utc>,
    pub duration_ms: u64,
    pub outcome: String,
}

/// Runs inside the window, by outcome (the runtime's own counters).
pub use common::state::Counters as RunCounts;

/// A timestamped message.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub at: DateTime<Utc>,
    pub message: String,
}

/// Everything the report says about one job.
#[derive(Debug, Clone, Serialize)]
pub struct JobReport {
    pub name: String,
    pub status: JobStatus,
    /// One sentence an operator can act on.
    pub detail: String,
    pub schedules: Vec<String>,
    pub paused_schedules: Vec<String>,
    pub last_due: Option<DateTime<Utc>>,
    pub next_due: Option<DateTime<Utc>>,
    pub last_run: Option<LastRun>,
    pub last_success: Option<DateTime<Utc>>,
    pub consecutive_failures: u64,
    pub runs_in_period: RunCounts,
    pub log_warnings: u64,
    pub log_errors: u64,
    pub last_log_error: Option<String>,
    pub errors_in_period: Vec<Event>,
    pub history: Vec<HistoryPoint>,
    pub metrics: Map<String, Value>,
}

/// The rate-limit circuit now.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CircuitInfo {
    pub open: bool,
    pub kind: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub reason: Option<String>,
    pub reset_at: Option<DateTime<Utc>>,
    pub incident_id: Option<String>,
}

/// A rate-limit incident that overlaps the window.
#[derive(Debug, Clone, Serialize)]
pub struct Incident {
    pub id: String,
    pub kind: String,
    pub started_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub reason: String,
    pub matches: u64,
}

/// The suite-wide pause switch.
#[derive(Debug, Clone, Serialize)]
pub struct PauseInfo {
    pub reason: Option<String>,
    pub by: Option<String>,
    pub at: Option<DateTime<Utc>>,
}

/// backup-config's part of the report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BackupInfo {
    pub snapshots: Option<u64>,
    pub latest_snapshot: Option<DateTime<Utc>>,
    pub invalid_events: Vec<Event>,
}

/// compact-memory's budget report: whatever scalar facts it records.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MemoryInfo {
    pub facts: Vec<(String, String)>,
    pub over_budget: bool,
    /// Problems it lists (a file over its budget…).
    pub problems: Vec<String>,
}

/// The collected report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub report_id: String,
    pub period: String,
    pub period_kind: String,
    pub from: DateTime<Utc>,
    pub as_of: DateTime<Utc>,
    pub generated_at: DateTime<Utc>,
    pub timezone: String,
    pub host: String,
    /// `healthy` or `attention`.
    pub overall: String,
    pub headline: String,
    pub suite_paused: Option<PauseInfo>,
    pub circuit: CircuitInfo,
    pub incidents: Vec<Incident>,
    pub jobs: Vec<JobReport>,
    pub backups: Option<BackupInfo>,
    pub memory: Option<MemoryInfo>,
    /// Config problems: invalid agent configs, crontab lines that do not parse.
    pub config_problems: Vec<String>,
    /// Inputs the report could not read (it goes on without them).
    pub input_problems: Vec<String>,
    pub log_warnings: u64,
    pub log_errors: u64,
    pub analysis: Option<String>,
    /// Who wrote the analysis: `model` or `rules`.
    pub analysis_source: Option<String>,
}

/// What [`collect`] needs besides the files.
pub struct Inputs<'a> {
    pub state_dir: &'a Path,
    pub logs_dir: &'a Path,
    pub jobs: &'a [String],
    pub crontab: Option<Crontab>,
    pub crontab_problem: Option<String>,
    pub period: &'a Period,
    pub now: DateTime<Utc>,
    pub grace: &'a dyn Fn(&str) -> Duration,
    pub timezone: String,
    pub host: String,
    pub report_id: String,
    /// The job producing the report and when its run started: it is running, not overdue.
    pub current: Option<(&'a str, DateTime<Utc>)>,
}

fn time(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn at<'v>(v: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(v, |cur, k| cur.get(k))
}

fn str_at(v: &Value, path: &str) -> Option<String> {
    at(v, path).and_then(Value::as_str).map(str::to_string)
}

fn time_at(v: &Value, path: &str) -> Option<DateTime<Utc>> {
    at(v, path).and_then(time)
}

/// The first of several keys that holds a timestamp.
fn first_time(v: &Value, keys: &[&str]) -> Option<DateTime<Utc>> {
    keys.iter().find_map(|k| time_at(v, k))
}

fn short(s: &str, n: usize) -> String {
    let t = s.trim();
    if t.chars().count() <= n {
        t.to_string()
    } else {
        let mut o: String = t.chars().take(n).collect();
        o.push('…');
        o
    }
}

fn fmt_t(t: DateTime<Utc>) -> String {
    crate::render::t(t)
}

/// Read a state file loosely: `Ok(None)` when missing, `Err(text)` when unreadable.
fn read_state(dir: &Path, job: &str) -> Result<Option<Value>, String> {
    let p = dir.join(format!("{job}.json"));
    match common::state::read_loose(&p) {
        Ok(Some(v)) if v.is_object() => Ok(Some(v)),
        Ok(Some(_)) => Err(format!("{} is not a JSON object", p.display())),
        Ok(None) => Ok(None),
        Err(e) => Err(common::exit::one_line(&e)),
    }
}

fn last_run(v: &Value) -> Option<LastRun> {
    let lr = v.get("last_run").filter(|x| x.is_object())?;
    Some(LastRun {
        started_at: time_at(lr, "started_at")?,
        finished_at: time_at(lr, "finished_at"),
        outcome: str_at(lr, "outcome").unwrap_or_else(|| "unknown".into()),
        exit_code: lr.get("exit_code").and_then(Value::as_i64),
        duration_ms: lr.get("duration_ms").and_then(Value::as_u64),
        summary: str_at(lr, "summary").map(|s| short(&s, 200)),
        error: str_at(lr, "error").map(|s| short(&s, 300)),
    })
}

fn history(v: &Value) -> (Vec<HistoryPoint>, u64) {
    let mut bad = 0;
    let mut out = Vec::new();
    for h in v
        .get("history")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match (
            time_at(h, "started_at"),
            h.get("duration_ms").and_then(Value::as_u64),
        ) {
            (Some(t), Some(d)) => out.push(HistoryPoint {
                started_at: t,
                duration_ms: d,
                outcome: str_at(h, "outcome").unwrap_or_else(|| "unknown".into()),
            }),
            _ => bad += 1,
        }
    }
    let n = out.len();
    if n > common::state::HISTORY_LEN {
        out.drain(..n - common::state::HISTORY_LEN);
    }
    (out, bad)
}

#[allow(clippy::too_many_arguments)]
fn job_report(
    name: &str,
    state: Result<Option<Value>, String>,
    sched: JobSchedule,
    logs: Option<&LogCounts>,
    period: &Period,
    running_since: Option<DateTime<Utc>>,
    problems: &mut Vec<String>,
) -> JobReport {
    let mut r = JobReport {
        name: name.to_string(),
        status: JobStatus::Ok,
        detail: String::new(),
        schedules: sched.active.clone(),
        paused_schedules: sched.paused.clone(),
        last_due: sched.last_due,
        next_due: sched.next_due,
        last_run: None,
        last_success: None,
        consecutive_failures: 0,
        runs_in_period: RunCounts::default(),
        log_warnings: logs.map_or(0, |l| l.warn),
        log_errors: logs.map_or(0, |l| l.error),
        last_log_error: logs.and_then(|l| l.last_error.clone()),
        errors_in_period: Vec::new(),
        history: Vec::new(),
        metrics: Map::new(),
    };
    let v = match state {
        Err(e) => {
            problems.push(format!("{name}: {e}"));
            r.status = JobStatus::Corrupt;
            r.detail = format!("state file unreadable: {}", short(&e, 200));
            return r;
        }
        Ok(v) => v,
    };
    if let Some(v) = &v {
        r.last_run = last_run(v);
        if v.get("last_run").is_some_and(|x| !x.is_null()) && r.last_run.is_none() {
            problems.push(format!(
                "{name}: state `last_run` has no readable `started_at`; treated as never run"
            ));
        }
        r.last_success = time_at(v, "last_success");
        r.consecutive_failures = v
            .get("consecutive_failures")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let (h, bad) = history(v);
        if bad > 0 {
            problems.push(format!("{name}: {bad} unreadable history entries skipped"));
        }
        for p in h
            .iter()
            .filter(|p| p.started_at >= period.from && p.started_at < period.as_of)
        {
            let c = &mut r.runs_in_period;
            match serde_json::from_value::<common::OutcomeKind>(Value::String(p.outcome.clone())) {
                Ok(kind) => c.count(kind),
                Err(_) => c.total += 1,
            }
        }
        r.history = h;
        for e in v
            .get("errors")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let (Some(t), Some(m)) = (time_at(e, "at"), str_at(e, "message"))
                && t >= period.from
                && t < period.as_of
            {
                r.errors_in_period.push(Event {
                    at: t,
                    message: short(&m, 300),
                });
            }
        }
        if let Some(m) = v.get("metrics").and_then(Value::as_object) {
            r.metrics = m.clone();
        }
    }
    let last_start = r.last_run.as_ref().map(|l| l.started_at);
    if let Some(t) = running_since {
        // The report's own job: this very run counts for the dead-man check.
        r.detail = format!("running now (started {})", fmt_t(t));
        if r.last_run.is_none() {
            return r;
        }
    }
    let since = |t: Option<DateTime<Utc>>| t.map_or_else(|| "never".to_string(), fmt_t);
    if sched.is_paused() {
        r.status = JobStatus::Paused;
        r.detail = format!(
            "paused: its crontab line is commented out (last run {})",
            since(last_start)
        );
        return r;
    }
    if sched.is_unscheduled() {
        r.status = JobStatus::Unscheduled;
        r.detail = format!(
            "not in the crontab, so not checked for missed runs (last run {})",
            since(last_start)
        );
        if let Some(l) = &r.last_run
            && l.outcome == "failed"
        {
            r.status = JobStatus::Failing;
            r.detail = format!(
                "last run failed at {} and the job is not in the crontab: {}",
                fmt_t(l.started_at),
                l.error.clone().unwrap_or_default()
            );
        }
        return r;
    }
    match (&r.last_run, r.last_due) {
        (None, Some(due)) => {
            r.status = JobStatus::NeverRun;
            r.detail = format!("no run recorded; it was due at {}", fmt_t(due));
            return r;
        }
        (None, None) => {
            r.status = JobStatus::NeverRun;
            r.detail = "no run recorded yet".into();
            return r;
        }
        (Some(l), Some(due))
            if l.started_at + Duration::seconds(1) < due && running_since.is_none() =>
        {
            r.status = JobStatus::Overdue;
            r.detail = format!(
                "did not run since {} (was due at {})",
                fmt_t(l.started_at),
                fmt_t(due)
            );
            return r;
        }
        _ => {}
    }
    if let Some(l) = &r.last_run {
        match l.outcome.as_str() {
            "failed" => {
                r.status = JobStatus::Failing;
                r.detail = format!(
                    "last run at {} failed (exit {}){}{}",
                    fmt_t(l.started_at),
                    l.exit_code.unwrap_or(1),
                    if r.consecutive_failures > 1 {
                        format!(", {} failures in a row", r.consecutive_failures)
                    } else {
                        String::new()
                    },
                    l.error
                        .as_deref()
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default()
                );
            }
            "degraded" => {
                r.status = JobStatus::Degraded;
                r.detail = format!(
                    "last run at {} degraded: {}",
                    fmt_t(l.started_at),
                    l.summary.clone().unwrap_or_default()
                );
            }
            o => {
                r.detail = format!(
                    "last run at {} {o}{}",
                    fmt_t(l.started_at),
                    l.summary
                        .as_deref()
                        .map(|s| format!(": {s}"))
                        .unwrap_or_default()
                );
            }
        }
    }
    r
}

fn circuit(state_dir: &Path, problems: &mut Vec<String>) -> CircuitInfo {
    match common::control::read_circuit(state_dir) {
        Ok(c) => CircuitInfo {
            open: c.is_open(),
            kind: c.kind,
            since: c.since,
            reason: c.reason,
            reset_at: c.reset_at,
            incident_id: c.incident_id,
        },
        Err(e) => {
            problems.push(common::exit::one_line(&e));
            CircuitInfo {
                open: true,
                reason: Some("circuit.json unreadable; treated as open".into()),
                ..Default::default()
            }
        }
    }
}

/// Incidents from check-ratelimit's state: the open one and the closed history.
fn incidents(v: Option<&Value>, period: &Period) -> Vec<Incident> {
    let Some(data) = v.and_then(|v| v.get("data")) else {
        return Vec::new();
    };
    let mut items: Vec<&Value> = data
        .get("history")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    if let Some(i) = data.get("incident").filter(|i| i.is_object()) {
        items.push(i);
    }
    let mut out: Vec<Incident> = items
        .into_iter()
        .filter_map(|i| {
            let started = first_time(i, &["started_at", "opened_at", "since"]);
            let closed = first_time(i, &["closed_at", "ended_at"]);
            let overlaps =
                started.is_none_or(|s| s < period.as_of) && closed.is_none_or(|c| c >= period.from);
            overlaps.then(|| Incident {
                id: str_at(i, "id").unwrap_or_else(|| "?".into()),
                kind: str_at(i, "kind").unwrap_or_else(|| "rate_limit".into()),
                started_at: started,
                closed_at: closed,
                reason: short(&str_at(i, "reason").unwrap_or_default(), 200),
                matches: i.get("matches").and_then(Value::as_u64).unwrap_or(0),
            })
        })
        .collect();
    out.sort_by_key(|i| i.started_at);
    out
}

/// backup-config's snapshots and invalid-config events, read defensively.
fn backups(v: Option<&Value>, period: &Period) -> Option<BackupInfo> {
    let data = v?.get("data")?;
    let mut b = BackupInfo::default();
    // backup-config's format: `files` → name → {status, problem, invalid_since, snapshots[]}.
    if let Some(files) = data.get("files").and_then(Value::as_object) {
        let mut n = 0u64;
        for (name, f) in files {
            let snaps = f.get("snapshots").and_then(Value::as_array);
            n += snaps.map_or(0, |a| a.len() as u64);
            let latest = snaps
                .into_iter()
                .flatten()
                .filter_map(|s| first_time(s, &["taken_at", "at"]))
                .max();
            b.latest_snapshot = b.latest_snapshot.max(latest);
            let status = str_at(f, "status").unwrap_or_default();
            if matches!(
                status.as_str(),
                "invalid" | "missing" | "suspicious" | "error"
            ) {
                let at = first_time(f, &["invalid_since", "checked_at", "changed_at"])
                    .unwrap_or(period.as_of);
                b.invalid_events.push(Event {
                    at,
                    message: short(
                        &format!(
                            "{name} ({}) is {status}{}",
                            str_at(f, "path").unwrap_or_default(),
                            str_at(f, "problem")
                                .map(|p| format!(": {p}"))
                                .unwrap_or_default()
                        ),
                        300,
                    ),
                });
            }
        }
        b.snapshots = Some(n);
        return Some(b);
    }
    for key in ["snapshots", "backups"] {
        match data.get(key) {
            Some(Value::Array(a)) => {
                b.snapshots = Some(a.len() as u64);
                b.latest_snapshot = a
                    .iter()
                    .filter_map(|s| first_time(s, &["at", "taken_at", "created_at", "time"]))
                    .max();
            }
            Some(Value::Number(n)) => b.snapshots = n.as_u64(),
            _ => continue,
        }
        break;
    }
    if b.latest_snapshot.is_none() {
        b.latest_snapshot = first_time(
            data,
            &["last_snapshot_at", "last_snapshot.at", "latest_snapshot"],
        );
    }
    for key in ["invalid_events", "invalid", "events", "rejections"] {
        for e in data
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let kind = str_at(e, "kind")
                .or_else(|| str_at(e, "type"))
                .unwrap_or_else(|| "invalid".into());
            if key == "events" && !kind.contains("invalid") {
                continue;
            }
            let Some(t) = first_time(e, &["at", "detected_at", "time"]) else {
                continue;
            };
            if t < period.from || t >= period.as_of {
                continue;
            }
            let msg = str_at(e, "reason")
                .or_else(|| str_at(e, "message"))
                .or_else(|| str_at(e, "detail"))
                .unwrap_or(kind);
            b.invalid_events.push(Event {
                at: t,
                message: short(&msg, 300),
            });
        }
    }
    b.invalid_events.sort_by_key(|e| e.at);
    Some(b)
}

/// compact-memory's budget report: scalar facts of the first object found under a known key.
fn memory(v: Option<&Value>) -> Option<MemoryInfo> {
    let data = v?.get("data")?;
    let obj = ["budget", "last_budget", "budget_report", "report"]
        .iter()
        .find_map(|k| data.get(*k).and_then(Value::as_object))?;
    let mut m = MemoryInfo::default();
    flatten("", obj, &mut m.facts);
    for f in obj
        .get("files")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let (Some(n), Some(c)) = (str_at(f, "name"), f.get("chars").and_then(Value::as_u64)) {
            m.facts.push((format!("{n} chars"), c.to_string()));
        }
    }
    m.problems = obj
        .get("problems")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|p| short(p, 300))
        .collect();
    m.over_budget = !m.problems.is_empty() && obj.get("over") == Some(&Value::Bool(true))
        || m.facts.iter().any(|(k, v)| {
            (k.contains("over") || k.contains("exceed"))
                && (v == "true" || v.parse::<f64>().is_ok_and(|x| x > 0.0))
        });
    m.facts.truncate(20);
    Some(m)
}

fn flatten(prefix: &str, obj: &Map<String, Value>, out: &mut Vec<(String, String)>) {
    for (k, v) in obj {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            Value::Object(o) if prefix.is_empty() => flatten(&key, o, out),
            Value::String(s) => out.push((key, short(s, 120))),
            Value::Number(n) => out.push((key, n.to_string())),
            Value::Bool(b) => out.push((key, b.to_string())),
            _ => {}
        }
    }
}

/// Collect every fact the report shows.
pub fn collect(inp: Inputs<'_>) -> Report {
    let mut input_problems = Vec::new();
    let mut config_problems = Vec::new();
    let (logs, log_problems) =
        crate::logscan::scan_dir(inp.logs_dir, inp.period.from, inp.period.as_of);
    input_problems.extend(log_problems);
    if let Some(p) = &inp.crontab_problem {
        input_problems.push(p.clone());
    }
    let crontab = inp.crontab.unwrap_or_default();
    config_problems.extend(crontab.problems.iter().cloned());
    let mut states: BTreeMap<String, Result<Option<Value>, String>> = BTreeMap::new();
    for j in inp.jobs {
        states.insert(j.clone(), read_state(inp.state_dir, j));
    }
    for extra in ["check-ratelimit", "backup-config", "compact-memory"] {
        states
            .entry(extra.to_string())
            .or_insert_with(|| read_state(inp.state_dir, extra));
    }
    let ok_state = |j: &str| {
        states
            .get(j)
            .and_then(|r| r.as_ref().ok())
            .and_then(Option::as_ref)
    };
    let mut jobs = Vec::new();
    for j in inp.jobs {
        let grace = (inp.grace)(j);
        // Due and next times as of the report's instant (now, or the end of a past period).
        let sched = crontab.schedule_of(j, inp.period.as_of - grace, inp.period.as_of);
        let st = states.get(j).cloned().unwrap_or(Ok(None));
        let running = inp.current.filter(|(c, _)| c == j).map(|(_, t)| t);
        jobs.push(job_report(
            j,
            st,
            sched,
            logs.get(j),
            inp.period,
            running,
            &mut input_problems,
        ));
    }
    let circuit = circuit(inp.state_dir, &mut input_problems);
    let suite_paused = match common::control::read_control(inp.state_dir) {
        Ok(c) if c.paused => Some(PauseInfo {
            reason: c.reason,
            by: c.by,
            at: c.at,
        }),
        Ok(_) => None,
        Err(e) => {
            input_problems.push(common::exit::one_line(&e));
            None
        }
    };
    let incidents = incidents(ok_state("check-ratelimit"), inp.period);
    let backups = backups(ok_state("backup-config"), inp.period);
    if let Some(b) = &backups {
        for e in &b.invalid_events {
            config_problems.push(format!(
                "backup-config found an invalid agent config at {}: {}",
                fmt_t(e.at),
                e.message
            ));
        }
    }
    let memory = memory(ok_state("compact-memory"));
    let log_warnings = logs.values().map(|l| l.warn).sum();
    let log_errors = logs.values().map(|l| l.error).sum();
    let problems = jobs.iter().filter(|j| j.status.is_problem()).count();
    let attention = problems > 0
        || circuit.open
        || !config_problems.is_empty()
        || memory.as_ref().is_some_and(|m| m.over_budget);
    let headline = if attention {
        let mut parts = Vec::new();
        if problems > 0 {
            parts.push(format!("{problems} of {} jobs need attention", jobs.len()));
        }
        if circuit.open {
            parts.push("rate-limit circuit open".to_string());
        }
        if !config_problems.is_empty() {
            parts.push(format!("{} config problem(s)", config_problems.len()));
        }
        if memory.as_ref().is_some_and(|m| m.over_budget) {
            parts.push("memory over budget".to_string());
        }
        parts.join("; ")
    } else {
        format!("all {} jobs healthy", jobs.len())
    };
    Report {
        report_id: inp.report_id,
        period: inp.period.id.clone(),
        period_kind: inp.period.kind.as_str().to_string(),
        from: inp.period.from,
        as_of: inp.period.as_of,
        generated_at: inp.now,
        timezone: inp.timezone,
        host: inp.host,
        overall: if attention { "attention" } else { "healthy" }.to_string(),
        headline,
        suite_paused,
        circuit,
        incidents,
        jobs,
        backups,
        memory,
        config_problems,
        input_problems,
        log_warnings,
        log_errors,
        analysis: None,
        analysis_source: None,
    }
}

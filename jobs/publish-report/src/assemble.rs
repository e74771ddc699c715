//! Deciding what the report says: from the gathered inputs, the period and `now` to a
//! [`Report`]. Pure functions, no I/O: every verdict (a job's status, the dead-man check,
//! clock skew, the overall verdict) is unit-tested here.

use crate::contents::*;
use crate::cron::JobSchedule;
use crate::gather::{Gathered, StateRead};
use crate::logscan::LogCounts;
use crate::period::Period;
use crate::text::{Text, clean, span, when};
use chrono::{DateTime, Duration, Utc};
use contracts::facts::Event;
use contracts::facts::backup_config::BackupFacts;
use contracts::facts::check_ratelimit::{IncidentSummary, RatelimitFacts};
use contracts::facts::compact_memory::MemoryFacts;
use contracts::facts::watch_gateway::GatewayFacts;
use contracts::run::{Counters, HISTORY_LEN, OutcomeKind};
use contracts::state::PublicState;
use schedule::{Seen, Verdict};
use serde_json::Value;

/// What the decisions need besides the gathered inputs.
pub struct Settings<'a> {
    pub period: &'a Period,
    pub now: DateTime<Utc>,
    /// A time later than `now` plus this is clock skew.
    pub skew_tolerance: Duration,
    /// Grace per job before a missed run counts as overdue.
    pub grace: &'a dyn Fn(&str) -> Duration,
    pub jobs: &'a [String],
    pub timezone: String,
    pub host: String,
    pub report_id: String,
    /// The job producing the report and when its run started: it is running, not overdue.
    pub current: Option<(&'a str, DateTime<Utc>)>,
}

/// Build the report (without its analysis paragraph).
pub fn assemble(g: &Gathered, s: &Settings<'_>) -> Report {
    let period = s.period;
    let mut clock = Vec::new();
    let jobs = job_reports(g, s, &mut clock);
    clock.extend(log_clock(g, s));
    control_clock(g, s.now + s.skew_tolerance, s.now, &mut clock);
    let mut report = Report {
        report_id: s.report_id.clone(),
        period: period.id.clone(),
        period_kind: period.kind.as_str().to_string(),
        from: period.from,
        as_of: period.as_of,
        generated_at: s.now,
        timezone: s.timezone.clone(),
        host: s.host.clone(),
        overall: String::new(),
        headline: String::new(),
        suite_paused: pause_view(g),
        maintenance: maintenance_view(g, s.now),
        circuit: circuit_view(g),
        incidents: g
            .ratelimit
            .as_ref()
            .map(|r| incidents_in(r, period))
            .unwrap_or_default(),
        ratelimit: g.ratelimit.as_ref().map(|r| ratelimit_view(r, period)),
        log_warnings: jobs.iter().map(|j| j.log_warnings).sum(),
        log_errors: jobs.iter().map(|j| j.log_errors).sum(),
        jobs,
        backups: g.backup.as_ref().map(|b| backup_view(b, period)),
        memory: g.memory.as_ref().map(memory_view),
        inbox: g.inbox.clone(),
        gateway: gateway_view(g.gateway.as_ref(), g.gateway_log.clone(), period),
        clock_skew: clock,
        config_problems: config_problems(g, period),
        input_problems: g.problems.iter().map(|p| clean(p, 400)).collect(),
        analysis: None,
        analysis_source: None,
    };
    let (overall, headline) = verdict(&report);
    report.overall = overall.to_string();
    report.headline = headline;
    report
}

/// Every job's report; clock findings in their state files go to `clock`.
fn job_reports(g: &Gathered, s: &Settings<'_>, clock: &mut Vec<ClockFinding>) -> Vec<JobReport> {
    let period = s.period;
    let limit = s.now + s.skew_tolerance;
    let crontab = g.crontab.clone().unwrap_or_default();
    s.jobs
        .iter()
        .map(|j| {
            let grace = (s.grace)(j);
            let input = JobInput {
                name: j,
                state: g.states.get(j).unwrap_or(&Ok(None)),
                schedule: crontab.schedule_of(j, period.as_of - grace, period.as_of),
                logs: g.logs.get(j),
                log_mtime: g.log_mtimes.get(j).copied(),
                running_since: s.current.filter(|(c, _)| c == j).map(|(_, t)| t),
            };
            job_report(&input, period, (s.now, limit), clock)
        })
        .collect()
}

/// Log lines, log files and gateway records dated ahead of the clock.
fn log_clock(g: &Gathered, s: &Settings<'_>) -> Vec<ClockFinding> {
    let limit = s.now + s.skew_tolerance;
    let mut out = Vec::new();
    for (job, c) in &g.logs {
        if let Some(t) = c.newest_ahead.as_deref().and_then(parse_time)
            && c.ahead > 0
        {
            let what = format!("{} WARN/ERROR line(s)", c.ahead);
            out.push(finding(&format!("logs/{job}.log*"), &what, t, s.now));
        }
    }
    for (job, t) in g.log_mtimes.iter().filter(|(_, t)| **t > limit) {
        out.push(finding(
            &format!("logs/{job}.log"),
            "modification time",
            *t,
            s.now,
        ));
    }
    if let Some((file, t, n)) = &g.gateway_log_ahead {
        out.push(finding(
            file,
            &format!("{n} gateway log record(s)"),
            *t,
            s.now,
        ));
    }
    out
}

/// Crontab lines that do not parse, and backup-config's problems.
fn config_problems(g: &Gathered, period: &Period) -> Vec<Text> {
    let crontab = g
        .crontab
        .as_ref()
        .map(|c| c.problems.as_slice())
        .unwrap_or_default();
    let mut out: Vec<Text> = crontab
        .iter()
        .map(|p| Text::plain("crontab: ").val(p))
        .collect();
    if let Some(b) = &g.backup {
        out.extend(backup_problems(b, period));
    }
    out
}

fn pause_view(g: &Gathered) -> Option<PauseView> {
    g.control.as_ref().filter(|c| c.paused).map(|c| PauseView {
        reason: c.reason.as_deref().map(|r| clean(r, 200)),
        by: c.by.as_deref().map(|b| clean(b, 100)),
        at: c.at,
    })
}

fn maintenance_view(g: &Gathered, now: DateTime<Utc>) -> Option<MaintenanceView> {
    let m = g.maintenance.as_ref().filter(|m| m.active_at(now))?;
    Some(MaintenanceView {
        reason: m.reason.as_deref().map(|r| clean(r, 200)),
        until: m.ignore_until,
        by: m.by.as_deref().map(|b| clean(b, 100)),
    })
}

/// One job's inputs.
pub struct JobInput<'a> {
    pub name: &'a str,
    pub state: &'a StateRead,
    pub schedule: JobSchedule,
    pub logs: Option<&'a LogCounts>,
    pub log_mtime: Option<DateTime<Utc>>,
    pub running_since: Option<DateTime<Utc>>,
}

fn job_report(
    input: &JobInput<'_>,
    period: &Period,
    (now, limit): (DateTime<Utc>, DateTime<Utc>),
    clock: &mut Vec<ClockFinding>,
) -> JobReport {
    let logs = input.logs;
    let mut r = JobReport {
        name: input.name.to_string(),
        status: JobStatus::Ok,
        detail: Text::new(),
        schedules: input.schedule.active.clone(),
        paused_schedules: input.schedule.paused.clone(),
        last_due: input.schedule.last_due,
        next_due: input.schedule.next_due,
        last_run: None,
        last_success: None,
        last_seen: None,
        consecutive_failures: 0,
        runs_in_period: Counters::default(),
        log_warnings: logs.map_or(0, |l| l.warn),
        log_errors: logs.map_or(0, |l| l.error),
        last_log_error: logs
            .and_then(|l| l.last_error.as_deref())
            .map(|e| clean(e, 300)),
        errors_in_period: Vec::new(),
        history: Vec::new(),
        metrics: Default::default(),
    };
    let state = match input.state {
        Err(e) => {
            r.status = JobStatus::Corrupt;
            r.detail = Text::plain("state file unreadable: ").val(e);
            return r;
        }
        Ok(s) => s.as_ref(),
    };
    if let Some(st) = state {
        fill_from_state(&mut r, st, period);
        clock.extend(state_clock(input.name, st, now, limit));
    }
    let (seen, ahead) = last_seen(r.last_run.as_ref(), &r.history, input.log_mtime, limit);
    r.last_seen = seen;
    let evidence = Evidence {
        last_run: r.last_run.as_ref(),
        last_run_ahead: ahead,
        last_seen: seen,
        consecutive_failures: r.consecutive_failures,
        schedule: &input.schedule,
        running_since: input.running_since,
    };
    (r.status, r.detail) = job_verdict(&evidence);
    r
}

fn fill_from_state(r: &mut JobReport, st: &PublicState<Value>, period: &Period) {
    r.last_run = st.last_run.as_ref().map(|l| LastRun {
        started_at: l.started_at,
        finished_at: l.finished_at,
        outcome: l.outcome,
        exit_code: l.exit_code,
        duration_ms: l.duration_ms,
        summary: l.summary.as_deref().map(|s| clean(s, 200)),
        error: l.error.as_deref().map(|e| clean(e, 300)),
    });
    r.last_success = st.last_success;
    r.consecutive_failures = st.consecutive_failures;
    let in_period = |t: DateTime<Utc>| t >= period.from && t < period.as_of;
    let skip = st.history.len().saturating_sub(HISTORY_LEN);
    r.history = st
        .history
        .iter()
        .skip(skip)
        .map(|h| HistoryPoint {
            started_at: h.started_at,
            duration_ms: h.duration_ms,
            outcome: h.outcome,
        })
        .collect();
    for h in st.history.iter().filter(|h| in_period(h.started_at)) {
        r.runs_in_period.count(h.outcome);
    }
    r.errors_in_period = st
        .errors
        .iter()
        .filter(|e| in_period(e.at))
        .map(|e| Event {
            at: e.at,
            message: clean(&e.message, 300),
        })
        .collect();
    r.metrics = st.metrics.clone().into_iter().collect();
}

/// The latest run start the dead-man check can trust, and whether the recorded last run is
/// ahead of the clock. A last run stamped after `limit` is not evidence; then the run history
/// (entries up to `limit`) and the log file's modification time are (see
/// [`schedule::verdict`]).
pub fn last_seen(
    last_run: Option<&LastRun>,
    history: &[HistoryPoint],
    log_mtime: Option<DateTime<Utc>>,
    limit: DateTime<Utc>,
) -> (Option<DateTime<Utc>>, bool) {
    let seen = schedule::last_seen(
        last_run.map(|l| l.started_at),
        history.iter().map(|h| h.started_at),
        log_mtime,
        limit,
    );
    (seen.at, seen.untrusted.is_some())
}

/// What the verdict on one job is decided from.
pub struct Evidence<'a> {
    pub last_run: Option<&'a LastRun>,
    /// The recorded last run is ahead of the clock (not trusted).
    pub last_run_ahead: bool,
    /// The latest start the dead-man check trusts.
    pub last_seen: Option<DateTime<Utc>>,
    pub consecutive_failures: u32,
    pub schedule: &'a JobSchedule,
    pub running_since: Option<DateTime<Utc>>,
}

impl Evidence<'_> {
    fn seen(&self) -> Seen {
        Seen {
            at: self.last_seen,
            untrusted: self
                .last_run
                .filter(|_| self.last_run_ahead)
                .map(|l| l.started_at),
        }
    }
}

/// A job's status and the sentence explaining it: the schedule's verdict (paused, not
/// scheduled, overdue, never run: [`schedule::judge`], shared with watch-jobs), else the
/// last run's outcome.
pub fn job_verdict(e: &Evidence<'_>) -> (JobStatus, Text) {
    let seen = e.seen();
    let verdict = schedule::judge(&schedule::Evidence {
        schedule: e.schedule,
        seen,
        has_run: e.last_run.is_some(),
        running_since: e.running_since,
        watched_since: None,
    });
    let said = || Text::plain(verdict.sentence(&seen));
    match verdict {
        Verdict::Running { .. } => (JobStatus::Ok, said()),
        Verdict::Paused => (JobStatus::Paused, said()),
        Verdict::Unscheduled => match e.last_run.filter(|l| l.outcome == OutcomeKind::Failed) {
            Some(l) => {
                let t = Text::plain(format!(
                    "last run failed at {} and the job is not in the crontab",
                    when(l.started_at)
                ));
                (JobStatus::Failing, with_error(t, l.error.as_deref()))
            }
            None => (JobStatus::Unscheduled, said()),
        },
        Verdict::Overdue { .. } => (JobStatus::Overdue, skew_note(said(), &seen)),
        Verdict::NeverRun { .. } => (JobStatus::NeverRun, said()),
        Verdict::OnSchedule => match e.last_run {
            Some(l) => {
                let (status, text) = outcome_verdict(l, e.consecutive_failures);
                (status, skew_note(text, &seen))
            }
            None => (JobStatus::NeverRun, Text::plain("no run recorded yet")),
        },
    }
}

/// The verdict of a job that is on schedule: its last run's outcome.
fn outcome_verdict(l: &LastRun, consecutive_failures: u32) -> (JobStatus, Text) {
    match l.outcome {
        OutcomeKind::Failed => {
            let mut t = format!(
                "last run at {} failed (exit {})",
                when(l.started_at),
                l.exit_code
            );
            if consecutive_failures > 1 {
                t.push_str(&format!(", {consecutive_failures} failures in a row"));
            }
            (
                JobStatus::Failing,
                with_error(Text::plain(t), l.error.as_deref()),
            )
        }
        OutcomeKind::Degraded => {
            let t = Text::plain(format!("last run at {} degraded: ", when(l.started_at)));
            (
                JobStatus::Degraded,
                t.val(l.summary.as_deref().unwrap_or("")),
            )
        }
        o => {
            let t = Text::plain(format!("last run at {} {}", when(l.started_at), o.as_str()));
            (JobStatus::Ok, with_error(t, l.summary.as_deref()))
        }
    }
}

fn with_error(t: Text, error: Option<&str>) -> Text {
    match error.filter(|x| !x.is_empty()) {
        Some(x) => t.words(": ").val(x),
        None => t,
    }
}

fn skew_note(t: Text, seen: &Seen) -> Text {
    match schedule::skew_note(seen) {
        Some(note) => t.words(note),
        None => t,
    }
}

fn finding(source: &str, what: &str, value: DateTime<Utc>, now: DateTime<Utc>) -> ClockFinding {
    ClockFinding {
        source: source.to_string(),
        what: what.to_string(),
        value,
        ahead_secs: (value - now).num_seconds(),
    }
}

/// Times in a job's run record that are ahead of the clock.
pub fn state_clock(
    job: &str,
    st: &PublicState<Value>,
    now: DateTime<Utc>,
    limit: DateTime<Utc>,
) -> Vec<ClockFinding> {
    let mut times: Vec<(&str, DateTime<Utc>)> = Vec::new();
    if let Some(l) = &st.last_run {
        times.push(("last_run.started_at", l.started_at));
        times.push(("last_run.finished_at", l.finished_at));
    }
    if let Some(t) = st.last_success {
        times.push(("last_success", t));
    }
    if let Some(t) = st.history.iter().map(|h| h.started_at).max() {
        times.push(("history[].started_at", t));
    }
    if let Some(t) = st.errors.iter().map(|e| e.at).max() {
        times.push(("errors[].at", t));
    }
    let source = format!("state/{job}.json");
    times
        .into_iter()
        .filter(|(_, t)| *t > limit)
        .map(|(what, t)| ClockFinding {
            source: source.clone(),
            what: what.to_string(),
            value: t,
            ahead_secs: (t - now).num_seconds(),
        })
        .collect()
}

/// Times in the control files that are ahead of the clock (an expected reset or the end of a
/// maintenance window is in the future by design and not checked).
fn control_clock(
    g: &Gathered,
    limit: DateTime<Utc>,
    now: DateTime<Utc>,
    out: &mut Vec<ClockFinding>,
) {
    let mut times: Vec<(&str, &str, Option<DateTime<Utc>>)> = Vec::new();
    if let Some(Ok(c)) = &g.circuit {
        times.push(("state/circuit.json", "since", c.since));
        times.push(("state/circuit.json", "updated_at", c.updated_at));
    }
    if let Some(c) = &g.control {
        times.push(("state/control.json", "at", c.at));
    }
    if let Some(m) = &g.maintenance {
        times.push(("state/maintenance.json", "at", m.at));
    }
    for (source, what, t) in times {
        if let Some(t) = t.filter(|t| *t > limit) {
            out.push(finding(source, what, t, now));
        }
    }
}

fn circuit_view(g: &Gathered) -> CircuitView {
    match &g.circuit {
        Some(Ok(c)) => CircuitView {
            open: c.is_open(),
            kind: c.kind.as_deref().map(|k| clean(k, 40)),
            since: c.since,
            reason: c.reason.as_deref().map(|r| clean(r, 300)),
            reset_at: c.reset_at,
            incident_id: c.incident_id.as_deref().map(|i| clean(i, 80)),
            refusals: c.matches,
        },
        Some(Err(_)) => CircuitView {
            open: true,
            reason: Some("circuit.json unreadable; treated as open".into()),
            ..Default::default()
        },
        None => CircuitView::default(),
    }
}

/// Incidents overlapping the period, oldest first.
pub fn incidents_in(r: &RatelimitFacts, period: &Period) -> Vec<IncidentSummary> {
    let mut v: Vec<IncidentSummary> = r
        .incidents
        .iter()
        .filter(|i| i.started_at < period.as_of && i.ended_at.is_none_or(|e| e >= period.from))
        .cloned()
        .map(|mut i| {
            i.reason = clean(&i.reason, 300);
            i
        })
        .collect();
    v.sort_by_key(|i| i.started_at);
    v
}

fn in_window(t: DateTime<Utc>, p: &Period) -> bool {
    t >= p.from && t < p.as_of
}

fn events_in(events: &[Event], p: &Period) -> Vec<Event> {
    events
        .iter()
        .filter(|e| in_window(e.at, p))
        .map(|e| Event {
            at: e.at,
            message: clean(&e.message, 300),
        })
        .collect()
}

/// Calls per hour and idle burn in the period.
pub fn ratelimit_view(r: &RatelimitFacts, p: &Period) -> RatelimitView {
    let hours: Vec<_> = r
        .calls_per_hour
        .iter()
        .filter(|h| in_window(h.hour, p))
        .cloned()
        .collect();
    let tokens = hours
        .iter()
        .filter_map(|h| h.tokens)
        .reduce(|a, b| a.saturating_add(b));
    RatelimitView {
        calls: hours.iter().map(|h| h.calls).sum(),
        tokens,
        hours,
        idle_burn: events_in(&r.idle_burn, p),
    }
}

/// Statuses of a watched config that need an operator.
const BAD_CONFIG: &[&str] = &["invalid", "missing", "suspicious", "error"];

fn backup_view(b: &BackupFacts, p: &Period) -> BackupView {
    BackupView {
        snapshots: b.files.iter().map(|f| f.snapshots).sum(),
        latest_snapshot: b.files.iter().filter_map(|f| f.latest_snapshot_at).max(),
        files: b.files.clone(),
        rollbacks: events_in(&b.rollbacks, p),
        databases: b.databases.clone(),
        invalid_events: events_in(&b.invalid_events, p),
    }
}

/// Config problems from backup-config: a watched file in a bad state, the gateway's own
/// rollbacks in the period, a database problem.
pub fn backup_problems(b: &BackupFacts, p: &Period) -> Vec<Text> {
    let mut out = Vec::new();
    for f in b
        .files
        .iter()
        .filter(|f| BAD_CONFIG.contains(&f.status.as_str()))
    {
        let t = Text::plain("backup-config: ")
            .val(&f.name)
            .words(" (")
            .val(&f.path)
            .words(format!(") is {}", f.status));
        out.push(with_error(t, f.problem.as_deref()));
    }
    for e in events_in(&b.rollbacks, p) {
        out.push(
            Text::plain(format!(
                "the gateway rolled its config back at {}: ",
                when(e.at)
            ))
            .val(&e.message),
        );
    }
    for d in &b.databases {
        if let Some(problem) = &d.problem {
            out.push(
                Text::plain("backup-config: database ")
                    .val(&d.path)
                    .words(": ")
                    .val(problem),
            );
        }
    }
    out
}

fn memory_view(m: &MemoryFacts) -> MemoryView {
    let over = m
        .budget
        .as_ref()
        .is_some_and(|b| b.over || b.files.iter().any(|f| f.over));
    MemoryView {
        over_budget: over,
        budget: m.budget.clone(),
        digests: m.digests,
        archived: m.archived,
        last_compacted_day: m.last_compacted_day,
    }
}

/// Gateway health states that need an operator.
const BAD_HEALTH: &[&str] = &["down", "flapping"];

fn gateway_view(
    f: Option<&GatewayFacts>,
    log: Option<GatewayLog>,
    p: &Period,
) -> Option<GatewayView> {
    if f.is_none() && log.is_none() {
        return None;
    }
    let health = f.map(|f| GatewayHealth {
        health: clean(&f.health, 40),
        since: f.since,
        last_probe_at: f.last_probe_at,
        restarts_last_hour: f.restarts_last_hour,
        halted: f.halted.as_deref().map(|h| clean(h, 300)),
        incidents: f
            .incidents
            .iter()
            .filter(|i| {
                i.started_at.is_none_or(|s| s < p.as_of)
                    && i.recovered_at.is_none_or(|r| r >= p.from)
            })
            .map(|i| GatewayIncidentView {
                id: clean(&i.id, 80),
                started_at: i.started_at,
                recovered_at: i.recovered_at,
                recover_secs: i
                    .started_at
                    .zip(i.recovered_at)
                    .map(|(s, r)| (r - s).num_seconds()),
                steps: i.steps.iter().map(|s| clean(s, 60)).collect(),
                diagnosis: i.diagnosis.as_deref().map(|d| clean(d, 300)),
            })
            .collect(),
    });
    Some(GatewayView { health, log })
}

/// The overall verdict and the headline.
pub fn verdict(r: &Report) -> (&'static str, String) {
    let mut parts = Vec::new();
    let problems = r.jobs_needing_attention();
    if problems > 0 {
        parts.push(format!(
            "{problems} of {} jobs need attention",
            r.jobs.len()
        ));
    }
    if r.circuit.open {
        parts.push("rate-limit circuit open".to_string());
    }
    if !r.config_problems.is_empty() {
        parts.push(format!("{} config problem(s)", r.config_problems.len()));
    }
    if r.memory.as_ref().is_some_and(|m| m.over_budget) {
        parts.push("memory over budget".to_string());
    }
    if let Some(h) = r.gateway.as_ref().and_then(|g| g.health.as_ref()) {
        if h.halted.is_some() {
            parts.push("gateway recovery halted".to_string());
        } else if BAD_HEALTH.contains(&h.health.as_str()) {
            parts.push(format!("gateway {}", h.health));
        }
    }
    if !r.clock_skew.is_empty() {
        let worst = r.clock_skew.iter().map(|c| c.ahead_secs).max().unwrap_or(0);
        parts.push(format!(
            "clock skew: {} time(s) up to {} ahead",
            r.clock_skew.len(),
            span(worst)
        ));
    }
    if parts.is_empty() {
        ("healthy", format!("all {} jobs healthy", r.jobs.len()))
    } else {
        ("attention", parts.join("; "))
    }
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::gather::tests as fx;

    fn t(s: &str) -> DateTime<Utc> {
        parse_time(s).unwrap()
    }

    fn run(at: &str, outcome: OutcomeKind) -> LastRun {
        LastRun {
            started_at: t(at),
            finished_at: t(at),
            outcome,
            exit_code: if outcome == OutcomeKind::Failed { 1 } else { 0 },
            duration_ms: 10,
            summary: Some("did things".into()),
            error: (outcome == OutcomeKind::Failed).then(|| "disk <full>".to_string()),
        }
    }

    fn hourly(last_due: &str) -> JobSchedule {
        JobSchedule {
            active: vec!["0 * * * *".into()],
            paused: vec![],
            last_due: Some(t(last_due)),
            next_due: None,
        }
    }

    fn verdict_of(
        last: Option<&LastRun>,
        ahead: bool,
        seen: Option<&str>,
        sched: &JobSchedule,
    ) -> (JobStatus, String) {
        let e = Evidence {
            last_run: last,
            last_run_ahead: ahead,
            last_seen: seen.map(t),
            consecutive_failures: 3,
            schedule: sched,
            running_since: None,
        };
        let (s, text) = job_verdict(&e);
        (s, text.plain_text())
    }

    #[test]
    fn dead_man_and_outcomes() {
        let sched = hourly("2026-11-20T10:00:00Z");
        let ok = run("2026-11-20T10:00:01Z", OutcomeKind::Ok);
        assert_eq!(
            verdict_of(Some(&ok), false, Some("2026-11-20T10:00:01Z"), &sched).0,
            JobStatus::Ok
        );
        let old = run("2026-11-20T08:00:00Z", OutcomeKind::Ok);
        let (s, d) = verdict_of(Some(&old), false, Some("2026-11-20T08:00:00Z"), &sched);
        assert_eq!(s, JobStatus::Overdue);
        assert!(
            d.starts_with("did not run since 2026-11-20 08:00 UTC"),
            "{d}"
        );
        let failed = run("2026-11-20T10:00:01Z", OutcomeKind::Failed);
        let (s, d) = verdict_of(Some(&failed), false, Some("2026-11-20T10:00:01Z"), &sched);
        assert_eq!(s, JobStatus::Failing);
        assert!(d.contains("3 failures in a row: disk <full>"), "{d}");
        assert_eq!(verdict_of(None, false, None, &sched).0, JobStatus::NeverRun);
        let paused = JobSchedule {
            paused: vec!["0 * * * *".into()],
            ..Default::default()
        };
        assert_eq!(
            verdict_of(Some(&failed), false, None, &paused).0,
            JobStatus::Paused
        );
        let none = JobSchedule::default();
        assert_eq!(
            verdict_of(Some(&failed), false, None, &none).0,
            JobStatus::Failing
        );
        assert_eq!(
            verdict_of(Some(&ok), false, None, &none).0,
            JobStatus::Unscheduled
        );
    }

    /// A last run stamped in 2099 is not evidence: the job is overdue by its history and log.
    #[test]
    fn a_future_last_run_is_not_trusted() {
        let limit = t("2026-11-20T12:05:00Z");
        let future = run("2099-01-01T00:00:00Z", OutcomeKind::Ok);
        let history = vec![HistoryPoint {
            started_at: t("2026-11-20T07:00:00Z"),
            duration_ms: 5,
            outcome: OutcomeKind::Ok,
        }];
        let (seen, ahead) = last_seen(
            Some(&future),
            &history,
            Some(t("2026-11-20T09:00:00Z")),
            limit,
        );
        assert!(ahead);
        assert_eq!(
            seen,
            Some(t("2026-11-20T09:00:00Z")),
            "the log's mtime is newer"
        );
        let sched = hourly("2026-11-20T12:00:00Z");
        let (s, d) = verdict_of(Some(&future), true, Some("2026-11-20T09:00:00Z"), &sched);
        assert_eq!(s, JobStatus::Overdue);
        assert!(d.contains("did not run since 2026-11-20 09:00 UTC"), "{d}");
        assert!(d.contains("2099-01-01 00:00 UTC, which is ahead"), "{d}");
        let (s, d) = verdict_of(Some(&future), true, None, &sched);
        assert_eq!(s, JobStatus::Overdue);
        assert!(d.starts_with("no run it can trust"), "{d}");
        // A last run within the tolerance is trusted.
        let (seen, ahead) = last_seen(
            Some(&run("2026-11-20T12:04:00Z", OutcomeKind::Ok)),
            &[],
            None,
            limit,
        );
        assert_eq!((seen, ahead), (Some(t("2026-11-20T12:04:00Z")), false));
    }

    fn period() -> Period {
        Period {
            kind: crate::config::PeriodKind::Daily,
            id: "2026-11-20".into(),
            from: t("2026-11-20T00:00:00Z"),
            as_of: t("2026-11-21T00:00:00Z"),
        }
    }

    fn settings<'a>(
        p: &'a Period,
        jobs: &'a [String],
        grace: &'a dyn Fn(&str) -> Duration,
    ) -> Settings<'a> {
        Settings {
            period: p,
            now: t("2026-11-21T00:00:00Z"),
            skew_tolerance: Duration::minutes(5),
            grace,
            jobs,
            timezone: "UTC".into(),
            host: "h".into(),
            report_id: "ajr-x".into(),
            current: None,
        }
    }

    #[test]
    fn every_fact_source_reaches_the_report() {
        let p = period();
        let grace = |_: &str| Duration::minutes(15);
        let jobs: Vec<String> = vec![];
        let g = Gathered {
            ratelimit: Some(fx::ratelimit()),
            backup: Some(fx::backup()),
            memory: Some(fx::memory()),
            inbox: Some(fx::inbox()),
            gateway: Some(fx::gateway()),
            circuit: Some(Ok(fx::ratelimit().circuit)),
            ..Default::default()
        };
        let r = assemble(&g, &settings(&p, &jobs, &grace));
        assert!(r.circuit.open && r.circuit.refusals == 4);
        assert_eq!(r.incidents.len(), 1);
        assert_eq!(r.incidents[0].provider.as_deref(), Some("anthropic"));
        let rl = r.ratelimit.as_ref().unwrap();
        assert_eq!(
            (rl.calls, rl.tokens, rl.idle_burn.len()),
            (17, Some(51_000), 1)
        );
        let b = r.backups.as_ref().unwrap();
        assert_eq!(
            (b.snapshots, b.rollbacks.len(), b.databases.len()),
            (12, 1, 1)
        );
        assert_eq!(b.files[0].verdicts.len(), 2);
        assert_eq!(
            r.config_problems.len(),
            3,
            "invalid file, rollback, database: {:?}",
            r.config_problems
        );
        let m = r.memory.as_ref().unwrap();
        assert!(m.over_budget);
        assert!(m.budget.as_ref().unwrap().source.contains("gateway config"));
        assert_eq!(r.inbox.as_ref().unwrap().unanswered, 3);
        let gw = r.gateway.as_ref().unwrap().health.as_ref().unwrap();
        assert_eq!(gw.incidents[0].recover_secs, Some(3600));
        assert_eq!(r.overall, "attention");
        for part in [
            "rate-limit circuit open",
            "3 config problem(s)",
            "memory over budget",
        ] {
            assert!(r.headline.contains(part), "{}", r.headline);
        }
    }

    #[test]
    fn clock_skew_is_a_finding() {
        let p = period();
        let grace = |_: &str| Duration::minutes(15);
        let jobs = vec!["poll-teams".to_string()];
        let st: PublicState<Value> = serde_json::from_value(serde_json::json!({
            "schema_version": 1, "job": "poll-teams",
            "last_run": {"started_at": "2099-01-01T00:00:00Z", "finished_at": "2099-01-01T00:00:01Z",
                "duration_ms": 1000, "outcome": "ok", "exit_code": 0, "error": null, "pid": 1,
                "host": "h", "version": "1", "run_id": "r"},
            "last_success": "2099-01-01T00:00:01Z"
        }))
        .unwrap();
        let mut g = Gathered::default();
        g.states.insert("poll-teams".into(), Ok(Some(st)));
        g.control = Some(contracts::control::Control {
            paused: false,
            at: Some(t("2026-11-21T00:06:00Z")),
            ..Default::default()
        });
        let r = assemble(&g, &settings(&p, &jobs, &grace));
        let what: Vec<_> = r
            .clock_skew
            .iter()
            .map(|c| format!("{} {}", c.source, c.what))
            .collect();
        assert_eq!(
            what,
            [
                "state/poll-teams.json last_run.started_at",
                "state/poll-teams.json last_run.finished_at",
                "state/poll-teams.json last_success",
                "state/control.json at",
            ]
        );
        assert_eq!(r.overall, "attention");
        assert!(
            r.headline.contains("clock skew: 4 time(s)"),
            "{}",
            r.headline
        );
        assert_ne!(r.jobs[0].status, JobStatus::Ok);
    }
}

//! The decisions of one check: pure functions of what was gathered, the previous check's
//! record and `now`, unit-tested without a filesystem.
//!
//! Per job: the shared dead-man check ([`schedule::evaluate`]) gives the verdict; then
//! - an outage **opens** when a job missed a run (overdue, or never ran though due) and the
//!   suite is not paused; it starts at the first due time the job missed;
//! - an open outage is **alerted** once as a warning, and once more as critical when it is
//!   still open `critical_after` after it became overdue (only critical when first seen that
//!   late); nothing is alerted while the suite is paused or maintenance holds;
//! - it **ends** when the job runs again (a recovery message if it was alerted), or quietly
//!   when its line is paused or removed.
//!
//! A job whose line was just installed or resumed is not held to due times before that
//! (`active_since`); a job that never ran is measured from when it was first watched.

use crate::data::{Level, Outage, Watched};
use crate::gather::Observed;
use crate::texts;
use chrono::{DateTime, Duration, Utc};
use contracts::facts::watch_jobs::{JobWatch, OutageFacts, WatchStatus};
use schedule::{Check, Crontab, Evaluation, Runs, Verdict};
use std::collections::BTreeMap;

/// How strictly the jobs are judged (from the config).
#[derive(Debug, Clone)]
pub struct Policy {
    /// Configured graces (`grace_secs`); other jobs get [`default_grace`].
    pub graces: BTreeMap<String, Duration>,
    pub critical_after: Duration,
    pub skew_tolerance: Duration,
}

impl Policy {
    pub fn from_config(cfg: &crate::config::Config) -> Policy {
        Policy {
            graces: cfg
                .grace_secs
                .keys()
                .filter_map(|j| cfg.grace_override(j).map(|g| (j.clone(), g)))
                .collect(),
            critical_after: cfg.critical_after(),
            skew_tolerance: cfg.skew_tolerance(),
        }
    }

    /// The grace of `job`: configured, else derived from its schedule.
    pub fn grace(&self, crontab: &Crontab, job: &str, now: DateTime<Utc>) -> Duration {
        self.graces
            .get(job)
            .copied()
            .unwrap_or_else(|| default_grace(crontab.period_of(job, now)))
    }
}

/// Twice the job's period, at least 10 minutes and at most 2 hours: one missed run of a
/// frequent job is tolerated, a daily job is noticed the same morning, and a run that is
/// recorded only when it ends (a long nightly job) has time to finish.
pub fn default_grace(period: Option<Duration>) -> Duration {
    use crate::config::{DEFAULT_GRACE_MAX_SECS, DEFAULT_GRACE_MIN_SECS};
    let twice = period.map_or(0, |p| p.num_seconds().saturating_mul(2));
    Duration::seconds(twice.clamp(DEFAULT_GRACE_MIN_SECS, DEFAULT_GRACE_MAX_SECS))
}

/// What a check sees.
#[derive(Debug)]
pub struct World<'a> {
    pub now: DateTime<Utc>,
    pub crontab: &'a Crontab,
    /// `state/control.json` says the suite is paused.
    pub suite_paused: bool,
    /// `state/maintenance.json` holds.
    pub maintenance: bool,
    pub jobs: &'a [Observed],
}

/// A message to send.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// An open outage, at this level.
    Alert {
        job: String,
        since: DateTime<Utc>,
        level: Level,
        text: String,
    },
    /// An alerted outage ended: the job ran again.
    Recovered {
        job: String,
        since: DateTime<Utc>,
        text: String,
    },
}

impl Action {
    /// The alert key: one per job, outage and message (deduplicated by the effect journal).
    pub fn key(&self) -> String {
        let id = |job: &str, since: &DateTime<Utc>| {
            format!("job-overdue/{job}/{}", since.format("%Y-%m-%dT%H:%M:%SZ"))
        };
        match self {
            Action::Alert {
                job,
                since,
                level: Level::Warning,
                ..
            } => id(job, since),
            Action::Alert { job, since, .. } => format!("{}/critical", id(job, since)),
            Action::Recovered { job, since, .. } => format!("{}/recovered", id(job, since)),
        }
    }

    pub fn severity(&self) -> common::Severity {
        match self {
            Action::Alert { level, .. } => level.severity(),
            Action::Recovered { .. } => common::Severity::Info,
        }
    }

    pub fn text(&self) -> &str {
        match self {
            Action::Alert { text, .. } | Action::Recovered { text, .. } => text,
        }
    }
}

/// The outcome of one check.
#[derive(Debug, Default)]
pub struct Decision {
    /// Every watched job as seen now.
    pub jobs: BTreeMap<String, Watched>,
    /// Outages that ended in this check.
    pub ended: Vec<OutageFacts>,
    pub actions: Vec<Action>,
}

/// Check every job.
pub fn decide(w: &World<'_>, policy: &Policy, previous: &BTreeMap<String, Watched>) -> Decision {
    let mut d = Decision::default();
    for o in w.jobs {
        let step = check_job(w, policy, o, previous.get(&o.job));
        d.jobs.insert(o.job.clone(), step.watched);
        d.ended.extend(step.ended);
        d.actions.extend(step.action);
    }
    d
}

/// One job's part of the decision.
struct Step {
    watched: Watched,
    ended: Option<OutageFacts>,
    action: Option<Action>,
}

fn check_job(w: &World<'_>, policy: &Policy, o: &Observed, prev: Option<&Watched>) -> Step {
    let grace = policy.grace(w.crontab, &o.job, w.now);
    let state = match &o.state {
        Ok(s) => s.as_ref(),
        Err(e) => return unreadable(w, o, prev, grace, e),
    };
    let has_run = state.is_some_and(|s| s.last_run.is_some());
    let active_since = active_since(w, &o.job, prev, has_run);
    let runs = Runs {
        state,
        log_mtime: o.log_mtime,
        running_since: None,
        watched_since: active_since,
    };
    let check = Check {
        as_of: w.now,
        grace,
        trust_until: w.now + policy.skew_tolerance,
    };
    let eval = schedule::evaluate(w.crontab, &o.job, &runs, &check);
    let row = row(w, &o.job, &eval, grace);
    let open = prev.and_then(|p| p.outage.clone());
    let (outage, ended, action) = outage_step(w, policy, &row, &eval, open, active_since);
    Step {
        watched: Watched {
            row,
            active_since,
            outage,
        },
        ended,
        action,
    }
}

/// A job whose state file cannot be read: when it last ran is unknown, so nothing changes
/// (an open outage stays open, nothing is alerted or ended). The job itself fails loudly
/// (exit 65) on such a file.
fn unreadable(
    w: &World<'_>,
    o: &Observed,
    prev: Option<&Watched>,
    grace: Duration,
    error: &str,
) -> Step {
    let schedule = w.crontab.schedule_of(&o.job, w.now - grace, w.now);
    let row = JobWatch {
        job: o.job.clone(),
        status: WatchStatus::Unreadable,
        detail: format!(
            "state file unreadable, so when it last ran is unknown: {}",
            common::redact::redact(error)
        ),
        schedules: schedule.active,
        grace_secs: grace.num_seconds().max(0) as u64,
        last_seen: prev.and_then(|p| p.row.last_seen),
        last_due: schedule.last_due,
        next_due: schedule.next_due,
    };
    Step {
        watched: Watched {
            row,
            active_since: prev.and_then(|p| p.active_since),
            outage: prev.and_then(|p| p.outage.clone()),
        },
        ended: None,
        action: None,
    }
}

/// Since when the job's line counts as active: set when this watcher sees it become active
/// (after seeing it paused, removed or the suite paused), or on first sight of a job that has
/// never run; kept while it stays active.
fn active_since(
    w: &World<'_>,
    job: &str,
    prev: Option<&Watched>,
    has_run: bool,
) -> Option<DateTime<Utc>> {
    let active = !w.suite_paused && w.crontab.lines.iter().any(|l| l.job == job && !l.paused);
    if !active {
        return None;
    }
    match prev {
        None => (!has_run).then_some(w.now),
        Some(p) if was_inactive(p.row.status) => Some(w.now),
        Some(p) => p.active_since,
    }
}

fn was_inactive(s: WatchStatus) -> bool {
    matches!(
        s,
        WatchStatus::Paused | WatchStatus::Unscheduled | WatchStatus::SuitePaused
    )
}

/// The job's row in the facts.
fn row(w: &World<'_>, job: &str, eval: &Evaluation, grace: Duration) -> JobWatch {
    let status = match eval.verdict {
        Verdict::Paused => WatchStatus::Paused,
        Verdict::Unscheduled => WatchStatus::Unscheduled,
        _ if w.suite_paused => WatchStatus::SuitePaused,
        Verdict::Overdue { .. } => WatchStatus::Overdue,
        Verdict::NeverRun { due: Some(_) } => WatchStatus::NeverRun,
        Verdict::NeverRun { due: None } => WatchStatus::Waiting,
        Verdict::Running { .. } | Verdict::OnSchedule => WatchStatus::Ok,
    };
    let detail = if status == WatchStatus::SuitePaused {
        format!(
            "the suite is paused (state/control.json), so nothing is alerted; {}",
            eval.detail()
        )
    } else {
        eval.detail()
    };
    JobWatch {
        job: job.to_string(),
        status,
        detail,
        schedules: eval.schedule.active.clone(),
        grace_secs: grace.num_seconds().max(0) as u64,
        last_seen: eval.seen.at,
        last_due: eval.schedule.last_due,
        next_due: eval.schedule.next_due,
    }
}

/// The outage's next state, an outage that ended, and the message to send.
fn outage_step(
    w: &World<'_>,
    policy: &Policy,
    row: &JobWatch,
    eval: &Evaluation,
    open: Option<Outage>,
    active_since: Option<DateTime<Utc>>,
) -> (Option<Outage>, Option<OutageFacts>, Option<Action>) {
    let missed = eval.verdict.is_missed();
    let quiet = w.suite_paused || w.maintenance;
    match open {
        Some(o) if missed => {
            let action = (!quiet)
                .then(|| escalate(w, policy, row, eval, &o))
                .flatten();
            (Some(o), None, action)
        }
        Some(o) => {
            let (ran_again_at, ended_by) = match eval.verdict {
                Verdict::Paused => (None, Some("paused".to_string())),
                Verdict::Unscheduled => (None, Some("unscheduled".to_string())),
                _ => (eval.seen.at, None),
            };
            let ended = OutageFacts {
                ended_at: Some(w.now),
                ran_again_at,
                ended_by,
                ..o.facts(&row.job)
            };
            let action = ran_again_at
                .filter(|_| o.alerted.is_some() && !w.maintenance)
                .map(|ran| Action::Recovered {
                    job: row.job.clone(),
                    since: o.since,
                    text: texts::recovered(&row.job, ran, o.since),
                });
            (None, Some(ended), action)
        }
        None if missed && !w.suite_paused => {
            let o = Outage {
                since: first_missed(w.crontab, &row.job, eval, active_since),
                detected_at: w.now,
                alerted: None,
            };
            let action = (!quiet)
                .then(|| escalate(w, policy, row, eval, &o))
                .flatten();
            (Some(o), None, action)
        }
        None => (None, None, None),
    }
}

/// The alert an open outage needs now, if any: a warning, or critical once it has been
/// overdue for `critical_after`; each level once.
fn escalate(
    w: &World<'_>,
    policy: &Policy,
    row: &JobWatch,
    eval: &Evaluation,
    o: &Outage,
) -> Option<Action> {
    let grace = Duration::seconds(row.grace_secs as i64);
    let overdue_for = w.now - (o.since + grace);
    let level = if overdue_for >= policy.critical_after {
        Level::Critical
    } else {
        Level::Warning
    };
    if o.alerted >= Some(level) {
        return None;
    }
    let missed = texts::Missed {
        job: &row.job,
        detail: &row.detail,
        since: o.since,
        grace,
        schedules: &row.schedules,
        never_ran: matches!(eval.verdict, Verdict::NeverRun { .. }),
    };
    Some(Action::Alert {
        job: row.job.clone(),
        since: o.since,
        level,
        text: texts::alert(&missed, level, w.now),
    })
}

/// The first due time the job missed: the first after its last trusted run (or after its
/// line became active, whichever is later), at the latest the due time the verdict names.
fn first_missed(
    crontab: &Crontab,
    job: &str,
    eval: &Evaluation,
    active_since: Option<DateTime<Utc>>,
) -> DateTime<Utc> {
    let due = match eval.verdict {
        Verdict::Overdue { due } | Verdict::NeverRun { due: Some(due) } => Some(due),
        _ => None,
    };
    let base = eval.seen.at.max(active_since);
    // A run up to a second before a due time counts for it (the check's tolerance).
    let first = base.and_then(|b| crontab.first_due_after(job, b + Duration::seconds(1)));
    match (first, due) {
        (Some(f), Some(d)) => f.min(d),
        (Some(f), None) => f,
        (None, Some(d)) => d,
        (None, None) => eval.schedule.last_due.unwrap_or_default(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono_tz::Tz;
    use contracts::state::PublicState;
    use serde::de::IgnoredAny;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    const TAB: &str = "\
*/5 * * * * cd \"$R\" && target/release/check-ratelimit
17 * * * * cd \"$R\" && target/release/backup-config
#40 3 * * * cd \"$R\" && target/release/compact-memory
";

    fn crontab(text: &str) -> Crontab {
        let names: Vec<&str> = contracts::registry::names().collect();
        schedule::parse_crontab(text, Tz::UTC, &names)
    }

    fn state(last: &str) -> PublicState<IgnoredAny> {
        serde_json::from_value(serde_json::json!({
            "schema_version": 1, "job": "x",
            "last_run": {"started_at": last, "finished_at": last, "duration_ms": 100,
                "outcome": "ok", "exit_code": 0, "error": null, "pid": 1, "host": "h",
                "version": "1", "run_id": "r"},
            "last_success": last
        }))
        .unwrap()
    }

    fn observed(job: &str, last: Option<&str>) -> Observed {
        Observed {
            job: job.into(),
            state: Ok(last.map(state)),
            log_mtime: None,
        }
    }

    fn policy() -> Policy {
        Policy {
            graces: BTreeMap::new(),
            critical_after: Duration::hours(1),
            skew_tolerance: Duration::minutes(5),
        }
    }

    /// Runs `decide` at `now` over `jobs`, carrying `prev`.
    fn at(
        now: &str,
        tab: &Crontab,
        jobs: &[Observed],
        prev: &BTreeMap<String, Watched>,
        suite_paused: bool,
    ) -> Decision {
        let w = World {
            now: t(now),
            crontab: tab,
            suite_paused,
            maintenance: false,
            jobs,
        };
        decide(&w, &policy(), prev)
    }

    fn status(d: &Decision, job: &str) -> WatchStatus {
        d.jobs[job].row.status
    }

    #[test]
    fn grace_defaults_follow_the_period() {
        assert_eq!(
            default_grace(Some(Duration::minutes(1))),
            Duration::minutes(10)
        );
        assert_eq!(
            default_grace(Some(Duration::minutes(5))),
            Duration::minutes(10)
        );
        assert_eq!(
            default_grace(Some(Duration::minutes(30))),
            Duration::hours(1)
        );
        assert_eq!(default_grace(Some(Duration::hours(1))), Duration::hours(2));
        assert_eq!(default_grace(Some(Duration::days(1))), Duration::hours(2));
        assert_eq!(default_grace(None), Duration::minutes(10));
        let tab = crontab(TAB);
        let p = policy();
        assert_eq!(
            p.grace(&tab, "check-ratelimit", t("2026-11-21T08:00:00Z")),
            Duration::minutes(10)
        );
        let mut p = policy();
        p.graces
            .insert("check-ratelimit".into(), Duration::seconds(90));
        assert_eq!(
            p.grace(&tab, "check-ratelimit", t("2026-11-21T08:00:00Z")),
            Duration::seconds(90)
        );
    }

    /// The whole life of an outage: alerted once as a warning within the grace, once as
    /// critical, a recovery message when the job runs again, then quiet.
    #[test]
    fn an_outage_is_alerted_once_escalated_once_and_recovered_once() {
        let tab = crontab(TAB);
        let none = BTreeMap::new();
        let jobs = [observed("check-ratelimit", Some("2026-11-21T08:00:01Z"))];
        // 08:14: due 08:05 is still within its 10-minute grace.
        let d = at("2026-11-21T08:14:00Z", &tab, &jobs, &none, false);
        assert_eq!(status(&d, "check-ratelimit"), WatchStatus::Ok);
        assert!(d.actions.is_empty());
        // 08:15: the 08:05 run is missed: one warning, outage since 08:05.
        let d = at("2026-11-21T08:15:00Z", &tab, &jobs, &d.jobs, false);
        assert_eq!(status(&d, "check-ratelimit"), WatchStatus::Overdue);
        let [
            Action::Alert {
                level, since, text, ..
            },
        ] = d.actions.as_slice()
        else {
            panic!("{:?}", d.actions)
        };
        assert_eq!(
            (*level, *since),
            (Level::Warning, t("2026-11-21T08:05:00Z"))
        );
        assert!(text.starts_with("check-ratelimit is overdue: did not run since 2026-11-21 08:00 UTC (was due at 2026-11-21 08:05 UTC)"), "{text}");
        assert_eq!(
            d.actions[0].key(),
            "job-overdue/check-ratelimit/2026-11-21T08:05:00Z"
        );
        // The act records the delivery; the next checks repeat nothing.
        let mut jobs_seen = d.jobs;
        jobs_seen
            .get_mut("check-ratelimit")
            .unwrap()
            .outage
            .as_mut()
            .unwrap()
            .alerted = Some(Level::Warning);
        let d = at("2026-11-21T08:45:00Z", &tab, &jobs, &jobs_seen, false);
        assert!(d.actions.is_empty(), "{:?}", d.actions);
        assert_eq!(
            d.jobs["check-ratelimit"].outage.as_ref().unwrap().since,
            t("2026-11-21T08:05:00Z")
        );
        // Overdue since 08:15; an hour later it becomes critical, once.
        let d = at("2026-11-21T09:15:00Z", &tab, &jobs, &d.jobs, false);
        let [
            a @ Action::Alert {
                level: Level::Critical,
                ..
            },
        ] = d.actions.as_slice()
        else {
            panic!("{:?}", d.actions)
        };
        assert_eq!(
            a.key(),
            "job-overdue/check-ratelimit/2026-11-21T08:05:00Z/critical"
        );
        let mut jobs_seen = d.jobs;
        jobs_seen
            .get_mut("check-ratelimit")
            .unwrap()
            .outage
            .as_mut()
            .unwrap()
            .alerted = Some(Level::Critical);
        let d = at("2026-11-21T09:20:00Z", &tab, &jobs, &jobs_seen, false);
        assert!(d.actions.is_empty());
        // It runs again at 09:21: the outage ends with one recovery message.
        let ran = [observed("check-ratelimit", Some("2026-11-21T09:21:00Z"))];
        let d = at("2026-11-21T09:22:00Z", &tab, &ran, &d.jobs, false);
        assert_eq!(status(&d, "check-ratelimit"), WatchStatus::Ok);
        assert!(d.jobs["check-ratelimit"].outage.is_none());
        let [a @ Action::Recovered { text, .. }] = d.actions.as_slice() else {
            panic!("{:?}", d.actions)
        };
        assert_eq!(
            text,
            "check-ratelimit ran again at 2026-11-21 09:21 UTC, after being overdue since 2026-11-21 08:05 UTC"
        );
        assert_eq!(
            a.key(),
            "job-overdue/check-ratelimit/2026-11-21T08:05:00Z/recovered"
        );
        assert_eq!(d.ended.len(), 1);
        assert_eq!(d.ended[0].ran_again_at, Some(t("2026-11-21T09:21:00Z")));
        let d = at("2026-11-21T09:25:00Z", &tab, &ran, &d.jobs, false);
        assert!(d.actions.is_empty() && d.ended.is_empty());
    }

    #[test]
    fn first_seen_late_is_critical_only() {
        let tab = crontab(TAB);
        let jobs = [observed("check-ratelimit", Some("2026-11-21T06:00:00Z"))];
        let d = at("2026-11-21T08:00:00Z", &tab, &jobs, &BTreeMap::new(), false);
        let [Action::Alert { level, since, .. }] = d.actions.as_slice() else {
            panic!("{:?}", d.actions)
        };
        assert_eq!(
            (*level, *since),
            (Level::Critical, t("2026-11-21T06:05:00Z"))
        );
    }

    #[test]
    fn paused_lines_and_a_paused_suite_are_not_alerted() {
        let tab = crontab(TAB);
        let old = Some("2026-11-19T03:40:00Z");
        let jobs = [
            observed("compact-memory", old),
            observed("check-ratelimit", old),
        ];
        let d = at("2026-11-21T08:00:00Z", &tab, &jobs, &BTreeMap::new(), true);
        assert_eq!(status(&d, "compact-memory"), WatchStatus::Paused);
        assert_eq!(status(&d, "check-ratelimit"), WatchStatus::SuitePaused);
        assert!(
            d.jobs["check-ratelimit"]
                .row
                .detail
                .starts_with("the suite is paused")
        );
        assert!(d.actions.is_empty() && d.jobs.values().all(|w| w.outage.is_none()));
        // The suite resumes: check-ratelimit gets a period and its grace before it counts
        // as missing, not an alert for the time it was paused.
        let d = at("2026-11-21T08:01:00Z", &tab, &jobs, &d.jobs, false);
        assert_eq!(status(&d, "check-ratelimit"), WatchStatus::Ok);
        assert!(d.actions.is_empty());
        let d = at("2026-11-21T08:15:00Z", &tab, &jobs, &d.jobs, false);
        assert_eq!(status(&d, "check-ratelimit"), WatchStatus::Overdue);
        assert_eq!(
            d.jobs["check-ratelimit"].outage.as_ref().unwrap().since,
            t("2026-11-21T08:05:00Z")
        );
        assert_eq!(status(&d, "compact-memory"), WatchStatus::Paused);
        assert_eq!(d.actions.len(), 1, "only the missing job: {:?}", d.actions);
    }

    #[test]
    fn an_outage_ends_quietly_when_the_line_is_paused() {
        let tab = crontab(TAB);
        let jobs = [observed("check-ratelimit", Some("2026-11-21T07:55:00Z"))];
        let d = at("2026-11-21T08:15:00Z", &tab, &jobs, &BTreeMap::new(), false);
        assert_eq!(d.actions.len(), 1);
        let paused = crontab(&TAB.replace("*/5", "#*/5"));
        let d = at("2026-11-21T08:20:00Z", &paused, &jobs, &d.jobs, false);
        assert_eq!(status(&d, "check-ratelimit"), WatchStatus::Paused);
        assert!(d.actions.is_empty());
        assert_eq!(d.ended[0].ended_by.as_deref(), Some("paused"));
    }

    #[test]
    fn a_new_line_waits_for_its_first_run() {
        let tab = crontab(TAB);
        let jobs = [observed("backup-config", None)];
        let d = at("2026-11-21T08:20:00Z", &tab, &jobs, &BTreeMap::new(), false);
        assert_eq!(status(&d, "backup-config"), WatchStatus::Waiting);
        assert_eq!(
            d.jobs["backup-config"].active_since,
            Some(t("2026-11-21T08:20:00Z"))
        );
        // Due 09:17, grace 2 h: missing from 11:17.
        let d = at("2026-11-21T11:16:00Z", &tab, &jobs, &d.jobs, false);
        assert!(d.actions.is_empty());
        let d = at("2026-11-21T11:17:00Z", &tab, &jobs, &d.jobs, false);
        assert_eq!(status(&d, "backup-config"), WatchStatus::NeverRun);
        let [Action::Alert { since, text, .. }] = d.actions.as_slice() else {
            panic!("{:?}", d.actions)
        };
        assert_eq!(*since, t("2026-11-21T09:17:00Z"));
        assert!(
            text.starts_with(
                "backup-config has not run yet: no run recorded; it was due at 2026-11-21 09:17 UTC"
            ),
            "{text}"
        );
    }

    #[test]
    fn maintenance_holds_alerts_and_an_unreadable_state_changes_nothing() {
        let tab = crontab(TAB);
        let jobs = [observed("check-ratelimit", Some("2026-11-21T07:55:00Z"))];
        let w = World {
            now: t("2026-11-21T08:15:00Z"),
            crontab: &tab,
            suite_paused: false,
            maintenance: true,
            jobs: &jobs,
        };
        let d = decide(&w, &policy(), &BTreeMap::new());
        assert!(d.actions.is_empty());
        let o = d.jobs["check-ratelimit"].outage.clone().unwrap();
        assert_eq!(o.alerted, None, "recorded, not alerted");
        // After the window, the same outage is alerted.
        let d2 = at("2026-11-21T08:20:00Z", &tab, &jobs, &d.jobs, false);
        assert_eq!(d2.actions.len(), 1);
        assert_eq!(
            d2.jobs["check-ratelimit"].outage.as_ref().unwrap().since,
            o.since
        );
        let bad = [Observed {
            job: "check-ratelimit".into(),
            state: Err("state/check-ratelimit.json does not parse".into()),
            log_mtime: None,
        }];
        let d3 = at("2026-11-21T08:25:00Z", &tab, &bad, &d.jobs, false);
        assert_eq!(status(&d3, "check-ratelimit"), WatchStatus::Unreadable);
        assert!(d3.actions.is_empty());
        assert_eq!(
            d3.jobs["check-ratelimit"].outage,
            d.jobs["check-ratelimit"].outage
        );
    }
}

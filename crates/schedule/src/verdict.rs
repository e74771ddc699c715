//! The dead-man check on one job: from its schedule (due times computed with the grace), what
//! its state file says about its runs, and the clock, is it paused, not scheduled, running, on
//! schedule, never run, or overdue — and the sentence an operator reads.
//!
//! Pure functions: [`last_seen`] (which run start can be trusted), [`judge`] (the verdict),
//! [`Verdict::sentence`] and [`skew_note`] (the words); [`evaluate`] puts them together for a
//! job's crontab lines and `state/<job>.json`.
//!
//! **Clock skew.** A time in a state file later than the clock (plus a tolerance) is not
//! evidence that the job ran: a clock that was set back, or a file copied from another
//! machine, would otherwise hide a stopped job forever. Then the run history (entries up to the
//! limit) and the log file's modification time are the evidence, and the sentence says why.

use crate::crontab::{Crontab, JobSchedule};
use chrono::{DateTime, Duration, Utc};
use contracts::state::PublicState;

/// A time as operators read it in reports and alerts: `2026-11-21 07:05 UTC`.
pub fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The latest run start the check trusts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Seen {
    /// The trusted latest start (`None`: no run to trust).
    pub at: Option<DateTime<Utc>>,
    /// The recorded last run's start when it is ahead of the clock (not trusted).
    pub untrusted: Option<DateTime<Utc>>,
}

/// The latest run start the dead-man check can trust. A last run started after `limit` (the
/// clock plus the skew tolerance) is not evidence; then the run history (entries up to
/// `limit`) and the log file's modification time are.
pub fn last_seen(
    last_run: Option<DateTime<Utc>>,
    history: impl IntoIterator<Item = DateTime<Utc>>,
    log_mtime: Option<DateTime<Utc>>,
    limit: DateTime<Utc>,
) -> Seen {
    match last_run {
        Some(t) if t <= limit => Seen {
            at: Some(t),
            untrusted: None,
        },
        Some(t) => {
            let from_history = history.into_iter().filter(|h| *h <= limit).max();
            let from_log = log_mtime.filter(|m| *m <= limit);
            Seen {
                at: from_history.max(from_log),
                untrusted: Some(t),
            }
        }
        None => Seen::default(),
    }
}

/// The verdict on one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A run is in progress and none was recorded before it.
    Running { since: DateTime<Utc> },
    /// Its crontab lines are all commented out.
    Paused,
    /// Not in the crontab: not checked for missed runs.
    Unscheduled,
    /// It was due at `due` (more than the grace ago) and has not run since.
    Overdue { due: DateTime<Utc> },
    /// No run recorded: `due` is a due time it missed, `None` while none has passed.
    NeverRun { due: Option<DateTime<Utc>> },
    /// It ran since its last due time.
    OnSchedule,
}

impl Verdict {
    /// It missed a run: overdue, or never run although it was due.
    pub fn is_missed(&self) -> bool {
        matches!(
            self,
            Verdict::Overdue { .. } | Verdict::NeverRun { due: Some(_) }
        )
    }

    /// The sentence an operator reads (without the clock-skew note, see [`skew_note`]).
    pub fn sentence(&self, seen: &Seen) -> String {
        let last = || seen.at.map_or_else(|| "never".to_string(), when);
        match *self {
            Verdict::Running { since } => format!("running now (started {})", when(since)),
            Verdict::Paused => format!(
                "paused: its crontab line is commented out (last run {})",
                last()
            ),
            Verdict::Unscheduled => format!(
                "not in the crontab, so not checked for missed runs (last run {})",
                last()
            ),
            Verdict::Overdue { due } => match seen.at {
                None => format!("no run it can trust since it was due at {}", when(due)),
                Some(s) => format!("did not run since {} (was due at {})", when(s), when(due)),
            },
            Verdict::NeverRun { due: Some(due) } => {
                format!("no run recorded; it was due at {}", when(due))
            }
            Verdict::NeverRun { due: None } => "no run recorded yet".to_string(),
            Verdict::OnSchedule => match seen.at {
                Some(s) => format!("last run at {}, on schedule", when(s)),
                None => "on schedule".to_string(),
            },
        }
    }
}

/// What a sentence adds when the recorded last run is ahead of the clock.
pub fn skew_note(seen: &Seen) -> Option<String> {
    seen.untrusted.map(|t| {
        format!(
            "; its state says it last ran at {}, which is ahead of this machine's clock",
            when(t)
        )
    })
}

/// What the verdict is decided from.
#[derive(Debug, Clone, Copy)]
pub struct Evidence<'a> {
    /// The job's crontab lines, with `last_due` computed at the reference time minus the grace.
    pub schedule: &'a JobSchedule,
    pub seen: Seen,
    /// A last run is recorded (trusted or not).
    pub has_run: bool,
    /// A run of the job is in progress since then (it is not overdue).
    pub running_since: Option<DateTime<Utc>>,
    /// Since when the job's line has been active, when that is known (a line just added or
    /// resumed): a due time before it was not missed.
    pub watched_since: Option<DateTime<Utc>>,
}

/// The verdict, in this order: running (with no run recorded yet), paused, not scheduled, the
/// dead-man check (overdue, never run though due), no run yet, on schedule.
pub fn judge(e: &Evidence<'_>) -> Verdict {
    if let (Some(since), false) = (e.running_since, e.has_run) {
        return Verdict::Running { since };
    }
    if e.schedule.is_paused() {
        return Verdict::Paused;
    }
    if e.schedule.is_unscheduled() {
        return Verdict::Unscheduled;
    }
    if e.running_since.is_none()
        && let Some(v) = dead_man(e)
    {
        return v;
    }
    if !e.has_run {
        return Verdict::NeverRun { due: None };
    }
    Verdict::OnSchedule
}

/// `Some` when the job missed its last due time (already shifted by the grace).
fn dead_man(e: &Evidence<'_>) -> Option<Verdict> {
    let due = e.schedule.last_due?;
    if e.watched_since.is_some_and(|w| due <= w) {
        return None;
    }
    match e.seen.at {
        None if e.seen.untrusted.is_some() => Some(Verdict::Overdue { due }),
        None => Some(Verdict::NeverRun { due: Some(due) }),
        Some(seen) if seen + Duration::seconds(1) < due => Some(Verdict::Overdue { due }),
        Some(_) => None,
    }
}

/// When and how strictly a job is checked.
#[derive(Debug, Clone, Copy)]
pub struct Check {
    /// The reference time (now, or the end of a report's period).
    pub as_of: DateTime<Utc>,
    /// How late a run may be before it counts as missed.
    pub grace: Duration,
    /// Times after this are ahead of the clock (now plus the skew tolerance).
    pub trust_until: DateTime<Utc>,
}

/// What is known about one job's runs besides its crontab lines.
#[derive(Debug, Clone, Copy)]
pub struct Runs<'a, F> {
    /// `state/<job>.json` (`None`: the job never ran).
    pub state: Option<&'a PublicState<F>>,
    /// Modification time of `logs/<job>.log` (evidence when the state's time is ahead).
    pub log_mtime: Option<DateTime<Utc>>,
    pub running_since: Option<DateTime<Utc>>,
    pub watched_since: Option<DateTime<Utc>>,
}

/// The check of one job, with what it was decided from.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub schedule: JobSchedule,
    pub seen: Seen,
    pub verdict: Verdict,
}

impl Evaluation {
    /// The verdict's sentence with the clock-skew note where it applies (an overdue or
    /// on-schedule verdict decided without the untrusted time).
    pub fn detail(&self) -> String {
        let mut s = self.verdict.sentence(&self.seen);
        if matches!(self.verdict, Verdict::Overdue { .. } | Verdict::OnSchedule)
            && let Some(note) = skew_note(&self.seen)
        {
            s.push_str(&note);
        }
        s
    }
}

/// Check `job` against its lines in `crontab`, its runs, and the grace.
pub fn evaluate<F>(crontab: &Crontab, job: &str, runs: &Runs<'_, F>, check: &Check) -> Evaluation {
    let schedule = crontab.schedule_of(job, check.as_of - check.grace, check.as_of);
    let last_run = runs
        .state
        .and_then(|s| s.last_run.as_ref())
        .map(|r| r.started_at);
    let history = runs
        .state
        .into_iter()
        .flat_map(|s| s.history.iter().map(|h| h.started_at));
    let seen = last_seen(last_run, history, runs.log_mtime, check.trust_until);
    let verdict = judge(&Evidence {
        schedule: &schedule,
        seen,
        has_run: last_run.is_some(),
        running_since: runs.running_since,
        watched_since: runs.watched_since,
    });
    Evaluation {
        schedule,
        seen,
        verdict,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::crontab::parse_crontab;
    use chrono_tz::Tz;
    use serde_json::json;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    const JOBS: [&str; 4] = [
        "poll-teams",
        "check-ratelimit",
        "backup-config",
        "compact-memory",
    ];

    fn tab(text: &str) -> Crontab {
        parse_crontab(text, Tz::UTC, &JOBS)
    }

    /// A state file as the runtime writes it: last run at `last`, history at `history`.
    fn state(last: &str, history: &[&str]) -> PublicState<serde_json::Value> {
        let run = |at: &str| json!({"started_at": at, "duration_ms": 100, "outcome": "ok", "exit_code": 0});
        serde_json::from_value(json!({
            "schema_version": 1, "job": "check-ratelimit",
            "last_run": {"started_at": last, "finished_at": last, "duration_ms": 100,
                "outcome": "ok", "exit_code": 0, "error": null, "pid": 1, "host": "h",
                "version": "1", "run_id": "r"},
            "last_success": last,
            "history": history.iter().map(|h| run(h)).collect::<Vec<_>>(),
        }))
        .unwrap()
    }

    fn check(now: &str, grace_min: i64) -> Check {
        Check {
            as_of: t(now),
            grace: Duration::minutes(grace_min),
            trust_until: t(now) + Duration::minutes(5),
        }
    }

    fn eval(
        text: &str,
        job: &str,
        st: Option<&PublicState<serde_json::Value>>,
        c: &Check,
    ) -> Evaluation {
        let runs = Runs {
            state: st,
            log_mtime: None,
            running_since: None,
            watched_since: None,
        };
        evaluate(&tab(text), job, &runs, c)
    }

    const EVERY_5: &str = "*/5 * * * * cd /srv/aj && target/release/check-ratelimit\n";

    #[test]
    fn a_run_within_the_grace_is_on_schedule_and_one_after_it_is_overdue() {
        let st = state("2026-11-21T08:00:02Z", &[]);
        // Due at 08:05; with a 10-minute grace that run is only missed from 08:15.
        let e = eval(
            EVERY_5,
            "check-ratelimit",
            Some(&st),
            &check("2026-11-21T08:14:59Z", 10),
        );
        assert_eq!(e.verdict, Verdict::OnSchedule, "{}", e.detail());
        assert_eq!(e.detail(), "last run at 2026-11-21 08:00 UTC, on schedule");
        let e = eval(
            EVERY_5,
            "check-ratelimit",
            Some(&st),
            &check("2026-11-21T08:15:00Z", 10),
        );
        assert_eq!(
            e.verdict,
            Verdict::Overdue {
                due: t("2026-11-21T08:05:00Z")
            }
        );
        assert!(e.verdict.is_missed());
        assert_eq!(
            e.detail(),
            "did not run since 2026-11-21 08:00 UTC (was due at 2026-11-21 08:05 UTC)"
        );
        // A run a moment before its due time counts (cron starts it within the second).
        let st = state("2026-11-21T08:04:59.5Z", &[]);
        let e = eval(
            EVERY_5,
            "check-ratelimit",
            Some(&st),
            &check("2026-11-21T08:15:00Z", 10),
        );
        assert_eq!(e.verdict, Verdict::OnSchedule);
    }

    #[test]
    fn paused_is_not_missing() {
        let st = state("2026-11-20T08:00:00Z", &[]);
        let paused = "#*/5 * * * * cd /srv/aj && target/release/check-ratelimit\n";
        let e = eval(
            paused,
            "check-ratelimit",
            Some(&st),
            &check("2026-11-21T08:00:00Z", 10),
        );
        assert_eq!(e.verdict, Verdict::Paused);
        assert!(!e.verdict.is_missed());
        assert_eq!(
            e.detail(),
            "paused: its crontab line is commented out (last run 2026-11-20 08:00 UTC)"
        );
        // The same job with its line active and the same last run: missing.
        let e = eval(
            EVERY_5,
            "check-ratelimit",
            Some(&st),
            &check("2026-11-21T08:00:00Z", 10),
        );
        assert!(e.verdict.is_missed(), "{:?}", e.verdict);
        // One active line besides a paused one: scheduled.
        let both = format!("{paused}{EVERY_5}");
        let e = eval(
            &both,
            "check-ratelimit",
            Some(&st),
            &check("2026-11-21T08:00:00Z", 10),
        );
        assert!(e.verdict.is_missed());
        // Not in the crontab at all: not checked.
        let e = eval(
            "",
            "check-ratelimit",
            Some(&st),
            &check("2026-11-21T08:00:00Z", 10),
        );
        assert_eq!(e.verdict, Verdict::Unscheduled);
        assert_eq!(
            e.detail(),
            "not in the crontab, so not checked for missed runs (last run 2026-11-20 08:00 UTC)"
        );
    }

    #[test]
    fn never_run_and_watched_since() {
        let c = check("2026-11-21T08:20:00Z", 10);
        let e = eval(EVERY_5, "check-ratelimit", None, &c);
        assert_eq!(
            e.verdict,
            Verdict::NeverRun {
                due: Some(t("2026-11-21T08:10:00Z"))
            }
        );
        assert_eq!(
            e.detail(),
            "no run recorded; it was due at 2026-11-21 08:10 UTC"
        );
        // Its line appeared at 08:12: the 08:10 run was not missed; the job is waiting.
        let runs = Runs::<serde_json::Value> {
            state: None,
            log_mtime: None,
            running_since: None,
            watched_since: Some(t("2026-11-21T08:12:00Z")),
        };
        let e = evaluate(&tab(EVERY_5), "check-ratelimit", &runs, &c);
        assert_eq!(e.verdict, Verdict::NeverRun { due: None });
        assert!(!e.verdict.is_missed());
        assert_eq!(e.detail(), "no run recorded yet");
        // Resumed at 08:12 after a long pause: the old last run does not make it overdue...
        let st = state("2026-11-20T08:00:00Z", &[]);
        let runs = Runs {
            state: Some(&st),
            ..runs
        };
        assert_eq!(
            evaluate(&tab(EVERY_5), "check-ratelimit", &runs, &c).verdict,
            Verdict::OnSchedule
        );
        // ...until a due time after the resume passes its grace without a run.
        let later = check("2026-11-21T08:25:00Z", 10);
        assert_eq!(
            evaluate(&tab(EVERY_5), "check-ratelimit", &runs, &later).verdict,
            Verdict::Overdue {
                due: t("2026-11-21T08:15:00Z")
            }
        );
    }

    #[test]
    fn running_is_not_overdue() {
        let c = check("2026-11-21T08:20:00Z", 10);
        let runs = Runs::<serde_json::Value> {
            state: None,
            log_mtime: None,
            running_since: Some(t("2026-11-21T08:19:00Z")),
            watched_since: None,
        };
        let e = evaluate(&tab(EVERY_5), "check-ratelimit", &runs, &c);
        assert_eq!(e.detail(), "running now (started 2026-11-21 08:19 UTC)");
        let st = state("2026-11-20T08:00:00Z", &[]);
        let runs = Runs {
            state: Some(&st),
            ..runs
        };
        let e = evaluate(&tab(EVERY_5), "check-ratelimit", &runs, &c);
        assert_eq!(e.verdict, Verdict::OnSchedule);
    }

    /// A last run stamped in 2099 is not evidence: the history and the log's modification
    /// time are, and the sentence says why.
    #[test]
    fn a_last_run_ahead_of_the_clock_is_not_trusted() {
        let limit = t("2026-11-21T08:25:00Z");
        let seen = last_seen(
            Some(t("2099-01-01T00:00:00Z")),
            [t("2026-11-21T07:00:00Z"), t("2099-01-01T00:00:00Z")],
            Some(t("2026-11-21T07:30:00Z")),
            limit,
        );
        assert_eq!(seen.at, Some(t("2026-11-21T07:30:00Z")), "the log is newer");
        assert_eq!(seen.untrusted, Some(t("2099-01-01T00:00:00Z")));
        // Within the tolerance a last run is trusted.
        let seen = last_seen(Some(t("2026-11-21T08:24:00Z")), [], None, limit);
        assert_eq!(
            seen,
            Seen {
                at: Some(t("2026-11-21T08:24:00Z")),
                untrusted: None
            }
        );

        let st = state(
            "2099-01-01T00:00:00Z",
            &["2026-11-21T08:00:00Z", "2099-01-01T00:00:00Z"],
        );
        let e = eval(
            EVERY_5,
            "check-ratelimit",
            Some(&st),
            &check("2026-11-21T08:20:00Z", 10),
        );
        assert_eq!(
            e.detail(),
            "did not run since 2026-11-21 08:00 UTC (was due at 2026-11-21 08:10 UTC); its state says it last ran at 2099-01-01 00:00 UTC, which is ahead of this machine's clock"
        );
        // Nothing to trust at all: overdue, not "never run".
        let st = state("2099-01-01T00:00:00Z", &[]);
        let e = eval(
            EVERY_5,
            "check-ratelimit",
            Some(&st),
            &check("2026-11-21T08:20:00Z", 10),
        );
        assert!(
            e.detail().starts_with(
                "no run it can trust since it was due at 2026-11-21 08:10 UTC; its state says"
            ),
            "{}",
            e.detail()
        );
        // A trusted recent history entry keeps a job with a skewed last run on schedule.
        let st = state(
            "2099-01-01T00:00:00Z",
            &["2026-11-21T08:15:00Z", "2099-01-01T00:00:00Z"],
        );
        let e = eval(
            EVERY_5,
            "check-ratelimit",
            Some(&st),
            &check("2026-11-21T08:20:00Z", 10),
        );
        assert_eq!(e.verdict, Verdict::OnSchedule);
        assert!(e.detail().contains("ahead of this machine's clock"));
    }

    /// Berlin, spring forward (2026-03-29, 02:00 CET → 03:00 CEST = 01:00 UTC): a 02:30 job
    /// runs at 03:00 CEST; one that ran then is on schedule, one that did not is overdue from
    /// that instant plus the grace, not from a 02:30 that never existed.
    #[test]
    fn dst_spring_forward() {
        let text =
            "CRON_TZ=Europe/Berlin\n30 2 * * * cd /srv/aj && target/release/compact-memory\n";
        let ran = state("2026-03-29T01:00:01Z", &[]);
        let e = eval(
            text,
            "compact-memory",
            Some(&ran),
            &check("2026-03-29T08:00:00Z", 60),
        );
        assert_eq!(e.verdict, Verdict::OnSchedule);
        let before = state("2026-03-28T01:30:00Z", &[]);
        let e = eval(
            text,
            "compact-memory",
            Some(&before),
            &check("2026-03-29T01:59:00Z", 60),
        );
        assert_eq!(e.verdict, Verdict::OnSchedule, "within the grace");
        let e = eval(
            text,
            "compact-memory",
            Some(&before),
            &check("2026-03-29T02:00:00Z", 60),
        );
        assert_eq!(
            e.verdict,
            Verdict::Overdue {
                due: t("2026-03-29T01:00:00Z")
            }
        );
    }

    /// Berlin, fall back (2026-10-25, 03:00 CEST → 02:00 CET): 02:30 happens twice; the job runs
    /// once, at the first (00:30 UTC), and is not overdue for the second.
    #[test]
    fn dst_fall_back() {
        let text =
            "CRON_TZ=Europe/Berlin\n30 2 * * * cd /srv/aj && target/release/compact-memory\n";
        let ran = state("2026-10-25T00:30:00Z", &[]);
        for now in ["2026-10-25T02:00:00Z", "2026-10-26T01:29:00Z"] {
            let e = eval(text, "compact-memory", Some(&ran), &check(now, 30));
            assert_eq!(e.verdict, Verdict::OnSchedule, "at {now}");
        }
        let e = eval(
            text,
            "compact-memory",
            Some(&ran),
            &check("2026-10-26T02:00:00Z", 30),
        );
        assert_eq!(
            e.verdict,
            Verdict::Overdue {
                due: t("2026-10-26T01:30:00Z")
            }
        );
    }

    #[test]
    fn first_missed_run_and_period() {
        let ct = tab(&format!(
            "{EVERY_5}17 * * * * target/release/backup-config\n0 9-17 * * 1-5 target/release/poll-teams\n"
        ));
        assert_eq!(
            ct.first_due_after("check-ratelimit", t("2026-11-21T08:00:02Z")),
            Some(t("2026-11-21T08:05:00Z"))
        );
        assert_eq!(
            ct.first_due_after("check-ratelimit", t("2026-11-21T08:05:00Z")),
            Some(t("2026-11-21T08:10:00Z")),
            "strictly after"
        );
        let at = t("2026-11-20T16:30:00Z"); // a Friday
        assert_eq!(
            ct.period_of("check-ratelimit", at),
            Some(Duration::minutes(5))
        );
        assert_eq!(ct.period_of("backup-config", at), Some(Duration::hours(1)));
        assert_eq!(ct.period_of("poll-teams", at), Some(Duration::hours(1)));
        assert_eq!(ct.period_of("compact-memory", at), None);
    }
}

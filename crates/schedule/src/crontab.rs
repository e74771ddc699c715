//! The crontab as the suite reads it: which job lines exist, which are commented out (paused),
//! and, from each schedule, when a job was last due and is next due.
//!
//! Schedules are parsed by `croner` (POSIX/Vixie 5-field expressions and `@daily` and friends)
//! and evaluated in the configured time zone, or in the zone a `CRON_TZ=` line sets for the lines
//! after it. DST follows Vixie cron: a fixed-time job whose time falls in the spring-forward gap
//! runs right after the gap; at fall-back it runs once, at the first of the two instants.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds};

/// One crontab line that starts one of the suite's jobs.
#[derive(Debug, Clone)]
pub struct JobLine {
    /// 1-based line number in the crontab.
    pub line: usize,
    pub job: String,
    /// The schedule as written (`*/5 * * * *`, `@daily`).
    pub schedule: String,
    /// Commented out: the job is paused.
    pub paused: bool,
    pub tz: Tz,
    /// `Err` holds why the schedule cannot be used (unparseable, `@reboot`).
    pub cron: Result<Cron, String>,
}

/// A parsed crontab.
#[derive(Debug, Clone, Default)]
pub struct Crontab {
    pub lines: Vec<JobLine>,
    /// Problems worth reporting (bad schedules, unknown zones), with line numbers.
    pub problems: Vec<String>,
}

/// Parse a schedule the way cron does: five fields (no seconds) or a `@` nickname.
pub fn parse_schedule(expr: &str) -> Result<Cron, String> {
    let t = expr.trim();
    if t.eq_ignore_ascii_case("@reboot") {
        return Err("@reboot has no schedule to check".into());
    }
    if !t.starts_with('@') && t.split_whitespace().count() != 5 {
        return Err(format!(
            "`{t}` is not a 5-field cron expression (minute hour day-of-month month day-of-week)"
        ));
    }
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .build()
        .parse(t)
        .map_err(|e| format!("`{t}` does not parse: {e}"))
}

/// The last instant at or before `at` when `cron` fires in `tz`.
///
/// Vixie semantics for DST: a fixed time inside the spring-forward gap counts as the first
/// instant after the gap. croner's backward search lands *before* the gap in that case, so the
/// candidate is re-checked with a forward search from just before it.
pub fn last_due(cron: &Cron, tz: Tz, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let local = at.with_timezone(&tz);
    let mut prev = cron.find_previous_occurrence(&local, true).ok()?;
    for _ in 0..3 {
        let probe = prev - Duration::seconds(1);
        if let Ok(fwd) = cron.find_next_occurrence(&probe, true)
            && fwd <= local
        {
            return Some(fwd.with_timezone(&Utc));
        }
        // The forward view of `prev` lies after `at`: `prev` was a gap artefact; look earlier.
        prev = cron.find_previous_occurrence(&probe, true).ok()?;
    }
    Some(prev.with_timezone(&Utc))
}

/// The next instant after `at` when `cron` fires in `tz`.
pub fn next_due(cron: &Cron, tz: Tz, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    cron.find_next_occurrence(&at.with_timezone(&tz), false)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// The job a command starts: a word whose last path component is a job name.
fn job_of(command: &str, jobs: &[&str]) -> Option<String> {
    command.split_whitespace().find_map(|w| {
        let base = w.rsplit('/').next().unwrap_or(w);
        jobs.iter().find(|j| **j == base).map(|j| j.to_string())
    })
}

/// Split a line into (schedule, command) if it has the shape of a cron entry.
fn split_entry(line: &str) -> Option<(String, String)> {
    let t = line.trim();
    if t.starts_with('@') {
        let (sched, cmd) = t.split_once(char::is_whitespace)?;
        return Some((sched.to_string(), cmd.trim().to_string()));
    }
    let mut rest = t;
    let mut fields = Vec::with_capacity(5);
    for _ in 0..5 {
        let r = rest.trim_start();
        let end = r.find(char::is_whitespace)?;
        fields.push(&r[..end]);
        rest = &r[end..];
    }
    let ok = fields.iter().all(|f| {
        f.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '*' | '/' | ',' | '-' | '?'))
    });
    ok.then(|| (fields.join(" "), rest.trim().to_string()))
}

/// Parse crontab text. `tz` is the default zone; `CRON_TZ=`/`TZ=` lines change it for the lines
/// after them. Lines that start none of `jobs` are ignored.
pub fn parse_crontab(text: &str, tz: Tz, jobs: &[&str]) -> Crontab {
    let mut out = Crontab::default();
    let mut zone = tz;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let t = raw.trim();
        if t.is_empty() {
            continue;
        }
        if let Some((k, v)) = t.split_once('=')
            && !t.starts_with('#')
            && (k.trim() == "CRON_TZ" || k.trim() == "TZ")
        {
            let v = v.trim().trim_matches(['"', '\'']);
            match v.parse::<Tz>() {
                Ok(z) => zone = z,
                Err(_) => out.problems.push(format!(
                    "crontab line {n}: unknown time zone `{v}` in {}; keeping {zone}",
                    k.trim()
                )),
            }
            continue;
        }
        let (paused, body) = match t.strip_prefix('#') {
            Some(rest) => (true, rest.trim_start_matches('#').trim()),
            None => (false, t),
        };
        let Some((schedule, command)) = split_entry(body) else {
            continue;
        };
        let Some(job) = job_of(&command, jobs) else {
            continue;
        };
        let cron = parse_schedule(&schedule);
        if let Err(e) = &cron
            && !paused
            && !schedule.eq_ignore_ascii_case("@reboot")
        {
            out.problems
                .push(format!("crontab line {n} ({job}): schedule {e}"));
        }
        out.lines.push(JobLine {
            line: n,
            job,
            schedule,
            paused,
            tz: zone,
            cron,
        });
    }
    out
}

/// What the crontab says about one job.
#[derive(Debug, Clone, Default)]
pub struct JobSchedule {
    /// Schedules of the active lines.
    pub active: Vec<String>,
    /// Schedules of the commented-out lines.
    pub paused: Vec<String>,
    /// Latest due time over the active lines at the reference instant.
    pub last_due: Option<DateTime<Utc>>,
    /// Earliest next run over the active lines.
    pub next_due: Option<DateTime<Utc>>,
}

impl JobSchedule {
    /// Present in the crontab only as commented-out lines.
    pub fn is_paused(&self) -> bool {
        self.active.is_empty() && !self.paused.is_empty()
    }
    /// Not in the crontab at all.
    pub fn is_unscheduled(&self) -> bool {
        self.active.is_empty() && self.paused.is_empty()
    }
}

impl Crontab {
    /// The schedule of `job`, with due times computed at `due_at` (for the dead-man check, usually
    /// now minus the grace) and the next run after `now`.
    pub fn schedule_of(&self, job: &str, due_at: DateTime<Utc>, now: DateTime<Utc>) -> JobSchedule {
        let mut s = JobSchedule::default();
        for l in self.lines.iter().filter(|l| l.job == job) {
            if l.paused {
                s.paused.push(l.schedule.clone());
                continue;
            }
            s.active.push(l.schedule.clone());
            if let Ok(c) = &l.cron {
                if let Some(d) = last_due(c, l.tz, due_at) {
                    s.last_due = Some(s.last_due.map_or(d, |x| x.max(d)));
                }
                if let Some(d) = next_due(c, l.tz, now) {
                    s.next_due = Some(s.next_due.map_or(d, |x| x.min(d)));
                }
            }
        }
        s
    }

    /// The first time after `t` when any active line of `job` is due (the run that was missed
    /// when the job has not run since `t`).
    pub fn first_due_after(&self, job: &str, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.active_crons(job)
            .filter_map(|(c, tz)| next_due(c, tz, t))
            .min()
    }

    /// The shortest interval between two runs of `job` over its next occurrences from `at`
    /// (all active lines together): five minutes for `*/5 * * * *`, a day for `@daily`.
    pub fn period_of(&self, job: &str, at: DateTime<Utc>) -> Option<Duration> {
        let mut times: Vec<DateTime<Utc>> = Vec::new();
        for (c, tz) in self.active_crons(job) {
            let mut t = at;
            for _ in 0..PERIOD_SAMPLES {
                match next_due(c, tz, t) {
                    Some(n) => {
                        times.push(n);
                        t = n;
                    }
                    None => break,
                }
            }
        }
        times.sort();
        times.dedup();
        times
            .windows(2)
            .map(|w| w[1] - w[0])
            .filter(|d| *d > Duration::zero())
            .min()
    }

    /// The usable schedules of `job`'s active lines.
    fn active_crons<'a>(&'a self, job: &'a str) -> impl Iterator<Item = (&'a Cron, Tz)> + 'a {
        self.lines
            .iter()
            .filter(move |l| l.job == job && !l.paused)
            .filter_map(|l| l.cron.as_ref().ok().map(|c| (c, l.tz)))
    }
}

/// Occurrences sampled per line by [`Crontab::period_of`].
const PERIOD_SAMPLES: usize = 8;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn due(expr: &str, tz: &str, at: &str) -> String {
        let c = parse_schedule(expr).unwrap();
        let z: Tz = tz.parse().unwrap();
        last_due(&c, z, utc(at))
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }

    #[test]
    fn every_five_minutes() {
        assert_eq!(
            due("*/5 * * * *", "UTC", "2026-11-21T10:07:30Z"),
            "2026-11-21T10:05:00Z"
        );
        assert_eq!(
            due("*/5 * * * *", "UTC", "2026-11-21T10:05:00Z"),
            "2026-11-21T10:05:00Z"
        );
        let c = parse_schedule("*/5 * * * *").unwrap();
        let z: Tz = "UTC".parse().unwrap();
        assert_eq!(
            next_due(&c, z, utc("2026-11-21T10:05:00Z")).unwrap(),
            utc("2026-11-21T10:10:00Z")
        );
    }

    #[test]
    fn ranges_and_lists() {
        // 09-17 on the hour, Monday to Friday. 2026-11-21 is a Saturday.
        assert_eq!(
            due("0 9-17 * * 1-5", "UTC", "2026-11-21T12:00:00Z"),
            "2026-11-20T17:00:00Z"
        );
        assert_eq!(
            due("0 9-17 * * 1-5", "UTC", "2026-11-20T12:30:00Z"),
            "2026-11-20T12:00:00Z"
        );
        // A list of minutes and hours.
        assert_eq!(
            due("15,45 6,18 * * *", "UTC", "2026-11-21T18:44:00Z"),
            "2026-11-21T18:15:00Z"
        );
        assert_eq!(
            due("15,45 6,18 * * *", "UTC", "2026-11-21T17:00:00Z"),
            "2026-11-21T06:45:00Z"
        );
        // A range with a step.
        assert_eq!(
            due("10-50/20 * * * *", "UTC", "2026-11-21T10:49:00Z"),
            "2026-11-21T10:30:00Z"
        );
    }

    #[test]
    fn nicknames() {
        assert_eq!(
            due("@daily", "UTC", "2026-11-21T10:00:00Z"),
            "2026-11-21T00:00:00Z"
        );
        assert_eq!(
            due("@hourly", "UTC", "2026-11-21T10:59:59Z"),
            "2026-11-21T10:00:00Z"
        );
        // Sunday midnight.
        assert_eq!(
            due("@weekly", "UTC", "2026-11-21T10:00:00Z"),
            "2026-11-15T00:00:00Z"
        );
        assert!(parse_schedule("@reboot").is_err());
        assert!(parse_schedule("* * * *").is_err());
        assert!(
            parse_schedule("0 0 * * * *").is_err(),
            "6 fields are not cron"
        );
        assert!(parse_schedule("61 * * * *").is_err());
    }

    #[test]
    fn time_zones() {
        // 08:00 in Berlin is 07:00 UTC in winter (CET, +01:00).
        assert_eq!(
            due("0 8 * * *", "Europe/Berlin", "2026-11-21T10:00:00Z"),
            "2026-11-21T07:00:00Z"
        );
        // ...and 06:00 UTC in summer (CEST, +02:00).
        assert_eq!(
            due("0 8 * * *", "Europe/Berlin", "2026-07-01T10:00:00Z"),
            "2026-07-01T06:00:00Z"
        );
        // @daily in New York at 03:00 UTC means yesterday's local midnight (05:00 UTC).
        assert_eq!(
            due("@daily", "America/New_York", "2026-11-21T03:00:00Z"),
            "2026-11-20T05:00:00Z"
        );
    }

    #[test]
    fn dst_spring_forward_gap_runs_after_the_gap() {
        // Berlin 2026-03-29: 02:00 CET jumps to 03:00 CEST (01:00 UTC). A 02:30 job runs at 03:00.
        assert_eq!(
            due("30 2 * * *", "Europe/Berlin", "2026-03-29T08:00:00Z"),
            "2026-03-29T01:00:00Z"
        );
        // The day before, it ran at 02:30 CET = 01:30 UTC.
        assert_eq!(
            due("30 2 * * *", "Europe/Berlin", "2026-03-28T08:00:00Z"),
            "2026-03-28T01:30:00Z"
        );
        // Hourly work skips the missing hour: at 03:10 CEST the last due is 03:00 CEST.
        assert_eq!(
            due("0 * * * *", "Europe/Berlin", "2026-03-29T01:10:00Z"),
            "2026-03-29T01:00:00Z"
        );
    }

    #[test]
    fn dst_a_time_before_the_gap_runs_once() {
        // London 2026-03-29: 01:00 GMT jumps to 02:00 BST. A midnight job runs at 00:00 GMT and
        // not again at 02:00 BST (croner 3 found a second run there; fixed in croner 4.0.3).
        let c = parse_schedule("0 0 * * *").unwrap();
        let z: Tz = "Europe/London".parse().unwrap();
        assert_eq!(
            next_due(&c, z, utc("2026-03-29T00:00:00Z")).unwrap(),
            utc("2026-03-29T23:00:00Z"),
            "the next run is the next local midnight (BST)"
        );
        assert_eq!(
            due("0 0 * * *", "Europe/London", "2026-03-29T12:00:00Z"),
            "2026-03-29T00:00:00Z"
        );
    }

    #[test]
    fn step_without_a_range_is_refused() {
        // A step needs a range in POSIX/Vixie syntax (`*/5`, `5-59/5`); daemons read a bare `5/5`
        // differently, so croner 4 refuses it, and so does the check of our crontab.
        assert!(parse_schedule("5/5 * * * *").is_err());
        assert!(parse_schedule("5-59/5 * * * *").is_ok());
        assert!(parse_schedule("*/5 * * * *").is_ok());
    }

    #[test]
    fn dst_fall_back_runs_once_at_the_first_instant() {
        // Berlin 2026-10-25: 03:00 CEST goes back to 02:00 CET. 02:30 happens twice
        // (00:30 UTC and 01:30 UTC); a fixed-time job runs at the first.
        assert_eq!(
            due("30 2 * * *", "Europe/Berlin", "2026-10-25T08:00:00Z"),
            "2026-10-25T00:30:00Z"
        );
        let c = parse_schedule("30 2 * * *").unwrap();
        let z: Tz = "Europe/Berlin".parse().unwrap();
        assert_eq!(
            next_due(&c, z, utc("2026-10-25T00:30:00Z")).unwrap(),
            utc("2026-10-26T01:30:00Z"),
            "no second run in the repeated hour"
        );
    }

    #[test]
    fn crontab_lines_paused_and_zones() {
        let text = "\
# m h dom mon dow command
SHELL=/bin/sh
*/5 * * * * cd /srv/agent-jobs && target/release/poll-teams --quiet
#0 3 * * * /srv/agent-jobs/target/release/backup-config
CRON_TZ=Europe/Berlin
0 8 * * * /srv/agent-jobs/target/release/publish-report
0 8 * * 1 /srv/agent-jobs/target/release/publish-report --period weekly
@hourly /srv/agent-jobs/target/release/compact-memory
0 9 * * * /usr/bin/unrelated-thing
61 * * * * target/release/check-ratelimit
";
        let jobs = [
            "poll-teams",
            "check-ratelimit",
            "compact-memory",
            "backup-config",
            "publish-report",
        ];
        let ct = parse_crontab(text, Tz::UTC, &jobs);
        assert_eq!(ct.lines.len(), 6, "{:?}", ct.lines);
        assert_eq!(ct.problems.len(), 1, "{:?}", ct.problems);
        assert!(ct.problems[0].contains("line 10"), "{:?}", ct.problems);
        let now = utc("2026-11-21T10:00:00Z");
        let b = ct.schedule_of("backup-config", now, now);
        assert!(b.is_paused());
        let p = ct.schedule_of("publish-report", now, now);
        assert_eq!(p.active.len(), 2);
        // Saturday: the daily 08:00 Berlin line wins over the Monday one.
        assert_eq!(p.last_due, Some(utc("2026-11-21T07:00:00Z")));
        assert_eq!(
            p.next_due,
            Some(
                Tz::UTC
                    .with_ymd_and_hms(2026, 11, 22, 7, 0, 0)
                    .unwrap()
                    .with_timezone(&Utc)
            )
        );
        let u = ct.schedule_of("check-ratelimit", now, now);
        assert!(!u.is_paused() && u.last_due.is_none());
        assert!(ct.schedule_of("nope", now, now).is_unscheduled());
    }
}

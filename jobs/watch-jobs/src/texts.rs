//! What the alerts say. The verdict's own sentence comes from the shared `schedule` crate, so
//! an alert and publish-report's job table use the same words.

use crate::data::Level;
use chrono::{DateTime, Duration, Utc};
use schedule::when;

/// A duration in words: `45 s`, `12 min`, `3.5 h`, `2.0 days`.
pub fn span(d: Duration) -> String {
    let s = d.num_seconds().unsigned_abs();
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        7200..=172_799 => format!("{:.1} h", s as f64 / 3600.0),
        _ => format!("{:.1} days", s as f64 / 86400.0),
    }
}

/// What is overdue, for an alert.
pub struct Missed<'a> {
    pub job: &'a str,
    /// The verdict's sentence (`did not run since … (was due at …)`).
    pub detail: &'a str,
    /// The first due time it missed.
    pub since: DateTime<Utc>,
    pub grace: Duration,
    pub schedules: &'a [String],
    pub never_ran: bool,
}

/// The alert for an open outage.
pub fn alert(m: &Missed<'_>, level: Level, now: DateTime<Utc>) -> String {
    let what = if m.never_ran {
        "has not run yet"
    } else {
        "is overdue"
    };
    let head = match level {
        Level::Warning => format!(
            "{} {what}: {}; first missed run {}",
            m.job,
            m.detail,
            when(m.since)
        ),
        Level::Critical => format!(
            "{} {what} for {} since its run due at {}: {}",
            m.job,
            span(now - m.since),
            when(m.since),
            m.detail
        ),
    };
    format!(
        "{head}. Schedule `{}`, grace {}. Check that cron still runs it (`crontab -l`, cron's log) and logs/{}.log.",
        m.schedules.join("`, `"),
        span(m.grace),
        m.job
    )
}

/// The message when a job that was alerted as overdue runs again.
pub fn recovered(job: &str, ran_at: DateTime<Utc>, since: DateTime<Utc>) -> String {
    format!(
        "{job} ran again at {}, after being overdue since {}",
        when(ran_at),
        when(since)
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn alert_and_recovery_words() {
        let sched = vec!["*/5 * * * *".to_string()];
        let m = Missed {
            job: "check-ratelimit",
            detail: "did not run since 2026-11-21 08:00 UTC (was due at 2026-11-21 08:10 UTC)",
            since: t("2026-11-21T08:05:00Z"),
            grace: Duration::minutes(10),
            schedules: &sched,
            never_ran: false,
        };
        assert_eq!(
            alert(&m, Level::Warning, t("2026-11-21T08:20:00Z")),
            "check-ratelimit is overdue: did not run since 2026-11-21 08:00 UTC (was due at 2026-11-21 08:10 UTC); first missed run 2026-11-21 08:05 UTC. Schedule `*/5 * * * *`, grace 10 min. Check that cron still runs it (`crontab -l`, cron's log) and logs/check-ratelimit.log."
        );
        let c = alert(&m, Level::Critical, t("2026-11-21T10:05:00Z"));
        assert!(
            c.starts_with("check-ratelimit is overdue for 2.0 h since its run due at 2026-11-21 08:05 UTC: did not run"),
            "{c}"
        );
        assert_eq!(
            recovered("check-ratelimit", t("2026-11-21T10:10:03Z"), m.since),
            "check-ratelimit ran again at 2026-11-21 10:10 UTC, after being overdue since 2026-11-21 08:05 UTC"
        );
        assert_eq!(span(Duration::seconds(45)), "45 s");
        assert_eq!(span(Duration::days(3)), "3.0 days");
    }
}

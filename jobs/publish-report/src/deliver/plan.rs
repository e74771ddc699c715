//! Delivery decisions, pure: what to do for one period and destination given the journal's
//! record, the guardrails and `now`; which report id and content to send; which previous
//! periods a scheduled run retries.

use crate::config::PeriodKind;
use crate::data::{Delivery, DestinationStats, Wanted};
use crate::period::Period;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use contracts::effect::EffectStatus;
use std::collections::BTreeMap;

/// The next step for one delivery, from its journal status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Done before and not forced.
    AlreadySent,
    /// May have arrived, the destination cannot be asked, not forced: never resent blindly.
    Blocked,
    /// May have arrived: ask the destination first, send only if it provably did not.
    Verify,
    /// Send. `forget`: an operator forces a resend of a done or unknown delivery.
    Send { forget: bool },
}

/// Decide the step from the journal status (`None`: never attempted).
pub fn step(status: Option<EffectStatus>, force: bool, can_verify: bool) -> Step {
    use EffectStatus::*;
    match status {
        Some(Done | Skipped) if !force => Step::AlreadySent,
        Some(Unknown | Started) if !force && can_verify => Step::Verify,
        Some(Unknown | Started) if !force => Step::Blocked,
        Some(Done | Skipped | Unknown | Started) => Step::Send { forget: true },
        Some(Failed) | None => Step::Send { forget: false },
    }
}

/// What the guardrails say about one more send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Guard {
    Go,
    /// `max_per_day` attempts made today (forced ones count; `--force` does not lift it).
    Capped {
        cap: u32,
        day: String,
    },
    /// `failure_threshold` failures in a row; skipped until then unless forced.
    CoolingOff {
        until: DateTime<Utc>,
        failures: u32,
    },
}

/// Sends made on `day` (the counter belongs to another day otherwise).
pub fn sends_on(stats: &DestinationStats, day: &str) -> u32 {
    if stats.day == day {
        stats.sends_today
    } else {
        0
    }
}

/// The guardrails for one more send on local `day` at `now`.
pub fn guard(
    stats: &DestinationStats,
    cap: u32,
    day: &str,
    now: DateTime<Utc>,
    force: bool,
) -> Guard {
    if let Some(until) = stats.cooloff_until
        && until > now
        && !force
    {
        return Guard::CoolingOff {
            until,
            failures: stats.consecutive_failures,
        };
    }
    if sends_on(stats, day) >= cap {
        return Guard::Capped {
            cap,
            day: day.to_string(),
        };
    }
    Guard::Go
}

/// The `--force` hint, only when a forced send could go today (the daily cap leaves room).
pub fn force_hint(stats: &DestinationStats, cap: u32, day: &str) -> Option<String> {
    let left = cap.saturating_sub(sends_on(stats, day));
    (left > 0).then(|| {
        format!("rerun publish-report with --force to send it now ({left} attempt(s) left today)")
    })
}

/// Record one send attempt on `day`.
pub fn count_send(stats: &mut DestinationStats, day: &str) {
    if stats.day != day {
        stats.day = day.to_string();
        stats.sends_today = 0;
    }
    stats.sends_today += 1;
}

/// Record a failed or unknown send; returns the cool-off end when this failure starts one.
pub fn count_failure(
    stats: &mut DestinationStats,
    error: &str,
    threshold: u32,
    cooloff: Duration,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    stats.consecutive_failures += 1;
    stats.last_error = Some(error.to_string());
    (stats.consecutive_failures >= threshold).then(|| {
        let until = now
            .checked_add_signed(cooloff)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        stats.cooloff_until = Some(until);
        until
    })
}

/// Record a delivered report.
pub fn count_success(stats: &mut DestinationStats) {
    stats.consecutive_failures = 0;
    stats.cooloff_until = None;
    stats.last_error = None;
    stats.sent_total += 1;
}

/// Which report a send carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// The copy sent before, unchanged, under its id: the report may have arrived, and a
    /// receiver that de-duplicates on the id drops the second copy.
    Copy(String),
    /// The report as built now, under this id: the previous id when the content is the
    /// same, a new revision (`…-r<N>`) when it changed.
    Fresh(String),
}

/// Choose the report to send for a delivery whose previous attempt is `prev`. `exact`: the
/// destination is a directory, where a report is a file named by its id that a resend after a
/// crash replaces (nothing there de-duplicates on ids).
pub fn payload(
    prev: Option<&Delivery>,
    has_copy: bool,
    exact: bool,
    content: &str,
    base_id: &str,
) -> Payload {
    let Some(prev) = prev else {
        return Payload::Fresh(base_id.to_string());
    };
    let maybe_arrived = matches!(prev.status, EffectStatus::Unknown | EffectStatus::Started);
    if maybe_arrived && exact {
        return Payload::Fresh(prev.report_id.clone());
    }
    if maybe_arrived && has_copy {
        return Payload::Copy(prev.report_id.clone());
    }
    if prev.content == content {
        return Payload::Fresh(prev.report_id.clone());
    }
    Payload::Fresh(next_revision(base_id, &prev.report_id))
}

/// `<base>-r<N+1>` after `<base>-r<N>` (or after the base id or an older form).
pub fn next_revision(base_id: &str, prev_id: &str) -> String {
    let n = prev_id
        .rsplit_once("-r")
        .filter(|(head, _)| *head == base_id)
        .and_then(|(_, n)| n.parse::<u32>().ok())
        .unwrap_or(0);
    format!("{base_id}-r{}", n + 1)
}

/// The kind and first day of the period a book key names (`daily:2026-11-21`,
/// `weekly:2026-W47`).
pub fn start_of_key(key: &str) -> Option<(PeriodKind, NaiveDate)> {
    let (kind, id) = key.split_once(':')?;
    match kind {
        "daily" => Some((
            PeriodKind::Daily,
            NaiveDate::parse_from_str(id, "%Y-%m-%d").ok()?,
        )),
        "weekly" => {
            let (y, w) = id.split_once("-W")?;
            let monday =
                NaiveDate::from_isoywd_opt(y.parse().ok()?, w.parse().ok()?, chrono::Weekday::Mon)?;
            Some((PeriodKind::Weekly, monday))
        }
        _ => None,
    }
}

/// The period a book key names, as of `now`.
pub fn period_of_key(key: &str, tz: chrono_tz::Tz, now: DateTime<Utc>) -> Option<Period> {
    let (kind, date) = start_of_key(key)?;
    Some(crate::period::period(kind, Some(date), tz, now))
}

/// Previous periods a scheduled run retries, oldest first: periods of the same kind that an
/// earlier scheduled run set out to publish, at most `back` periods before `current`, with a
/// destination (still configured, and configured when the period was wanted) whose delivery
/// is not done and, when it may have arrived, can be asked (`can_verify`).
pub fn periods_to_retry(
    wanted: &BTreeMap<String, Wanted>,
    book: &BTreeMap<String, BTreeMap<String, Delivery>>,
    current: &Period,
    back: u32,
    can_verify: &dyn Fn(&str) -> Option<bool>,
    tz: chrono_tz::Tz,
) -> Vec<Period> {
    let Some((kind, today)) = start_of_key(&current.key()) else {
        return Vec::new();
    };
    let days = match kind {
        PeriodKind::Daily => 1,
        PeriodKind::Weekly => 7,
    };
    let oldest = today - Duration::days(days * i64::from(back));
    let mut out: Vec<(NaiveDate, Period)> = wanted
        .iter()
        .filter_map(|(key, w)| {
            let (k, start) = start_of_key(key)?;
            if k != kind || start >= today || start < oldest {
                return None;
            }
            let pending = w.destinations.iter().any(|d| {
                let Some(verifiable) = can_verify(d) else {
                    return false; // no longer configured
                };
                match book.get(key).and_then(|m| m.get(d)).map(|x| x.status) {
                    None | Some(EffectStatus::Failed) => true,
                    Some(EffectStatus::Unknown | EffectStatus::Started) => verifiable,
                    Some(EffectStatus::Done | EffectStatus::Skipped) => false,
                }
            });
            pending.then(|| {
                (
                    start,
                    crate::period::period(kind, Some(start), tz, current.as_of),
                )
            })
        })
        .collect();
    out.sort_by_key(|(d, _)| *d);
    out.into_iter().map(|(_, p)| p).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono_tz::Tz;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn steps_from_the_journal() {
        use EffectStatus::*;
        assert_eq!(step(None, false, false), Step::Send { forget: false });
        assert_eq!(
            step(Some(Failed), false, false),
            Step::Send { forget: false }
        );
        assert_eq!(step(Some(Done), false, true), Step::AlreadySent);
        assert_eq!(step(Some(Done), true, true), Step::Send { forget: true });
        assert_eq!(step(Some(Unknown), false, false), Step::Blocked);
        assert_eq!(step(Some(Started), false, true), Step::Verify);
        assert_eq!(
            step(Some(Unknown), true, false),
            Step::Send { forget: true }
        );
    }

    /// Three failures start the cool-off but leave room under the default cap of 10, so the
    /// `--force` hint is given and works; at the cap there is no hint.
    #[test]
    fn default_limits_leave_room_for_force() {
        let now = t("2026-11-20T07:05:00Z");
        let mut s = DestinationStats::default();
        let mut until = None;
        for _ in 0..3 {
            count_send(&mut s, "2026-11-20");
            until = count_failure(&mut s, "HTTP 500", 3, Duration::hours(1), now);
        }
        assert_eq!(until, Some(t("2026-11-20T08:05:00Z")));
        assert!(matches!(
            guard(&s, 10, "2026-11-20", now, false),
            Guard::CoolingOff { failures: 3, .. }
        ));
        assert_eq!(guard(&s, 10, "2026-11-20", now, true), Guard::Go);
        assert!(
            force_hint(&s, 10, "2026-11-20")
                .unwrap()
                .contains("7 attempt(s) left")
        );
        assert_eq!(
            force_hint(&s, 3, "2026-11-20"),
            None,
            "no hint that cannot work"
        );
        assert!(matches!(
            guard(&s, 3, "2026-11-20", now, true),
            Guard::Capped { cap: 3, .. }
        ));
        // A new day resets the count.
        assert_eq!(sends_on(&s, "2026-11-21"), 0);
        count_success(&mut s);
        assert_eq!(guard(&s, 3, "2026-11-21", now, false), Guard::Go);
    }

    #[test]
    fn same_content_keeps_its_id() {
        let prev = |status, content: &str, id: &str| Delivery {
            report_id: id.into(),
            content: content.into(),
            status,
            attempts: 1,
            at: None,
            detail: None,
        };
        let base = "ajr-daily-2026-11-20-abcdef";
        assert_eq!(
            payload(None, false, false, "c1", base),
            Payload::Fresh(base.into())
        );
        let unknown = prev(EffectStatus::Unknown, "c1", base);
        assert_eq!(
            payload(Some(&unknown), true, false, "c2", base),
            Payload::Copy(base.into())
        );
        assert_eq!(
            payload(Some(&unknown), false, false, "c1", base),
            Payload::Fresh(base.into())
        );
        assert_eq!(
            payload(Some(&unknown), true, true, "c2", base),
            Payload::Fresh(base.into())
        );
        let done = prev(EffectStatus::Done, "c1", base);
        assert_eq!(
            payload(Some(&done), true, false, "c1", base),
            Payload::Fresh(base.into())
        );
        assert_eq!(
            payload(Some(&done), true, false, "c2", base),
            Payload::Fresh(format!("{base}-r1"))
        );
        let r1 = prev(EffectStatus::Failed, "c2", &format!("{base}-r1"));
        assert_eq!(
            payload(Some(&r1), false, false, "c3", base),
            Payload::Fresh(format!("{base}-r2"))
        );
        assert_eq!(
            next_revision(base, &format!("{base}-f1")),
            format!("{base}-r1")
        );
    }

    #[test]
    fn previous_periods_still_unsent_are_retried_within_bounds() {
        let now = t("2026-11-28T07:05:00Z");
        let current = crate::period::period(PeriodKind::Daily, None, Tz::UTC, now);
        let mut wanted = BTreeMap::new();
        let mut book: BTreeMap<String, BTreeMap<String, Delivery>> = BTreeMap::new();
        let d = |status| Delivery {
            report_id: "x".into(),
            content: String::new(),
            status,
            attempts: 1,
            at: None,
            detail: None,
        };
        for (day, status) in [
            ("2026-11-27", Some(EffectStatus::Failed)),
            ("2026-11-26", Some(EffectStatus::Done)),
            ("2026-11-25", Some(EffectStatus::Unknown)),
            ("2026-11-24", None),
            ("2026-11-10", Some(EffectStatus::Failed)),
            ("2026-11-28", Some(EffectStatus::Failed)),
        ] {
            let key = format!("daily:{day}");
            wanted.insert(
                key.clone(),
                Wanted {
                    at: now,
                    destinations: vec!["hook".into(), "gone".into()],
                },
            );
            if let Some(s) = status {
                book.entry(key).or_default().insert("hook".into(), d(s));
            }
        }
        let verify = |name: &str| (name == "hook").then_some(false);
        let ids: Vec<String> = periods_to_retry(&wanted, &book, &current, 7, &verify, Tz::UTC)
            .into_iter()
            .map(|p| p.id)
            .collect();
        // 27 failed, 24 never attempted (capped before the intent); not 26 (done), 25
        // (unknown at a webhook), 10 (too old), 28 (the current period).
        assert_eq!(ids, ["2026-11-24", "2026-11-27"]);
        let verify = |name: &str| (name == "hook").then_some(true);
        let n = periods_to_retry(&wanted, &book, &current, 7, &verify, Tz::UTC).len();
        assert_eq!(n, 3, "an unknown Teams delivery is verified");
        assert!(periods_to_retry(&wanted, &book, &current, 0, &verify, Tz::UTC).is_empty());
        let weekly = period_of_key("weekly:2026-W47", Tz::UTC, now).unwrap();
        assert_eq!(weekly.id, "2026-W47");
        assert_eq!(weekly.from, t("2026-11-16T00:00:00Z"));
    }
}

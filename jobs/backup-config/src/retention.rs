//! Which snapshots to keep: the last N versions, the newest of each of the last D days, the
//! newest of each of the last W weeks (ISO weeks, Monday first, UTC), and always the protected
//! ones (the last good version and the live one). A pure function, so the policy can be tested
//! over a simulated year.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use std::collections::BTreeSet;

#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub keep_last: usize,
    pub daily_days: u32,
    pub weekly_weeks: u32,
}

/// One snapshot as retention sees it.
#[derive(Debug, Clone, Copy)]
pub struct Item {
    /// The last time the version was live.
    pub at: DateTime<Utc>,
    pub protected: bool,
}

/// Why a snapshot is kept (for logs and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Last,
    Daily,
    Weekly,
    Protected,
}

/// For each item (same order as given), why it is kept, or `None` to prune it.
pub fn plan(items: &[Item], now: DateTime<Utc>, p: Policy) -> Vec<Option<Reason>> {
    let mut keep: Vec<Option<Reason>> = vec![None; items.len()];
    let mut order: Vec<usize> = (0..items.len()).collect();
    // Newest first; ties broken by position (later = newer).
    order.sort_by(|&a, &b| items[b].at.cmp(&items[a].at).then(b.cmp(&a)));
    for &i in order.iter().take(p.keep_last) {
        keep[i] = Some(Reason::Last);
    }
    let today = now.date_naive();
    let mut days = BTreeSet::new();
    let mut weeks = BTreeSet::new();
    let this_monday = monday(today);
    for &i in &order {
        let day = items[i].at.date_naive().min(today);
        let age_days = (today - day).num_days();
        if age_days < i64::from(p.daily_days) && days.insert(day) {
            keep[i].get_or_insert(Reason::Daily);
        }
        let m = monday(day);
        let age_weeks = (this_monday - m).num_days() / 7;
        if age_weeks < i64::from(p.weekly_weeks) && weeks.insert(m) {
            keep[i].get_or_insert(Reason::Weekly);
        }
    }
    for (i, it) in items.iter().enumerate() {
        if it.protected {
            keep[i].get_or_insert(Reason::Protected);
        }
    }
    keep
}

fn monday(d: NaiveDate) -> NaiveDate {
    d - Duration::days(i64::from(d.weekday().num_days_from_monday()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const POLICY: Policy = Policy {
        keep_last: 20,
        daily_days: 14,
        weekly_weeks: 8,
    };

    /// A year of changes every 5 hours, replayed as the job would: after each change the
    /// plan runs and pruned snapshots are gone for good.
    fn simulate(protect_first: bool) -> (Vec<Item>, DateTime<Utc>) {
        let start = Utc.with_ymd_and_hms(2025, 3, 1, 0, 0, 0).unwrap();
        let mut live: Vec<Item> = Vec::new();
        let mut now = start;
        let mut first = true;
        while now < start + Duration::days(365) {
            live.push(Item {
                at: now,
                protected: first && protect_first,
            });
            first = false;
            let keep = plan(&live, now, POLICY);
            live = live
                .into_iter()
                .zip(keep)
                .filter_map(|(it, k)| k.map(|_| it))
                .collect();
            now += Duration::hours(5);
        }
        (live, now - Duration::hours(5))
    }

    #[test]
    fn a_simulated_year_keeps_last_daily_and_weekly() {
        let (kept, now) = simulate(false);
        let mut times: Vec<_> = kept.iter().map(|i| i.at).collect();
        times.sort();
        // The newest 20 changes are all there (every 5 h, so contiguous).
        let newest: Vec<_> = (0..20).map(|k| now - Duration::hours(5 * k)).collect();
        for t in &newest {
            assert!(times.contains(t), "missing recent {t}");
        }
        // Each of the last 14 days is represented by its newest version.
        let today = now.date_naive();
        for d in 0..14 {
            let day = today - Duration::days(d);
            let of_day: Vec<_> = times.iter().filter(|t| t.date_naive() == day).collect();
            assert!(!of_day.is_empty(), "no version kept for {day}");
            // the newest change made that day (changes at 0,5,10,15,20 h offsets) is kept
            let newest_that_day = (0..)
                .map(|k| now - Duration::hours(5 * k))
                .find(|t| t.date_naive() == day)
                .unwrap();
            assert!(of_day.contains(&&newest_that_day), "{day}: {of_day:?}");
        }
        // Each of the last 8 ISO weeks has one.
        let this_monday = monday(today);
        for w in 0..8 {
            let m = this_monday - Duration::days(7 * w);
            assert!(
                times.iter().any(|t| monday(t.date_naive()) == m),
                "no version kept for week of {m}"
            );
        }
        // Nothing older than the weekly window survives, and the total is bounded.
        let oldest_allowed = this_monday - Duration::days(7 * 7);
        assert!(
            times.iter().all(|t| t.date_naive() >= oldest_allowed),
            "too old: {:?}",
            times.first()
        );
        assert!(times.len() <= 20 + 14 + 8, "kept {}", times.len());
        assert!(
            times.len() > 20,
            "daily/weekly added nothing: {}",
            times.len()
        );
    }

    #[test]
    fn the_protected_snapshot_survives_a_year() {
        let (kept, _) = simulate(true);
        let start = Utc.with_ymd_and_hms(2025, 3, 1, 0, 0, 0).unwrap();
        assert!(kept.iter().any(|i| i.at == start && i.protected));
        let (kept, _) = simulate(false);
        assert!(!kept.iter().any(|i| i.at == start));
    }

    #[test]
    fn few_snapshots_are_all_kept() {
        let now = Utc.with_ymd_and_hms(2026, 1, 10, 12, 0, 0).unwrap();
        let items: Vec<Item> = (0..5)
            .map(|k| Item {
                at: now - Duration::days(100 * k),
                protected: false,
            })
            .collect();
        let keep = plan(&items, now, POLICY);
        assert!(keep.iter().all(Option::is_some), "{keep:?}");
        let tight = Policy {
            keep_last: 1,
            daily_days: 0,
            weekly_weeks: 0,
        };
        let keep = plan(&items, now, tight);
        assert_eq!(keep.iter().filter(|k| k.is_some()).count(), 1);
        assert_eq!(keep[0], Some(Reason::Last));
    }
}

//! Report periods: a daily period is named by its local date (`2026-11-21`), a weekly one by its
//! ISO week (`2026-W47`). A report covers the window of one period length that ends at its
//! "as of" instant: now for the current period, the period's end for a past one.

use crate::config::PeriodKind;
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

/// One report period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    pub kind: PeriodKind,
    /// `2026-11-21` or `2026-W47`.
    pub id: String,
    /// The instant the report describes (window end, exclusive).
    pub as_of: DateTime<Utc>,
    /// Window start (inclusive).
    pub from: DateTime<Utc>,
}

impl Period {
    /// Key in the state's delivery book: `daily:2026-11-21`.
    pub fn key(&self) -> String {
        format!("{}:{}", self.kind.as_str(), self.id)
    }
}

/// Local midnight of `d` in `tz` (the first valid instant of that day).
fn midnight(tz: Tz, d: NaiveDate) -> DateTime<Utc> {
    let naive = d.and_hms_opt(0, 0, 0).unwrap_or_default();
    match tz.from_local_datetime(&naive).earliest() {
        Some(t) => t.with_timezone(&Utc),
        // Midnight inside a DST gap: the day starts an hour later.
        None => tz
            .from_local_datetime(&(naive + Duration::hours(1)))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|| Utc.from_utc_datetime(&naive)),
    }
}

/// The period of `kind` containing local date `date` (default: today in `tz`), as of `now`.
pub fn period(kind: PeriodKind, date: Option<NaiveDate>, tz: Tz, now: DateTime<Utc>) -> Period {
    let today = now.with_timezone(&tz).date_naive();
    let d = date.unwrap_or(today);
    let (id, start, end) = match kind {
        PeriodKind::Daily => (
            d.format("%Y-%m-%d").to_string(),
            d,
            d.succ_opt().unwrap_or(d),
        ),
        PeriodKind::Weekly => {
            let w = d.iso_week();
            let monday = d - Duration::days(d.weekday().num_days_from_monday() as i64);
            (
                format!("{}-W{:02}", w.year(), w.week()),
                monday,
                monday + Duration::days(7),
            )
        }
    };
    let end_at = midnight(tz, end);
    let as_of = now.min(end_at);
    let len = match kind {
        PeriodKind::Daily => Duration::days(1),
        PeriodKind::Weekly => Duration::days(7),
    };
    // A future date is reported as of its start (an empty window), never ahead of now.
    let as_of = as_of.max(midnight(tz, start).min(now));
    Period {
        kind,
        id,
        as_of,
        from: as_of - len,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn daily_current_and_past() {
        let now = t("2026-11-21T08:00:00Z");
        let p = period(PeriodKind::Daily, None, Tz::UTC, now);
        assert_eq!(p.id, "2026-11-21");
        assert_eq!(p.as_of, now);
        assert_eq!(p.from, t("2026-11-20T08:00:00Z"));
        assert_eq!(p.key(), "daily:2026-11-21");
        let d = NaiveDate::from_ymd_opt(2026, 11, 19);
        let p = period(PeriodKind::Daily, d, Tz::UTC, now);
        assert_eq!(
            (p.from, p.as_of),
            (t("2026-11-19T00:00:00Z"), t("2026-11-20T00:00:00Z"))
        );
    }

    #[test]
    fn weekly_iso_weeks_and_zone() {
        let now = t("2026-11-21T08:00:00Z");
        let p = period(PeriodKind::Weekly, None, Tz::UTC, now);
        assert_eq!(p.id, "2026-W47");
        // Week 1 of 2027 starts on Monday 2027-01-04; 2027-01-01 is in 2026-W53.
        let d = NaiveDate::from_ymd_opt(2027, 1, 1);
        let p = period(PeriodKind::Weekly, d, Tz::UTC, t("2027-03-01T00:00:00Z"));
        assert_eq!(p.id, "2026-W53");
        assert_eq!(p.as_of, t("2027-01-04T00:00:00Z"));
        // Local date in Auckland is already the 22nd.
        let z: Tz = "Pacific/Auckland".parse().unwrap();
        let p = period(PeriodKind::Daily, None, z, t("2026-11-21T12:00:00Z"));
        assert_eq!(p.id, "2026-11-22");
    }
}

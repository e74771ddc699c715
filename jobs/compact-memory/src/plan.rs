//! The decisions, as pure functions of what was found and `today`: which notes are old
//! enough, which period each goes to, and what a period needs (new archive copies, a new
//! digest, removals). No filesystem here; `compact` carries the decisions out.

use crate::data::{DigestRecord, Method};
use crate::layout::{self, Archived, InPlace, Period, PeriodKind};
use chrono::NaiveDate;
use std::collections::{BTreeMap, BTreeSet};

/// Today and yesterday are never compacted, whatever `keep_days` says: the gateway's
/// `/new` prelude reads them (`startupContext.dailyMemoryDays`, default 2).
pub const MIN_KEEP_DAYS: u32 = 2;

/// What the decisions depend on besides the files.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Today in the agent's time zone.
    pub today: NaiveDate,
    /// The effective minimum age (after the dreaming floor).
    pub keep_days: u32,
    pub kind: PeriodKind,
}

impl Policy {
    fn floor(&self) -> i64 {
        i64::from(self.keep_days.max(MIN_KEEP_DAYS))
    }

    /// Old enough to compact.
    pub fn old_enough(&self, d: NaiveDate) -> bool {
        (self.today - d).num_days() >= self.floor()
    }

    /// A period's digest is named by its last day, which must not lie in the future (the
    /// gateway does not decay a future date, so such a digest would outrank today's note):
    /// days of a period that has not ended wait.
    pub fn period_ended(&self, p: &Period) -> bool {
        p.last < self.today
    }

    /// Every day of the period is old enough.
    pub fn complete(&self, p: &Period) -> bool {
        self.old_enough(p.last)
    }
}

/// One period's work list.
#[derive(Debug, Clone)]
pub struct PeriodPlan {
    pub period: Period,
    /// Every day is old enough and none is held.
    pub complete: bool,
    /// Notes in place to compact.
    pub in_place: Vec<InPlace>,
    /// Archived copies of the period (sources of its digest).
    pub archived: Vec<Archived>,
}

/// Which note goes where.
#[derive(Debug, Default)]
pub struct Plan {
    pub periods: BTreeMap<String, PeriodPlan>,
    /// Notes in place that are not old enough yet (or whose period has not ended).
    pub waiting: u64,
    /// Old notes left in place because `MEMORY.md` refers to them.
    pub kept_for_references: Vec<String>,
}

/// Group notes in place and archived copies into periods. `held` days (restored) and
/// `protected` names (referenced from `MEMORY.md`) stay in place.
pub fn plan(
    in_place: Vec<InPlace>,
    archived: Vec<Archived>,
    held: &BTreeSet<NaiveDate>,
    protected: &BTreeSet<String>,
    policy: &Policy,
) -> Plan {
    let mut out = Plan::default();
    let slot = |periods: &mut BTreeMap<String, PeriodPlan>, d: NaiveDate| -> String {
        let p = policy.kind.of(d);
        let key = p.key.clone();
        periods.entry(key.clone()).or_insert_with(|| PeriodPlan {
            complete: policy.complete(&p) && !held.iter().any(|h| *h >= p.first && *h <= p.last),
            period: p,
            in_place: Vec::new(),
            archived: Vec::new(),
        });
        key
    };
    for f in in_place {
        let period = policy.kind.of(f.date);
        let ready = policy.old_enough(f.date) && policy.period_ended(&period);
        if !ready || held.contains(&f.date) {
            out.waiting += 1;
        } else if protected.contains(&f.name) {
            out.kept_for_references.push(f.name);
        } else {
            let key = slot(&mut out.periods, f.date);
            if let Some(p) = out.periods.get_mut(&key) {
                p.in_place.push(f);
            }
        }
    }
    for a in archived {
        if held.contains(&a.date) {
            continue;
        }
        let key = slot(&mut out.periods, a.date);
        if let Some(p) = out.periods.get_mut(&key) {
            p.archived.push(a);
        }
    }
    out
}

/// A note in place, as far as the decision needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteState {
    pub name: String,
    pub date: NaiveDate,
    /// Its text equals an archived version, or all versions joined (restored, unchanged).
    pub archived_already: bool,
    /// The highest archived version of this name (0: none).
    pub last_version: u32,
}

/// What one period needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Work {
    /// New archive copies: (name, path relative to the archive directory).
    pub new_versions: Vec<(String, String)>,
    /// The digest must be (re)written.
    pub rebuild: bool,
    /// Only to try the model on an unchanged period (`--upgrade`).
    pub upgrade_only: bool,
}

/// What the period's digest should be compared against.
#[derive(Debug, Clone, Copy)]
pub struct DigestNow<'a> {
    /// The state's record of the period's digest.
    pub record: Option<&'a DigestRecord>,
    /// The record's file is in `memory/digests/` under the name the period should have.
    pub file_present: bool,
    /// `--upgrade` with the model enabled.
    pub upgrade: bool,
}

/// Decide a period's work from its notes in place and its archived copies. `None`: nothing
/// to do (no new copy, the digest is current, nothing to remove).
pub fn work(
    notes: &[NoteState],
    archived: &[String],
    complete: bool,
    digest: DigestNow<'_>,
) -> Option<Work> {
    let new_versions: Vec<(String, String)> = notes
        .iter()
        .filter(|n| !n.archived_already)
        .map(|n| {
            let rel = layout::archive_rel(&n.name, n.date, n.last_version + 1);
            (n.name.clone(), rel)
        })
        .collect();
    let mut desired: Vec<&str> = archived.iter().map(String::as_str).collect();
    desired.extend(new_versions.iter().map(|(_, r)| r.as_str()));
    desired.sort_unstable();
    let same_sources = digest.record.is_some_and(|r| {
        let mut have: Vec<&str> = r.sources.iter().map(|s| s.archive.as_str()).collect();
        have.sort_unstable();
        have == desired && r.complete == complete
    }) && digest.file_present;
    let wants_upgrade =
        digest.upgrade && complete && digest.record.is_some_and(|r| r.method != Method::Model);
    let rebuild = !(new_versions.is_empty() && same_sources) || wants_upgrade;
    if !rebuild && notes.is_empty() {
        return None;
    }
    Some(Work {
        upgrade_only: new_versions.is_empty() && same_sources,
        new_versions,
        rebuild,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::SourceRecord;
    use std::path::PathBuf;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn note(name: &str) -> InPlace {
        InPlace {
            name: name.into(),
            date: d(&name[..10]),
            path: PathBuf::from(name),
        }
    }

    fn archived(name: &str, v: u32) -> Archived {
        let date = d(&name[..10]);
        Archived {
            name: name.into(),
            version: v,
            date,
            rel: layout::archive_rel(name, date, v),
            path: PathBuf::new(),
        }
    }

    fn policy(today: &str, keep: u32, kind: PeriodKind) -> Policy {
        Policy {
            today: d(today),
            keep_days: keep,
            kind,
        }
    }

    #[test]
    fn old_enough_ended_not_held_not_referenced() {
        // 2026-03-18 is a Wednesday; keep 14: days up to 03-04 are old enough.
        let p = policy("2026-03-18", 14, PeriodKind::Week);
        let notes = [
            "2026-03-02.md",
            "2026-03-03-1430.md",
            "2026-03-04.md",
            "2026-03-05.md",
            "2026-03-17.md",
        ]
        .map(note)
        .to_vec();
        let held: BTreeSet<NaiveDate> = [d("2026-03-03")].into();
        let protected: BTreeSet<String> = ["2026-03-04.md".to_string()].into();
        let plan = plan(
            notes,
            vec![archived("2026-03-01.md", 1)],
            &held,
            &protected,
            &p,
        );
        let w10 = &plan.periods["2026-W10"];
        let names: Vec<&str> = w10.in_place.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["2026-03-02.md"]);
        assert!(!w10.complete, "03-08 is not old enough, and 03-03 is held");
        assert_eq!(plan.kept_for_references, ["2026-03-04.md"]);
        assert_eq!(plan.waiting, 3, "held 03-03, young 03-05 and 03-17");
        assert_eq!(plan.periods["2026-W09"].archived.len(), 1);
    }

    #[test]
    fn today_and_yesterday_always_stay() {
        let p = policy("2026-03-11", 0, PeriodKind::Day);
        assert!(!p.old_enough(d("2026-03-10")) && !p.old_enough(d("2026-03-11")));
        assert!(p.old_enough(d("2026-03-09")));
    }

    #[test]
    fn a_period_that_has_not_ended_waits() {
        // Month periods with keep 14 on 2026-03-20: March has not ended, so 03-01..03-06 wait;
        // their digest would be dated 2026-03-31, in the future.
        let p = policy("2026-03-20", 14, PeriodKind::Month);
        let plan = plan(
            vec![note("2026-03-01.md"), note("2026-02-27.md")],
            vec![],
            &BTreeSet::new(),
            &BTreeSet::new(),
            &p,
        );
        assert_eq!(plan.waiting, 1);
        assert!(plan.periods.contains_key("2026-02"));
        assert!(!plan.periods.contains_key("2026-03"));
        // With week periods the week of 03-01 ended on 03-01 itself.
        let p = policy("2026-03-20", 14, PeriodKind::Week);
        assert!(p.period_ended(&PeriodKind::Week.of(d("2026-03-01"))));
    }

    fn record(sources: &[&str], complete: bool, method: Method) -> DigestRecord {
        DigestRecord {
            path: "digests/x.md".into(),
            method,
            complete,
            written_at: chrono::Utc::now(),
            chars: 0,
            sha256: String::new(),
            fallback: None,
            tokens: 0,
            sources: sources
                .iter()
                .map(|a| SourceRecord {
                    name: a.rsplit('/').next().unwrap().into(),
                    archive: a.to_string(),
                    sha256: "x".into(),
                    bytes: 0,
                })
                .collect(),
        }
    }

    fn state(name: &str, archived_already: bool, last_version: u32) -> NoteState {
        NoteState {
            name: name.into(),
            date: d(&name[..10]),
            archived_already,
            last_version,
        }
    }

    #[test]
    fn a_period_needs_only_what_changed() {
        let archived = vec!["2026/01/2026-01-05.md".to_string()];
        let rec = record(&["2026/01/2026-01-05.md"], true, Method::Rules);
        let current = DigestNow {
            record: Some(&rec),
            file_present: true,
            upgrade: false,
        };
        // Nothing in place, digest current: nothing to do.
        assert_eq!(work(&[], &archived, true, current), None);
        // The same text back in place (a killed run): only its removal.
        let w = work(&[state("2026-01-05.md", true, 1)], &archived, true, current).unwrap();
        assert!(w.new_versions.is_empty() && !w.rebuild);
        // Appended after compaction: version 2 and a new digest.
        let w = work(
            &[state("2026-01-05.md", false, 1)],
            &archived,
            true,
            current,
        )
        .unwrap();
        assert_eq!(
            w.new_versions,
            [(
                "2026-01-05.md".to_string(),
                "2026/01/2026-01-05.md.v2".to_string()
            )]
        );
        assert!(w.rebuild && !w.upgrade_only);
        // The digest file is gone: rebuilt.
        let gone = DigestNow {
            file_present: false,
            ..current
        };
        assert!(work(&[], &archived, true, gone).unwrap().rebuild);
        // The period became complete: rebuilt.
        let open = record(&["2026/01/2026-01-05.md"], false, Method::Rules);
        let was_open = DigestNow {
            record: Some(&open),
            ..current
        };
        assert!(work(&[], &archived, true, was_open).unwrap().rebuild);
        // --upgrade of a rules digest of a complete period.
        let up = DigestNow {
            upgrade: true,
            ..current
        };
        let w = work(&[], &archived, true, up).unwrap();
        assert!(w.rebuild && w.upgrade_only);
        let model = record(&["2026/01/2026-01-05.md"], true, Method::Model);
        let up_model = DigestNow {
            record: Some(&model),
            ..up
        };
        assert_eq!(work(&[], &archived, true, up_model), None);
    }
}

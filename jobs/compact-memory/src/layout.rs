//! The memory directory's layout: which file names are the agent's dated notes, how dates
//! group into periods, what digests and archived copies are called, and scanning all of it.
//!
//! Only top-level `memory/YYYY-MM-DD.md` and `memory/YYYY-MM-DD-<slug>.md` regular files are
//! ever considered as notes; everything else (`.dreams/`, `dreaming/`, other notes, symlinks)
//! is left alone by construction. Archived copies live under the archive directory (outside
//! `memory/`) as `YYYY/MM/<name>[.vN]`; digests as `memory/digests/<date>-digest[-<period>].md`.

use crate::data::{Data, RunStats};
use crate::setup::Setup;
use anyhow::{Context, Result};
use chrono::{Datelike, NaiveDate};
use common::{Ctx, data_error};
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::{Path, PathBuf};

/// How daily files are grouped into digests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PeriodKind {
    /// One digest per day (`2026-02-13`).
    Day,
    /// One digest per ISO week (`2026-W07`).
    #[default]
    Week,
    /// One digest per month (`2026-02`).
    Month,
}

/// One period: its key (used in the digest name) and its first and last day.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Period {
    pub key: String,
    pub first: NaiveDate,
    pub last: NaiveDate,
}

impl PeriodKind {
    /// The period holding `d`.
    pub fn of(self, d: NaiveDate) -> Period {
        match self {
            PeriodKind::Day => Period {
                key: d.format("%Y-%m-%d").to_string(),
                first: d,
                last: d,
            },
            PeriodKind::Week => {
                let w = d.iso_week();
                let first = NaiveDate::from_isoywd_opt(w.year(), w.week(), chrono::Weekday::Mon)
                    .unwrap_or(d);
                let last = NaiveDate::from_isoywd_opt(w.year(), w.week(), chrono::Weekday::Sun)
                    .unwrap_or(d);
                Period {
                    key: format!("{}-W{:02}", w.year(), w.week()),
                    first,
                    last,
                }
            }
            PeriodKind::Month => {
                let first = d.with_day(1).unwrap_or(d);
                let next = if d.month() == 12 {
                    NaiveDate::from_ymd_opt(d.year() + 1, 1, 1)
                } else {
                    NaiveDate::from_ymd_opt(d.year(), d.month() + 1, 1)
                };
                let last = next.and_then(|n| n.pred_opt()).unwrap_or(d);
                Period {
                    key: d.format("%Y-%m").to_string(),
                    first,
                    last,
                }
            }
        }
    }
}

/// What a file name in `memory/` is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameKind {
    /// A dated note of this day.
    Dated(NaiveDate),
    /// Shaped like a dated note but the date does not exist (`2026-02-30.md`).
    BadDate,
    /// Not ours.
    Other,
}

/// Classify a top-level file name of `memory/`.
pub fn classify_name(name: &str) -> NameKind {
    let b = name.as_bytes();
    if b.len() < 13 || !name.ends_with(".md") {
        return NameKind::Other;
    }
    let shape = b[..10].iter().enumerate().all(|(i, c)| match i {
        4 | 7 => *c == b'-',
        _ => c.is_ascii_digit(),
    });
    if !shape {
        return NameKind::Other;
    }
    let rest = &name[10..name.len() - 3];
    let ok_rest = rest.is_empty() || (rest.len() > 1 && rest.starts_with('-'));
    if !ok_rest || rest.contains('/') {
        return NameKind::Other;
    }
    match NaiveDate::parse_from_str(&name[..10], "%Y-%m-%d") {
        Ok(d) => NameKind::Dated(d),
        Err(_) => NameKind::BadDate,
    }
}

/// The archive path (relative to the archive directory) of version `version` of original
/// `name`: `YYYY/MM/<name>` for the first, `YYYY/MM/<name>.v<N>` for later ones (a day
/// appended to after it was compacted).
pub fn archive_rel(name: &str, date: NaiveDate, version: u32) -> String {
    let base = format!("{:04}/{:02}/{name}", date.year(), date.month());
    if version <= 1 {
        base
    } else {
        format!("{base}.v{version}")
    }
}

/// The digest's file name in `memory/digests/`. It starts with the period's last day, so the
/// gateway's recency decay (30-day half-life on the first `YYYY-MM-DD` of a file name under
/// `memory/`, any depth) ages it like the newest day it can hold: `2026-02-15-digest-2026-W07.md`,
/// `2026-02-28-digest-2026-02.md`, `2026-02-13-digest.md`.
pub fn digest_file_name(kind: PeriodKind, p: &Period) -> String {
    match kind {
        PeriodKind::Day => format!("{}-digest.md", p.last),
        _ => format!("{}-digest-{}.md", p.last, p.key),
    }
}

/// The digest of a period key of any kind (`2026-W07`, `2026-02`, `2026-02-13`), and the
/// period itself, or `None` when the key is none of them.
pub fn period_of_key(key: &str) -> Option<(PeriodKind, Period)> {
    if let Ok(d) = NaiveDate::parse_from_str(key, "%Y-%m-%d") {
        return Some((PeriodKind::Day, PeriodKind::Day.of(d)));
    }
    if let Some((y, w)) = key.split_once("-W") {
        let (y, w) = (y.parse::<i32>().ok()?, w.parse::<u32>().ok()?);
        let d = NaiveDate::from_isoywd_opt(y, w, chrono::Weekday::Mon)?;
        return Some((PeriodKind::Week, PeriodKind::Week.of(d)));
    }
    let d = NaiveDate::parse_from_str(&format!("{key}-01"), "%Y-%m-%d").ok()?;
    (key.len() == 7).then(|| (PeriodKind::Month, PeriodKind::Month.of(d)))
}

/// The first line of every digest the job writes.
pub const DIGEST_MARKER: &str = "<!-- compact-memory digest: period=";

/// The period key in a digest's first line, if the text is one of our digests.
pub fn digest_key(text: &str) -> Option<&str> {
    let rest = text.lines().next()?.strip_prefix(DIGEST_MARKER)?;
    rest.split_whitespace().next()
}

/// Parse an archive file name into (original name, version).
pub fn parse_archive_name(file: &str) -> Option<(String, u32)> {
    if file.ends_with(".md") {
        return Some((file.to_string(), 1));
    }
    let (orig, v) = file.rsplit_once(".v")?;
    if !orig.ends_with(".md") || v.is_empty() || !v.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let v: u32 = v.parse().ok()?;
    (v >= 2).then(|| (orig.to_string(), v))
}

/// The full text of a day from its archived versions, oldest first: a version that starts
/// with everything before it (the file grew in place) replaces it; any other version (the file
/// was recreated after compaction with only the new lines) is appended.
pub fn join_versions<I: IntoIterator<Item = Vec<u8>>>(versions: I) -> Vec<u8> {
    let mut acc: Vec<u8> = Vec::new();
    for v in versions {
        if v.starts_with(&acc) {
            acc = v;
        } else {
            acc.extend_from_slice(&v);
        }
    }
    acc
}

/// A dated note in place in `memory/`.
#[derive(Debug, Clone)]
pub struct InPlace {
    pub name: String,
    pub date: NaiveDate,
    pub path: PathBuf,
}

/// An archived original.
#[derive(Debug, Clone)]
pub struct Archived {
    /// The original file name (`2026-02-13.md`).
    pub name: String,
    pub version: u32,
    pub date: NaiveDate,
    /// Path relative to the archive directory.
    pub rel: String,
    pub path: PathBuf,
}

/// What a scan found besides the notes.
#[derive(Debug, Default)]
pub struct ScanNotes {
    /// Dated-looking names with impossible dates.
    pub bad_dates: Vec<String>,
    /// Dated names that are not regular files (symlinks, directories).
    pub not_regular: Vec<String>,
    /// Files in the archive that are not archived notes.
    pub archive_strays: Vec<String>,
    /// Leftover temp files of killed runs (paths), in `memory/`.
    pub temp_files: Vec<PathBuf>,
}

/// List the dated notes at the top of `memory/`.
pub fn scan_memory(dir: &Path, notes: &mut ScanNotes) -> Result<Vec<InPlace>> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e).with_context(|| format!("cannot list {}", dir.display())),
    };
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') && is_our_temp(name) {
            notes.temp_files.push(entry.path());
            continue;
        }
        match classify_name(name) {
            NameKind::Other => {}
            NameKind::BadDate => notes.bad_dates.push(name.to_string()),
            NameKind::Dated(date) => {
                let ft = entry
                    .file_type()
                    .with_context(|| format!("cannot stat {}", entry.path().display()))?;
                if !ft.is_file() {
                    notes.not_regular.push(name.to_string());
                    continue;
                }
                out.push(InPlace {
                    name: name.to_string(),
                    date,
                    path: entry.path(),
                });
            }
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// A temp file our atomic writes leave when killed: `.<dated name>.tmp.<pid>.<n>` (the
/// runtime's temp names; other temp files in `memory/` belong to the gateway).
fn is_our_temp(name: &str) -> bool {
    common::fsutil::temp_target(name)
        .is_some_and(|target| matches!(classify_name(target), NameKind::Dated(_)))
}

/// List every archived original under `<root>/YYYY/MM/`. Leftover temp files of killed runs
/// there are removed.
pub fn scan_archive(root: &Path, notes: &mut ScanNotes) -> Result<Vec<Archived>> {
    let mut out = Vec::new();
    for year in sorted_dirs(root)? {
        if year.len() != 4 || !year.bytes().all(|c| c.is_ascii_digit()) {
            continue;
        }
        for month in sorted_dirs(&root.join(&year))? {
            if month.len() != 2 || !month.bytes().all(|c| c.is_ascii_digit()) {
                continue;
            }
            let dir = root.join(&year).join(&month);
            scan_archive_month(&dir, &format!("{year}/{month}"), notes, &mut out)?;
        }
    }
    out.sort_by(|a, b| (&a.name, a.version).cmp(&(&b.name, b.version)));
    Ok(out)
}

fn scan_archive_month(
    dir: &Path,
    prefix: &str,
    notes: &mut ScanNotes,
    out: &mut Vec<Archived>,
) -> Result<()> {
    let entries = fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    let mut temps = false;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        let fname = entry.file_name();
        let Some(fname) = fname.to_str() else {
            continue;
        };
        if common::fsutil::temp_owner(fname).is_some() {
            temps = true;
            continue;
        }
        let parsed = parse_archive_name(fname).and_then(|(name, v)| match classify_name(&name) {
            NameKind::Dated(d) => Some((name, v, d)),
            _ => None,
        });
        let regular = entry.file_type().is_ok_and(|t| t.is_file());
        let (Some((name, version, date)), true) = (parsed, regular) else {
            notes.archive_strays.push(format!("{prefix}/{fname}"));
            continue;
        };
        out.push(Archived {
            rel: format!("{prefix}/{fname}"),
            path: entry.path(),
            name,
            version,
            date,
        });
    }
    if temps {
        for p in common::fsutil::sweep_temp_files(dir)? {
            log::info!(
                "removed leftover temp file {} from a killed run",
                p.display()
            );
        }
    }
    Ok(())
}

/// What is in `memory/` and the archive.
pub struct Found {
    pub in_place: Vec<InPlace>,
    pub archived: Vec<Archived>,
}

/// List the notes in place and the archived copies; `None` when there is no `memory/`.
pub fn scan(ctx: &mut Ctx<Data>, setup: &Setup, stats: &mut RunStats) -> Result<Option<Found>> {
    match std::fs::symlink_metadata(&setup.memory) {
        Err(_) => return Ok(None),
        Ok(m) if m.file_type().is_symlink() => {
            return Err(data_error(format!(
                "refusing to compact {}: it is a symbolic link (the gateway does not index a linked memory/ either); make it a real directory",
                setup.memory.display()
            )));
        }
        Ok(_) => {}
    }
    let mut notes = ScanNotes::default();
    let in_place = scan_memory(&setup.memory, &mut notes)?;
    let archived = scan_archive(&setup.archive, &mut notes)?;
    sweep_temps(&notes.temp_files, &setup.memory.join("digests"));
    let mut skipped = Vec::new();
    skipped.extend(
        notes
            .bad_dates
            .iter()
            .map(|n| format!("{n} (no such date)")),
    );
    skipped.extend(
        notes
            .not_regular
            .iter()
            .map(|n| format!("{n} (not a regular file)")),
    );
    skipped.extend(
        notes
            .archive_strays
            .iter()
            .map(|n| format!("{n} (not an archived note)")),
    );
    if !skipped.is_empty() {
        log::info!(
            "left alone {} dated-looking file(s) it cannot compact: {}",
            skipped.len(),
            skipped.join(", ")
        );
    }
    ctx.metric_set("skipped_files", skipped.len() as u64);
    stats.skipped_names = skipped;
    Ok(Some(Found { in_place, archived }))
}

/// Remove temp files of killed runs: ours in `memory/` (dated names only) and in `digests/`.
fn sweep_temps(in_memory: &[PathBuf], digests: &Path) {
    for p in in_memory {
        let stale = p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(common::fsutil::temp_is_stale);
        if stale && std::fs::remove_file(p).is_ok() {
            log::info!(
                "removed leftover temp file {} from a killed run",
                p.display()
            );
        }
    }
    if let Ok(removed) = common::fsutil::sweep_temp_files(digests) {
        for p in removed {
            log::info!(
                "removed leftover temp file {} from a killed run",
                p.display()
            );
        }
    }
}

fn sorted_dirs(dir: &Path) -> Result<Vec<String>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot list {}", dir.display())),
    };
    let mut v = Vec::new();
    for e in entries {
        let e = e.with_context(|| format!("cannot list {}", dir.display()))?;
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false)
            && let Some(n) = e.file_name().to_str()
        {
            v.push(n.to_string());
        }
    }
    v.sort();
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn names() {
        assert_eq!(
            classify_name("2026-02-20.md"),
            NameKind::Dated(d("2026-02-20"))
        );
        assert_eq!(
            classify_name("2026-02-20-teams-sync.md"),
            NameKind::Dated(d("2026-02-20"))
        );
        assert_eq!(
            classify_name("2026-02-20-1405.md"),
            NameKind::Dated(d("2026-02-20"))
        );
        assert_eq!(classify_name("2026-02-30.md"), NameKind::BadDate);
        for other in [
            "MEMORY.md",
            "heartbeat-state.json",
            "2026-02-20.txt",
            "2026-02-20-.md",
            "2026-02-20x.md",
            "DREAMS.md",
            "2026-2-20.md",
        ] {
            assert_eq!(classify_name(other), NameKind::Other, "{other}");
        }
    }

    #[test]
    fn periods() {
        let w = PeriodKind::Week.of(d("2026-02-13"));
        assert_eq!(w.key, "2026-W07");
        assert_eq!((w.first, w.last), (d("2026-02-09"), d("2026-02-15")));
        // ISO week-year differs from the calendar year at the edges.
        assert_eq!(PeriodKind::Week.of(d("2027-01-01")).key, "2026-W53");
        let m = PeriodKind::Month.of(d("2028-02-10"));
        assert_eq!((m.key.as_str(), m.last), ("2028-02", d("2028-02-29")));
        assert_eq!(PeriodKind::Month.of(d("2026-12-31")).last, d("2026-12-31"));
        assert_eq!(PeriodKind::Day.of(d("2026-02-13")).key, "2026-02-13");
    }

    #[test]
    fn archive_names_roundtrip() {
        let date = d("2026-02-13");
        assert_eq!(
            archive_rel("2026-02-13.md", date, 1),
            "2026/02/2026-02-13.md"
        );
        let v3 = archive_rel("2026-02-13-x.md", date, 3);
        assert_eq!(v3, "2026/02/2026-02-13-x.md.v3");
        let file = v3.rsplit('/').next().unwrap();
        assert_eq!(
            parse_archive_name(file),
            Some(("2026-02-13-x.md".into(), 3))
        );
        assert_eq!(parse_archive_name("notes.txt"), None);
        assert_eq!(parse_archive_name("x.md.v1"), None);
        assert_eq!(parse_archive_name("x.md.vz"), None);
    }

    #[test]
    fn versions_join_by_growth_or_append() {
        let j = join_versions([b"a\n".to_vec(), b"a\nb\n".to_vec(), b"c\n".to_vec()]);
        assert_eq!(j, b"a\nb\nc\n");
        assert_eq!(join_versions([b"x".to_vec()]), b"x");
    }

    #[test]
    fn temp_names() {
        assert!(is_our_temp(".2026-02-13.md.tmp.123.4"));
        assert!(!is_our_temp(".MEMORY.md.tmp.123.4"));
        assert!(!is_our_temp(".2026-02-13.md.tmp.x.4"));
    }

    /// The gateway's decay regex (`temporal-decay.ts` `DATED_MEMORY_PATH_RE`) on a digest's
    /// name must find the period's last day, and dreaming's daily ingestion (top-level only,
    /// `DAILY_MEMORY_FILENAME_RE`) never sees a digest because it lives in `memory/digests/`.
    #[test]
    fn digest_names_carry_the_last_day_of_the_period() {
        let w = PeriodKind::Week.of(d("2026-02-13"));
        assert_eq!(
            digest_file_name(PeriodKind::Week, &w),
            "2026-02-15-digest-2026-W07.md"
        );
        let m = PeriodKind::Month.of(d("2028-02-10"));
        assert_eq!(
            digest_file_name(PeriodKind::Month, &m),
            "2028-02-29-digest-2028-02.md"
        );
        let day = PeriodKind::Day.of(d("2026-02-13"));
        assert_eq!(
            digest_file_name(PeriodKind::Day, &day),
            "2026-02-13-digest.md"
        );
        for name in [
            digest_file_name(PeriodKind::Week, &w),
            digest_file_name(PeriodKind::Month, &m),
            digest_file_name(PeriodKind::Day, &day),
        ] {
            // The gateway's rule: a date first, then `-<anything>` or nothing, then `.md`.
            assert!(matches!(classify_name(&name), NameKind::Dated(_)), "{name}");
        }
        for key in ["2026-W07", "2028-02", "2026-02-13", "2026-W53"] {
            let (kind, p) = period_of_key(key).unwrap();
            assert_eq!(p.key, key, "{kind:?}");
        }
        assert_eq!(period_of_key("notes"), None);
        assert_eq!(period_of_key("2026-13"), None);
        assert_eq!(
            digest_key(
                "<!-- compact-memory digest: period=2026-W07 method=rules complete=true -->\n# x"
            ),
            Some("2026-W07")
        );
        assert_eq!(digest_key("# Week 2"), None);
    }
}

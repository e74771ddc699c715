//! The job's decisions, as pure functions of what was gathered and `now`: the verdict of a
//! version from what each validator said, whether a valid version is suspicious (size drop)
//! or a wipe, whether a file can be taken as unchanged from its `stat`, and the words of
//! every alert. No filesystem, no clock: unit-tested below.

use crate::data::{FileState, Snapshot, StatKey, Status, ValidatorVerdict, Validity};
use chrono::{DateTime, Duration, Utc};
use std::path::Path;

/// A good file is re-read at least this often even when its stat is unchanged.
pub const REHASH_HOURS: i64 = 24;
/// A stat is trusted only if the file's last change was this long before it was hashed.
pub const RACY_NS: i64 = 2_000_000_000;

/// The verdict on one version, from every validator's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judgement {
    Valid,
    /// Rejected, with the reasons of every validator that said no.
    Invalid(String),
    /// A validator that must decide could not (timed out, not installed): neither good nor bad.
    Unjudged(String),
}

/// Which validators must decide (a `not run` from them leaves the version unjudged).
#[derive(Debug, Clone, Copy, Default)]
pub struct Required {
    pub command: bool,
    pub openclaw: bool,
}

/// Combine the validators' answers: any rejection makes the version invalid.
pub fn judge(verdicts: &[ValidatorVerdict], required: Required) -> Judgement {
    let rejections: Vec<String> = verdicts
        .iter()
        .filter(|v| v.rejected())
        .map(|v| match v.validator.as_str() {
            "openclaw" => format!(
                "the gateway's validator (`openclaw config validate`) rejected it: {}",
                v.detail
            ),
            _ => v.detail.clone(),
        })
        .collect();
    if !rejections.is_empty() {
        return Judgement::Invalid(rejections.join("; "));
    }
    let undecided = verdicts.iter().find(|v| {
        v.verdict == "not run"
            && match v.validator.as_str() {
                "command" => required.command,
                "openclaw" => required.openclaw,
                _ => true,
            }
    });
    match undecided {
        Some(v) => Judgement::Unjudged(format!("{} could not decide: {}", v.validator, v.detail)),
        None => Judgement::Valid,
    }
}

/// The last good version as the size-drop and wipe rules see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastGood {
    pub size: u64,
    /// Whether it had a `meta` block (`None`: not looked at).
    pub had_meta: Option<bool>,
}

/// Whether a version is much smaller than the last good one.
pub fn shrunk(size: u64, last_good: Option<LastGood>, ratio: f64) -> bool {
    last_good.is_some_and(|g| (size as f64) < ratio * g.size as f64)
}

/// The wipe rule: a version that lost the `meta` block the last good version had *and* shrank
/// below `ratio` of it is the #91148 wipe (`{"gateway":{"mode":"local"}}`), not an edit.
/// A config without `meta` alone is fine (a hand-written config, #90546), and so is a big cut
/// that keeps `meta` (the size-drop guard flags it as suspicious instead).
pub fn wipe(has_meta: bool, size: u64, last_good: Option<LastGood>, ratio: f64) -> Option<String> {
    let g = last_good?;
    if has_meta || g.had_meta != Some(true) || !shrunk(size, last_good, ratio) {
        return None;
    }
    Some(format!(
        "required key `meta` is missing (the last good version had it) and the file shrank {}: wiped?",
        size_change(g.size, size)
    ))
}

/// Validity of a valid version: suspicious when it shrank below `ratio` of the last good one,
/// unless `--accept` or it was taken as good before. Also whether `--accept` overrode it.
pub fn validity(
    size: u64,
    last_good: Option<LastGood>,
    ratio: f64,
    accept: bool,
    already_good: bool,
    is_last_good: bool,
) -> (Validity, bool) {
    let drop = !is_last_good && shrunk(size, last_good, ratio);
    match drop {
        true if !accept && !already_good => (Validity::Suspicious, false),
        true => (Validity::Good, accept && !already_good),
        false => (Validity::Good, false),
    }
}

/// Whether a file can be taken as unchanged and good without reading it: the same stat as
/// when it was hashed and found good, hashed recently, and its last change well before that
/// hash (so no write can hide in the same timestamp tick).
pub fn stat_unchanged(st: &FileState, stat: &StatKey, vkey: &str, now: DateTime<Utc>) -> bool {
    let Some(hashed) = st.hashed_at else {
        return false;
    };
    let hashed_ns = hashed.timestamp_nanos_opt().unwrap_or(0);
    st.status == Status::Good
        && st.validation_key == vkey
        && st.stat.as_ref() == Some(stat)
        && st.current_sha256.is_some()
        && now.signed_duration_since(hashed) < Duration::hours(REHASH_HOURS)
        && stat.changed_ns() < hashed_ns.saturating_sub(RACY_NS)
}

/// Whether an included file's stat is unchanged and old enough to be trusted (see above).
pub fn member_unchanged(was: &StatKey, now: &StatKey, hashed: Option<DateTime<Utc>>) -> bool {
    let hashed_ns = hashed.and_then(|h| h.timestamp_nanos_opt()).unwrap_or(0);
    was == now && now.changed_ns() < hashed_ns.saturating_sub(RACY_NS)
}

/// `3641 → 421 bytes (-88%)`
pub fn size_change(old: u64, new: u64) -> String {
    if old == 0 {
        return format!("{old} → {new} bytes");
    }
    let pct = (new as f64 - old as f64) / old as f64 * 100.0;
    format!("{old} → {new} bytes ({pct:+.0}%)")
}

pub fn fmt_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// The restore command for a file, as an operator types it.
pub fn restore_command(root: &Path, name: &str) -> String {
    format!("backup-config --root {} restore {name}", root.display())
}

/// The critical alert for an invalid version.
pub fn invalid_text(
    root: &Path,
    live: &Path,
    name: &str,
    reason: &str,
    size: u64,
    good: Option<&Snapshot>,
) -> String {
    let mut t = format!("{} is invalid: {reason}.", live.display());
    match good {
        Some(g) => t.push_str(&format!(
            " Size {} compared with the last good version. The last good version is snapshot {} \
             (last live {}); restore it with `{}` (the broken file is kept under {}).",
            size_change(g.size, size),
            g.id,
            fmt_time(g.last_seen_at),
            restore_command(root, name),
            replaced_hint(root, name)
        )),
        None => t.push_str(&format!(
            " Size {size} bytes. No good snapshot of it exists yet, so there is nothing to restore."
        )),
    }
    t
}

/// Where a restore keeps what it replaced, for messages.
pub fn replaced_hint(root: &Path, name: &str) -> String {
    format!("{}/backups/{name}/replaced/", root.display())
}

/// The warning for a valid but much smaller version.
pub fn suspicious_text(
    root: &Path,
    live: &Path,
    name: &str,
    problem: &str,
    good: Option<&Snapshot>,
) -> String {
    format!(
        "{} parses but is {problem}; it was kept as a suspicious snapshot and NOT taken as the \
         new last good version. If the edit is intended run `backup-config --root {} --accept`; \
         otherwise restore the last good version{} with `{}`.",
        live.display(),
        root.display(),
        good.map(|g| format!(" ({})", g.id)).unwrap_or_default(),
        restore_command(root, name),
    )
}

/// The critical alert for a missing file.
pub fn missing_text(root: &Path, live: &Path, name: &str, good: Option<&Snapshot>) -> String {
    let restore = match good {
        Some(g) => format!(
            "The last good version is snapshot {} ({} bytes, {}); restore it with `{}`.",
            g.id,
            g.size,
            fmt_time(g.last_seen_at),
            restore_command(root, name)
        ),
        None => "No good snapshot of it exists yet.".into(),
    };
    format!(
        "{} is missing: the file does not exist (deleted or moved?). The gateway cannot start without it. {restore}",
        live.display()
    )
}

/// The critical alert for a file that exists but cannot be read as a config.
pub fn unreadable_text(
    root: &Path,
    live: &Path,
    name: &str,
    why: &str,
    good: Option<&Snapshot>,
) -> String {
    let fix = match good {
        Some(g) => format!(
            " Fix its type or mode (e.g. `chmod 600 {}`), or put the last good version ({}) back with `{}`.",
            live.display(),
            g.id,
            restore_command(root, name)
        ),
        None => format!(
            " Fix its type or mode (e.g. `chmod 600 {}`).",
            live.display()
        ),
    };
    format!(
        "{} cannot be read: {why}. The gateway cannot read it either.{fix}",
        live.display()
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::validate::verdict;
    use chrono::TimeZone;

    #[test]
    fn either_validators_rejection_is_invalid() {
        let ok = verdict("built-in", "ok", "");
        let gw_no = verdict("openclaw", "rejected", "Unrecognized key: \"bogusKey\"");
        let gw_na = verdict("openclaw", "not run", "cannot run the gateway's CLI");
        let req = Required::default();
        assert_eq!(judge(std::slice::from_ref(&ok), req), Judgement::Valid);
        assert_eq!(
            judge(&[ok.clone(), gw_no.clone()], req),
            Judgement::Invalid(
                "the gateway's validator (`openclaw config validate`) rejected it: Unrecognized key: \"bogusKey\"".into()
            )
        );
        let both = judge(
            &[
                verdict(
                    "built-in",
                    "rejected",
                    "required key `gateway.mode` is missing",
                ),
                gw_no,
            ],
            req,
        );
        assert!(
            matches!(&both, Judgement::Invalid(r) if r.starts_with("required key") && r.contains("bogusKey")),
            "{both:?}"
        );
        // an unavailable gateway is no verdict unless it is required
        assert_eq!(judge(&[ok.clone(), gw_na.clone()], req), Judgement::Valid);
        let on = Required {
            openclaw: true,
            command: false,
        };
        assert!(matches!(judge(&[ok, gw_na], on), Judgement::Unjudged(_)));
    }

    #[test]
    fn a_wipe_is_lost_meta_and_a_big_drop_together() {
        let g = Some(LastGood {
            size: 1247,
            had_meta: Some(true),
        });
        let w = wipe(false, 43, g, 0.5).unwrap();
        assert!(w.starts_with("required key `meta` is missing"), "{w}");
        assert!(w.contains("1247 → 43 bytes (-97%)"), "{w}");
        assert_eq!(wipe(true, 43, g, 0.5), None, "kept meta: a cut, not a wipe");
        assert_eq!(
            wipe(false, 1000, g, 0.5),
            None,
            "no meta, same size: a hand-written config"
        );
        assert_eq!(
            wipe(
                false,
                43,
                Some(LastGood {
                    size: 1247,
                    had_meta: Some(false)
                }),
                0.5
            ),
            None
        );
        assert_eq!(wipe(false, 43, None, 0.5), None);
    }

    #[test]
    fn validity_follows_the_size_drop_guard() {
        let g = Some(LastGood {
            size: 1000,
            had_meta: None,
        });
        assert_eq!(
            validity(400, g, 0.5, false, false, false),
            (Validity::Suspicious, false)
        );
        assert_eq!(
            validity(400, g, 0.5, true, false, false),
            (Validity::Good, true)
        );
        assert_eq!(
            validity(400, g, 0.5, false, true, false),
            (Validity::Good, false)
        );
        assert_eq!(
            validity(600, g, 0.5, false, false, false),
            (Validity::Good, false)
        );
        assert_eq!(
            validity(400, g, 0.0, false, false, false),
            (Validity::Good, false)
        );
        assert_eq!(
            validity(400, None, 0.5, false, false, false),
            (Validity::Good, false)
        );
    }

    #[test]
    fn the_stat_fast_path_needs_an_old_enough_good_hash() {
        let now = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        let stat = StatKey {
            dev: 1,
            ino: 2,
            size: 3,
            mtime_ns: 0,
            ctime_ns: 0,
        };
        let mut st = FileState {
            status: Status::Good,
            validation_key: "k".into(),
            stat: Some(stat),
            current_sha256: Some("aa".into()),
            hashed_at: Some(now - Duration::hours(1)),
            ..Default::default()
        };
        assert!(stat_unchanged(&st, &stat, "k", now));
        assert!(!stat_unchanged(&st, &stat, "other", now));
        assert!(!stat_unchanged(&st, &stat, "k", now + Duration::hours(24)));
        let racy = StatKey {
            mtime_ns: (now - Duration::hours(1)).timestamp_nanos_opt().unwrap(),
            ..stat
        };
        st.stat = Some(racy);
        assert!(!stat_unchanged(&st, &racy, "k", now));
        assert!(member_unchanged(&stat, &stat, st.hashed_at));
        assert!(!member_unchanged(
            &stat,
            &StatKey { size: 4, ..stat },
            st.hashed_at
        ));
    }

    #[test]
    fn size_change_reads_well() {
        assert_eq!(size_change(11000, 421), "11000 → 421 bytes (-96%)");
        assert_eq!(size_change(100, 150), "100 → 150 bytes (+50%)");
        assert_eq!(size_change(0, 5), "0 → 5 bytes");
    }

    #[test]
    fn alert_texts_name_file_problem_and_command() {
        let root = Path::new("/srv/aj");
        let live = Path::new("/h/.openclaw/openclaw.json");
        let t = unreadable_text(
            root,
            live,
            "openclaw.json",
            "it is a directory, not a file",
            None,
        );
        assert!(
            t.contains("cannot be read: it is a directory") && t.contains("chmod 600"),
            "{t}"
        );
        let t = invalid_text(
            root,
            live,
            "openclaw.json",
            "required key `gateway.mode` is missing",
            10,
            None,
        );
        assert!(t.ends_with("nothing to restore."), "{t}");
        assert!(missing_text(root, live, "openclaw.json", None).contains("is missing"));
    }
}

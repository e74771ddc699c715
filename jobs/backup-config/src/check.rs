//! The hourly run: for each watched file, read it, hash it, judge it, snapshot every new valid
//! version, alert once per distinct bad content, optionally auto-restore, and prune snapshots.
//!
//! Order of effects for a new version: snapshot file written durably → recorded in state
//! (checkpoint) → last good updated. A run killed in between leaves an untracked snapshot file
//! that the next run adopts instead of writing the same content twice. The live file is never
//! written here, except by an enabled auto-restore (see [`crate::restore`]).

use crate::config::{Config, FileConfig};
use crate::data::{Data, FileState, Snapshot, StatKey, Status, Validity};
use crate::retention::{self, Item, Policy};
use crate::store;
use crate::validate::{self, Verdict};
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use common::{Ctx, Delivery, Outcome, Severity};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A good file is re-read at least this often even when its stat is unchanged.
const REHASH_HOURS: i64 = 24;
/// A stat is trusted only if the file's last change was this long before it was hashed.
const RACY_NS: i64 = 2_000_000_000;

/// "Once per distinct content": the dedup interval of content-keyed alerts.
const ONCE: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// What one run did, for the outcome and summary.
#[derive(Debug, Default)]
struct Report {
    parts: Vec<String>,
    errors: Vec<String>,
    new_problems: usize,
    changed: usize,
}

pub fn run(ctx: &mut Ctx<Data>, cfg: &Config, accept: bool) -> Result<Outcome> {
    crate::restore::recover_pending(ctx)?;
    let mut report = Report::default();
    for fc in &cfg.files {
        if ctx.should_stop() {
            report.parts.push(format!(
                "stopped before {} ({})",
                fc.name(),
                ctx.stop_reason().unwrap_or_default()
            ));
            break;
        }
        ctx.metric_add("files_checked", 1);
        check_file(ctx, cfg, fc, accept, &mut report)?;
    }
    let bad = ctx
        .state
        .data
        .files
        .values()
        .filter(|f| !matches!(f.status, Status::Good | Status::Unknown))
        .count();
    ctx.metric_set("files_not_good", bad as u64);
    let total: usize = ctx
        .state
        .data
        .files
        .values()
        .map(|f| f.snapshots.len())
        .sum();
    ctx.metric_set("snapshots_stored", total as u64);
    let summary = report.parts.join("; ");
    Ok(if !report.errors.is_empty() {
        Outcome::failed(summary, report.errors.join("; "))
    } else if report.new_problems > 0 {
        Outcome::degraded(summary)
    } else if report.changed > 0 {
        Outcome::ok(summary)
    } else {
        Outcome::noop(summary)
    })
}

fn put(ctx: &mut Ctx<Data>, name: &str, st: &FileState) {
    ctx.state.data.files.insert(name.to_string(), st.clone());
}

fn check_file(
    ctx: &mut Ctx<Data>,
    cfg: &Config,
    fc: &FileConfig,
    accept: bool,
    report: &mut Report,
) -> Result<()> {
    let name = fc.name();
    let live = ctx.paths.resolve(&fc.path);
    let dir = cfg.snapshot_dir(&ctx.paths, fc);
    let now = Utc::now();
    let vkey = fc.validation_key();
    let mut st = ctx.state.data.files.get(&name).cloned().unwrap_or_default();
    st.path = live.display().to_string();
    st.checked_at = Some(now);

    let unreadable =
        |ctx: &mut Ctx<Data>, mut st: FileState, report: &mut Report, e: std::io::Error| {
            let msg = format!("cannot read {}: {e}", live.display());
            st.status = Status::Error;
            st.problem = Some(msg.clone());
            put(ctx, &name, &st);
            report.parts.push(format!("{name}: unreadable"));
            report.errors.push(msg);
        };
    // stat before reading: a change after this point shows in the next run's stat.
    let meta = match std::fs::metadata(&live) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return file_missing(ctx, cfg, fc, &live, st, report);
        }
        Err(e) => {
            unreadable(ctx, st, report, e);
            return Ok(());
        }
    };
    let stat = StatKey::of(&meta);
    st.mode = Some(meta.mode() & 0o7777);
    st.uid = Some(meta.uid());
    st.gid = Some(meta.gid());
    ctx.forget_effect(&common::alert::effect_key(&format!("missing:{name}")));
    if stat_unchanged(&st, &stat, &vkey, now) && !accept {
        // Fast path: same file, same size and change times as when it was hashed and found
        // good; its mtime was well before that hash, so no write can hide in the same tick.
        if let Some(sha) = st.current_sha256.clone()
            && let Some(s) = st.snapshot_mut(&sha)
        {
            s.last_seen_at = now;
            put(ctx, &name, &st);
            report.parts.push(format!("{name}: unchanged"));
            return prune(ctx, cfg, &name, &dir, now);
        }
    }
    // Temp files of killed runs and restores are swept on this (slower) path only: it is taken
    // whenever the live file changed, and at least once a day.
    sweep_temps(ctx, &live, &dir)?;
    let bytes = match std::fs::read(&live) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return file_missing(ctx, cfg, fc, &live, st, report);
        }
        Err(e) => {
            unreadable(ctx, st, report, e);
            return Ok(());
        }
    };
    st.stat = Some(stat);
    st.hashed_at = Some(now);
    let sha = store::sha256_hex(&bytes);
    let size = bytes.len() as u64;
    let same = st.current_sha256.as_deref() == Some(sha.as_str()) && st.validation_key == vkey;
    if !same {
        st.changed_at = Some(now);
    }
    st.current_sha256 = Some(sha.clone());
    st.current_size = Some(size);
    st.validation_key = vkey;

    // Unchanged content keeps its verdict (no re-parse, no validator run).
    let cached = same
        && matches!(
            st.status,
            Status::Good | Status::Suspicious | Status::Invalid
        );
    let verdict = if cached {
        match st.status {
            Status::Invalid => Verdict::Invalid(st.problem.clone().unwrap_or_default()),
            _ => Verdict::Valid,
        }
    } else {
        let v = validate::check_content(&bytes, fc);
        match (&v, &fc.validator) {
            (Verdict::Valid, Some(argv)) => {
                match validate::run_validator(argv, fc.validator_timeout_secs, &live) {
                    Ok(v) => v,
                    Err(e) => {
                        let msg = format!("{name}: {}", common::exit::one_line(&e));
                        st.status = Status::Error;
                        st.problem = Some(msg.clone());
                        put(ctx, &name, &st);
                        report.parts.push(format!("{name}: not judged"));
                        report.errors.push(msg);
                        return Ok(());
                    }
                }
            }
            _ => v,
        }
    };

    match verdict {
        Verdict::Valid => {
            let last_good = st.last_good_snapshot().cloned();
            let already_good = st
                .snapshot(&sha)
                .is_some_and(|s| s.validity == Validity::Good);
            let shrunk = last_good
                .as_ref()
                .filter(|g| g.sha256 != sha && (size as f64) < fc.min_size_ratio * g.size as f64);
            let validity = match shrunk {
                Some(_) if !accept && !already_good => Validity::Suspicious,
                _ => Validity::Good,
            };
            let overridden = accept && shrunk.is_some() && !already_good;
            let new = record_snapshot(
                ctx, &dir, &name, &mut st, &bytes, &sha, validity, overridden, now,
            )?;
            if new {
                report.changed += 1;
            }
            st.invalid_runs = 0;
            st.invalid_since = None;
            match validity {
                Validity::Good => {
                    let was_good =
                        st.status == Status::Good && st.last_good.as_deref() == Some(&sha);
                    st.status = Status::Good;
                    st.problem = None;
                    st.last_good = Some(sha.clone());
                    put(ctx, &name, &st);
                    clear_alerts(ctx, &name);
                    report.parts.push(if new {
                        format!(
                            "{name}: snapshot {} ({size} bytes)",
                            store::snapshot_id(now, &sha)
                        )
                    } else if was_good {
                        format!("{name}: unchanged")
                    } else {
                        report.changed += 1;
                        format!("{name}: good again ({})", &sha[..store::PREFIX_LEN])
                    });
                }
                Validity::Suspicious => {
                    let g = last_good.as_ref();
                    let change = g.map(|g| size_change(g.size, size)).unwrap_or_default();
                    let problem = format!(
                        "much smaller than the last good version ({change}, threshold {:.0}%)",
                        fc.min_size_ratio * 100.0
                    );
                    st.status = Status::Suspicious;
                    st.problem = Some(problem.clone());
                    put(ctx, &name, &st);
                    let text = format!(
                        "{} parses but is {problem}; it was kept as a suspicious snapshot and NOT taken as the \
                         new last good version. If the edit is intended run `backup-config --root {} --accept`; \
                         otherwise restore the last good version{} with `backup-config --root {} restore {name}`.",
                        live.display(),
                        ctx.paths.root.display(),
                        g.map(|g| format!(" ({})", g.id)).unwrap_or_default(),
                        ctx.paths.root.display(),
                    );
                    let key = format!("suspicious:{name}:{}", &sha[..store::PREFIX_LEN]);
                    if ctx.alert_with_interval(&key, Severity::Warning, &text, Some(ONCE))?
                        != Delivery::Suppressed
                    {
                        report.new_problems += 1;
                    }
                    report
                        .parts
                        .push(format!("{name}: suspicious size drop ({change})"));
                }
            }
        }
        Verdict::Invalid(reason) => {
            st.status = Status::Invalid;
            st.problem = Some(reason.clone());
            st.invalid_runs += 1;
            st.invalid_since.get_or_insert(now);
            put(ctx, &name, &st);
            let g = st.last_good_snapshot().cloned();
            let text = invalid_text(&ctx.paths.root, &live, &name, &reason, size, g.as_ref());
            let key = format!("invalid:{name}:{}", &sha[..store::PREFIX_LEN]);
            if ctx.alert_with_interval(&key, Severity::Critical, &text, Some(ONCE))?
                != Delivery::Suppressed
            {
                report.new_problems += 1;
                ctx.metric_add("invalid_versions_seen", 1);
            } else {
                log::info!("{name} is still invalid ({reason}); already alerted for this content");
            }
            report.parts.push(format!("{name}: invalid"));
            maybe_auto_restore(ctx, cfg, fc, &name, report)?;
        }
    }
    prune(ctx, cfg, &name, &dir, now)
}

/// Remove temp files left by killed runs (snapshot directory) and restores (next to the file).
pub fn sweep_temps(ctx: &Ctx<Data>, live: &Path, dir: &Path) -> Result<()> {
    if ctx.dry_run {
        return Ok(());
    }
    for p in store::sweep_temps_of(live) {
        log::info!(
            "removed leftover temp file {} from a killed restore",
            p.display()
        );
    }
    if dir.is_dir() {
        for p in common::fsutil::sweep_temp_files(dir)? {
            log::info!(
                "removed leftover temp file {} from a killed run",
                p.display()
            );
        }
    }
    Ok(())
}

/// Whether the file can be taken as unchanged and good without reading it.
fn stat_unchanged(st: &FileState, stat: &StatKey, vkey: &str, now: DateTime<Utc>) -> bool {
    let Some(hashed) = st.hashed_at else {
        return false;
    };
    let hashed_ns = hashed.timestamp_nanos_opt().unwrap_or(0);
    st.status == Status::Good
        && st.validation_key == vkey
        && st.stat.as_ref() == Some(stat)
        && st.current_sha256.is_some()
        && (now - hashed) < chrono::Duration::hours(REHASH_HOURS)
        && stat.mtime_ns.max(stat.ctime_ns) < hashed_ns - RACY_NS
}

fn file_missing(
    ctx: &mut Ctx<Data>,
    cfg: &Config,
    fc: &FileConfig,
    live: &Path,
    mut st: FileState,
    report: &mut Report,
) -> Result<()> {
    let name = fc.name();
    let now = Utc::now();
    if st.status != Status::Missing {
        st.changed_at = Some(now);
    }
    st.status = Status::Missing;
    st.problem = Some("the file does not exist".into());
    st.current_sha256 = None;
    st.current_size = None;
    st.invalid_runs += 1;
    st.invalid_since.get_or_insert(now);
    put(ctx, &name, &st);
    let restore = match st.last_good_snapshot() {
        Some(g) => format!(
            "The last good version is snapshot {} ({} bytes, {}); restore it with `backup-config --root {} restore {name}`.",
            g.id,
            g.size,
            fmt_time(g.last_seen_at),
            ctx.paths.root.display()
        ),
        None => "No good snapshot of it exists yet.".into(),
    };
    let text = format!(
        "{} is missing: the file does not exist (deleted or moved?). The gateway cannot start without it. {restore}",
        live.display()
    );
    if ctx.alert_with_interval(
        &format!("missing:{name}"),
        Severity::Critical,
        &text,
        Some(ONCE),
    )? != Delivery::Suppressed
    {
        report.new_problems += 1;
    }
    report.parts.push(format!("{name}: missing"));
    maybe_auto_restore(ctx, cfg, fc, &name, report)?;
    let dir = cfg.snapshot_dir(&ctx.paths, fc);
    prune(ctx, cfg, &name, &dir, now)
}

/// Make sure a snapshot of this content exists and is recorded; returns whether a new file was
/// written (or an untracked one adopted). A write failure fails the run, naming the directory.
#[allow(clippy::too_many_arguments)]
pub fn record_snapshot(
    ctx: &mut Ctx<Data>,
    dir: &Path,
    name: &str,
    st: &mut FileState,
    bytes: &[u8],
    sha: &str,
    validity: Validity,
    accepted: bool,
    now: DateTime<Utc>,
) -> Result<bool> {
    if let Some(s) = st.snapshot_mut(sha) {
        s.last_seen_at = now;
        if validity == Validity::Good && s.validity == Validity::Suspicious {
            s.validity = Validity::Good;
            if accepted {
                s.accepted_at = Some(now);
                log::info!("{name}: snapshot {} accepted as good (--accept)", s.id);
            }
        }
        return Ok(false);
    }
    let (id, adopted) = match store::find_untracked(dir, sha) {
        Some(id) => (id, true),
        None => (store::snapshot_id(now, sha), false),
    };
    if ctx.dry_run {
        log::warn!(
            "dry run: would snapshot {name} ({} bytes) as {}",
            bytes.len(),
            dir.join(format!("{id}.json")).display()
        );
        return Ok(true);
    }
    if adopted {
        log::info!("{name}: adopted untracked snapshot {id} (left by a killed run)");
    } else {
        store::write(dir, &id, bytes).with_context(|| {
            format!(
                "cannot write a snapshot of {name} into {} (disk full or directory not writable?); \
                 the live config was not touched; fix the snapshot directory and rerun",
                dir.display()
            )
        })?;
        log::info!(
            "{name}: snapshot {id} ({} bytes, {})",
            bytes.len(),
            validity.as_str()
        );
        ctx.metric_add("snapshots_written", 1);
    }
    st.snapshots.push(Snapshot {
        id,
        sha256: sha.to_string(),
        size: bytes.len() as u64,
        taken_at: now,
        last_seen_at: now,
        validity,
        accepted_at: accepted.then_some(now),
    });
    // Recorded in state at the end of the run (or by the caller's checkpoint); a run killed
    // before that leaves an untracked file that the next run adopts (`find_untracked`).
    put(ctx, name, st);
    Ok(true)
}

/// Forget the per-content alert records of a file once it is good again, so the same bad
/// content returning later is a new incident (and the alert map stays bounded).
fn clear_alerts(ctx: &mut Ctx<Data>, name: &str) {
    let prefixes = [
        format!("invalid:{name}:"),
        format!("suspicious:{name}:"),
        format!("missing:{name}"),
        format!("auto-restore:{name}:"),
    ]
    .map(|p| common::alert::effect_key(&p));
    ctx.forget_effects("alert/", |k, _| {
        !prefixes.iter().any(|p| k.starts_with(p.as_str()))
    });
}

fn maybe_auto_restore(
    ctx: &mut Ctx<Data>,
    cfg: &Config,
    fc: &FileConfig,
    name: &str,
    report: &mut Report,
) -> Result<()> {
    if !cfg.auto_restore {
        return Ok(());
    }
    let Some(st) = ctx.state.data.files.get(name).cloned() else {
        return Ok(());
    };
    if st.invalid_runs < cfg.auto_restore_after_runs {
        log::info!(
            "{name}: not good for {} of {} runs before an automatic restore",
            st.invalid_runs,
            cfg.auto_restore_after_runs
        );
        return Ok(());
    }
    let Some(snap) = st.last_good_snapshot().cloned() else {
        log::warn!("{name}: auto-restore is on but there is no good snapshot to restore");
        return Ok(());
    };
    let done = crate::restore::restore(ctx, cfg, fc, &snap, true)?;
    report.changed += 1;
    report
        .parts
        .push(format!("{name}: auto-restored {}", snap.id));
    let text = format!("AUTOMATIC RESTORE: {}", done.message);
    ctx.alert_with_interval(
        &format!("auto-restore:{name}:{}", &snap.sha256[..store::PREFIX_LEN]),
        Severity::Critical,
        &text,
        Some(Duration::ZERO),
    )?;
    ctx.metric_add("auto_restores", 1);
    Ok(())
}

/// Apply retention: drop pruned snapshots from state (checkpoint), then delete their files.
fn prune(
    ctx: &mut Ctx<Data>,
    cfg: &Config,
    name: &str,
    dir: &Path,
    now: DateTime<Utc>,
) -> Result<()> {
    let Some(st) = ctx.state.data.files.get(name) else {
        return Ok(());
    };
    let items: Vec<Item> = st
        .snapshots
        .iter()
        .map(|s| Item {
            at: s.last_seen_at,
            protected: st.last_good.as_deref() == Some(s.sha256.as_str())
                || st.current_sha256.as_deref() == Some(s.sha256.as_str()),
        })
        .collect();
    let policy = Policy {
        keep_last: cfg.keep_last,
        daily_days: cfg.keep_daily_days,
        weekly_weeks: cfg.keep_weekly_weeks,
    };
    let keep = retention::plan(&items, now, policy);
    if keep.iter().all(Option::is_some) {
        return Ok(());
    }
    let mut st = st.clone();
    let mut pruned = Vec::new();
    let mut kept = Vec::new();
    for (s, k) in st.snapshots.drain(..).zip(keep) {
        if k.is_some() {
            kept.push(s);
        } else {
            pruned.push(s);
        }
    }
    if ctx.dry_run {
        for s in &pruned {
            log::warn!(
                "dry run: would prune snapshot {name}/{} (outside retention)",
                s.id
            );
        }
        return Ok(());
    }
    st.snapshots = kept;
    put(ctx, name, &st);
    ctx.checkpoint()?;
    for s in &pruned {
        store::remove(dir, s)?;
        log::info!(
            "pruned snapshot {name}/{} ({} bytes, last live {}): outside retention (last {}, {} days, {} weeks)",
            s.id,
            s.size,
            fmt_time(s.last_seen_at),
            cfg.keep_last,
            cfg.keep_daily_days,
            cfg.keep_weekly_weeks
        );
    }
    ctx.metric_add("snapshots_pruned", pruned.len() as u64);
    Ok(())
}

fn invalid_text(
    root: &Path,
    live: &Path,
    name: &str,
    reason: &str,
    size: u64,
    good: Option<&Snapshot>,
) -> String {
    let mut t = format!("{} is invalid: {reason}.", live.display());
    match good {
        Some(g) => {
            t.push_str(&format!(
                " Size {} compared with the last good version. The last good version is snapshot {} \
                 (last live {}); restore it with `backup-config --root {} restore {name}` \
                 (the broken file is kept as {}.clobbered.<UTC time>).",
                size_change(g.size, size),
                g.id,
                fmt_time(g.last_seen_at),
                root.display(),
                live.display()
            ));
        }
        None => t.push_str(&format!(
            " Size {size} bytes. No good snapshot of it exists yet, so there is nothing to restore."
        )),
    }
    t
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

/// The live path of a configured file.
pub fn live_path(ctx_root: &common::Paths, fc: &FileConfig) -> PathBuf {
    ctx_root.resolve(&fc.path)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn size_change_reads_well() {
        assert_eq!(size_change(11000, 421), "11000 → 421 bytes (-96%)");
        assert_eq!(size_change(100, 150), "100 → 150 bytes (+50%)");
        assert_eq!(size_change(0, 5), "0 → 5 bytes");
    }
}

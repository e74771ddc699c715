//! Putting a snapshot back: `backup-config restore [SNAPSHOT]` (also used by poll-teams'
//! `/restore`) and the optional auto-restore.
//!
//! Order of effects, each durable before the next:
//! 1. the snapshot is re-read and its hash checked (a damaged snapshot is never restored);
//! 2. the live content, if valid and not yet snapshotted, becomes a snapshot (so it can be
//!    restored back: a restore of a restore);
//! 3. the live content is copied to `<file>.clobbered.<UTC timestamp>` (0600, fsynced);
//! 4. the restore is recorded in state as pending (checkpoint);
//! 5. the live file is replaced atomically, keeping its mode and owner;
//! 6. the restore is recorded as done (checkpoint).
//!
//! A kill at any instant leaves the live file holding either its old or its new bytes, never a
//! mix (temp file + rename). A pending restore found by the next start is resolved by hashing
//! the live file: done, not applied, or outcome unknown; it is never replayed.

use crate::check::{fmt_time, record_snapshot, size_change};
use crate::config::{Config, FileConfig};
use crate::data::{Data, PendingRestore, RESTORES_KEPT, RestoreRecord, Snapshot, Status, Validity};
use crate::store;
use crate::validate::{self, Verdict};
use anyhow::{Context, Result};
use chrono::Utc;
use common::fsutil::{self, FileOptions};
use common::{Ctx, Exit, coded, data_error};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What a restore did (or would do).
#[derive(Debug)]
pub struct Done {
    /// One paragraph for stdout and alerts.
    pub message: String,
}

/// Pick the file and snapshot named on the command line. `sel` may be a configured file's name
/// (→ its last good snapshot), a snapshot id or file name (optionally `<name>/` first), or a
/// unique prefix (≥ 4 hex digits) of a snapshot's sha256. Nothing → the last good snapshot of
/// `--file` or of the first configured file.
pub fn select<'c>(
    cfg: &'c Config,
    data: &Data,
    sel: Option<&str>,
    file: Option<&str>,
) -> Result<(&'c FileConfig, Snapshot)> {
    let names: Vec<String> = cfg.files.iter().map(FileConfig::name).collect();
    let by_name = |n: &str| cfg.files.iter().find(|f| f.name() == n);
    let scope: Option<&FileConfig> = match file {
        Some(f) => Some(by_name(f).ok_or_else(|| {
            coded(
                Exit::Usage,
                format!(
                    "no watched file is named `{f}` (watched: {})",
                    names.join(", ")
                ),
            )
        })?),
        None => None,
    };
    let last_good = |fc: &'c FileConfig| -> Result<(&'c FileConfig, Snapshot)> {
        let name = fc.name();
        data.files
            .get(&name)
            .and_then(|st| st.last_good_snapshot())
            .cloned()
            .map(|s| (fc, s))
            .ok_or_else(|| {
                data_error(format!(
                    "there is no good snapshot of {name} yet: nothing to restore (see `backup-config list {name}`)"
                ))
            })
    };
    let Some(sel) = sel else {
        let fc = match scope {
            Some(fc) => fc,
            None => cfg
                .files
                .first()
                .ok_or_else(|| data_error("no files are configured"))?,
        };
        return last_good(fc);
    };
    if let Some(fc) = by_name(sel) {
        return last_good(fc);
    }
    let mut s = sel.rsplit('/').next().unwrap_or(sel);
    s = s.strip_suffix(".json").unwrap_or(s);
    let mut hits = Vec::new();
    for fc in &cfg.files {
        if scope.is_some_and(|sc| sc.name() != fc.name()) {
            continue;
        }
        if let Some((prefix, _)) = sel.split_once('/')
            && !sel.starts_with('/')
            && prefix != fc.name()
        {
            continue;
        }
        let Some(st) = data.files.get(&fc.name()) else {
            continue;
        };
        for snap in &st.snapshots {
            let hash_hit = s.len() >= 4
                && s.bytes().all(|b| b.is_ascii_hexdigit())
                && snap.sha256.starts_with(&s.to_ascii_lowercase());
            if snap.id == s || hash_hit {
                hits.push((fc, snap.clone()));
            }
        }
    }
    match hits.len() {
        0 => Err(coded(
            Exit::Usage,
            format!("no snapshot matches `{sel}`: run `backup-config list` to see them"),
        )),
        1 => Ok(hits.remove(0)),
        _ => Err(coded(
            Exit::Usage,
            format!(
                "`{sel}` matches {} snapshots ({}): give more of the id",
                hits.len(),
                hits.iter()
                    .map(|(f, s)| format!("{}/{}", f.name(), s.id))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// `<file>.clobbered.<UTC timestamp>`, with `.N` added if that name is taken.
fn clobbered_path(live: &Path) -> PathBuf {
    let ts = Utc::now().format(store::TS_FORMAT);
    let base = format!("{}.clobbered.{ts}", live.display());
    let mut p = PathBuf::from(&base);
    let mut n = 1;
    while p.exists() {
        p = PathBuf::from(format!("{base}.{n}"));
        n += 1;
    }
    p
}

/// Write with the given owner, or without changing owner if that is not permitted.
fn write_with_owner(path: &Path, bytes: &[u8], mode: u32, owner: Option<(u32, u32)>) -> Result<()> {
    let opts = FileOptions {
        mode: Some(mode),
        owner,
    };
    match fsutil::write_atomic_with(path, bytes, opts) {
        Ok(()) => Ok(()),
        Err(e) if owner.is_some() => {
            log::warn!(
                "could not keep the owner of {} ({}); writing it as the current user",
                path.display(),
                common::exit::one_line(&e)
            );
            fsutil::write_atomic_with(
                path,
                bytes,
                FileOptions {
                    mode: Some(mode),
                    owner: None,
                },
            )
        }
        Err(e) => Err(e),
    }
}

/// Restore `snap` over the live file of `fc`. See the module docs for the order of effects.
pub fn restore(
    ctx: &mut Ctx<Data>,
    cfg: &Config,
    fc: &FileConfig,
    snap: &Snapshot,
    automatic: bool,
) -> Result<Done> {
    let name = fc.name();
    let live = ctx.paths.resolve(&fc.path);
    let dir = cfg.snapshot_dir(&ctx.paths, fc);
    if !ctx.dry_run {
        for p in store::sweep_temps_of(&live) {
            log::info!(
                "removed leftover temp file {} from a killed restore",
                p.display()
            );
        }
    }
    let bytes = store::read_verified(&dir, snap).map_err(|d| {
        data_error(format!(
            "snapshot {name}/{} is damaged ({d}): it was not restored and {} was not touched; \
             pick another one from `backup-config list {name}` (and run `backup-config verify`)",
            snap.id,
            live.display()
        ))
    })?;
    let current = match std::fs::read(&live) {
        Ok(b) => Some(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(e)
                .with_context(|| format!("cannot read {} before restoring it", live.display()));
        }
    };
    let current_sha = current.as_deref().map(store::sha256_hex);
    let what = format!(
        "snapshot {} (last live {}, {} bytes, {})",
        snap.id,
        fmt_time(snap.last_seen_at),
        snap.size,
        snap.validity.as_str()
    );
    if current_sha.as_deref() == Some(snap.sha256.as_str()) {
        return Ok(Done {
            message: format!(
                "Nothing to restore: {} already holds {what}; it was left untouched.",
                live.display()
            ),
        });
    }
    let mut st = ctx.state.data.files.get(&name).cloned().unwrap_or_default();
    let verdict = current.as_deref().map(|c| validate::check_content(c, fc));
    let current_desc = match (&current, &verdict) {
        (None, _) => "missing".to_string(),
        (Some(c), Some(Verdict::Invalid(why))) => format!("{} bytes, invalid: {why}", c.len()),
        (Some(c), _) => format!("{} bytes, valid", c.len()),
    };
    if ctx.dry_run {
        return Ok(Done {
            message: format!(
                "Dry run: would restore {} from {what}. The current file ({current_desc}) would be kept as {}.clobbered.<UTC time>. Nothing was changed.",
                live.display(),
                live.display()
            ),
        });
    }

    // 2. keep a valid live version restorable.
    let mut undo = String::new();
    if let (Some(c), Some(Verdict::Valid), Some(sha)) = (&current, &verdict, &current_sha) {
        let now = Utc::now();
        let shrunk = st
            .last_good_snapshot()
            .is_some_and(|g| (c.len() as f64) < fc.min_size_ratio * g.size as f64);
        let validity = if shrunk {
            Validity::Suspicious
        } else {
            Validity::Good
        };
        record_snapshot(ctx, &dir, &name, &mut st, c, sha, validity, false, now)?;
        if let Some(s) = st.snapshot(sha) {
            undo = format!(
                " It is also snapshot {}: `backup-config restore {}` puts it back.",
                s.id, s.id
            );
        }
    }

    // 3. the clobbered copy, durable before anything replaces the live file.
    let (mode, owner) = match std::fs::metadata(&live) {
        Ok(m) => (m.mode() & 0o7777, Some((m.uid(), m.gid()))),
        Err(_) => (st.mode.unwrap_or(0o600), st.uid.zip(st.gid)),
    };
    let clobbered = match &current {
        Some(c) => {
            let p = clobbered_path(&live);
            write_with_owner(&p, c, 0o600, owner).with_context(|| {
                format!(
                    "cannot keep the current {} as {} (disk full?); the restore was NOT done and the file is untouched",
                    live.display(),
                    p.display()
                )
            })?;
            Some(p)
        }
        None => None,
    };

    // 4. intent.
    ctx.state.data.pending_restore = Some(PendingRestore {
        file: name.clone(),
        snapshot: snap.id.clone(),
        target_sha256: snap.sha256.clone(),
        previous_sha256: current_sha.clone(),
        clobbered: clobbered.as_ref().map(|p| p.display().to_string()),
        started_at: Utc::now(),
        automatic,
    });
    ctx.checkpoint()?;

    // 5. the replace.
    if let Some(parent) = live.parent() {
        fsutil::ensure_private_dir(parent)?;
    }
    let replaced = if current.is_some() {
        fsutil::write_atomic_preserving(&live, &bytes)
    } else {
        write_with_owner(&live, &bytes, mode, owner)
    };
    if let Err(e) = replaced {
        ctx.state.data.pending_restore = None;
        ctx.checkpoint()?;
        return Err(e.context(format!(
            "restore of {} from {} failed; the file keeps its previous content",
            live.display(),
            snap.id
        )));
    }

    // 6. done.
    let now = Utc::now();
    st = ctx.state.data.files.get(&name).cloned().unwrap_or(st);
    st.path = live.display().to_string();
    st.current_sha256 = Some(snap.sha256.clone());
    st.current_size = Some(snap.size);
    st.changed_at = Some(now);
    st.invalid_runs = 0;
    st.invalid_since = None;
    st.problem = None;
    st.validation_key = fc.validation_key();
    st.stat = None;
    st.mode = Some(mode);
    if let Some((u, g)) = owner {
        st.uid = Some(u);
        st.gid = Some(g);
    }
    if let Some(s) = st.snapshot_mut(&snap.sha256) {
        s.last_seen_at = now;
    }
    match snap.validity {
        Validity::Good => {
            st.status = Status::Good;
            st.last_good = Some(snap.sha256.clone());
        }
        Validity::Suspicious => st.status = Status::Suspicious,
    }
    ctx.state.data.files.insert(name.clone(), st);
    let invalid = common::alert::effect_key(&format!("invalid:{name}:"));
    let missing = common::alert::effect_key(&format!("missing:{name}"));
    ctx.forget_effects("alert/", |k, _| !(k.starts_with(&invalid) || k == missing));
    ctx.state.data.pending_restore = None;
    push_record(
        &mut ctx.state.data,
        RestoreRecord {
            file: name.clone(),
            snapshot: snap.id.clone(),
            at: now,
            clobbered: clobbered.as_ref().map(|p| p.display().to_string()),
            automatic,
            result: "done".into(),
        },
    );
    ctx.checkpoint()?;
    ctx.metric_add("restores", 1);

    let kept = match &clobbered {
        Some(p) => format!(
            " The file it replaced ({current_desc}) is kept as {}.{undo}",
            p.display()
        ),
        None => " The file was missing, so there was nothing to keep.".into(),
    };
    let size = match &current {
        Some(c) => format!(" Size {}.", size_change(c.len() as u64, snap.size)),
        None => String::new(),
    };
    let message = format!(
        "Restored {} from {what}.{kept}{size} Mode {:04o}{} kept. Restart the gateway if it is running so it reads the restored file.",
        live.display(),
        mode,
        owner
            .map(|(u, g)| format!(" and owner {u}:{g}"))
            .unwrap_or_default()
    );
    log::info!("{message}");
    Ok(Done { message })
}

fn push_record(data: &mut Data, rec: RestoreRecord) {
    data.restores.push(rec);
    while data.restores.len() > RESTORES_KEPT {
        data.restores.remove(0);
    }
}

/// Resolve a restore left pending by a killed process: by the live file's hash, it was done,
/// not applied, or its outcome is unknown. Never replayed.
pub fn recover_pending(ctx: &mut Ctx<Data>) -> Result<()> {
    let Some(p) = ctx.state.data.pending_restore.clone() else {
        return Ok(());
    };
    let live = ctx
        .state
        .data
        .files
        .get(&p.file)
        .map(|f| PathBuf::from(&f.path));
    if !ctx.dry_run
        && let Some(l) = &live
    {
        for t in store::sweep_temps_of(l) {
            log::info!(
                "removed leftover temp file {} from a killed restore",
                t.display()
            );
        }
    }
    let now_sha = live
        .as_ref()
        .and_then(|l| std::fs::read(l).ok())
        .map(|b| store::sha256_hex(&b));
    let result = if now_sha.as_deref() == Some(p.target_sha256.as_str()) {
        "done (confirmed after an interrupted run)"
    } else if now_sha == p.previous_sha256 {
        "not applied (interrupted before the replace)"
    } else {
        "outcome unknown (the file changed since)"
    };
    log::warn!(
        "a restore of {} from {} started {} was interrupted: {result}{}",
        p.file,
        p.snapshot,
        fmt_time(p.started_at),
        p.clobbered
            .as_ref()
            .map(|c| format!("; the previous content is kept as {c}"))
            .unwrap_or_default()
    );
    if ctx.dry_run {
        return Ok(());
    }
    ctx.state.data.pending_restore = None;
    push_record(
        &mut ctx.state.data,
        RestoreRecord {
            file: p.file,
            snapshot: p.snapshot,
            at: p.started_at,
            clobbered: p.clobbered,
            automatic: p.automatic,
            result: result.into(),
        },
    );
    ctx.checkpoint()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::data::FileState;
    use chrono::TimeZone;

    fn snap(id_ts: &str, sha: &str) -> Snapshot {
        let at = Utc.with_ymd_and_hms(2026, 2, 20, 22, 7, 39).unwrap();
        Snapshot {
            id: format!("{id_ts}-{}", &sha[..12]),
            sha256: sha.to_string(),
            size: 10,
            taken_at: at,
            last_seen_at: at,
            validity: Validity::Good,
            accepted_at: None,
        }
    }

    fn setup() -> (Config, Data) {
        let mut cfg = Config::default();
        cfg.files.push(FileConfig {
            path: "/x/jobs.json".into(),
            required_keys: vec![],
            ..Default::default()
        });
        let mut data = Data::default();
        let a = "aaaa1111".repeat(8);
        let b = "aaaa2222".repeat(8);
        let c = "cccc3333".repeat(8);
        data.files.insert(
            "openclaw.json".into(),
            FileState {
                snapshots: vec![snap("20260101T000000Z", &a), snap("20260102T000000Z", &b)],
                last_good: Some(b.clone()),
                ..Default::default()
            },
        );
        data.files.insert(
            "jobs.json".into(),
            FileState {
                snapshots: vec![snap("20260103T000000Z", &c)],
                last_good: Some(c.clone()),
                ..Default::default()
            },
        );
        (cfg, data)
    }

    fn pick(
        cfg: &Config,
        data: &Data,
        sel: Option<&str>,
        file: Option<&str>,
    ) -> Result<(String, String)> {
        select(cfg, data, sel, file).map(|(f, s)| (f.name(), s.id))
    }

    #[test]
    fn selection_by_default_name_id_and_prefix() {
        let (cfg, data) = setup();
        let last_good = (
            "openclaw.json".to_string(),
            "20260102T000000Z-aaaa2222aaaa".to_string(),
        );
        assert_eq!(pick(&cfg, &data, None, None).unwrap(), last_good);
        assert_eq!(
            pick(&cfg, &data, Some("openclaw.json"), None).unwrap(),
            last_good
        );
        assert_eq!(
            pick(&cfg, &data, None, Some("jobs.json")).unwrap().1,
            "20260103T000000Z-cccc3333cccc"
        );
        assert_eq!(
            pick(
                &cfg,
                &data,
                Some("openclaw.json/20260101T000000Z-aaaa1111aaaa.json"),
                None
            )
            .unwrap()
            .1,
            "20260101T000000Z-aaaa1111aaaa"
        );
        assert_eq!(
            pick(&cfg, &data, Some("aaaa1"), None).unwrap().1,
            "20260101T000000Z-aaaa1111aaaa"
        );
        assert_eq!(
            pick(&cfg, &data, Some("cccc"), None).unwrap().0,
            "jobs.json"
        );
    }

    #[test]
    fn ambiguous_unknown_and_empty_are_errors() {
        let (cfg, mut data) = setup();
        let e = pick(&cfg, &data, Some("aaaa"), None).unwrap_err();
        assert!(e.to_string().contains("matches 2 snapshots"), "{e}");
        assert_eq!(common::exit::code_of(&e), Exit::Usage);
        let e = pick(&cfg, &data, Some("ffff"), None).unwrap_err();
        assert!(e.to_string().contains("no snapshot matches"), "{e}");
        // a prefix scoped to another file does not match
        assert!(pick(&cfg, &data, Some("aaaa1"), Some("jobs.json")).is_err());
        data.files.clear();
        let e = pick(&cfg, &data, None, None).unwrap_err();
        assert_eq!(common::exit::code_of(&e), Exit::DataErr);
        assert!(e.to_string().contains("no good snapshot"), "{e}");
    }
}

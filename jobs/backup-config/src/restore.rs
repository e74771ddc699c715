//! Putting a version back: `backup-config restore [SNAPSHOT]` (also poll-teams' `/restore`)
//! and the optional auto-restore. A version with `$include`s is restored as a set.
//!
//! Order of effects, each durable before the next:
//! 1. the snapshot is re-read and every hash checked (a damaged snapshot is never restored);
//! 2. the live version, if valid and not yet snapshotted, becomes a snapshot (so the restore
//!    can itself be undone);
//! 3. every file that will be replaced is copied to `<backups>/<name>/replaced/<stamp>/`
//!    (0600, fsynced) — ours, never a name the gateway uses next to its config;
//! 4. the plan (each file: path, target hash, previous hash) goes into state and the restore
//!    into the effect journal as `started` (one checkpoint);
//! 5. each file is replaced atomically (temp file, fsync, rename), included files first and
//!    the root last, keeping mode and owner; a symlinked config is restored through the link
//!    (its target is replaced, the link is kept);
//! 6. the journal records `done` and the file's state is updated (checkpoint).
//!
//! A kill at any instant leaves each file holding its old or its new bytes, never a mix. The
//! next run ([`finish_interrupted`]) looks at every file of an interrupted restore: all at the
//! target → done; some at the target and the others as before → finished (the set is made
//! consistent, from the verified snapshot); none replaced → not applied, not repeated; a file
//! with a third content (edited since) → left alone, outcome unknown, reported.

use crate::config::{Config, FileConfig};
use crate::data::{
    Data, RESTORES_KEPT, RestorePlan, RestoreRecord, RestoreStep, Snapshot, Status, Validity,
};
use crate::decide::{fmt_time, size_change};
use crate::store::{self, Content};
use crate::validate::{self, Verdict};
use crate::versions::{self, NewVersion};
use anyhow::{Context, Result, anyhow};
use common::effect::{Act, EffectOutcome, EffectStatus, Verified};
use common::fsutil::{self, FileOptions};
use common::hash::sha256_hex;
use common::{Ctx, data_error};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub use crate::select::select;

/// What a restore did (or would do).
#[derive(Debug)]
pub struct Done {
    /// One paragraph for stdout and alerts.
    pub message: String,
}

/// One file of a restore, as found before it.
#[derive(Debug, Clone)]
struct Target {
    rel: String,
    /// Where it is written (a symlink's target for the root).
    path: PathBuf,
    want: Vec<u8>,
    current: Option<Vec<u8>>,
}

impl Target {
    fn step(&self) -> RestoreStep {
        RestoreStep {
            rel: self.rel.clone(),
            path: self.path.display().to_string(),
            target_sha256: sha256_hex(&self.want),
            previous_sha256: self.current.as_deref().map(sha256_hex),
        }
    }
    fn changes(&self) -> bool {
        self.current.as_deref() != Some(self.want.as_slice())
    }
}

/// Restore `snap` over the live config of `fc`. See the module docs for the order of effects.
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
    let content = read_snapshot(&dir, snap, &file_name(&live), &live, &name)?;
    let targets = targets(&live, &content)?;
    if !ctx.dry_run {
        for t in &targets {
            sweep_beside(&t.path);
        }
        store::sweep_temps(&cfg.replaced_dir(&ctx.paths, fc));
    }
    let what = describe(snap);
    if !targets.iter().any(Target::changes) {
        return Ok(Done {
            message: format!(
                "Nothing to restore: {} already holds {what}; it was left untouched.",
                live.display()
            ),
        });
    }
    let current_desc = describe_current(&targets, fc);
    if ctx.dry_run {
        return Ok(Done {
            message: format!(
                "Dry run: would restore {} from {what}. The current file ({current_desc}) would be kept under {}. Nothing was changed.",
                live.display(),
                cfg.replaced_dir(&ctx.paths, fc).display()
            ),
        });
    }
    let undo = snapshot_live(ctx, cfg, fc, &live)?;
    let kept = keep_replaced(ctx, cfg, fc, &targets)?;
    let key = format!(
        "restore/{name}/{}-{}",
        ctx.now().format(store::TS_FORMAT),
        ctx.run_id
    );
    let plan = RestorePlan {
        file: name.clone(),
        snapshot: snap.id.clone(),
        target_sha256: snap.sha256.clone(),
        steps: targets.iter().map(Target::step).collect(),
        kept: kept.as_ref().map(|p| p.display().to_string()),
        started_at: ctx.now(),
        automatic,
    };
    ctx.state
        .data
        .restore_plans
        .insert(key.clone(), plan.clone());
    let fallback = fallback_mode(ctx, &name);
    let out = ctx
        .effect(
            key.clone(),
            format!("restore {name} from snapshot {}", snap.id),
        )
        .run(|_| apply(&targets, fallback))?;
    settle(ctx, fc, &key, &plan, snap, out)?;
    let message = done_message(
        &live,
        &targets,
        &what,
        kept.as_deref(),
        &current_desc,
        &undo,
    );
    log::info!("{message}");
    Ok(Done { message })
}

/// Read a snapshot for a restore; a damaged one is never restored (exit 65).
fn read_snapshot(
    dir: &Path,
    snap: &Snapshot,
    root_name: &str,
    live: &Path,
    name: &str,
) -> Result<Content> {
    store::read_verified(dir, snap, root_name).map_err(|d| {
        data_error(format!(
            "snapshot {name}/{} is damaged ({d}): it was not restored and {} was not touched; \
             pick another one from `backup-config list {name}` (and run `backup-config verify`)",
            snap.id,
            live.display()
        ))
    })
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "config".into())
}

/// The files a restore of `content` writes, included files first and the root last, with
/// what each holds now.
fn targets(live: &Path, content: &Content) -> Result<Vec<Target>> {
    let dir = live.parent().unwrap_or(Path::new("."));
    let real_dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut out = Vec::new();
    for (rel, bytes) in &content.includes {
        let path = real_dir.join(store::check_rel(rel)?);
        out.push(Target {
            rel: rel.clone(),
            current: read_current(&path)?,
            path,
            want: bytes.clone(),
        });
    }
    let path = link_target(live)?;
    out.push(Target {
        rel: content.root.0.clone(),
        current: read_current(&path)?,
        path,
        want: content.root.1.clone(),
    });
    Ok(out)
}

fn read_current(p: &Path) -> Result<Option<Vec<u8>>> {
    match std::fs::read(p) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => {
            Err(e).with_context(|| format!("cannot read {} before restoring it", p.display()))
        }
    }
}

/// The file a restore writes for `live`: itself, or the file its symlink chain points to
/// (the link is kept: the gateway and dotfile managers keep reading through it).
pub fn link_target(live: &Path) -> Result<PathBuf> {
    let mut p = live.to_path_buf();
    for _ in 0..16 {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let t = std::fs::read_link(&p)?;
                p = match p.parent() {
                    Some(d) if t.is_relative() => d.join(t),
                    _ => t,
                };
            }
            _ => return Ok(p),
        }
    }
    Err(anyhow!(
        "{} is a chain of more than 16 symlinks: not restored; point it at a file",
        live.display()
    ))
}

fn sweep_beside(target: &Path) {
    for p in store::sweep_temps_of(target) {
        log::info!(
            "removed leftover temp file {} from a killed restore",
            p.display()
        );
    }
}

fn describe(snap: &Snapshot) -> String {
    format!(
        "snapshot {} (last live {}, {} bytes{}, {})",
        snap.id,
        fmt_time(snap.last_seen_at),
        snap.size,
        if snap.is_set() {
            format!(" in {} files", snap.members.len())
        } else {
            String::new()
        },
        snap.validity.as_str()
    )
}

/// `missing` / `421 bytes, invalid: …` / `3641 bytes, valid` of the root file now.
fn describe_current(targets: &[Target], fc: &FileConfig) -> String {
    let Some(root) = targets.last() else {
        return "missing".into();
    };
    match &root.current {
        None => "missing".into(),
        Some(c) => match validate::check_content(c, fc) {
            Verdict::Invalid(why) => format!("{} bytes, invalid: {why}", c.len()),
            Verdict::Valid => format!("{} bytes, valid", c.len()),
        },
    }
}

/// Snapshot the live version when it is valid and not stored yet; returns the undo hint.
fn snapshot_live(
    ctx: &mut Ctx<Data>,
    cfg: &Config,
    fc: &FileConfig,
    live: &Path,
) -> Result<String> {
    let Ok(bytes) = std::fs::read(live) else {
        return Ok(String::new());
    };
    let v = crate::observe::version(live, fc, bytes, false);
    let checked = validate::check_version(&v.content.root.1, fc, v.resolved.as_ref());
    if checked.problem.is_some() {
        return Ok(String::new());
    }
    let name = fc.name();
    let dir = cfg.snapshot_dir(&ctx.paths, fc);
    let now = ctx.now();
    let mut st = ctx.state.data.files.get(&name).cloned().unwrap_or_default();
    let shrunk = st
        .last_good_snapshot()
        .is_some_and(|g| (v.content.size() as f64) < fc.min_size_ratio * g.size as f64);
    let validity = if shrunk {
        Validity::Suspicious
    } else {
        Validity::Good
    };
    let nv = NewVersion {
        content: &v.content,
        sha: &v.sha,
        validity,
        accepted: false,
    };
    versions::record(ctx, &dir, &name, &mut st, nv, now)?;
    Ok(st
        .snapshot(&v.sha)
        .map(|s| {
            format!(
                " It is also snapshot {}: `backup-config restore {}` puts it back.",
                s.id, s.id
            )
        })
        .unwrap_or_default())
}

/// Copy every file the restore replaces into `replaced/<stamp>/` (durable before any replace).
fn keep_replaced(
    ctx: &mut Ctx<Data>,
    cfg: &Config,
    fc: &FileConfig,
    targets: &[Target],
) -> Result<Option<PathBuf>> {
    let files: Vec<(String, Vec<u8>)> = targets
        .iter()
        .filter(|t| t.changes())
        .filter_map(|t| t.current.clone().map(|c| (t.rel.clone(), c)))
        .collect();
    if files.is_empty() {
        return Ok(None);
    }
    let owner = targets
        .last()
        .and_then(|t| std::fs::metadata(&t.path).ok())
        .map(|m| (m.uid(), m.gid()));
    let sha = sha256_hex(
        &files
            .iter()
            .flat_map(|(_, b)| b.iter().copied())
            .collect::<Vec<u8>>(),
    );
    let base = cfg.replaced_dir(&ctx.paths, fc);
    store::keep_copies(&base, ctx.now(), &sha, &files, owner)
        .with_context(|| {
            format!(
                "cannot keep the current files under {} (disk full?); the restore was NOT done and the files are untouched",
                base.display()
            )
        })
        .map(Some)
}

/// Mode and owner for a file that does not exist any more (the last ones seen).
fn fallback_mode(ctx: &Ctx<Data>, name: &str) -> (u32, Option<(u32, u32)>) {
    let st = ctx.state.data.files.get(name);
    (
        st.and_then(|s| s.mode).unwrap_or(0o600),
        st.and_then(|s| s.uid.zip(s.gid)),
    )
}

/// Replace every file that differs; on a failure, put back the ones already replaced.
fn apply(targets: &[Target], fallback: (u32, Option<(u32, u32)>)) -> Act {
    let mut written: Vec<&Target> = Vec::new();
    for t in targets.iter().filter(|t| t.changes()) {
        if let Err(e) = write_target(t, &t.want, fallback) {
            let why = format!("{}: {}", t.path.display(), common::exit::one_line(&e));
            let undone = written.iter().all(|w| match &w.current {
                Some(c) => write_target(w, c, fallback).is_ok(),
                None => std::fs::remove_file(&w.path).is_ok(),
            });
            return if undone {
                Act::NotDone(format!("{why}; the files keep their previous content"))
            } else {
                Act::Unsure(format!(
                    "{why}; some files were replaced and could not be put back"
                ))
            };
        }
        written.push(t);
        test_kill_after(written.len());
    }
    Act::done(format!("{} file(s) replaced", written.len()))
}

/// Test hook: `BACKUP_CONFIG_TEST_KILL_AFTER_FILES=N` kills the process (SIGKILL) once N files
/// of a restore are replaced, as a power cut would.
fn test_kill_after(n: usize) {
    if std::env::var("BACKUP_CONFIG_TEST_KILL_AFTER_FILES").is_ok_and(|v| v == n.to_string()) {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &std::process::id().to_string()])
            .status();
        std::thread::sleep(std::time::Duration::from_secs(5));
    }
}

fn write_target(t: &Target, bytes: &[u8], fallback: (u32, Option<(u32, u32)>)) -> Result<()> {
    if let Some(parent) = t.path.parent() {
        fsutil::ensure_dir_durable(parent, 0o700)?;
    }
    if std::fs::metadata(&t.path).is_ok() {
        return fsutil::write_atomic_preserving(&t.path, bytes);
    }
    let (mode, owner) = fallback;
    match fsutil::write_atomic_with(
        &t.path,
        bytes,
        FileOptions {
            mode: Some(mode),
            owner,
        },
    ) {
        Err(_) if owner.is_some() => fsutil::write_atomic_with(
            &t.path,
            bytes,
            FileOptions {
                mode: Some(mode),
                owner: None,
            },
        ),
        r => r,
    }
}

/// Record what the journal says: done → the file's state is the restored version.
fn settle(
    ctx: &mut Ctx<Data>,
    fc: &FileConfig,
    key: &str,
    plan: &RestorePlan,
    snap: &Snapshot,
    out: EffectOutcome,
) -> Result<()> {
    let rec = out.record().cloned();
    match rec.as_ref().map(|r| r.status) {
        Some(EffectStatus::Done) => {
            mark_restored(ctx, fc, snap);
            finish_plan(ctx, key, plan, "done");
            ctx.checkpoint()?;
            ctx.metric_add("restores", 1);
            Ok(())
        }
        Some(EffectStatus::Failed) => {
            let why = rec.and_then(|r| r.result).unwrap_or_default();
            finish_plan(ctx, key, plan, &format!("failed: {why}"));
            ctx.checkpoint()?;
            Err(anyhow!(
                "restore of {} from {} failed: {why}",
                fc.name(),
                snap.id
            ))
        }
        _ => Err(anyhow!(
            "restore of {} from {}: outcome unknown ({}); the next run checks every file and finishes or reports it",
            fc.name(),
            snap.id,
            rec.and_then(|r| r.result).unwrap_or_default()
        )),
    }
}

/// The file's state after a restore: the restored version is current (and good if it was).
fn mark_restored(ctx: &mut Ctx<Data>, fc: &FileConfig, snap: &Snapshot) {
    let name = fc.name();
    let now = ctx.now();
    let mut st = ctx.state.data.files.get(&name).cloned().unwrap_or_default();
    st.current_sha256 = Some(snap.sha256.clone());
    st.current_size = Some(snap.size);
    st.members = snap.members.clone();
    st.changed_at = Some(now);
    st.invalid_runs = 0;
    st.invalid_since = None;
    st.problem = None;
    st.validation_key = fc.validation_key();
    st.stat = None;
    st.member_stats.clear();
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
    let unreadable = common::alert::effect_key(&format!("unreadable:{name}"));
    ctx.forget_effects("alert/", |k, _| {
        !(k.starts_with(&invalid) || k == missing || k == unreadable)
    });
}

/// Drop a settled plan and keep a record of the restore.
fn finish_plan(ctx: &mut Ctx<Data>, key: &str, plan: &RestorePlan, result: &str) {
    ctx.state.data.restore_plans.remove(key);
    let data = &mut ctx.state.data;
    data.restores.push(RestoreRecord {
        file: plan.file.clone(),
        snapshot: plan.snapshot.clone(),
        at: plan.started_at,
        kept: plan.kept.clone(),
        automatic: plan.automatic,
        result: result.into(),
    });
    while data.restores.len() > RESTORES_KEPT {
        data.restores.remove(0);
    }
}

fn done_message(
    live: &Path,
    targets: &[Target],
    what: &str,
    kept: Option<&Path>,
    current_desc: &str,
    undo: &str,
) -> String {
    let replaced: Vec<&Target> = targets
        .iter()
        .filter(|t| t.changes() && t.current.is_some())
        .collect();
    let kept_text = match (kept, replaced.as_slice()) {
        (Some(k), [one]) => format!(
            " The file it replaced ({current_desc}) is kept as {}.{undo}",
            k.join(&one.rel).display()
        ),
        (Some(k), many) => format!(
            " The {} files it replaced (root: {current_desc}) are kept in {}.{undo}",
            many.len(),
            k.display()
        ),
        (None, _) => " The file was missing, so there was nothing to keep.".into(),
    };
    let root = targets.last();
    let size = match root.and_then(|r| r.current.as_ref()) {
        Some(c) => format!(
            " Size {}.",
            size_change(c.len() as u64, root.map_or(0, |r| r.want.len() as u64))
        ),
        None => String::new(),
    };
    let through = match root {
        Some(r) if r.path != live => format!(
            " (written through the symlink: {} is kept, its target {} replaced)",
            live.display(),
            r.path.display()
        ),
        _ => String::new(),
    };
    let (mode, owner) = root
        .and_then(|r| std::fs::metadata(&r.path).ok())
        .map(|m| {
            (
                m.mode() & 0o7777,
                format!(" and owner {}:{}", m.uid(), m.gid()),
            )
        })
        .unwrap_or((0o600, String::new()));
    format!(
        "Restored {}{through} from {what}.{kept_text}{size} Mode {mode:04o}{owner} kept. Restart the gateway if it is running so it reads the restored file.",
        live.display()
    )
}

/// Where one file of an interrupted restore stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepState {
    AtTarget,
    AsBefore,
    /// Neither: changed by someone else since.
    Changed,
}

/// What to do with an interrupted restore, from where each of its files stands (pure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// Every file holds its target: it was done.
    Done,
    /// Some files were replaced and the rest are as before: finish it.
    Finish,
    /// No file was replaced: it was not applied (and is not repeated).
    NotApplied,
    /// A file changed since: leave everything alone and report.
    Unknown,
}

pub fn recovery(states: &[StepState]) -> Recovery {
    if states.contains(&StepState::Changed) {
        Recovery::Unknown
    } else if states.iter().all(|s| *s == StepState::AtTarget) {
        Recovery::Done
    } else if states.contains(&StepState::AtTarget) {
        Recovery::Finish
    } else {
        Recovery::NotApplied
    }
}

fn step_state(step: &RestoreStep) -> StepState {
    let now = std::fs::read(&step.path).ok().map(|b| sha256_hex(&b));
    if now.as_deref() == Some(step.target_sha256.as_str()) {
        StepState::AtTarget
    } else if now == step.previous_sha256 {
        StepState::AsBefore
    } else {
        StepState::Changed
    }
}

/// Resolve the restores that a killed run left under way (see the module docs). Returns a
/// line per restore for the run's summary.
pub fn finish_interrupted(ctx: &mut Ctx<Data>, cfg: &Config) -> Result<Vec<String>> {
    let mut lines = Vec::new();
    let plans: Vec<(String, RestorePlan)> =
        ctx.state.data.restore_plans.clone().into_iter().collect();
    for (key, plan) in plans {
        match ctx.effect_record(&key).map(|r| r.status) {
            None => {
                finish_plan(ctx, &key, &plan, "not in the journal: left as it is");
                continue;
            }
            Some(s) if s != EffectStatus::Unknown && s != EffectStatus::Started => {
                finish_plan(ctx, &key, &plan, s.as_str());
                continue;
            }
            Some(_) => {}
        }
        for s in &plan.steps {
            sweep_beside(Path::new(&s.path));
        }
        // Files the plan did not change do not tell anything.
        let states: Vec<StepState> = plan
            .steps
            .iter()
            .filter(|s| s.previous_sha256.as_deref() != Some(s.target_sha256.as_str()))
            .map(step_state)
            .collect();
        let line = recover_one(ctx, cfg, &key, &plan, recovery(&states))?;
        log::warn!(
            "a restore of {} from {} started {} was interrupted: {line}{}",
            plan.file,
            plan.snapshot,
            fmt_time(plan.started_at),
            plan.kept
                .as_ref()
                .map(|c| format!("; the previous content is kept in {c}"))
                .unwrap_or_default()
        );
        lines.push(format!("{}: interrupted restore {line}", plan.file));
    }
    if !lines.is_empty() {
        ctx.checkpoint()?;
    }
    Ok(lines)
}

fn recover_one(
    ctx: &mut Ctx<Data>,
    cfg: &Config,
    key: &str,
    plan: &RestorePlan,
    r: Recovery,
) -> Result<String> {
    let fc = cfg.files.iter().find(|f| f.name() == plan.file).cloned();
    let snap = ctx
        .state
        .data
        .files
        .get(&plan.file)
        .and_then(|s| s.snapshot(&plan.target_sha256))
        .cloned();
    let root = plan.steps.last().cloned();
    let content = match (&fc, &snap, &root) {
        (Some(fc), Some(s), Some(root)) if r == Recovery::Finish => {
            let dir = cfg.snapshot_dir(&ctx.paths, fc);
            read_snapshot(&dir, s, &root.rel, Path::new(&root.path), &plan.file).ok()
        }
        _ => None,
    };
    let verdict = match (r, &content) {
        (Recovery::Done, _) => {
            Verified::Happened("every file holds the restored version".into(), None)
        }
        (Recovery::Unknown, _) => {
            Verified::Unsure("a file changed since the restore started".into())
        }
        (Recovery::Finish, None) => Verified::Unsure("its snapshot is gone or damaged".into()),
        _ => Verified::NotHappened,
    };
    if ctx.dry_run {
        return Ok(format!("{r:?} (dry run: nothing changed)"));
    }
    let steps = plan.steps.clone();
    let out = ctx
        .effect(
            key.to_string(),
            format!("restore {} from snapshot {}", plan.file, plan.snapshot),
        )
        .verify(move |_, _| verdict)
        .run(|_| match content {
            Some(c) => finish_steps(&steps, &c),
            None => Act::NotDone(
                "not applied: interrupted before any file was replaced; not repeated".into(),
            ),
        })?;
    let result = match (&out, r) {
        (EffectOutcome::AlreadyDone(_), _) => {
            "done (confirmed after an interrupted run)".to_string()
        }
        (o, Recovery::Finish) if o.is_done() => "finished after an interrupted run".to_string(),
        (_, Recovery::NotApplied) => "not applied (interrupted before the replace)".to_string(),
        (o, _) => format!(
            "outcome unknown ({}): nothing was touched; compare with `backup-config diff` and restore again if needed",
            o.record()
                .and_then(|x| x.result.clone())
                .unwrap_or_default()
        ),
    };
    if out.is_done()
        && let (Some(fc), Some(s)) = (&fc, &snap)
    {
        mark_restored(ctx, fc, s);
    }
    finish_plan(ctx, key, plan, &result);
    Ok(result)
}

/// Write the files of an interrupted set restore that do not hold their target yet.
fn finish_steps(steps: &[RestoreStep], content: &Content) -> Act {
    let targets: Vec<Target> = steps
        .iter()
        .filter_map(|s| {
            let want = content.files().find(|(rel, _)| *rel == s.rel)?.1.to_vec();
            Some(Target {
                rel: s.rel.clone(),
                path: PathBuf::from(&s.path),
                current: std::fs::read(&s.path).ok(),
                want,
            })
        })
        .collect();
    if targets.len() != steps.len() {
        return Act::NotDone("the snapshot does not hold every file of the plan".into());
    }
    apply(&targets, (0o600, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interrupted_restores_are_finished_only_when_partly_done() {
        use StepState::*;
        assert_eq!(recovery(&[AtTarget, AtTarget]), Recovery::Done);
        assert_eq!(recovery(&[AtTarget, AsBefore]), Recovery::Finish);
        assert_eq!(recovery(&[AsBefore, AsBefore]), Recovery::NotApplied);
        assert_eq!(recovery(&[AtTarget, Changed]), Recovery::Unknown);
        assert_eq!(recovery(&[AsBefore]), Recovery::NotApplied);
    }

    #[test]
    fn a_symlinked_config_is_restored_through_the_link() {
        let d = tempfile::tempdir().unwrap();
        let real = d.path().join("dotfiles/openclaw.json");
        std::fs::create_dir_all(real.parent().unwrap()).unwrap();
        std::fs::write(&real, "{}").unwrap();
        let link = d.path().join("openclaw.json");
        std::os::unix::fs::symlink("dotfiles/openclaw.json", &link).unwrap();
        assert_eq!(
            link_target(&link).unwrap(),
            d.path().join("dotfiles/openclaw.json")
        );
        assert_eq!(link_target(&real).unwrap(), real);
        let a = d.path().join("a");
        std::os::unix::fs::symlink("b", &a).unwrap();
        std::os::unix::fs::symlink("a", d.path().join("b")).unwrap();
        assert!(link_target(&a).is_err(), "a loop is refused");
    }
}

//! Moving what earlier versions (or an earlier `archive_dir`) left where it no longer belongs:
//!
//! - archived copies under `memory/archive/` (the gateway indexes everything under `memory/`,
//!   so each was found again by memory search as a decayed duplicate, and, being dated, became
//!   a recall and promotion candidate) → the archive directory, same relative paths;
//! - digests named by their period (`memory/digests/2026-W07.md`: no date at the start of the
//!   name, so the gateway never decayed them and they outranked today's notes) → renamed to
//!   start with the period's last day, their source table pointing at the new archive.
//!
//! Every file is copied to its new place (never replacing a file there), fsynced and checked
//! before the old one is removed, so a kill at any instant leaves it in the old place, the
//! new place, or both (the next run finishes). A file `MEMORY.md` refers to is copied and left
//! where it is. Nothing here changes a byte of a note.

use crate::compact::{FILE_MODE, file_options, own_dir, retire};
use crate::data::{Data, RunStats};
use crate::layout;
use crate::setup::Setup;
use anyhow::{Context, Result, anyhow};
use common::Ctx;
use common::exit::one_line;
use common::fsutil;
use common::hash::sha256_hex;
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// Bring the workspace to the current layout. Failures are recorded in `stats.failed` (the
/// files stay where they were); the run goes on.
pub fn layout(
    ctx: &mut Ctx<Data>,
    setup: &Setup,
    refs: &BTreeSet<String>,
    stats: &mut RunStats,
) -> Result<()> {
    let mut old_shown = Vec::new();
    let mut failed = Vec::new();
    let previous = ctx
        .state
        .data
        .archive_dir
        .clone()
        .filter(|p| *p != setup.archive);
    let legacy = setup.legacy_archive();
    for (root, legacy_root) in [(Some(legacy), true), (previous, false)] {
        let Some(root) = root.filter(|r| is_real_dir(r)) else {
            continue;
        };
        if root.starts_with(&setup.archive) || setup.archive.starts_with(&root) {
            failed.push(format!(
                "cannot move the archive from {} to {}: one is inside the other; move it by hand and run again",
                root.display(),
                setup.archive.display()
            ));
            continue;
        }
        old_shown.push(if legacy_root {
            "archive".to_string()
        } else {
            shown(setup, &root)
        });
        let keep = |rel: &str| legacy_root && refs.contains(&format!("memory/archive/{rel}"));
        let moved = move_tree(ctx.dry_run, &root, &setup.archive, &keep, &mut failed)?;
        stats.migrated += moved;
        if moved > 0 {
            log::info!(
                "moved {moved} archived file(s) from {} to {} (outside the gateway's memory index)",
                root.display(),
                setup.archive.display()
            );
        }
    }
    if failed.is_empty()
        && !ctx.dry_run
        && ctx.state.data.archive_dir.as_ref() != Some(&setup.archive)
    {
        // Remember where the archive was, for digests not rewritten yet (a kill between the
        // move and the rewrite leaves the files moved and the tables old).
        for shown_old in &old_shown {
            if !ctx.state.data.former_archive_dirs.contains(shown_old) {
                ctx.state.data.former_archive_dirs.push(shown_old.clone());
            }
        }
        ctx.state.data.archive_dir = Some(setup.archive.clone());
        ctx.checkpoint()?;
    }
    // Every prefix a source table may still use: the legacy `archive/` (written by every
    // earlier version), the former archive dirs, and the ones found in this run.
    let current = shown(setup, &setup.archive);
    let mut prefixes: Vec<String> = vec!["archive".to_string()];
    prefixes.extend(ctx.state.data.former_archive_dirs.iter().cloned());
    prefixes.extend(old_shown);
    prefixes.retain(|p| *p != current);
    prefixes.sort();
    prefixes.dedup();
    stats.migrated += rename_digests(ctx, setup, &prefixes, refs, &mut failed)?;
    stats.failed.extend(failed);
    Ok(())
}

/// How the archive root is written in digests (`memory-archive`, or an absolute path).
fn shown(setup: &Setup, root: &Path) -> String {
    root.strip_prefix(&setup.workspace)
        .map(|r| r.display().to_string())
        .unwrap_or_else(|_| root.display().to_string())
}

fn is_real_dir(p: &Path) -> bool {
    fs::symlink_metadata(p).is_ok_and(|m| m.is_dir())
}

/// Move every regular file under `from` to the same relative path under `to`; returns how
/// many were moved. Empty directories left behind are removed.
fn move_tree(
    dry_run: bool,
    from: &Path,
    to: &Path,
    keep: &dyn Fn(&str) -> bool,
    failed: &mut Vec<String>,
) -> Result<u64> {
    let mut files = Vec::new();
    walk(from, from, &mut files)?;
    let mut moved = 0;
    for rel in files {
        let (src, dst) = (from.join(&rel), to.join(&rel));
        if dry_run {
            log::info!("dry run: would move {} to {}", src.display(), dst.display());
            continue;
        }
        match move_one(&src, &dst, to, keep(&rel)) {
            Ok(true) => moved += 1,
            Ok(false) => {}
            Err(e) => {
                let msg = format!("{}: {}", src.display(), one_line(&e));
                log::error!("{msg}");
                failed.push(msg);
            }
        }
    }
    if !dry_run {
        remove_empty_dirs(from);
    }
    Ok(moved)
}

/// Regular files under `dir`, relative to `root`. Symbolic links are reported and left; our
/// own stale temp files are removed.
fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    let entries = fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    let mut names: Vec<(String, fs::FileType)> = Vec::new();
    for e in entries {
        let e = e.with_context(|| format!("cannot list {}", dir.display()))?;
        let t = e
            .file_type()
            .with_context(|| format!("cannot stat {}", e.path().display()))?;
        names.push((e.file_name().to_string_lossy().into_owned(), t));
    }
    names.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, t) in names {
        let p = dir.join(&name);
        if fsutil::temp_owner(&name).is_some() {
            if fsutil::temp_is_stale(&name) {
                let _ = fs::remove_file(&p);
            }
        } else if t.is_dir() {
            walk(root, &p, out)?;
        } else if t.is_file() {
            let rel = p
                .strip_prefix(root)
                .unwrap_or(&p)
                .to_string_lossy()
                .into_owned();
            out.push(rel);
        } else {
            log::warn!("left {} where it is: not a regular file", p.display());
        }
    }
    Ok(())
}

/// Copy `src` to `dst` (verified, durable), then remove `src` unless `keep`. `Ok(false)`: it
/// was already there and `src` is kept.
fn move_one(src: &Path, dst: &Path, root: &Path, keep: bool) -> Result<bool> {
    let bytes = fs::read(src).with_context(|| format!("cannot read {}", src.display()))?;
    match fs::read(dst) {
        Ok(there) if there == bytes => {}
        Ok(_) => {
            return Err(anyhow!(
                "{} already exists with other content; both are left as they are (compare them and remove one)",
                dst.display()
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let dir = dst.parent().unwrap_or(root);
            own_dir(root, dir)?;
            fsutil::write_new(dst, &bytes, FILE_MODE)?;
            let back =
                fs::read(dst).with_context(|| format!("cannot re-read {}", dst.display()))?;
            if sha256_hex(&back) != sha256_hex(&bytes) {
                return Err(anyhow!("{} does not read back as written", dst.display()));
            }
            fsutil::sync_dir(dir)?;
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dst.display())),
    }
    if keep {
        log::info!(
            "{} stays where it is too: MEMORY.md refers to it",
            src.display()
        );
        return Ok(false);
    }
    fs::remove_file(src).with_context(|| format!("cannot remove {}", src.display()))?;
    if let Some(d) = src.parent() {
        fsutil::sync_dir(d)?;
    }
    Ok(true)
}

/// Remove empty directories under `dir`, and `dir` itself when it ends up empty.
fn remove_empty_dirs(dir: &Path) {
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_empty_dirs(&e.path());
            }
        }
    }
    if fs::remove_dir(dir).is_ok()
        && let Some(p) = dir.parent()
    {
        let _ = fsutil::sync_dir(p);
    }
}

/// Give every digest of ours in `memory/digests/` its current name and source paths.
fn rename_digests(
    ctx: &mut Ctx<Data>,
    setup: &Setup,
    old_shown: &[String],
    refs: &BTreeSet<String>,
    failed: &mut Vec<String>,
) -> Result<u64> {
    let dir = setup.memory.join("digests");
    let mut names: Vec<String> = crate::compact::list_files(&dir)
        .into_iter()
        .filter(|n| n.ends_with(".md"))
        .collect();
    names.sort();
    let new_prefix = format!("`{}/", shown(setup, &setup.archive));
    let mut moved = 0;
    for name in names {
        let path = dir.join(&name);
        let text = fs::read_to_string(&path).unwrap_or_default();
        let Some((kind, period)) = layout::digest_key(&text).and_then(layout::period_of_key) else {
            continue;
        };
        let want = layout::digest_file_name(kind, &period);
        let mut new_text = text.clone();
        for old in old_shown {
            new_text = new_text.replace(&format!("`{old}/"), &new_prefix);
        }
        if want == name && new_text == text {
            continue;
        }
        if ctx.dry_run {
            log::info!("dry run: would rename memory/digests/{name} to {want}");
            continue;
        }
        let keep = refs.contains(&format!("memory/digests/{name}"));
        match rename_digest(ctx, setup, &path, &want, &new_text, &period.key, keep) {
            Ok(()) => moved += 1,
            Err(e) => {
                let msg = format!("{}: {}", path.display(), one_line(&e));
                log::error!("{msg}");
                failed.push(msg);
            }
        }
    }
    Ok(moved)
}

fn rename_digest(
    ctx: &mut Ctx<Data>,
    setup: &Setup,
    path: &Path,
    want: &str,
    text: &str,
    key: &str,
    keep: bool,
) -> Result<()> {
    let dir = setup.memory.join("digests");
    let dst: PathBuf = dir.join(want);
    let old_rel = format!(
        "digests/{}",
        path.file_name().unwrap_or_default().to_string_lossy()
    );
    let new_rel = format!("digests/{want}");
    if dst == path {
        fsutil::write_atomic_with(&dst, text.as_bytes(), file_options())?;
    } else {
        match fs::read_to_string(&dst) {
            Ok(there) if there == text => {}
            Ok(_) => {
                // A digest under the new name already exists (written by this version): the
                // old one is stale.
                if let Some(d) = retire(setup, path)? {
                    log::info!(
                        "retired {} (superseded by {}): {}",
                        path.display(),
                        dst.display(),
                        d.display()
                    );
                }
                return Ok(());
            }
            Err(_) => {
                fsutil::write_new(&dst, text.as_bytes(), FILE_MODE)?;
                fsutil::sync_dir(&dir)?;
            }
        }
        if keep {
            log::info!("{} stays too: MEMORY.md refers to it", path.display());
        } else {
            fs::remove_file(path).with_context(|| format!("cannot remove {}", path.display()))?;
            fsutil::sync_dir(&dir)?;
        }
    }
    if let Some(r) = ctx.state.data.digests.get_mut(key)
        && (r.path == old_rel || r.path == new_rel)
    {
        r.path = new_rel;
        r.sha256 = sha256_hex(text.as_bytes());
        r.chars = text.chars().count() as u64;
    }
    log::info!(
        "renamed memory/{old_rel} to memory/digests/{want} (dated, so it decays like its days)"
    );
    ctx.checkpoint()
}

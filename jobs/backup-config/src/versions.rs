//! Act on the stored versions of one watched config: record a new version (written durably,
//! then recorded in state), adopt the snapshots of killed runs, prune by retention. Used by the
//! hourly run and by restore (which snapshots a valid live version before replacing it).
//!
//! Order of effects for a new version: snapshot written durably → recorded in state
//! (checkpointed by the caller or at the end of the run) → last good updated. A run killed in
//! between leaves an untracked snapshot that the next run adopts (same content: no second
//! copy; other content: recorded as the version it is), so nothing is stored twice or lost.

use crate::config::{Config, FileConfig};
use crate::data::{Data, FileState, Snapshot, Validity};
use crate::decide::fmt_time;
use crate::retention::{self, Item, Policy};
use crate::store::{self, Content};
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use common::Ctx;
use std::collections::BTreeSet;
use std::path::Path;

/// Put a file's state back into the job's data.
pub fn put(ctx: &mut Ctx<Data>, name: &str, st: &FileState) {
    ctx.state.data.files.insert(name.to_string(), st.clone());
}

/// A new version to record.
#[derive(Debug, Clone, Copy)]
pub struct NewVersion<'a> {
    pub content: &'a Content,
    pub sha: &'a str,
    pub validity: Validity,
    /// `--accept` turned a suspicious version into a good one.
    pub accepted: bool,
}

/// Make sure a snapshot of this content exists and is recorded in `st`; returns whether a new
/// one was written (or an untracked one adopted). A write failure fails the run, naming the
/// directory.
pub fn record(
    ctx: &mut Ctx<Data>,
    dir: &Path,
    name: &str,
    st: &mut FileState,
    v: NewVersion<'_>,
    now: DateTime<Utc>,
) -> Result<bool> {
    if let Some(s) = st.snapshot_mut(v.sha) {
        s.last_seen_at = now;
        if v.validity == Validity::Good && s.validity == Validity::Suspicious {
            s.validity = Validity::Good;
            if v.accepted {
                s.accepted_at = Some(now);
                log::info!("{name}: snapshot {} accepted as good (--accept)", s.id);
            }
        }
        return Ok(false);
    }
    let root_name = v.content.root.0.clone();
    let adopted = store::list_entries(dir)
        .into_iter()
        .filter(|e| e.contains(&v.sha[..store::PREFIX_LEN.min(v.sha.len())]))
        .find_map(|e| store::read_untracked(dir, &e, &root_name).filter(|(_, c)| c.sha() == v.sha))
        .map(|(id, _)| id);
    let id = adopted
        .clone()
        .unwrap_or_else(|| store::snapshot_id(now, v.sha));
    if ctx.dry_run {
        log::warn!(
            "dry run: would snapshot {name} ({} bytes) as {}",
            v.content.size(),
            dir.join(&id).display()
        );
        return Ok(true);
    }
    if adopted.is_some() {
        log::info!("{name}: adopted untracked snapshot {id} (left by a killed run)");
    } else {
        store::write(dir, &id, v.content).with_context(|| {
            format!(
                "cannot write a snapshot of {name} into {} (disk full or directory not writable?); \
                 the live config was not touched; fix the snapshot directory and rerun",
                dir.display()
            )
        })?;
        log::info!(
            "{name}: snapshot {id} ({} bytes{}, {})",
            v.content.size(),
            match v.content.includes.len() {
                0 => String::new(),
                n => format!(", {} files", n + 1),
            },
            v.validity.as_str()
        );
        ctx.metric_add("snapshots_written", 1);
    }
    st.snapshots.push(Snapshot {
        id,
        sha256: v.sha.to_string(),
        size: v.content.size(),
        taken_at: now,
        last_seen_at: now,
        validity: v.validity,
        accepted_at: v.accepted.then_some(now),
        members: if v.content.includes.is_empty() {
            Vec::new()
        } else {
            v.content.members()
        },
    });
    put(ctx, name, st);
    Ok(true)
}

/// Adopt the snapshots in `dir` that state does not record (a run killed after writing one):
/// each whose name is ours and whose content hashes to its name is recorded (as good when the
/// built-in checks accept it, else suspicious) and then pruned by retention like any other.
/// Anything else is left alone and listed by `verify`.
pub fn adopt_untracked(
    ctx: &mut Ctx<Data>,
    dir: &Path,
    fc: &FileConfig,
    root_name: &str,
) -> Result<usize> {
    let name = fc.name();
    let mut st = ctx.state.data.files.get(&name).cloned().unwrap_or_default();
    let known: BTreeSet<String> = st.snapshots.iter().map(Snapshot::file_name).collect();
    let mut adopted = 0;
    for entry in store::list_entries(dir) {
        if known.contains(&entry) {
            continue;
        }
        let Some((id, content)) = store::read_untracked(dir, &entry, root_name) else {
            continue;
        };
        let sha = content.sha();
        if st.snapshot(&sha).is_some() {
            continue;
        }
        let at = store::id_time(&id).unwrap_or_else(|| ctx.now());
        let validity = match crate::validate::check_content(&content.root.1, fc) {
            crate::validate::Verdict::Valid => Validity::Good,
            crate::validate::Verdict::Invalid(_) => Validity::Suspicious,
        };
        log::info!(
            "{name}: adopted untracked snapshot {id} (left by a killed run), {}",
            validity.as_str()
        );
        st.snapshots.push(Snapshot {
            id,
            sha256: sha,
            size: content.size(),
            taken_at: at,
            last_seen_at: at,
            validity,
            accepted_at: None,
            members: if content.includes.is_empty() {
                Vec::new()
            } else {
                content.members()
            },
        });
        adopted += 1;
    }
    if adopted > 0 {
        st.snapshots.sort_by_key(|s| s.taken_at);
        put(ctx, &name, &st);
    }
    Ok(adopted)
}

/// Forget the per-content alert records of a file once it is good again, so the same bad
/// content returning later is a new incident (and the journal stays bounded).
pub fn clear_alerts(ctx: &mut Ctx<Data>, name: &str) {
    let prefixes = [
        format!("invalid:{name}:"),
        format!("suspicious:{name}:"),
        format!("missing:{name}"),
        format!("unreadable:{name}"),
        format!("auto-restore:{name}:"),
    ]
    .map(|p| common::alert::effect_key(&p));
    ctx.forget_effects("alert/", |k, _| {
        !prefixes.iter().any(|p| k.starts_with(p.as_str()))
    });
}

/// Apply retention: drop pruned snapshots from state (checkpoint), then delete their files.
pub fn prune(
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
    let (kept, pruned): (Vec<_>, Vec<_>) = st
        .snapshots
        .drain(..)
        .zip(keep)
        .partition(|(_, k)| k.is_some());
    let pruned: Vec<Snapshot> = pruned.into_iter().map(|(s, _)| s).collect();
    if ctx.dry_run {
        for s in &pruned {
            log::warn!(
                "dry run: would prune snapshot {name}/{} (outside retention)",
                s.id
            );
        }
        return Ok(());
    }
    st.snapshots = kept.into_iter().map(|(s, _)| s).collect();
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

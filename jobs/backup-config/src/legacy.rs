//! Copies of replaced configs made by versions before 2: `<file>.clobbered.<UTC>` next to the
//! live file. That is the gateway's own name for its repairs (it keeps only the newest 32
//! `<file>.clobbered.*` and operators read them as the gateway's), so they move to where
//! restores now keep what they replace: `<backups>/<name>/replaced/<UTC>-legacy/<file>`.
//!
//! Ours are told apart safely by their timestamp: we wrote `20261128T041044Z` (compact, with an
//! optional `.N`), the gateway writes `2026-11-28T04-10-44-225Z` (with an optional `-NN`); no
//! name of one form can be read as the other. Nothing else next to the config is touched. The
//! move is a rename (same file system) or a durable copy then unlink; restore records naming
//! the old path are updated. Done once (recorded in state), then never again.

use crate::config::Config;
use crate::data::Data;
use crate::store::{self, TS_FORMAT};
use anyhow::{Context, Result};
use chrono::NaiveDateTime;
use common::Ctx;
use std::path::{Path, PathBuf};

/// The timestamp of one of our old copies of `config_name` (`<config_name>.clobbered.<UTC>[.N]`).
pub fn legacy_stamp<'a>(file_name: &'a str, config_name: &str) -> Option<&'a str> {
    let rest = file_name
        .strip_prefix(config_name)?
        .strip_prefix(".clobbered.")?;
    let (ts, n) = match rest.split_once('.') {
        Some((ts, n)) => (ts, Some(n)),
        None => (rest, None),
    };
    if n.is_some_and(|n| n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit())) || ts.len() != 16 {
        return None;
    }
    NaiveDateTime::parse_from_str(ts, TS_FORMAT).ok()?;
    Some(rest)
}

/// Move every old copy of ours next to the watched files into their `replaced/` directory.
pub fn move_old_copies(ctx: &mut Ctx<Data>, cfg: &Config) -> Result<()> {
    if ctx.state.data.legacy_checked || ctx.dry_run {
        return Ok(());
    }
    for fc in &cfg.files {
        let live = ctx.paths.resolve(&fc.path);
        let (Some(dir), Some(base)) = (live.parent(), live.file_name()) else {
            continue;
        };
        let base = base.to_string_lossy().into_owned();
        let mut found: Vec<(PathBuf, String)> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                let stamp = legacy_stamp(&n, &base)?.to_string();
                e.file_type().ok()?.is_file().then_some((e.path(), stamp))
            })
            .collect();
        found.sort();
        for (from, stamp) in found {
            let dest = cfg
                .replaced_dir(&ctx.paths, fc)
                .join(format!("{stamp}-legacy"))
                .join(&base);
            move_file(&from, &dest)?;
            log::info!(
                "moved {} (a copy an earlier backup-config kept under the gateway's `.clobbered.` name) to {}",
                from.display(),
                dest.display()
            );
            let old = from.display().to_string();
            for r in ctx
                .state
                .data
                .restores
                .iter_mut()
                .filter(|r| r.kept.as_deref() == Some(old.as_str()))
            {
                r.kept = Some(dest.display().to_string());
            }
            ctx.metric_add("legacy_copies_moved", 1);
        }
    }
    ctx.state.data.legacy_checked = true;
    Ok(())
}

/// Rename, or (across file systems) copy durably keeping the owner, then unlink.
fn move_file(from: &Path, to: &Path) -> Result<()> {
    let parent = to.parent().unwrap_or(Path::new("."));
    if let Some(base) = parent.parent() {
        store::ensure_dir(base)?;
    }
    store::ensure_dir(parent)?;
    if std::fs::symlink_metadata(to).is_ok() {
        anyhow::bail!(
            "{} already exists: {} left in place",
            to.display(),
            from.display()
        );
    }
    match std::fs::rename(from, to) {
        Ok(()) => {}
        Err(_) => {
            use std::os::unix::fs::MetadataExt;
            let m = std::fs::metadata(from)
                .with_context(|| format!("cannot stat {}", from.display()))?;
            let bytes =
                std::fs::read(from).with_context(|| format!("cannot read {}", from.display()))?;
            store::write_private(to, &bytes, Some((m.uid(), m.gid())))?;
            std::fs::remove_file(from)
                .with_context(|| format!("cannot remove {}", from.display()))?;
        }
    }
    common::fsutil::sync_dir(parent)?;
    if let Some(d) = from.parent() {
        common::fsutil::sync_dir(d)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_old_names_are_ours() {
        assert_eq!(
            legacy_stamp("openclaw.json.clobbered.20260220T220739Z", "openclaw.json"),
            Some("20260220T220739Z")
        );
        assert_eq!(
            legacy_stamp(
                "openclaw.json.clobbered.20260220T220739Z.2",
                "openclaw.json"
            ),
            Some("20260220T220739Z.2")
        );
        for theirs in [
            "openclaw.json.clobbered.2026-11-28T03-16-32-516Z",
            "openclaw.json.clobbered.2026-11-28T03-16-32-516Z-01",
            "openclaw.json.rejected.2026-11-28T04-11-29-810Z",
            "openclaw.json.bak.1",
            "openclaw.json.clobbered.20260220T220739Z.x",
            "other.json.clobbered.20260220T220739Z",
        ] {
            assert_eq!(legacy_stamp(theirs, "openclaw.json"), None, "{theirs}");
        }
    }
}

//! The read-only commands: `list`, `diff` and `verify`. They print to stdout, take no lock and
//! write nothing.

use crate::check::fmt_time;
use crate::config::{Config, FileConfig};
use crate::data::Data;
use crate::mask::{mask, mask_with};
use crate::restore::select;
use crate::store;
use anyhow::Result;
use common::{Ctx, Exit, Outcome, coded, data_error};
use std::collections::BTreeSet;
use std::fmt::Write as _;

fn find_file<'c>(cfg: &'c Config, name: &str) -> Result<&'c FileConfig> {
    cfg.files.iter().find(|f| f.name() == name).ok_or_else(|| {
        coded(
            Exit::Usage,
            format!(
                "no watched file is named `{name}` (watched: {})",
                cfg.files
                    .iter()
                    .map(FileConfig::name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    })
}

/// `backup-config list [FILE]`
pub fn list(ctx: &Ctx<Data>, cfg: &Config, file: Option<&str>) -> Result<Outcome> {
    let files: Vec<&FileConfig> = match file {
        Some(f) => vec![find_file(cfg, f)?],
        None => cfg.files.iter().collect(),
    };
    let mut out = String::new();
    for fc in files {
        let name = fc.name();
        let live = ctx.paths.resolve(&fc.path);
        let live_sha = std::fs::read(&live).ok().map(|b| store::sha256_hex(&b));
        let st = ctx.state.data.files.get(&name);
        let status = st.map(|s| s.status.as_str()).unwrap_or("not checked yet");
        let _ = writeln!(out, "{name}  {}", live.display());
        let _ = write!(out, "  status: {status}");
        if let Some(p) = st.and_then(|s| s.problem.as_deref()) {
            let _ = write!(out, " ({p})");
        }
        if let Some(t) = st.and_then(|s| s.checked_at) {
            let _ = write!(out, ", checked {}", fmt_time(t));
        }
        if live_sha.is_none() {
            let _ = write!(out, ", live file missing now");
        } else if st.and_then(|s| s.current_sha256.as_ref()) != live_sha.as_ref() {
            let _ = write!(out, ", changed since the last check");
        }
        out.push('\n');
        let snaps = st.map(|s| s.snapshots.as_slice()).unwrap_or_default();
        if snaps.is_empty() {
            let _ = writeln!(out, "  no snapshots yet\n");
            continue;
        }
        let _ = writeln!(
            out,
            "  {:<32} {:>9}  {:<10} {:<23} NOTE",
            "SNAPSHOT", "BYTES", "VALIDITY", "LAST LIVE"
        );
        let mut sorted: Vec<_> = snaps.iter().collect();
        sorted.sort_by(|a, b| b.last_seen_at.cmp(&a.last_seen_at).then(b.id.cmp(&a.id)));
        for s in sorted {
            let mut notes = Vec::new();
            if st.and_then(|x| x.last_good.as_deref()) == Some(s.sha256.as_str()) {
                notes.push("last good");
            }
            if live_sha.as_deref() == Some(s.sha256.as_str()) {
                notes.push("live");
            }
            if s.accepted_at.is_some() {
                notes.push("accepted");
            }
            let _ = writeln!(
                out,
                "  {:<32} {:>9}  {:<10} {:<23} {}",
                s.id,
                s.size,
                s.validity.as_str(),
                fmt_time(s.last_seen_at),
                notes.join(", ")
            );
        }
        let _ = writeln!(out, "  in {}\n", cfg.snapshot_dir(&ctx.paths, fc).display());
    }
    print!("{out}");
    Ok(Outcome::noop("listed"))
}

/// `backup-config diff [SNAPSHOT]`
pub fn diff(
    ctx: &Ctx<Data>,
    cfg: &Config,
    sel: Option<&str>,
    file: Option<&str>,
    show_secrets: bool,
) -> Result<Outcome> {
    let (fc, snap) = select(cfg, &ctx.state.data, sel, file)?;
    let name = fc.name();
    let dir = cfg.snapshot_dir(&ctx.paths, fc);
    let live = ctx.paths.resolve(&fc.path);
    let old = store::read_verified(&dir, &snap).map_err(|d| {
        data_error(format!(
            "snapshot {name}/{} is damaged ({d}); run `backup-config verify`",
            snap.id
        ))
    })?;
    let new = match std::fs::read(&live) {
        Ok(b) => Some(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(anyhow::anyhow!("cannot read {}: {e}", live.display())),
    };
    let old_text = String::from_utf8_lossy(&old).into_owned();
    let new_text = new
        .as_deref()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default();
    let (a, b) = if show_secrets {
        (old_text.clone(), new_text.clone())
    } else {
        // A secret that changed shows as `"***"` → `"*** (changed)"`, never its value.
        let (a, old_vals) = mask(&old_text, &cfg.mask_keys);
        let old_vals: BTreeSet<String> = old_vals.into_iter().collect();
        let label = |v: &str| {
            if old_vals.contains(v) {
                "***"
            } else {
                "*** (changed)"
            }
        };
        (a, mask_with(&new_text, &cfg.mask_keys, &label).0)
    };
    let old_label = format!("{name}/{} (snapshot)", snap.id);
    let new_label = match &new {
        Some(_) => format!("{} (live)", live.display()),
        None => format!("{} (live: missing)", live.display()),
    };
    if old_text == new_text {
        println!(
            "No differences: {} matches snapshot {}.",
            live.display(),
            snap.id
        );
    } else if a == b {
        println!(
            "{} differs from snapshot {} only in masked secret values; use --show-secrets to see them.",
            live.display(),
            snap.id
        );
    } else {
        let d = similar::TextDiff::from_lines(&a, &b);
        let mut u = d.unified_diff();
        print!("{}", u.context_radius(3).header(&old_label, &new_label));
    }
    Ok(Outcome::noop("diff shown"))
}

/// `backup-config verify`: re-hash every snapshot; exit 65 if any is damaged.
pub fn verify(ctx: &Ctx<Data>, cfg: &Config) -> Result<Outcome> {
    let mut damaged = Vec::new();
    let mut ok = 0usize;
    let mut out = String::new();
    for fc in &cfg.files {
        let name = fc.name();
        let dir = cfg.snapshot_dir(&ctx.paths, fc);
        let Some(st) = ctx.state.data.files.get(&name) else {
            let _ = writeln!(out, "{name}: not checked yet, no snapshots");
            continue;
        };
        let mut known = BTreeSet::new();
        let mut file_ok = 0;
        for s in &st.snapshots {
            known.insert(s.file_name());
            match store::read_verified(&dir, s) {
                Ok(_) => file_ok += 1,
                Err(d) => {
                    let lg = if st.last_good.as_deref() == Some(s.sha256.as_str()) {
                        " [the last good version]"
                    } else {
                        ""
                    };
                    let _ = writeln!(out, "DAMAGED {name}/{}{lg}: {d}", s.id);
                    damaged.push(format!("{name}/{}", s.id));
                }
            }
        }
        ok += file_ok;
        let untracked: Vec<String> = store::list_files(&dir)
            .into_iter()
            .filter(|f| !known.contains(f))
            .collect();
        let _ = writeln!(
            out,
            "{name}: {file_ok} of {} snapshots intact in {}",
            st.snapshots.len(),
            dir.display()
        );
        for u in untracked {
            let _ = writeln!(out, "  untracked file {u} (not in state; left as is)");
        }
    }
    print!("{out}");
    if damaged.is_empty() {
        Ok(Outcome::noop(format!("{ok} snapshots intact")))
    } else {
        Err(data_error(format!(
            "{} damaged snapshot(s): {}; they will not be restored. Restore from another snapshot \
             if the damaged one was the last good version",
            damaged.len(),
            damaged.join(", ")
        )))
    }
}

//! The read-only commands: `list`, `diff` and `verify`. They print to stdout, take no lock and
//! write nothing.

use crate::config::{Config, FileConfig};
use crate::data::{Data, DatabaseState, FileState, Snapshot};
use crate::decide::fmt_time;
use crate::mask::masked_diff;
use crate::select::select;
use crate::store::{self, Content};
use anyhow::Result;
use common::hash::sha256_hex;
use common::{Ctx, Exit, Outcome, coded, data_error};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

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

fn root_name(live: &Path) -> String {
    live.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "config".into())
}

/// The live version's hash, as the hourly run computes it (includes resolved).
fn live_sha(live: &Path, fc: &FileConfig) -> Option<String> {
    let bytes = std::fs::read(live).ok()?;
    Some(crate::observe::version(live, fc, bytes, false).sha)
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
        let st = ctx.state.data.files.get(&name);
        list_file(&mut out, &name, &live, st, live_sha(&live, fc).as_deref());
        if let Some(st) = st.filter(|s| !s.snapshots.is_empty()) {
            list_snapshots(&mut out, st, live_sha(&live, fc).as_deref());
            let _ = writeln!(out, "  in {}", cfg.snapshot_dir(&ctx.paths, fc).display());
        }
        list_rollbacks(&mut out, &ctx.state.data, &name);
        out.push('\n');
    }
    if file.is_none() {
        list_gateway_state(&mut out, &ctx.state.data);
    }
    print!("{out}");
    Ok(Outcome::noop("listed"))
}

fn list_file(
    out: &mut String,
    name: &str,
    live: &Path,
    st: Option<&FileState>,
    live_sha: Option<&str>,
) {
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
    } else if st.and_then(|s| s.current_sha256.as_deref()) != live_sha {
        let _ = write!(out, ", changed since the last check");
    }
    out.push('\n');
    let Some(st) = st else { return };
    if !st.verdicts.is_empty() {
        let v: Vec<String> = st.verdicts.iter().map(|v| v.line()).collect();
        let _ = writeln!(out, "  validators: {}", v.join("; "));
    }
    if st.members.len() > 1 {
        let m: Vec<&str> = st.members.iter().skip(1).map(|m| m.rel.as_str()).collect();
        let _ = writeln!(out, "  includes: {}", m.join(", "));
    }
    if st.snapshots.is_empty() {
        let _ = writeln!(out, "  no snapshots yet");
    }
}

fn list_snapshots(out: &mut String, st: &FileState, live_sha: Option<&str>) {
    let _ = writeln!(
        out,
        "  {:<32} {:>9}  {:<10} {:<23} NOTE",
        "SNAPSHOT", "BYTES", "VALIDITY", "LAST LIVE"
    );
    let mut sorted: Vec<&Snapshot> = st.snapshots.iter().collect();
    sorted.sort_by(|a, b| b.last_seen_at.cmp(&a.last_seen_at).then(b.id.cmp(&a.id)));
    for s in sorted {
        let mut notes = Vec::new();
        if st.last_good.as_deref() == Some(s.sha256.as_str()) {
            notes.push("last good".to_string());
        }
        if live_sha == Some(s.sha256.as_str()) {
            notes.push("live".into());
        }
        if s.accepted_at.is_some() {
            notes.push("accepted".into());
        }
        if s.is_set() {
            notes.push(format!("{} files", s.members.len()));
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
}

fn list_rollbacks(out: &mut String, data: &Data, name: &str) {
    let mine: Vec<_> = data.rollbacks.iter().filter(|r| r.file == name).collect();
    if mine.is_empty() {
        return;
    }
    let _ = writeln!(out, "  rollbacks by the gateway (newest last):");
    for r in mine.iter().rev().take(5).rev() {
        let _ = writeln!(
            out,
            "    {}  {}{}{}",
            fmt_time(r.at),
            r.kind,
            if r.reasons.is_empty() {
                String::new()
            } else {
                format!(" ({})", r.reasons.join(", "))
            },
            r.kept
                .as_ref()
                .map(|k| format!(", lost version kept as {k}"))
                .unwrap_or_default()
        );
    }
}

fn list_gateway_state(out: &mut String, data: &Data) {
    for (key, db) in &data.databases {
        let latest = db.snapshots.iter().max_by_key(|s| s.created_at);
        let _ = writeln!(
            out,
            "gateway {key} database: {} snapshot(s){}{}",
            db.snapshots.len(),
            latest
                .map(|s| format!(", newest {} ({})", s.id, fmt_time(s.created_at)))
                .unwrap_or_default(),
            db.problem
                .as_ref()
                .map(|p| format!(", last attempt failed: {p}"))
                .unwrap_or_default()
        );
        let _ = writeln!(out, "  in {}", db.repository);
    }
    if let Some(c) = &data.cron {
        match (&c.skipped, c.listed_at) {
            (Some(why), _) => {
                let _ = writeln!(
                    out,
                    "gateway cron jobs: not checked at the last run ({why})"
                );
            }
            (None, Some(at)) => {
                let _ = writeln!(
                    out,
                    "gateway cron jobs: {} (listed {})",
                    c.total,
                    fmt_time(at)
                );
            }
            _ => {}
        }
    }
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
    let old = store::read_verified(&dir, &snap, &root_name(&live)).map_err(|d| {
        data_error(format!(
            "snapshot {name}/{} is damaged ({d}); run `backup-config verify`",
            snap.id
        ))
    })?;
    let words: &[String] = if show_secrets { &[] } else { &cfg.mask_keys };
    let mut same = true;
    for (rel, old_bytes, is_root) in members(&old) {
        let path = if is_root {
            live.clone()
        } else {
            live.parent().unwrap_or(Path::new(".")).join(rel)
        };
        let shown = if is_root {
            format!("{name}/{}", snap.id)
        } else {
            format!("{name}/{}/{rel}", snap.id)
        };
        match diff_one(old_bytes, &path, &shown, words)? {
            None => {}
            Some(d) if d.is_empty() => {
                same = false;
                println!(
                    "{} differs from snapshot {} only in masked secret values; use --show-secrets to see them.",
                    path.display(),
                    snap.id
                );
            }
            Some(d) => {
                same = false;
                print!("{d}");
            }
        }
    }
    if same {
        println!(
            "No differences: {} matches snapshot {}.",
            live.display(),
            snap.id
        );
    }
    Ok(Outcome::noop("diff shown"))
}

/// The masked diff of one stored file against the live one (see [`masked_diff`]).
fn diff_one(old: &[u8], path: &Path, shown: &str, words: &[String]) -> Result<Option<String>> {
    let new = match std::fs::read(path) {
        Ok(b) => Some(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
    };
    let old_text = String::from_utf8_lossy(old).into_owned();
    let new_text = new
        .as_deref()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default();
    let old_label = format!("{shown} (snapshot)");
    let new_label = match &new {
        Some(_) => format!("{} (live)", path.display()),
        None => format!("{} (live: missing)", path.display()),
    };
    Ok(masked_diff(
        &old_text,
        &new_text,
        (&old_label, &new_label),
        words,
        usize::MAX,
    ))
}

/// The files of a version: `(relative path, bytes, is the root)`.
fn members(c: &Content) -> Vec<(&str, &[u8], bool)> {
    c.files()
        .enumerate()
        .map(|(i, (r, b))| (r, b, i == 0))
        .collect()
}

/// `backup-config verify`: re-hash every snapshot (and every gateway database snapshot
/// against its manifest); exit 65 if any is damaged.
pub fn verify(ctx: &Ctx<Data>, cfg: &Config) -> Result<Outcome> {
    let mut damaged = Vec::new();
    let mut ok = 0usize;
    let mut out = String::new();
    for fc in &cfg.files {
        let name = fc.name();
        let dir = cfg.snapshot_dir(&ctx.paths, fc);
        let live = ctx.paths.resolve(&fc.path);
        let Some(st) = ctx.state.data.files.get(&name) else {
            let _ = writeln!(out, "{name}: not checked yet, no snapshots");
            continue;
        };
        let mut known = BTreeSet::new();
        let mut file_ok = 0;
        for s in &st.snapshots {
            known.insert(s.file_name());
            match store::read_verified(&dir, s, &root_name(&live)) {
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
        let _ = writeln!(
            out,
            "{name}: {file_ok} of {} snapshots intact in {}",
            st.snapshots.len(),
            dir.display()
        );
        for u in store::list_entries(&dir)
            .into_iter()
            .filter(|f| !known.contains(f))
        {
            let _ = writeln!(
                out,
                "  untracked {u} (not in state; the next run adopts it if it is a snapshot of ours)"
            );
        }
    }
    for (key, db) in &ctx.state.data.databases {
        let (n, bad) = verify_database(db);
        for b in &bad {
            let _ = writeln!(out, "DAMAGED gateway {key} database snapshot {b}");
            damaged.push(format!("gateway {key} database {b}"));
        }
        ok += n;
        let _ = writeln!(
            out,
            "gateway {key} database: {n} of {} snapshots intact in {}",
            db.snapshots.len(),
            db.repository
        );
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

/// Re-hash each `database.sqlite` against the sha256 its manifest gave: (intact, damaged).
fn verify_database(db: &DatabaseState) -> (usize, Vec<String>) {
    let mut ok = 0;
    let mut bad = Vec::new();
    for s in &db.snapshots {
        let p = Path::new(&db.repository)
            .join(&s.id)
            .join("database.sqlite");
        match std::fs::read(&p) {
            Ok(b) if sha256_hex(&b) == s.sha256 => ok += 1,
            Ok(b) => bad.push(format!(
                "{}: content changed (sha256 now {})",
                s.id,
                &sha256_hex(&b)[..12]
            )),
            Err(e) => bad.push(format!("{}: {e}", s.id)),
        }
    }
    (ok, bad)
}

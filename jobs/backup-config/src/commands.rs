//! The read-only commands: `list`, `diff` (`--stat`) and `verify`. They print to stdout (with
//! `--json` one JSON document, see [`crate::json`]), take no lock and write nothing.

use crate::config::{Config, FileConfig};
use crate::data::{Data, DatabaseState, FileState, Snapshot};
use crate::decide::fmt_time;
use crate::mask::{LineStat, masked_diff, masked_stat};
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
pub fn live_sha(live: &Path, fc: &FileConfig) -> Option<String> {
    let bytes = std::fs::read(live).ok()?;
    Some(crate::observe::version(live, fc, bytes, false).sha)
}

/// `backup-config list [FILE]`
pub fn list(ctx: &Ctx<Data>, cfg: &Config, file: Option<&str>) -> Result<Outcome> {
    let files: Vec<&FileConfig> = match file {
        Some(f) => vec![find_file(cfg, f)?],
        None => cfg.files.iter().collect(),
    };
    if ctx.json {
        let doc = crate::json::list(ctx, cfg, &files, ctx.now());
        println!("{}", serde_json::to_string(&doc)?);
        return Ok(Outcome::noop("listed"));
    }
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

/// A file's snapshots, the last seen live first.
pub fn newest_first(st: &FileState) -> Vec<&Snapshot> {
    let mut sorted: Vec<&Snapshot> = st.snapshots.iter().collect();
    sorted.sort_by(|a, b| b.last_seen_at.cmp(&a.last_seen_at).then(b.id.cmp(&a.id)));
    sorted
}

fn list_snapshots(out: &mut String, st: &FileState, live_sha: Option<&str>) {
    let _ = writeln!(
        out,
        "  {:<32} {:>9}  {:<10} {:<23} NOTE",
        "SNAPSHOT", "BYTES", "VALIDITY", "LAST LIVE"
    );
    for s in newest_first(st) {
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

/// `backup-config diff [SNAPSHOT] [--stat]`
pub fn diff(
    ctx: &Ctx<Data>,
    cfg: &Config,
    sel: Option<&str>,
    file: Option<&str>,
    show_secrets: bool,
    stat: bool,
) -> Result<Outcome> {
    if ctx.json && !stat {
        return Err(coded(
            Exit::Usage,
            "`diff --json` needs --stat: the JSON document gives the counts per file; the diff itself is text",
        ));
    }
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
    let pairs = compared(&old, &live, &name, &snap.id);
    if stat {
        let stats = diff_stats(&pairs, words)?;
        if ctx.json {
            let doc = crate::json::diff_stat(&name, &snap.id, &stats, ctx.now());
            println!("{}", serde_json::to_string(&doc)?);
        } else {
            print!("{}", stat_text(&stats, &live, &snap.id));
        }
        return Ok(Outcome::noop("diff stat shown"));
    }
    let mut same = true;
    for p in &pairs {
        match diff_one(p.old, &p.path, &p.shown, words)? {
            None => {}
            Some(d) if d.is_empty() => {
                same = false;
                println!(
                    "{} differs from snapshot {} only in masked secret values; use --show-secrets to see them.",
                    p.path.display(),
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

/// One stored file and where its live counterpart is.
pub struct Compared<'a> {
    /// Relative to the root file's directory (the root: its own name).
    pub rel: &'a str,
    pub old: &'a [u8],
    /// The live file.
    pub path: std::path::PathBuf,
    /// How the diff header names the stored side (`openclaw.json/<id>/agents.json5`).
    pub shown: String,
}

/// The files of a stored version paired with the live ones.
fn compared<'a>(old: &'a Content, live: &Path, name: &str, id: &str) -> Vec<Compared<'a>> {
    members(old)
        .into_iter()
        .map(|(rel, bytes, is_root)| Compared {
            rel,
            old: bytes,
            path: if is_root {
                live.to_path_buf()
            } else {
                live.parent().unwrap_or(Path::new(".")).join(rel)
            },
            shown: if is_root {
                format!("{name}/{id}")
            } else {
                format!("{name}/{id}/{rel}")
            },
        })
        .collect()
}

/// One file's line counts (`diff --stat`).
#[derive(Debug, Clone)]
pub struct FileStat {
    pub rel: String,
    pub path: std::path::PathBuf,
    /// The live file is missing (every stored line counts as removed).
    pub live_missing: bool,
    pub stat: LineStat,
}

fn diff_stats(pairs: &[Compared<'_>], words: &[String]) -> Result<Vec<FileStat>> {
    let mut out = Vec::new();
    for p in pairs {
        let new = read_live(&p.path)?;
        let old_text = String::from_utf8_lossy(p.old);
        let new_text = new
            .as_deref()
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        out.push(FileStat {
            rel: p.rel.to_string(),
            path: p.path.clone(),
            live_missing: new.is_none(),
            stat: masked_stat(&old_text, &new_text, words),
        });
    }
    Ok(out)
}

/// `diff --stat` for people: one line per file, then the totals.
pub fn stat_text(stats: &[FileStat], live: &Path, id: &str) -> String {
    let mut out = String::new();
    let (mut added, mut removed, mut differ) = (0, 0, 0);
    for f in stats {
        let what = match f.stat {
            LineStat::Same => "same".to_string(),
            LineStat::SecretsOnly => "only masked secret values differ".to_string(),
            LineStat::Changed {
                added: a,
                removed: r,
            } => {
                added += a;
                removed += r;
                format!("+{a} -{r}")
            }
        };
        if f.stat != LineStat::Same {
            differ += 1;
        }
        let missing = if f.live_missing {
            " (live: missing)"
        } else {
            ""
        };
        let _ = writeln!(out, "{}{missing}: {what}", f.path.display());
    }
    if differ == 0 {
        let _ = writeln!(
            out,
            "No differences: {} matches snapshot {id}.",
            live.display()
        );
    } else {
        let _ = writeln!(
            out,
            "{differ} of {} file(s) differ from snapshot {id}: {added} line(s) added, {removed} removed",
            stats.len()
        );
    }
    out
}

fn read_live(path: &Path) -> Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
    }
}

/// The masked diff of one stored file against the live one (see [`masked_diff`]).
fn diff_one(old: &[u8], path: &Path, shown: &str, words: &[String]) -> Result<Option<String>> {
    let new = read_live(path)?;
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
    let report = check_snapshots(ctx, cfg);
    if ctx.json {
        let doc = crate::json::verify(&report, ctx.now());
        println!("{}", serde_json::to_string(&doc)?);
    } else {
        print!("{}", verify_text(&report));
    }
    let damaged = report.damaged_names();
    if damaged.is_empty() {
        Ok(Outcome::noop(format!(
            "{} snapshots intact",
            report.intact()
        )))
    } else {
        Err(data_error(format!(
            "{} damaged snapshot(s): {}; they will not be restored. Restore from another snapshot \
             if the damaged one was the last good version",
            damaged.len(),
            damaged.join(", ")
        )))
    }
}

/// Every snapshot re-hashed: configs by watched file, then the gateway's databases.
fn check_snapshots(ctx: &Ctx<Data>, cfg: &Config) -> VerifyReport {
    let mut files = Vec::new();
    for fc in &cfg.files {
        let name = fc.name();
        let dir = cfg.snapshot_dir(&ctx.paths, fc);
        let live = ctx.paths.resolve(&fc.path);
        let mut check = SnapshotCheck {
            name: name.clone(),
            dir: dir.display().to_string(),
            checked: false,
            snapshots: 0,
            intact: 0,
            damaged: Vec::new(),
            untracked: Vec::new(),
        };
        let Some(st) = ctx.state.data.files.get(&name) else {
            files.push(check);
            continue;
        };
        check.checked = true;
        check.snapshots = st.snapshots.len();
        let mut known = BTreeSet::new();
        for s in &st.snapshots {
            known.insert(s.file_name());
            match store::read_verified(&dir, s, &root_name(&live)) {
                Ok(_) => check.intact += 1,
                Err(d) => check.damaged.push(Damaged {
                    id: s.id.clone(),
                    last_good: st.last_good.as_deref() == Some(s.sha256.as_str()),
                    detail: d.to_string(),
                }),
            }
        }
        check.untracked = store::list_entries(&dir)
            .into_iter()
            .filter(|f| !known.contains(f))
            .collect();
        files.push(check);
    }
    let databases = ctx
        .state
        .data
        .databases
        .iter()
        .map(|(key, db)| verify_database(key, db))
        .collect();
    VerifyReport { files, databases }
}

/// What `verify` found (also its JSON document's body).
#[derive(Debug, Clone, serde::Serialize)]
pub struct VerifyReport {
    pub files: Vec<SnapshotCheck>,
    pub databases: Vec<SnapshotCheck>,
}

/// The snapshots of one watched file or one gateway database.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SnapshotCheck {
    /// The watched file's name, or the database's source (`global`, `agent:<id>`).
    pub name: String,
    /// Where its snapshots are.
    pub dir: String,
    /// `false` for a watched file no run has checked yet (it has no snapshots).
    pub checked: bool,
    pub snapshots: usize,
    pub intact: usize,
    pub damaged: Vec<Damaged>,
    /// Entries in the directory the state does not list.
    pub untracked: Vec<String>,
}

/// A snapshot whose content no longer matches its hash.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Damaged {
    pub id: String,
    /// It was the last good version.
    pub last_good: bool,
    pub detail: String,
}

impl VerifyReport {
    pub fn intact(&self) -> usize {
        self.files
            .iter()
            .chain(&self.databases)
            .map(|c| c.intact)
            .sum()
    }
    /// `openclaw.json/<id>`, `gateway global database <id>: <detail>`.
    pub fn damaged_names(&self) -> Vec<String> {
        let files = self.files.iter().flat_map(|c| {
            c.damaged
                .iter()
                .map(move |d| format!("{}/{}", c.name, d.id))
        });
        let dbs = self.databases.iter().flat_map(|c| {
            c.damaged
                .iter()
                .map(move |d| format!("gateway {} database {}: {}", c.name, d.id, d.detail))
        });
        files.chain(dbs).collect()
    }
}

/// `verify` for people.
fn verify_text(r: &VerifyReport) -> String {
    let mut out = String::new();
    for c in &r.files {
        if !c.checked {
            let _ = writeln!(out, "{}: not checked yet, no snapshots", c.name);
            continue;
        }
        for d in &c.damaged {
            let lg = if d.last_good {
                " [the last good version]"
            } else {
                ""
            };
            let _ = writeln!(out, "DAMAGED {}/{}{lg}: {}", c.name, d.id, d.detail);
        }
        let _ = writeln!(
            out,
            "{}: {} of {} snapshots intact in {}",
            c.name, c.intact, c.snapshots, c.dir
        );
        for u in &c.untracked {
            let _ = writeln!(
                out,
                "  untracked {u} (not in state; the next run adopts it if it is a snapshot of ours)"
            );
        }
    }
    for c in &r.databases {
        for d in &c.damaged {
            let _ = writeln!(
                out,
                "DAMAGED gateway {} database snapshot {}: {}",
                c.name, d.id, d.detail
            );
        }
        let _ = writeln!(
            out,
            "gateway {} database: {} of {} snapshots intact in {}",
            c.name, c.intact, c.snapshots, c.dir
        );
    }
    out
}

/// Re-hash each `database.sqlite` against the sha256 its manifest gave.
fn verify_database(key: &str, db: &DatabaseState) -> SnapshotCheck {
    let mut check = SnapshotCheck {
        name: key.to_string(),
        dir: db.repository.clone(),
        checked: true,
        snapshots: db.snapshots.len(),
        intact: 0,
        damaged: Vec::new(),
        untracked: Vec::new(),
    };
    for s in &db.snapshots {
        let p = Path::new(&db.repository)
            .join(&s.id)
            .join("database.sqlite");
        let damage = match std::fs::read(&p) {
            Ok(b) if sha256_hex(&b) == s.sha256 => None,
            Ok(b) => Some(format!(
                "content changed (sha256 now {})",
                &sha256_hex(&b)[..12]
            )),
            Err(e) => Some(e.to_string()),
        };
        match damage {
            None => check.intact += 1,
            Some(detail) => check.damaged.push(Damaged {
                id: s.id.clone(),
                last_good: false,
                detail,
            }),
        }
    }
    check
}

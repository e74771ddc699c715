//! Putting archived notes back: the `restore <date>` subcommand (puts a day back and holds
//! it: compaction leaves it alone, and its digest is rebuilt without it at the next run),
//! `release <date>` (lifts the hold), `status`, and the nightly put-back of notes `MEMORY.md`
//! refers to that an earlier version had archived.

use crate::config::Config;
use crate::data::{Data, RunStats};
use crate::layout::{self, Archived, ScanNotes};
use crate::setup::Setup;
use crate::{migrate, parse_date_arg, refs};
use anyhow::{Context, Result, anyhow};
use common::{Ctx, Outcome, data_error, fsutil};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The paths `MEMORY.md` refers to (empty when there is no MEMORY.md).
pub fn references(setup: &Setup) -> Result<BTreeSet<String>> {
    let path = setup.workspace.join("MEMORY.md");
    match fs::read(&path) {
        Ok(b) => Ok(refs::referenced_paths(&String::from_utf8_lossy(&b))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeSet::new()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// One note to write back: its versions joined.
struct Back {
    name: String,
    dest: PathBuf,
    bytes: Vec<u8>,
    mode: u32,
    versions: usize,
}

/// The note `name` from its archived versions (joined in order, see `layout::join_versions`).
fn from_archive(memory: &Path, name: &str, versions: &[&Archived]) -> Result<Back> {
    let mut parts = Vec::new();
    for a in versions {
        parts.push(fs::read(&a.path).with_context(|| format!("cannot read {}", a.path.display()))?);
    }
    let mode = versions
        .first()
        .and_then(|a| fs::metadata(&a.path).ok())
        .map_or(0o600, |m| m.permissions().mode() & 0o7777);
    Ok(Back {
        name: name.to_string(),
        dest: memory.join(name),
        bytes: layout::join_versions(parts),
        mode,
        versions: versions.len(),
    })
}

/// Write a note back into `memory/` (atomically) and check it reads back.
fn write_back(b: &Back) -> Result<()> {
    fsutil::write_atomic_with(
        &b.dest,
        &b.bytes,
        fsutil::FileOptions {
            mode: Some(b.mode),
            owner: None,
        },
    )?;
    let back = fs::read(&b.dest).with_context(|| format!("cannot re-read {}", b.dest.display()))?;
    if back != b.bytes {
        return Err(anyhow!(
            "{} does not read back as written",
            b.dest.display()
        ));
    }
    Ok(())
}

/// Archived versions grouped by original name, oldest first.
fn by_name<'a>(
    archived: impl Iterator<Item = &'a Archived>,
) -> BTreeMap<String, Vec<&'a Archived>> {
    let mut out: BTreeMap<String, Vec<&Archived>> = BTreeMap::new();
    for a in archived {
        out.entry(a.name.clone()).or_default().push(a);
    }
    for v in out.values_mut() {
        v.sort_by_key(|a| a.version);
    }
    out
}

/// Put back every note `MEMORY.md` refers to that is archived and not in place (an earlier
/// version compacted it): the reference resolves again. The archived copies stay.
pub fn put_back_referenced(
    dry_run: bool,
    setup: &Setup,
    protected: &BTreeSet<String>,
    archived: &[Archived],
    stats: &mut RunStats,
) {
    let wanted = archived
        .iter()
        .filter(|a| protected.contains(&a.name) && !setup.memory.join(&a.name).exists());
    for (name, versions) in by_name(wanted) {
        if dry_run {
            log::info!("dry run: would put memory/{name} back (MEMORY.md refers to it)");
            continue;
        }
        match from_archive(&setup.memory, &name, &versions).and_then(|b| write_back(&b)) {
            Ok(()) => {
                log::info!("put memory/{name} back from the archive: MEMORY.md refers to it");
                stats.put_back.push(name);
            }
            Err(e) => {
                let msg = format!("{name}: {}", common::exit::one_line(&e));
                log::error!("{msg}");
                stats.failed.push(msg);
            }
        }
    }
}

/// `restore <date>`.
pub fn restore(ctx: &mut Ctx<Data>, cfg: &Config, date: &str) -> Result<Outcome> {
    let day = parse_date_arg(date)?;
    let setup = Setup::gather(ctx, cfg)?;
    // Archives of earlier versions are moved first, so they are found where they belong.
    let refs = references(&setup)?;
    let mut moved = RunStats::default();
    migrate::layout(ctx, &setup, &refs, &mut moved)?;
    let mut notes = ScanNotes::default();
    let archived: Vec<Archived> = layout::scan_archive(&setup.archive, &mut notes)?
        .into_iter()
        .filter(|a| a.date == day)
        .collect();
    if archived.is_empty() {
        return Err(data_error(format!(
            "nothing is archived for {date} under {} (see `compact-memory status`)",
            setup.archive.display()
        )));
    }
    let mut plan = Vec::new();
    for (name, versions) in by_name(archived.iter()) {
        let b = from_archive(&setup.memory, &name, &versions)?;
        let state = match fs::read(&b.dest) {
            Ok(cur) if cur == b.bytes => "already in place",
            Ok(_) => {
                return Err(data_error(format!(
                    "{} exists and differs from the archived text; move it away (or let a run compact it) and restore again",
                    b.dest.display()
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => "restored",
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", b.dest.display())),
        };
        plan.push((b, state));
    }
    // Hold the day first, so a run that starts right after never compacts it half-restored.
    if !ctx.dry_run {
        ctx.state.data.held.insert(day);
        ctx.checkpoint()?;
    }
    let mut lines = Vec::new();
    for (b, state) in &plan {
        if ctx.dry_run {
            lines.push(format!(
                "would restore memory/{} ({} bytes)",
                b.name,
                b.bytes.len()
            ));
            continue;
        }
        if *state == "restored" {
            write_back(b)?;
        }
        let joined = if b.versions > 1 {
            format!(", {} archived versions joined", b.versions)
        } else {
            String::new()
        };
        lines.push(format!(
            "{state}: memory/{} ({} bytes{joined})",
            b.name,
            b.bytes.len()
        ));
    }
    let key = cfg.period.of(day).key;
    println!("{}", lines.join("\n"));
    println!(
        "{date} is held: compaction leaves it alone until `compact-memory release {date}`; the digest {key} is rebuilt without it at the next run. The archived copies stay in {}.",
        setup.archive.display()
    );
    Ok(Outcome::ok(format!(
        "restored {} file(s) of {date}",
        plan.len()
    )))
}

/// `release <date>`.
pub fn release(ctx: &mut Ctx<Data>, date: &str) -> Result<Outcome> {
    let day = parse_date_arg(date)?;
    if !ctx.state.data.held.contains(&day) {
        println!("{date} is not held; nothing to do");
        return Ok(Outcome::noop(format!("{date} was not held")));
    }
    if !ctx.dry_run {
        ctx.state.data.held.remove(&day);
    }
    println!(
        "{date} released: the next run compacts it again (an unchanged file is not archived twice)"
    );
    Ok(Outcome::ok(format!("released {date}")))
}

/// `status`: where things are, what was digested, the budget and the tokens.
pub fn status(ctx: &mut Ctx<Data>, cfg: &Config) -> Result<Outcome> {
    let setup = Setup::gather(ctx, cfg)?;
    let mut notes = ScanNotes::default();
    let in_place = layout::scan_memory(&setup.memory, &mut notes)
        .ok()
        .map(|f| f.len());
    if ctx.json {
        let doc = crate::status_json::document(
            &ctx.state.data,
            ctx.state.last_run.as_ref(),
            ctx.state.last_success,
            &setup,
            in_place.map(|n| n as u64),
            ctx.now(),
        );
        println!("{}", serde_json::to_string(&doc)?);
        return Ok(Outcome::noop("status printed"));
    }
    println!(
        "workspace: {} (agent {})",
        setup.workspace.display(),
        setup.agent
    );
    println!("archive: {}", setup.archive.display());
    println!(
        "keep: notes younger than {} days stay ({})",
        setup.keep.days, setup.keep.why
    );
    print_digests(&ctx.state.data);
    if let Some(n) = in_place {
        println!("daily notes in place: {n}");
    }
    print_budget(&ctx.state.data);
    print_tokens(&ctx.state.data);
    Ok(Outcome::noop("status printed"))
}

fn print_digests(d: &Data) {
    let mut by_method: BTreeMap<&str, usize> = BTreeMap::new();
    for r in d.digests.values() {
        *by_method.entry(r.method.as_str()).or_default() += 1;
    }
    let sources: usize = d.digests.values().map(|r| r.sources.len()).sum();
    let methods: Vec<String> = by_method.iter().map(|(m, n)| format!("{n} {m}")).collect();
    println!(
        "digests: {} ({}), listing {sources} archived source(s)",
        d.digests.len(),
        methods.join(", ")
    );
    for (k, r) in &d.digests {
        println!(
            "  {k}: memory/{}, {} source(s), {}{}{}",
            r.path,
            r.sources.len(),
            r.method.as_str(),
            if r.complete { "" } else { ", period open" },
            r.fallback
                .as_deref()
                .map(|f| format!(" (fallback: {f})"))
                .unwrap_or_default()
        );
    }
    if !d.held.is_empty() {
        let held: Vec<String> = d.held.iter().map(|h| h.to_string()).collect();
        println!("held (restored): {}", held.join(", "));
    }
}

fn print_budget(d: &Data) {
    let Some(b) = &d.budget else {
        println!("memory budget: not measured yet");
        return;
    };
    println!(
        "memory budget ({}): total {} of {} chars{}",
        b.measured_at.format("%Y-%m-%d %H:%M UTC"),
        b.total_chars,
        b.total_limit,
        if b.over { " — OVER" } else { "" }
    );
    println!("  limits from: {}", b.source);
    for f in &b.files {
        let what = if f.retired {
            " — retired, not injected".to_string()
        } else {
            format!(" of {}{}", f.limit, if f.over { " — OVER" } else { "" })
        };
        println!("  {}: {} chars{what}", f.name, f.chars);
    }
    for n in &b.notes {
        println!("  note: {n}");
    }
}

fn print_tokens(d: &Data) {
    let t = &d.tokens;
    let failures = if t.failures.is_empty() {
        String::new()
    } else {
        let f: Vec<String> = t.failures.iter().map(|(k, n)| format!("{k} {n}")).collect();
        format!("; failures: {}", f.join(", "))
    };
    println!(
        "model tokens: last run {}, today {} (day {}), total {} in {} call(s){failures}",
        t.run_tokens,
        t.day_tokens,
        t.day.map(|d| d.to_string()).unwrap_or_else(|| "-".into()),
        t.total_tokens,
        t.calls,
    );
}

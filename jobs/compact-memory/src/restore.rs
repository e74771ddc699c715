//! The manual subcommands: `restore <date>` puts a day's archived originals back into
//! `memory/` and holds the day (compaction leaves it alone, and its digest is rebuilt without
//! it at the next run); `release <date>` lifts the hold; `status` prints what is where.

use crate::compact::sha256_hex;
use crate::layout::{self, ScanNotes};
use crate::{Config, Data, parse_date_arg};
use anyhow::{Context, Result};
use common::{Ctx, Outcome, config_error, data_error, fsutil};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;

fn memory_dir(ctx: &Ctx<Data>, cfg: &Config) -> Result<std::path::PathBuf> {
    let ws = ctx.paths.resolve(&cfg.workspace);
    if !ws.is_dir() {
        return Err(config_error(format!(
            "`compact-memory.workspace`: {} is not a directory",
            ws.display()
        )));
    }
    Ok(ws.join("memory"))
}

/// `restore <date>`.
pub fn restore(ctx: &mut Ctx<Data>, cfg: &Config, date: &str) -> Result<Outcome> {
    let day = parse_date_arg(date)?;
    let memory = memory_dir(ctx, cfg)?;
    let mut notes = ScanNotes::default();
    let archived: Vec<_> = layout::scan_archive(&memory, &mut notes)?
        .into_iter()
        .filter(|a| a.date == day)
        .collect();
    if archived.is_empty() {
        return Err(data_error(format!(
            "nothing is archived for {date} under {} (see `compact-memory status`)",
            memory.join("archive").display()
        )));
    }
    // Versions of one name are joined in order (see `layout::join_versions`).
    let mut by_name: BTreeMap<String, Vec<&layout::Archived>> = BTreeMap::new();
    for a in &archived {
        by_name.entry(a.name.clone()).or_default().push(a);
    }
    let mut plan = Vec::new();
    for (name, mut versions) in by_name {
        versions.sort_by_key(|a| a.version);
        let mut parts = Vec::new();
        for a in &versions {
            parts.push(
                fs::read(&a.path).with_context(|| format!("cannot read {}", a.path.display()))?,
            );
        }
        let bytes = layout::join_versions(parts);
        let mode = fs::metadata(&versions[0].path)
            .map(|m| m.permissions().mode() & 0o7777)
            .unwrap_or(0o600);
        let dest = memory.join(&name);
        let state = match fs::read(&dest) {
            Ok(cur) if cur == bytes => "already in place",
            Ok(_) => {
                return Err(data_error(format!(
                    "{} exists and differs from the archived text; move it away (or let a run compact it) and restore again",
                    dest.display()
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => "restored",
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", dest.display())),
        };
        plan.push((name, dest, bytes, mode, versions.len(), state));
    }
    // Hold the day first, so a run that starts right after never compacts it half-restored.
    if !ctx.dry_run {
        ctx.state.data.held.insert(day);
        ctx.checkpoint()?;
    }
    let mut lines = Vec::new();
    for (name, dest, bytes, mode, nv, state) in &plan {
        if ctx.dry_run {
            lines.push(format!(
                "would restore memory/{name} ({} bytes)",
                bytes.len()
            ));
            continue;
        }
        if *state == "restored" {
            fsutil::write_atomic_with(
                dest,
                bytes,
                fsutil::FileOptions {
                    mode: Some(*mode),
                    owner: None,
                },
            )?;
            let back =
                fs::read(dest).with_context(|| format!("cannot re-read {}", dest.display()))?;
            if sha256_hex(&back) != sha256_hex(bytes) {
                return Err(anyhow::anyhow!(
                    "{} does not read back as written",
                    dest.display()
                ));
            }
        }
        lines.push(format!(
            "{state}: memory/{name} ({} bytes{})",
            bytes.len(),
            if *nv > 1 {
                format!(", {nv} archived versions joined")
            } else {
                String::new()
            }
        ));
    }
    let key = cfg.period.of(day).key;
    println!("{}", lines.join("\n"));
    println!(
        "{date} is held: compaction leaves it alone until `compact-memory release {date}`; the digest {key} is rebuilt without it at the next run. The archived copies stay in place."
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

/// `status`.
pub fn status(ctx: &mut Ctx<Data>, cfg: &Config) -> Result<Outcome> {
    let d = &ctx.state.data;
    let mut by_method: BTreeMap<&str, usize> = BTreeMap::new();
    for r in d.digests.values() {
        *by_method.entry(r.method.as_str()).or_default() += 1;
    }
    let sources: usize = d.digests.values().map(|r| r.sources.len()).sum();
    println!(
        "digests: {} ({}), listing {sources} archived source(s)",
        d.digests.len(),
        by_method
            .iter()
            .map(|(m, n)| format!("{n} {m}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for (k, r) in &d.digests {
        println!(
            "  {k}: {} source(s), {}{}{}",
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
    if let Ok(memory) = memory_dir(ctx, cfg) {
        let mut notes = ScanNotes::default();
        if let Ok(files) = layout::scan_memory(&memory, &mut notes) {
            println!("daily files in place: {}", files.len());
        }
    }
    match &d.budget {
        Some(b) => {
            println!(
                "memory budget ({}): total {} of {} chars{}",
                b.measured_at.format("%Y-%m-%d %H:%M UTC"),
                b.total_chars,
                b.total_limit,
                if b.over { " — OVER" } else { "" }
            );
            for f in &b.files {
                println!(
                    "  {}: {} of {} chars{}",
                    f.name,
                    f.chars,
                    b.per_file_limit,
                    if f.over { " — OVER" } else { "" }
                );
            }
        }
        None => println!("memory budget: not measured yet"),
    }
    let t = &d.tokens;
    println!(
        "model tokens: last run {}, today {} (day {}), total {} in {} call(s){}",
        t.run_tokens,
        t.day_tokens,
        t.day.map(|d| d.to_string()).unwrap_or_else(|| "-".into()),
        t.total_tokens,
        t.calls,
        if t.failures.is_empty() {
            String::new()
        } else {
            format!(
                "; failures: {}",
                t.failures
                    .iter()
                    .map(|(k, n)| format!("{k} {n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
    Ok(Outcome::noop("status printed"))
}

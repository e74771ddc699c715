//! The memory budget report: the bootstrap files the gateway injects into every prompt
//! against its budgets, computed the way the gateway does it (source `bootstrap.ts`
//! `buildBootstrapContextFiles`, verified against OpenClaw 2026.9.6):
//!
//! - files in prompt order (`AGENTS.md`, `SOUL.md`, `IDENTITY.md`, `USER.md`, `BOOTSTRAP.md`,
//!   `MEMORY.md`); a missing `MEMORY.md`/`USER.md` is skipped;
//! - each file's length in UTF-16 code units after trimming trailing whitespace;
//! - each file cut to `min(its budget, what is left of the total)` (75 % head, 25 % tail),
//!   its budget being `bootstrapMaxChars`, or `min(bootstrapMaxChars, 4000)` for `USER.md`;
//! - once fewer than 64 characters of the total are left, the remaining files are skipped;
//! - `contextInjection: never` injects nothing.
//!
//! `TOOLS.md` and `HEARTBEAT.md` are retired (not injected): reported when present, never
//! measured against a budget. The report is kept in state (publish-report shows it) and every
//! problem is a WARN line on stderr. Nothing here writes a file.

use crate::data::{BudgetReport, Data, FileSize};
use crate::setup::{Limits, Setup};
use chrono::{DateTime, Utc};
use common::Ctx;
use std::path::Path;

/// Below this many characters left of the total, the gateway skips the remaining files.
const MIN_FILE_BUDGET: u64 = 64;

/// Measure the bootstrap files against the budgets; problems are WARN lines.
pub fn measure(ctx: &mut Ctx<Data>, setup: &Setup) {
    let (files, unreadable) = read_files(&setup.workspace, &setup.bootstrap_files);
    let (retired, _) = read_files(&setup.workspace, &setup.retired_files);
    let report = evaluate(
        &files,
        &retired,
        unreadable,
        &setup.limits,
        &setup.agent,
        ctx.now(),
    );
    for p in &report.problems {
        log::warn!("memory budget: {p}");
    }
    for n in &report.notes {
        if n.contains("retired") {
            log::warn!("memory budget: {n}");
        } else {
            log::info!("memory budget: {n}");
        }
    }
    log::debug!("memory budget limits: {}", report.source);
    ctx.metric_set("memory_total_chars", report.total_chars);
    ctx.metric_set("memory_budget_over", report.over);
    ctx.state.data.budget = Some(report);
}

/// One file as read from the workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Measured {
    pub name: String,
    /// UTF-16 code units after trimming trailing whitespace (the gateway's `trimEnd().length`).
    pub chars: u64,
    pub bytes: u64,
}

/// Read `names` in `workspace`: the ones that exist, and a problem line per unreadable one.
pub fn read_files(workspace: &Path, names: &[String]) -> (Vec<Measured>, Vec<String>) {
    let mut found = Vec::new();
    let mut problems = Vec::new();
    for name in names {
        let path = workspace.join(name);
        match std::fs::read(&path) {
            Ok(b) => found.push(Measured {
                name: name.clone(),
                chars: gateway_length(&String::from_utf8_lossy(&b)),
                bytes: b.len() as u64,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => problems.push(format!("cannot read {}: {e}", path.display())),
        }
    }
    (found, problems)
}

/// The length the gateway measures: UTF-16 code units after JavaScript's `trimEnd()` (which
/// also drops a trailing byte-order mark).
pub fn gateway_length(text: &str) -> u64 {
    text.trim_end_matches(|c: char| c.is_whitespace() || c == '\u{feff}')
        .encode_utf16()
        .count() as u64
}

/// The report for `files` (in prompt order) and the retired files found, against `limits`.
pub fn evaluate(
    files: &[Measured],
    retired: &[Measured],
    unreadable: Vec<String>,
    limits: &Limits,
    agent: &str,
    now: DateTime<Utc>,
) -> BudgetReport {
    let never = limits.context_injection == "never";
    let mut problems = unreadable;
    let mut out = inject(files, limits, never);
    if !never {
        problems.extend(
            files
                .iter()
                .zip(&out)
                .filter(|(_, s)| s.over)
                .map(|(f, s)| over_file(f, s.limit, s.injected)),
        );
        problems.extend(over_total(files, &out, limits.total));
    }
    let mut notes = Vec::new();
    if never {
        notes.push(format!(
            "contextInjection is \"never\" for agent {agent}: the gateway injects no bootstrap file, so no budget applies"
        ));
    }
    if files.iter().any(|f| f.name == "BOOTSTRAP.md") {
        notes.push("BOOTSTRAP.md is present: the gateway injects it only until workspace setup is complete (first-run instructions); delete it once setup is done".into());
    }
    for r in retired {
        notes.push(retired_note(&r.name));
        out.push(FileSize {
            name: r.name.clone(),
            chars: r.chars,
            bytes: r.bytes,
            limit: 0,
            injected: 0,
            over: false,
            retired: true,
        });
    }
    BudgetReport {
        measured_at: now,
        source: limits.source.clone(),
        agent: agent.to_string(),
        per_file_limit: limits.per_file,
        total_limit: limits.total,
        user_limit: limits.user_md,
        context_injection: limits.context_injection.clone(),
        total_chars: files.iter().map(|f| f.chars).sum(),
        injected_chars: out.iter().map(|f| f.injected).sum(),
        over: !problems.is_empty(),
        files: out,
        problems,
        notes,
    }
}

/// What the gateway injects of each file: cut to `min(its budget, what is left of the
/// total)`, nothing once fewer than 64 characters are left (or with `never`).
fn inject(files: &[Measured], limits: &Limits, never: bool) -> Vec<FileSize> {
    let mut left = limits.total;
    files
        .iter()
        .map(|f| {
            let limit = if f.name == "USER.md" {
                limits.user_md
            } else {
                limits.per_file
            };
            let injected = if never || left < MIN_FILE_BUDGET {
                0
            } else {
                f.chars.min(limit.min(left).max(1))
            };
            left = left.saturating_sub(injected);
            FileSize {
                name: f.name.clone(),
                chars: f.chars,
                bytes: f.bytes,
                limit,
                injected,
                over: f.chars > limit && !never,
                retired: false,
            }
        })
        .collect()
}

/// The total-budget problem, if the files cut to their own budgets do not fit the total.
fn over_total(files: &[Measured], sizes: &[FileSize], total: u64) -> Option<String> {
    let capped: u64 = files
        .iter()
        .zip(sizes)
        .map(|(f, s)| f.chars.min(s.limit))
        .sum();
    if capped <= total {
        return None;
    }
    let cut: Vec<&str> = files
        .iter()
        .zip(sizes)
        .filter(|(f, s)| s.injected < f.chars.min(s.limit))
        .map(|(f, _)| f.name.as_str())
        .collect();
    Some(format!(
        "bootstrap files total {capped} characters after their per-file limits, over the total budget of {total}: the gateway cuts or skips {}",
        if cut.is_empty() {
            "the last files".to_string()
        } else {
            cut.join(", ")
        }
    ))
}

fn over_file(f: &Measured, budget: u64, injected: u64) -> String {
    let which = if f.name == "USER.md" {
        "the USER.md cap".to_string()
    } else {
        "the per-file budget".to_string()
    };
    format!(
        "{} is {} characters, over {which} of {budget}: the gateway injects only {injected} of them (head and tail) and drops the middle silently; move old entries out of it",
        f.name, f.chars
    )
}

fn retired_note(name: &str) -> String {
    let how = match name {
        "HEARTBEAT.md" => "heartbeat context moved to the cron monitor's scratch",
        "TOOLS.md" => "tool notes belong in the Tools section of AGENTS.md",
        _ => "it is no longer a bootstrap file",
    };
    format!(
        "{name} is present but retired: the gateway no longer injects it ({how}); `openclaw doctor --fix` migrates it"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str, chars: u64) -> Measured {
        Measured {
            name: name.into(),
            chars,
            bytes: chars,
        }
    }

    fn limits(per_file: u64, total: u64, injection: &str) -> Limits {
        Limits {
            per_file,
            total,
            user_md: per_file.min(4000),
            context_injection: injection.into(),
            source: "test".into(),
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-02-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn counts_utf16_after_trim_end() {
        assert_eq!(gateway_length("é".repeat(30).as_str()), 30);
        assert_eq!(
            gateway_length("😀"),
            2,
            "one astral character is two UTF-16 units"
        );
        assert_eq!(gateway_length("abc \n\n\t\u{feff}"), 3);
        assert_eq!(gateway_length("  abc"), 5, "only the end is trimmed");
    }

    #[test]
    fn user_md_has_its_own_cap() {
        let r = evaluate(
            &[m("USER.md", 4001), m("MEMORY.md", 4001)],
            &[],
            vec![],
            &limits(20000, 60000, "always"),
            "main",
            now(),
        );
        assert!(r.over);
        assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
        assert!(
            r.problems[0].starts_with("USER.md is 4001 characters, over the USER.md cap of 4000"),
            "{:?}",
            r.problems
        );
        assert_eq!(r.files[0].injected, 4000);
        assert_eq!(r.user_limit, 4000);
        let ok = evaluate(
            &[m("USER.md", 4000)],
            &[],
            vec![],
            &limits(20000, 60000, "always"),
            "main",
            now(),
        );
        assert!(!ok.over);
    }

    #[test]
    fn the_total_applies_after_per_file_cuts_in_prompt_order() {
        let files = [
            m("AGENTS.md", 45000),
            m("SOUL.md", 19000),
            m("IDENTITY.md", 19000),
            m("MEMORY.md", 20001),
        ];
        let r = evaluate(
            &files,
            &[],
            vec![],
            &limits(20000, 60000, "always"),
            "main",
            now(),
        );
        assert_eq!(r.total_chars, 103001);
        let injected: Vec<u64> = r.files.iter().map(|f| f.injected).collect();
        assert_eq!(injected, [20000, 19000, 19000, 2000]);
        assert_eq!(r.injected_chars, 60000);
        assert!(
            r.problems
                .iter()
                .any(|p| p.starts_with("AGENTS.md is 45000"))
        );
        assert!(
            r.problems
                .iter()
                .any(|p| p.starts_with("MEMORY.md is 20001"))
        );
        assert!(
            r.problems.iter().any(|p| p.starts_with(
                "bootstrap files total 78000 characters after their per-file limits, over the total budget of 60000"
            )),
            "{:?}",
            r.problems
        );
        // Two files that fit their per-file budget but not the total together.
        let r = evaluate(
            &[m("AGENTS.md", 15000), m("MEMORY.md", 15000)],
            &[],
            vec![],
            &limits(20000, 20000, "always"),
            "main",
            now(),
        );
        assert!(
            r.problems[0].contains("cuts or skips MEMORY.md"),
            "{:?}",
            r.problems
        );
        // Fewer than 64 left: the next file is skipped entirely.
        let r = evaluate(
            &[m("AGENTS.md", 9950), m("MEMORY.md", 500)],
            &[],
            vec![],
            &limits(20000, 10000, "always"),
            "main",
            now(),
        );
        assert_eq!(r.files[1].injected, 0);
    }

    #[test]
    fn never_injects_nothing_and_retired_files_are_noted() {
        let r = evaluate(
            &[m("MEMORY.md", 90000), m("BOOTSTRAP.md", 10)],
            &[m("TOOLS.md", 10), m("HEARTBEAT.md", 5)],
            vec![],
            &limits(20000, 60000, "never"),
            "ops",
            now(),
        );
        assert!(!r.over, "{:?}", r.problems);
        assert_eq!(r.injected_chars, 0);
        assert!(r.notes[0].contains("contextInjection is \"never\" for agent ops"));
        assert!(
            r.notes
                .iter()
                .any(|n| n.starts_with("BOOTSTRAP.md is present"))
        );
        assert!(
            r.notes
                .iter()
                .any(|n| n.starts_with("TOOLS.md is present but retired"))
        );
        assert!(
            r.notes
                .iter()
                .any(|n| n.starts_with("HEARTBEAT.md is present but retired"))
        );
        let tools = r.files.iter().find(|f| f.name == "TOOLS.md").unwrap();
        assert!(tools.retired && tools.limit == 0 && !tools.over);
    }

    #[test]
    fn reads_only_what_exists() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("MEMORY.md"), "é".repeat(30) + "\n\n").unwrap();
        let names: Vec<String> = ["MEMORY.md", "USER.md"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (found, problems) = read_files(d.path(), &names);
        assert!(problems.is_empty());
        assert_eq!(
            found,
            [Measured {
                name: "MEMORY.md".into(),
                chars: 30,
                bytes: 62
            }]
        );
    }
}

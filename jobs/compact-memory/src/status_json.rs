//! `compact-memory status --json`: the status as one JSON document, for scripts.
//!
//! The shape (documented in `docs/jobs/compact-memory.md`, "Machine-readable output"; every
//! key is always present, `null` when there is nothing to say):
//!
//! ```text
//! { "job": "compact-memory", "as_of": <RFC 3339>,
//!   "last_run": <contracts::run::RunRecord | null>, "last_success": <time | null>,
//!   "facts": <contracts::facts::compact_memory::MemoryFacts>,
//!   "workspace", "agent", "memory_dir", "archive_dir": <string>,
//!   "keep": {"days": <u32>, "why": <string>},
//!   "daily_notes_in_place": <u64 | null>,
//!   "held": [<YYYY-MM-DD>],
//!   "digests": [{"key", "path", "method", "complete", "written_at", "sources", "fallback"}],
//!   "model_tokens": {"day", "day_tokens", "run_tokens", "total_tokens", …, "calls", "failures"} }
//! ```

use crate::data::Data;
use crate::setup::Setup;
use chrono::{DateTime, NaiveDate, Utc};
use common::contracts::facts::compact_memory::MemoryFacts;
use common::contracts::run::RunRecord;
use model::TokenLedger;
use serde::Serialize;

/// The document.
#[derive(Debug, Serialize)]
pub struct StatusDoc<'a> {
    pub job: &'static str,
    pub as_of: DateTime<Utc>,
    pub last_run: Option<&'a RunRecord>,
    pub last_success: Option<DateTime<Utc>>,
    pub facts: MemoryFacts,
    pub workspace: String,
    pub agent: &'a str,
    pub memory_dir: String,
    pub archive_dir: String,
    pub keep: Keep<'a>,
    /// Daily notes now in `memory/` (`null`: the directory could not be listed).
    pub daily_notes_in_place: Option<u64>,
    /// Days restored and held (compaction leaves them alone).
    pub held: Vec<NaiveDate>,
    pub digests: Vec<DigestView<'a>>,
    pub model_tokens: &'a TokenLedger,
}

/// Notes younger than `days` stay, and why.
#[derive(Debug, Serialize)]
pub struct Keep<'a> {
    pub days: u32,
    pub why: &'a str,
}

/// One digest written by the job.
#[derive(Debug, Serialize)]
pub struct DigestView<'a> {
    /// The period (`2026-W07`).
    pub key: &'a str,
    /// Relative to `memory/`.
    pub path: &'a str,
    /// `model`, `rules` or `raw`.
    pub method: &'static str,
    /// Every day of the period was old enough when it was written.
    pub complete: bool,
    pub written_at: DateTime<Utc>,
    /// Archived originals it lists.
    pub sources: u64,
    /// Why a better method was not used.
    pub fallback: Option<&'a str>,
}

/// Build the document.
pub fn document<'a>(
    data: &'a Data,
    last_run: Option<&'a RunRecord>,
    last_success: Option<DateTime<Utc>>,
    setup: &'a Setup,
    notes_in_place: Option<u64>,
    now: DateTime<Utc>,
) -> StatusDoc<'a> {
    StatusDoc {
        job: "compact-memory",
        as_of: now,
        last_run,
        last_success,
        facts: crate::outcome::facts(data),
        workspace: setup.workspace.display().to_string(),
        agent: &setup.agent,
        memory_dir: setup.memory.display().to_string(),
        archive_dir: setup.archive.display().to_string(),
        keep: Keep {
            days: setup.keep.days,
            why: &setup.keep.why,
        },
        daily_notes_in_place: notes_in_place,
        held: data.held.iter().copied().collect(),
        digests: data
            .digests
            .iter()
            .map(|(k, r)| DigestView {
                key: k,
                path: &r.path,
                method: r.method.as_str(),
                complete: r.complete,
                written_at: r.written_at,
                sources: r.sources.len() as u64,
                fallback: r.fallback.as_deref(),
            })
            .collect(),
        model_tokens: &data.tokens,
    }
}

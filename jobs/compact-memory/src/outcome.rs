//! The record step: metrics, what the last run did, the outcome, and the public facts.

use crate::compact::Done;
use crate::data::Data;
use crate::plan::Plan;
use chrono::NaiveDate;
use common::contracts::facts::compact_memory::{BudgetFacts, FileBudget, MemoryFacts};
use common::{Ctx, Outcome};

/// Metrics, the last run's stats, and the outcome.
pub fn record(ctx: &mut Ctx<Data>, done: Done, plan: &Plan) -> Outcome {
    let Done {
        mut stats,
        degraded,
        stopped,
    } = done;
    stats.kept_for_references = plan.kept_for_references.clone();
    let methods: Vec<String> = stats
        .by_method
        .iter()
        .map(|(m, n)| format!("{n} {m}"))
        .collect();
    let mut summary = format!(
        "archived {} file(s), removed {} original(s), wrote {} digest(s){}",
        stats.files_archived,
        stats.originals_removed,
        stats.digests_written,
        if methods.is_empty() {
            String::new()
        } else {
            format!(" ({})", methods.join(", "))
        }
    );
    if stats.migrated > 0 {
        summary.push_str(&format!(
            "; moved {} file(s) of an earlier layout",
            stats.migrated
        ));
    }
    if let Some(why) = &stopped {
        summary.push_str(&format!("; stopped early ({why}), the next run continues"));
    }
    ctx.metric_set("daily_files_waiting", plan.waiting);
    ctx.metric_set("kept_for_references", plan.kept_for_references.len() as u64);
    ctx.metric_add("files_archived", stats.files_archived);
    ctx.metric_add("originals_removed", stats.originals_removed);
    ctx.metric_add("digests_written", stats.digests_written);
    ctx.metric_add("files_migrated", stats.migrated);
    ctx.metric_set("digests", ctx.state.data.digests.len() as u64);
    ctx.metric_set("model_tokens_today", ctx.state.data.tokens.day_tokens);
    let failed = stats.failed.clone();
    let idle = stats.files_archived == 0
        && stats.originals_removed == 0
        && stats.digests_written == 0
        && stats.migrated == 0
        && stats.put_back.is_empty();
    ctx.state.data.last = Some(stats);
    if !failed.is_empty() {
        return Outcome::failed(summary, failed.join("; "));
    }
    if !degraded.is_empty() {
        return Outcome::degraded(format!("{summary}; {}", degraded.join("; ")));
    }
    if idle && stopped.is_none() {
        return Outcome::noop("nothing to compact");
    }
    Outcome::ok(summary)
}

/// The public facts: the budget report with its source, and what was compacted.
pub fn facts(d: &Data) -> MemoryFacts {
    let last_compacted_day = d
        .digests
        .values()
        .flat_map(|r| r.sources.iter())
        .filter_map(|s| NaiveDate::parse_from_str(s.name.get(..10)?, "%Y-%m-%d").ok())
        .max();
    MemoryFacts {
        budget: d.budget.as_ref().map(|b| BudgetFacts {
            measured_at: Some(b.measured_at),
            source: b.source.clone(),
            per_file_limit: b.per_file_limit,
            total_limit: b.total_limit,
            files: b
                .files
                .iter()
                .map(|f| FileBudget {
                    name: f.name.clone(),
                    chars: f.chars,
                    limit: f.limit,
                    over: f.over,
                    retired: f.retired,
                })
                .collect(),
            total_chars: b.total_chars,
            over: b.over,
            problems: b.problems.clone(),
            notes: b.notes.clone(),
        }),
        digests: d.digests.len() as u64,
        archived: d.digests.values().map(|r| r.sources.len() as u64).sum(),
        last_compacted_day,
        keep_days: d.last.as_ref().map(|l| l.keep_days),
        archive_dir: d.archive_dir.as_ref().map(|p| p.display().to_string()),
    }
}

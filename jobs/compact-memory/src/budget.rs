//! The memory budget report: the size in characters of `MEMORY.md` and the other bootstrap
//! files the gateway injects into every prompt, against its per-file and total budgets
//! (`bootstrapMaxChars`, `bootstrapTotalMaxChars`), which it enforces by truncating silently.
//! Kept in state for publish-report and warned about on stderr when over.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One measured file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileSize {
    pub name: String,
    pub chars: u64,
    pub bytes: u64,
    /// Over the per-file budget.
    pub over: bool,
}

/// The report kept in state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BudgetReport {
    pub measured_at: DateTime<Utc>,
    pub per_file_limit: u64,
    pub total_limit: u64,
    /// The bootstrap files that exist.
    pub files: Vec<FileSize>,
    pub total_chars: u64,
    /// Some file or the total is over its budget.
    pub over: bool,
    /// Human-readable problems, one per line (empty when within budget).
    pub problems: Vec<String>,
}

/// Measure `names` in `workspace`. Missing files are skipped; unreadable ones are reported.
pub fn measure(
    workspace: &Path,
    names: &[String],
    per_file: u64,
    total: u64,
    now: DateTime<Utc>,
) -> BudgetReport {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    let mut sum = 0u64;
    for name in names {
        let path = workspace.join(name);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                problems.push(format!("cannot read {}: {e}", path.display()));
                continue;
            }
        };
        let chars = String::from_utf8_lossy(&bytes).chars().count() as u64;
        let over = chars > per_file;
        if over {
            problems.push(format!(
                "{name} is {chars} characters, over the per-file budget of {per_file}: the gateway cuts it silently; move old entries out of it"
            ));
        }
        sum += chars;
        files.push(FileSize {
            name: name.clone(),
            chars,
            bytes: bytes.len() as u64,
            over,
        });
    }
    if sum > total {
        problems.push(format!(
            "bootstrap files total {sum} characters, over the total budget of {total}: the gateway truncates them silently"
        ));
    }
    BudgetReport {
        measured_at: now,
        per_file_limit: per_file,
        total_limit: total,
        over: !problems.is_empty(),
        files,
        total_chars: sum,
        problems,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_characters_not_bytes() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("MEMORY.md"), "é".repeat(30)).unwrap();
        std::fs::write(d.path().join("SOUL.md"), "x".repeat(25)).unwrap();
        let names: Vec<String> = ["MEMORY.md", "SOUL.md", "USER.md"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let r = measure(d.path(), &names, 29, 1000, Utc::now());
        assert_eq!(r.files.len(), 2);
        assert_eq!(r.files[0].chars, 30);
        assert_eq!(r.files[0].bytes, 60);
        assert!(r.files[0].over && !r.files[1].over);
        assert!(r.over);
        assert_eq!(r.total_chars, 55);
        let ok = measure(d.path(), &names, 30, 55, Utc::now());
        assert!(!ok.over, "{:?}", ok.problems);
        let total = measure(d.path(), &names, 30, 54, Utc::now());
        assert!(
            total.over && total.problems[0].contains("total"),
            "{:?}",
            total.problems
        );
    }
}

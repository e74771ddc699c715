//! The job registry: the repository's `crontab` file.
//!
//! Every job of the suite has exactly one line there (`<schedule> cd "$AGENT_JOBS_ROOT" &&
//! target/release/<job> [args]`), preceded by a `# <job>: <what it does>` comment. That file is
//! what `scripts/install-crontab` installs, what the scripts and tests iterate over, what the
//! runtime accepts as config sections, and what publish-report checks schedules against: one
//! list, compiled in here, never copied. A test checks that every crate under `jobs/` has a
//! line and every line a crate.

use std::sync::OnceLock;

/// The repository's crontab, compiled in.
pub const CRONTAB: &str = include_str!("../../../crontab");

/// One job of the suite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobEntry {
    /// Binary, crate directory and config-section name (`poll-teams`).
    pub name: String,
    /// The 5-field cron schedule of the shipped line (`*/5 * * * *`).
    pub schedule: String,
    /// Arguments of the shipped line (`--watch 50s`), possibly empty.
    pub args: String,
    /// The comment above the line, without `# <name>: ` (empty if none).
    pub about: String,
}

/// The jobs, in crontab order.
pub fn jobs() -> &'static [JobEntry] {
    static JOBS: OnceLock<Vec<JobEntry>> = OnceLock::new();
    JOBS.get_or_init(|| parse(CRONTAB))
}

/// The job names, in crontab order.
pub fn names() -> impl Iterator<Item = &'static str> {
    jobs().iter().map(|j| j.name.as_str())
}

/// Whether `name` is a job of the suite.
pub fn is_job(name: &str) -> bool {
    names().any(|n| n == name)
}

/// Parse crontab text: each line that runs `target/release/<name>` (commented out or not) is
/// a job; the `# <name>: …` comment right above it is its description.
pub fn parse(text: &str) -> Vec<JobEntry> {
    let mut out: Vec<JobEntry> = Vec::new();
    let mut about = String::new();
    for line in text.lines() {
        let t = line.trim();
        let body = t.trim_start_matches('#').trim();
        if let Some((sched, name, args)) = job_line(body) {
            if !out.iter().any(|j| j.name == name) {
                let about = about
                    .strip_prefix(&format!("{name}:"))
                    .map(str::trim)
                    .unwrap_or("")
                    .to_string();
                out.push(JobEntry {
                    name,
                    schedule: sched,
                    args,
                    about,
                });
            }
            about.clear();
        } else if t.starts_with('#') {
            about = body.to_string();
        } else {
            about.clear();
        }
    }
    out
}

/// `(schedule, name, args)` of a job line (without a leading `#`).
fn job_line(line: &str) -> Option<(String, String, String)> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.len() < 6 {
        return None;
    }
    let sched = fields[..5].join(" ");
    if !fields[..5].iter().all(|f| {
        f.bytes()
            .all(|b| b.is_ascii_digit() || b"*/,-".contains(&b) || b.is_ascii_alphabetic())
    }) {
        return None;
    }
    let cmd = fields[5..].join(" ");
    let at = cmd.find("target/release/")?;
    let rest = &cmd[at + "target/release/".len()..];
    let (name, args) = rest.split_once(' ').unwrap_or((rest, ""));
    let name = name.trim_end_matches(';');
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b == b'-') {
        return None;
    }
    Some((sched, name.to_string(), args.trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_crontab_lists_the_jobs() {
        let names: Vec<&str> = names().collect();
        assert!(names.contains(&"poll-teams"), "{names:?}");
        assert!(names.contains(&"publish-report"), "{names:?}");
        for j in jobs() {
            assert_eq!(j.schedule.split_whitespace().count(), 5, "{j:?}");
            assert!(
                !j.about.is_empty(),
                "{} has no `# name: about` comment",
                j.name
            );
        }
    }

    #[test]
    fn paused_lines_and_args() {
        let t = "# a-job: does a\n* * * * * cd \"$R\" && target/release/a-job --watch 50s\n\
                 # b-job: does b\n# 17 * * * * cd \"$R\" && target/release/b-job\n\
                 PATH=/bin\n";
        let j = parse(t);
        assert_eq!(j.len(), 2);
        assert_eq!(j[0].args, "--watch 50s");
        assert_eq!(j[0].about, "does a");
        assert_eq!(j[1].name, "b-job");
        assert_eq!(j[1].schedule, "17 * * * *");
    }
}

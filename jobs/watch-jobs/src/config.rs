//! The `watch-jobs` section of config.json: where the crontab is read from, its time zone, how
//! late each job may be, and when an outage becomes critical.

use anyhow::Result;
use chrono::{Duration, TimeZone, Utc};
use chrono_tz::Tz;
use common::Paths;
use schedule::CrontabSource;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Smallest accepted grace: cron starts a job within a second or two of its due time, and its
/// run is recorded when it ends.
pub const MIN_GRACE_SECS: u64 = 10;
/// Largest accepted grace and `critical_after_secs` (30 days).
pub const MAX_GRACE_SECS: u64 = 30 * 86_400;
/// Smallest accepted `critical_after_secs`.
pub const MIN_CRITICAL_AFTER_SECS: u64 = 60;
/// Largest accepted `clock_skew_secs` (1 day).
pub const MAX_CLOCK_SKEW_SECS: u64 = 86_400;

/// The default grace: twice the job's period, at least this...
pub const DEFAULT_GRACE_MIN_SECS: i64 = 600;
/// ...and at most this (a daily job missed at 07:05 is noticed the same morning).
pub const DEFAULT_GRACE_MAX_SECS: i64 = 7200;

/// The command that prints the installed crontab, by default.
pub fn default_crontab_command() -> Vec<String> {
    vec!["crontab".into(), "-l".into()]
}

/// `watch-jobs` in config.json. Every key has a default (see docs/jobs/watch-jobs.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Read the crontab from this file (root-relative or `~`) instead of the installed one.
    pub crontab: Option<PathBuf>,
    /// The command printing the installed crontab (argv, no shell) [default: `crontab -l`].
    pub crontab_command: Option<Vec<String>>,
    /// On Kubernetes: read the schedules from the suite's CronJobs instead (a suspended
    /// CronJob is a paused job); `{}` takes every default of a pod.
    pub cronjobs: Option<schedule::kubernetes::CronJobSource>,
    /// IANA time zone cron evaluates the schedules in (a `CRON_TZ=` line overrides it for the
    /// lines after it).
    pub timezone: String,
    /// Per job: seconds a run may be late before it counts as missed [default: twice the
    /// job's period, at least 10 minutes, at most 2 hours].
    pub grace_secs: BTreeMap<String, u64>,
    /// An outage still open this long after it became overdue is alerted again, as critical.
    pub critical_after_secs: u64,
    /// A time in a job's state file later than the clock plus this is clock skew: not
    /// evidence that the job ran.
    pub clock_skew_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            crontab: None,
            crontab_command: None,
            cronjobs: None,
            timezone: "UTC".into(),
            grace_secs: BTreeMap::new(),
            critical_after_secs: 3600,
            clock_skew_secs: 300,
        }
    }
}

impl Config {
    /// The configured time zone (checked by [`validate`]).
    pub fn tz(&self) -> Tz {
        self.timezone.parse().unwrap_or(Tz::UTC)
    }

    /// Where the crontab is read from: the CronJobs, else the file if one is set, else the
    /// command.
    pub fn source(&self, paths: &Paths) -> CrontabSource {
        if let Some(k) = &self.cronjobs {
            return CrontabSource::CronJobs(k.clone());
        }
        match &self.crontab {
            Some(f) => CrontabSource::File(paths.resolve(f)),
            None => CrontabSource::Command(
                self.crontab_command
                    .clone()
                    .unwrap_or_else(default_crontab_command),
            ),
        }
    }

    /// The configured grace of `job`, if any.
    pub fn grace_override(&self, job: &str) -> Option<Duration> {
        self.grace_secs
            .get(job)
            .map(|s| Duration::seconds((*s).min(MAX_GRACE_SECS) as i64))
    }

    pub fn critical_after(&self) -> Duration {
        Duration::seconds(self.critical_after_secs.min(MAX_GRACE_SECS) as i64)
    }

    pub fn skew_tolerance(&self) -> Duration {
        Duration::seconds(self.clock_skew_secs.min(MAX_CLOCK_SKEW_SECS) as i64)
    }
}

fn bad(file: &Path, key: &str, what: impl std::fmt::Display) -> anyhow::Error {
    common::config_error(format!("{}: `watch-jobs.{key}`: {what}", file.display()))
}

/// Checks serde cannot express (run before the lock is taken, and by `--check-config`).
pub fn validate(cfg: &Config, file: &Path) -> Result<()> {
    if cfg.timezone.parse::<Tz>().is_err() {
        return Err(bad(
            file,
            "timezone",
            format!(
                "`{}` is not an IANA time zone (e.g. `Europe/Berlin`, `UTC`)",
                cfg.timezone
            ),
        ));
    }
    if let Some(c) = &cfg.crontab_command {
        if cfg.crontab.is_some() {
            return Err(bad(
                file,
                "crontab_command",
                "set either `crontab` (a file) or `crontab_command`, not both",
            ));
        }
        if c.first().is_none_or(|p| p.is_empty()) {
            return Err(bad(
                file,
                "crontab_command",
                "must name a program (argv list, no shell), e.g. [\"crontab\", \"-l\"]",
            ));
        }
    }
    if let Some(k) = &cfg.cronjobs {
        if cfg.crontab.is_some() || cfg.crontab_command.is_some() {
            return Err(bad(
                file,
                "cronjobs",
                "set either `cronjobs` (Kubernetes), `crontab` or `crontab_command`, not two",
            ));
        }
        k.validate("watch-jobs.cronjobs")
            .map_err(|e| common::config_error(format!("{}: {e}", file.display())))?;
    }
    for (job, secs) in &cfg.grace_secs {
        if job == crate::NAME {
            return Err(bad(
                file,
                &format!("grace_secs.{job}"),
                "watch-jobs does not watch itself (publish-report's job table and its ping do)",
            ));
        }
        if !common::contracts::registry::is_job(job) {
            return Err(bad(
                file,
                &format!("grace_secs.{job}"),
                format!(
                    "not a job of the suite ({})",
                    common::config::jobs().join(", ")
                ),
            ));
        }
        if !(MIN_GRACE_SECS..=MAX_GRACE_SECS).contains(secs) {
            return Err(bad(
                file,
                &format!("grace_secs.{job}"),
                format!("{secs} is out of range {MIN_GRACE_SECS}..={MAX_GRACE_SECS}"),
            ));
        }
    }
    let ranges = [
        (
            "critical_after_secs",
            cfg.critical_after_secs,
            MIN_CRITICAL_AFTER_SECS,
            MAX_GRACE_SECS,
        ),
        (
            "clock_skew_secs",
            cfg.clock_skew_secs,
            0,
            MAX_CLOCK_SKEW_SECS,
        ),
    ];
    for (key, v, lo, hi) in ranges {
        if !(lo..=hi).contains(&v) {
            return Err(bad(file, key, format!("{v} is out of range {lo}..={hi}")));
        }
    }
    Ok(())
}

/// What `--check-config` says without failing: a time zone that differs from this machine's
/// (cron evaluates schedules in the machine's zone unless the crontab sets `CRON_TZ`).
pub fn warnings(cfg: &Config) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(sys) = system_zone()
        && !same_offsets(sys, cfg.tz())
    {
        out.push(format!(
            "`watch-jobs.timezone` is {} but this machine's zone is {sys}: cron runs the jobs in {sys} unless the crontab sets CRON_TZ, so due times may be off by hours (set `timezone` to {sys})",
            cfg.timezone
        ));
    }
    out
}

/// This machine's time zone: the target of `/etc/localtime`, else `/etc/timezone`.
fn system_zone() -> Option<Tz> {
    let link = std::fs::read_link("/etc/localtime").ok();
    let from_link = link.as_ref().and_then(|p| {
        let s = p.to_string_lossy();
        s.split_once("zoneinfo/").map(|(_, z)| z.to_string())
    });
    let name = from_link.or_else(|| {
        std::fs::read_to_string("/etc/timezone")
            .ok()
            .map(|s| s.trim().to_string())
    })?;
    name.parse().ok()
}

/// Two zones with the same offsets in January and July (`Etc/UTC` and `UTC`).
fn same_offsets(a: Tz, b: Tz) -> bool {
    use chrono::Offset;
    [(2026, 1, 15), (2026, 7, 15)].iter().all(|&(y, m, d)| {
        let t = Utc.with_ymd_and_hms(y, m, d, 12, 0, 0).single();
        t.is_some_and(|t| {
            a.offset_from_utc_datetime(&t.naive_utc()).fix()
                == b.offset_from_utc_datetime(&t.naive_utc()).fix()
        })
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn cfg(v: serde_json::Value) -> Config {
        serde_json::from_value(v).unwrap()
    }

    fn err(v: serde_json::Value) -> String {
        let e = validate(&cfg(v), Path::new("/x/config.json")).unwrap_err();
        common::exit::one_line(&e)
    }

    #[test]
    fn defaults_are_valid_and_read_the_installed_crontab() {
        let c = Config::default();
        validate(&c, Path::new("c.json")).unwrap();
        let paths = Paths::new(PathBuf::from("/srv/aj"), None);
        assert_eq!(
            c.source(&paths),
            CrontabSource::Command(vec!["crontab".into(), "-l".into()])
        );
        let c = cfg(serde_json::json!({"crontab": "crontab"}));
        assert_eq!(
            c.source(&paths),
            CrontabSource::File(PathBuf::from("/srv/aj/crontab"))
        );
    }

    #[test]
    fn errors_name_the_key() {
        let e = err(serde_json::json!({"timezone": "Mars/Base"}));
        assert!(
            e.contains("`watch-jobs.timezone`") && e.contains("Mars/Base"),
            "{e}"
        );
        let e = err(serde_json::json!({"crontab": "c", "crontab_command": ["crontab", "-l"]}));
        assert!(e.contains("not both"), "{e}");
        let e = err(serde_json::json!({"crontab_command": []}));
        assert!(e.contains("must name a program"), "{e}");
        let e = err(serde_json::json!({"grace_secs": {"nope": 60}}));
        assert!(e.contains("`watch-jobs.grace_secs.nope`: not a job"), "{e}");
        let e = err(serde_json::json!({"grace_secs": {"watch-jobs": 60}}));
        assert!(e.contains("does not watch itself"), "{e}");
        let e = err(serde_json::json!({"grace_secs": {"poll-teams": 5}}));
        assert!(e.contains("5 is out of range 10..="), "{e}");
        let e = err(serde_json::json!({"critical_after_secs": 0}));
        assert!(e.contains("`watch-jobs.critical_after_secs`"), "{e}");
        assert!(serde_json::from_value::<Config>(serde_json::json!({"grace": 1})).is_err());
    }

    #[test]
    fn zones_with_the_same_offsets_are_the_same() {
        let utc: Tz = "Etc/UTC".parse().unwrap();
        assert!(same_offsets(utc, Tz::UTC));
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        assert!(!same_offsets(berlin, Tz::UTC));
    }
}

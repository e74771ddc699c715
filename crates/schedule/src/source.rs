//! Where the crontab is read from: the installed one (`crontab -l`, what cron runs), a file, or
//! the suite's CronJobs on Kubernetes (rendered as the crontab cron would have: a suspended
//! CronJob is a commented-out line, `spec.timeZone` a `CRON_TZ=` line).

use std::path::PathBuf;
use std::time::Duration;

/// How long `crontab -l` (or the configured command) may take.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the crontab comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum CrontabSource {
    File(PathBuf),
    /// A command's output (`["crontab", "-l"]`), run with a 10 s limit.
    Command(Vec<String>),
    /// The CronJobs of a namespace, through the Kubernetes API.
    CronJobs(kubernetes::CronJobSource),
}

impl std::fmt::Display for CrontabSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CrontabSource::File(p) => write!(f, "{}", p.display()),
            CrontabSource::Command(argv) => write!(f, "`{}`", argv.join(" ")),
            CrontabSource::CronJobs(k) => write!(
                f,
                "the CronJobs labelled {} in namespace {}",
                k.label_selector,
                k.namespace().unwrap_or_else(|_| "(the pod's)".into())
            ),
        }
    }
}

/// Read the crontab text; `Err` says why the dead-man check is off. `section` is the config
/// section that names the source (`publish-report`, `watch-jobs`), for the message.
///
/// `crontab -l` exits 1 with "no crontab for <user>" when the user has none: that is an
/// empty crontab, not an error.
pub fn read_crontab(source: &CrontabSource, section: &str) -> Result<String, String> {
    match source {
        CrontabSource::Command(argv) => match base::cmd::run(argv, COMMAND_TIMEOUT, None, &[]) {
            Ok(o) if o.success() => Ok(o.stdout),
            Ok(o) if o.stderr.contains("no crontab") => Ok(String::new()),
            Ok(o) => Err(format!(
                "crontab command `{}` {}: {}; the dead-man check is off",
                argv.join(" "),
                o.describe(),
                o.stderr.trim()
            )),
            Err(e) => Err(format!(
                "{}; the dead-man check is off",
                base::exit::one_line(&e)
            )),
        },
        CrontabSource::CronJobs(k) => k
            .list()
            .map(|l| cronjobs_as_crontab(&l))
            .map_err(|e| format!("{e}; the dead-man check is off")),
        CrontabSource::File(p) => std::fs::read_to_string(p).map_err(|e| {
            format!(
                "cannot read crontab {} ({e}): set `{section}.crontab` or `crontab_command`; the dead-man check is off",
                p.display()
            )
        }),
    }
}

/// The CronJobs as the crontab cron would run: one line per CronJob, `<schedule> <command>`,
/// commented out when `spec.suspend` is true (a paused job), preceded by `CRON_TZ=<zone>` when
/// `spec.timeZone` is set (the lines without a zone come first, so the configured zone applies
/// to them). A zone written inside the schedule (`CRON_TZ=… 5 7 * * *`, which Kubernetes does
/// not support but older clusters accepted) becomes its own line too.
pub fn cronjobs_as_crontab(l: &kubernetes::Listing) -> String {
    let mut text = format!(
        "# the CronJobs labelled {} in namespace {} ({})\n",
        l.label_selector, l.namespace, l.api_url
    );
    let mut jobs: Vec<&kubernetes::CronJob> = l.cronjobs.iter().collect();
    let zone_of = |j: &kubernetes::CronJob| -> Option<(String, String)> {
        if let Some(z) = &j.time_zone {
            return Some((z.clone(), j.schedule.clone()));
        }
        let t = j.schedule.trim();
        let rest = t
            .strip_prefix("CRON_TZ=")
            .or_else(|| t.strip_prefix("TZ="))?;
        let (zone, sched) = rest.split_once(char::is_whitespace)?;
        Some((zone.to_string(), sched.trim().to_string()))
    };
    jobs.sort_by_key(|j| zone_of(j).is_some());
    for j in jobs {
        let (zone, schedule) = match zone_of(j) {
            Some((z, s)) => (Some(z), s),
            None => (None, j.schedule.clone()),
        };
        if let Some(z) = zone {
            text.push_str(&format!("CRON_TZ={z}\n"));
        }
        text.push_str(&format!(
            "{}{} {} # CronJob {}\n",
            if j.suspend { "# " } else { "" },
            schedule,
            j.argv.join(" "),
            j.name
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cj(name: &str, schedule: &str, tz: Option<&str>, suspend: bool) -> kubernetes::CronJob {
        kubernetes::CronJob {
            name: format!("agent-jobs-{name}"),
            schedule: schedule.into(),
            time_zone: tz.map(str::to_string),
            suspend,
            argv: vec![
                format!("/usr/local/bin/{name}"),
                "--config".into(),
                "/etc/agent-jobs/config.json".into(),
            ],
        }
    }

    #[test]
    fn suspended_cronjobs_are_paused_lines_and_zones_apply_to_their_own_line() {
        let l = kubernetes::Listing {
            api_url: "https://10.0.0.1:443".into(),
            namespace: "openclaw".into(),
            label_selector: "app.kubernetes.io/part-of=agent-jobs".into(),
            cronjobs: vec![
                cj("backup-config", "17 * * * *", Some("Europe/Berlin"), true),
                cj("check-ratelimit", "*/5 * * * *", None, false),
                cj(
                    "publish-report",
                    "CRON_TZ=Asia/Tokyo 5 7 * * *",
                    None,
                    false,
                ),
            ],
        };
        let text = cronjobs_as_crontab(&l);
        let tab = crate::parse_crontab(
            &text,
            chrono_tz::Tz::UTC,
            &["backup-config", "check-ratelimit", "publish-report"],
        );
        assert!(tab.problems.is_empty(), "{:?}\n{text}", tab.problems);
        let line = |job: &str| tab.lines.iter().find(|l| l.job == job).expect(job);
        assert!(line("backup-config").paused, "{text}");
        assert_eq!(
            line("backup-config").tz,
            chrono_tz::Europe::Berlin,
            "{text}"
        );
        assert!(!line("check-ratelimit").paused);
        assert_eq!(line("check-ratelimit").tz, chrono_tz::Tz::UTC, "{text}");
        assert_eq!(line("publish-report").tz, chrono_tz::Asia::Tokyo, "{text}");
        assert_eq!(line("publish-report").schedule, "5 7 * * *");
    }
}

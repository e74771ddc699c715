//! Where the crontab is read from: the installed one (`crontab -l`, what cron runs) or a file.

use std::path::PathBuf;
use std::time::Duration;

/// How long `crontab -l` (or the configured command) may take.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the crontab comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrontabSource {
    File(PathBuf),
    /// A command's output (`["crontab", "-l"]`), run with a 10 s limit.
    Command(Vec<String>),
}

impl std::fmt::Display for CrontabSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CrontabSource::File(p) => write!(f, "{}", p.display()),
            CrontabSource::Command(argv) => write!(f, "`{}`", argv.join(" ")),
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
        CrontabSource::File(p) => std::fs::read_to_string(p).map_err(|e| {
            format!(
                "cannot read crontab {} ({e}): set `{section}.crontab` or `crontab_command`; the dead-man check is off",
                p.display()
            )
        }),
    }
}

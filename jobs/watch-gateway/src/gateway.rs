//! The gateway as watch-gateway drives it: where it is, how to reach it, and the commands the
//! ladder runs (argv, no shell, bounded time), with the gateway's environment.
//!
//! An argv whose first element is `openclaw` runs the `gateway` section's CLI; a bare
//! `backup-config` runs the binary next to this one, on this suite's root and config. Every
//! ladder command gets the gateway's environment (`gateway.env`, `OPENCLAW_CONFIG_PATH`,
//! `OPENCLAW_STATE_DIR`) and `AGENT_JOBS_INCIDENT` / `AGENT_JOBS_STEP`.

use crate::config::Config;
use crate::data::Launched;
use crate::probe::Target;
use crate::procfs;
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use common::cmd::CmdOutput;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What a run knows about the gateway and the suite.
pub struct Env {
    pub gw: openclaw::Gateway,
    /// Its config as the gateway reads it (`None` when unreadable: a config problem).
    pub gw_config: Option<openclaw::config::GatewayConfig>,
    pub gw_config_error: Option<String>,
    pub target: Target,
    pub port: Option<u16>,
    pub root: PathBuf,
    pub suite_config: PathBuf,
    /// `state/watch-gateway/`: console output of a launched gateway, bundles.
    pub work_dir: PathBuf,
    /// The gateway launched by this run, to reap it and read its exit code.
    pub child: Option<Child>,
    /// Its exit code once it exited (`None`: still running, or not ours).
    pub child_exit: Option<Option<i32>>,
    /// An unreadable maintenance file was reported in this run.
    pub warned_maintenance: bool,
}

impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Env({})", self.target.base_url)
    }
}

impl Env {
    /// Build from the shared `gateway` section and the suite's paths.
    pub fn new(gw: openclaw::Gateway, root: &Path, suite_config: &Path, state_dir: &Path) -> Env {
        let (gw_config, gw_config_error) = match openclaw::config::load(&gw.config) {
            Ok(c) => (Some(c), None),
            Err(e) => (None, Some(common::exit::one_line(&e))),
        };
        if let Some(c) = &gw_config {
            // The gateway's own secrets never reach a bundle, a log or an alert.
            for k in ["gateway.auth.token", "gateway.auth.password", "hooks.token"] {
                if let Some(s) = c.get(k).and_then(serde_json::Value::as_str) {
                    common::redact::register(s);
                }
            }
        }
        let base_url = gw.base_url(gw_config.as_ref());
        let port = port_of(&base_url).or_else(|| gw_config.as_ref().and_then(|c| c.port()));
        Env {
            target: Target {
                base_url,
                state_dir: gw.state_dir.clone(),
                config: gw.config.clone(),
            },
            gw_config,
            gw_config_error,
            port,
            root: root.to_path_buf(),
            suite_config: suite_config.to_path_buf(),
            work_dir: state_dir.join("watch-gateway"),
            gw,
            child: None,
            child_exit: None,
            warned_maintenance: false,
        }
    }

    /// `state/watch-gateway/console.out`
    pub fn console(&self) -> PathBuf {
        self.work_dir.join("console.out")
    }

    /// The argv to run: `openclaw` → the configured CLI, `backup-config` → the sibling binary
    /// on this root.
    pub fn resolve(&self, argv: &[String]) -> Vec<String> {
        let mut out = argv.to_vec();
        match argv.first().map(String::as_str) {
            Some("openclaw") => out[0] = self.gw.cli.program.clone(),
            Some("backup-config") => {
                if let Some(sib) = std::env::current_exe()
                    .ok()
                    .map(|e| e.with_file_name("backup-config"))
                    .filter(|p| p.is_file())
                {
                    out[0] = sib.display().to_string();
                }
                if !argv.iter().any(|a| a == "--root") {
                    out.push("--root".into());
                    out.push(self.root.display().to_string());
                }
                if !argv.iter().any(|a| a == "--config") {
                    out.push("--config".into());
                    out.push(self.suite_config.display().to_string());
                }
            }
            _ => {}
        }
        out
    }

    /// The environment of a ladder command.
    pub fn command_env(&self, incident: &str, step: &str) -> Vec<(String, String)> {
        let mut env = self.gw.cli.env.clone();
        env.push((
            "OPENCLAW_CONFIG_PATH".into(),
            self.gw.config.display().to_string(),
        ));
        env.push((
            "OPENCLAW_STATE_DIR".into(),
            self.gw.state_dir.display().to_string(),
        ));
        env.push(("AGENT_JOBS_INCIDENT".into(), incident.into()));
        env.push(("AGENT_JOBS_STEP".into(), step.into()));
        env
    }

    /// Run a ladder command to completion (output logged).
    pub fn run(
        &self,
        argv: &[String],
        timeout: Duration,
        env: &[(String, String)],
    ) -> Result<CmdOutput> {
        let argv = self.resolve(argv);
        let env: Vec<(&str, String)> = env.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        common::cmd::run(&argv, timeout, None, &env)
    }

    /// Launch `argv` detached: its own process group, stdin closed, stdout and stderr to
    /// `console.out` (the previous one kept as `console.out.1`), working directory the
    /// gateway's home. It outlives this run.
    pub fn launch(
        &mut self,
        argv: &[String],
        env: &[(String, String)],
        now: DateTime<Utc>,
    ) -> Result<Launched> {
        let argv = self.resolve(argv);
        common::fsutil::ensure_dir_durable(&self.work_dir, 0o700)?;
        let console = self.console();
        if std::fs::metadata(&console).is_ok_and(|m| m.len() > 0) {
            let _ = std::fs::rename(&console, self.work_dir.join("console.out.1"));
        }
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .custom_flags(nofollow())
            .open(&console)
            .with_context(|| format!("cannot open {}", console.display()))?;
        let err = out.try_clone()?;
        let (prog, args) = argv.split_first().context("empty start_command")?;
        let mut c = Command::new(prog);
        c.args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        if let Some(home) = self.gw.state_dir.parent().filter(|p| p.is_dir()) {
            c.current_dir(home);
        }
        let child = c
            .spawn()
            .with_context(|| format!("cannot start `{}`", argv.join(" ")))?;
        let pid = child.id();
        self.child = Some(child);
        self.child_exit = None;
        Ok(Launched {
            pid,
            at: now,
            start_ticks: procfs::stat(pid).map(|s| s.1),
            console: console.display().to_string(),
            incident: None,
            level: 0,
            exited: None,
        })
    }

    /// Reap the gateway this run launched if it exited; its exit code once known.
    pub fn reap(&mut self) -> Option<Option<i32>> {
        if let Some(c) = &mut self.child
            && let Ok(Some(st)) = c.try_wait()
        {
            self.child_exit = Some(st.code());
            self.child = None;
        }
        self.child_exit
    }

    /// The last lines of the launched gateway's console output (current file, else the
    /// previous one).
    pub fn console_tail(&self, lines: usize) -> String {
        let cur = tail_lines(&self.console(), lines);
        if cur.trim().is_empty() {
            tail_lines(&self.work_dir.join("console.out.1"), lines)
        } else {
            cur
        }
    }
}

/// `O_NOFOLLOW`: never write through a planted symlink.
fn nofollow() -> i32 {
    libc::O_NOFOLLOW
}

/// The port of `http://host:port/…`.
pub fn port_of(url: &str) -> Option<u16> {
    let rest = url.split_once("://")?.1;
    let host = rest.split('/').next()?;
    host.rsplit_once(':')?.1.parse().ok()
}

/// The last `n` lines of a file (reads at most its last 256 KiB).
pub fn tail_lines(path: &Path, n: usize) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(256 * 1024);
    if f.seek(SeekFrom::Start(start)).is_err() {
        return String::new();
    }
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Stop a gateway process that runs but does not answer: SIGTERM, then SIGKILL after
/// `timeout`. `Ok(true)` once it is gone.
pub fn stop(pid: u32, start_ticks: Option<u64>, timeout: Duration) -> Result<bool> {
    let signal = |sig: &str| {
        common::cmd::run(
            &["kill".to_string(), format!("-{sig}"), pid.to_string()],
            Duration::from_secs(10),
            None,
            &[],
        )
    };
    if !procfs::alive(pid, start_ticks) {
        return Ok(true);
    }
    signal("TERM")?;
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if !procfs::alive(pid, start_ticks) {
            return Ok(true);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    log::warn!(
        "gateway pid {pid} did not stop within {} s of SIGTERM: sending SIGKILL",
        timeout.as_secs()
    );
    signal("KILL")?;
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end {
        if !procfs::alive(pid, start_ticks) {
            return Ok(true);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(false)
}

/// The commands of the config in one place (for `status`).
pub fn describe_commands(cfg: &Config) -> Vec<(&'static str, String)> {
    vec![
        ("restart_command", cfg.restart_command.join(" ")),
        (
            "start_command",
            format!(
                "{}{}",
                cfg.start_command.join(" "),
                if cfg.start_detached {
                    " (detached)"
                } else {
                    ""
                }
            ),
        ),
        ("restore_command", cfg.restore_command.join(" ")),
    ]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ports_and_tails() {
        assert_eq!(port_of("http://127.0.0.1:18789"), Some(18789));
        assert_eq!(port_of("http://gw.local:8080/base"), Some(8080));
        assert_eq!(port_of("https://gw.local/base"), None);
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.log");
        std::fs::write(&p, "a\nb\nc\n").unwrap();
        assert_eq!(tail_lines(&p, 2), "b\nc");
        assert_eq!(tail_lines(&d.path().join("none"), 2), "");
    }
}

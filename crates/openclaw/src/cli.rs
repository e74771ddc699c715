//! The gateway's CLI, run with bounded time (never a hang: the whole process group is killed
//! at the timeout) and no shell. `--json` commands print one JSON document on stdout, sometimes
//! after log lines ([`json_document`] finds it). Observed on 2026.9.6: `config validate --json`
//! 2–5 s, `models status --json` about 3 s (no network without `--probe`), `doctor --fix`
//! 12–15 s, `backup sqlite create` 2–5 s.

use anyhow::{Result, anyhow};
use base::cmd::{Spec, run_spec};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

/// How to run the gateway's CLI.
#[derive(Debug, Clone)]
pub struct Cli {
    /// The program (`openclaw`, or a path).
    pub program: String,
    pub timeout: Duration,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// Sets `OPENCLAW_CONFIG_PATH` when given.
    pub config: Option<PathBuf>,
    /// Sets `OPENCLAW_STATE_DIR` when given.
    pub state_dir: Option<PathBuf>,
}

/// What one CLI call printed.
#[derive(Debug, Clone)]
pub struct CliOutput {
    /// The command line, for messages (`openclaw config validate --json`).
    pub command: String,
    pub code: Option<i32>,
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
    pub duration: Duration,
}

impl CliOutput {
    pub fn success(&self) -> bool {
        self.code == Some(0) && !self.timed_out
    }

    /// The JSON document on stdout, if any.
    pub fn json(&self) -> Option<Value> {
        json_document(&self.stdout)
    }

    /// `exit 1 in 3.2 s` / `timed out after 60 s`.
    pub fn describe(&self) -> String {
        if self.timed_out {
            format!("timed out after {} s", self.duration.as_secs())
        } else {
            match self.code {
                Some(c) => format!("exit {c} in {:.1} s", self.duration.as_secs_f64()),
                None => "killed by a signal".into(),
            }
        }
    }

    /// The last non-empty stderr line (for an error message).
    pub fn last_error_line(&self) -> Option<&str> {
        self.stderr
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| !l.is_empty())
    }
}

impl Cli {
    /// Run `openclaw <args>` with the configured timeout.
    pub fn run(&self, args: &[&str]) -> Result<CliOutput> {
        self.run_with_timeout(args, self.timeout)
    }

    /// Run with an explicit timeout.
    pub fn run_with_timeout(&self, args: &[&str], timeout: Duration) -> Result<CliOutput> {
        let mut argv = vec![self.program.clone()];
        argv.extend(args.iter().map(|s| s.to_string()));
        let mut env: Vec<(&str, String)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        if let Some(c) = &self.config {
            env.push(("OPENCLAW_CONFIG_PATH", c.display().to_string()));
        }
        if let Some(s) = &self.state_dir {
            env.push(("OPENCLAW_STATE_DIR", s.display().to_string()));
        }
        // No colour codes in what we parse.
        env.push(("NO_COLOR", "1".into()));
        let command = format!("{} {}", self.program, args.join(" "));
        let out = run_spec(&Spec {
            argv: &argv,
            timeout,
            stdin: None,
            env: &env,
            log_output: false,
            keep: 16 << 20,
        })
        .map_err(|e| {
            anyhow!(
                "cannot run the gateway's CLI `{command}`: {} (set `gateway.openclaw` to its path)",
                base::exit::one_line(&e)
            )
        })?;
        Ok(CliOutput {
            command,
            code: out.code,
            timed_out: out.timed_out,
            stdout: out.stdout,
            stderr: out.stderr,
            duration: out.duration,
        })
    }
}

/// The JSON document in a command's output: the whole text, else from the first line that
/// starts with `{` or `[` to the end.
pub fn json_document(text: &str) -> Option<Value> {
    if let Ok(v) = serde_json::from_str(text.trim()) {
        return Some(v);
    }
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let t = line.trim_start();
        if (t.starts_with('{') || t.starts_with('['))
            && let Ok(v) = serde_json::from_str(text[offset..].trim())
        {
            return Some(v);
        }
        offset += line.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_document_after_log_lines() {
        let v = json_document("[plugins] ready\n{\n \"valid\": false\n}\n").unwrap();
        assert_eq!(v["valid"], false);
        assert!(json_document("nothing").is_none());
    }

    #[test]
    fn a_hanging_cli_is_killed_at_the_timeout() {
        let cli = Cli {
            program: "sh".into(),
            timeout: Duration::from_millis(300),
            env: vec![],
            config: None,
            state_dir: None,
        };
        // A child that keeps the output pipe open after the shell is gone.
        let t0 = std::time::Instant::now();
        let out = cli.run(&["-c", "sleep 30 & sleep 30"]).unwrap();
        assert!(out.timed_out, "{out:?}");
        assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
        let out = cli.run(&["-c", "(sleep 30 &) ; echo '{\"a\":1}'"]).unwrap();
        assert!(!out.timed_out);
        assert_eq!(out.json().unwrap()["a"], 1);
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "a leftover child does not hold the call"
        );
    }

    #[test]
    fn a_missing_cli_names_the_setting() {
        let cli = Cli {
            program: "/nonexistent/openclaw".into(),
            timeout: Duration::from_secs(5),
            env: vec![],
            config: None,
            state_dir: None,
        };
        let e = cli.run(&["--version"]).unwrap_err();
        assert!(e.to_string().contains("gateway.openclaw"), "{e}");
    }
}

//! Running configured commands: an argv list, never a shell, with a timeout and bounded,
//! logged output. Used for alert commands, `on_open`/`on_close` hooks, gateway restarts and
//! external validators.

use anyhow::{Context, Result};
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Output kept per stream (the tail beyond this is dropped).
const KEEP: usize = 64 * 1024;

/// What a command did.
#[derive(Debug, Clone)]
pub struct CmdOutput {
    /// Exit code; `None` if killed by a signal or by the timeout.
    pub code: Option<i32>,
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
    pub duration: Duration,
}

impl CmdOutput {
    pub fn success(&self) -> bool {
        self.code == Some(0) && !self.timed_out
    }

    /// One-line description: `exit 0 in 12 ms` / `timed out after 30 s`.
    pub fn describe(&self) -> String {
        if self.timed_out {
            format!(
                "timed out after {:.1} s and was killed",
                self.duration.as_secs_f64()
            )
        } else {
            match self.code {
                Some(c) => format!("exit {c} in {} ms", self.duration.as_millis()),
                None => "killed by a signal".into(),
            }
        }
    }
}

/// Run `argv` with `timeout`, optional stdin text and extra environment variables.
pub fn run(
    argv: &[String],
    timeout: Duration,
    stdin: Option<&str>,
    env: &[(&str, String)],
) -> Result<CmdOutput> {
    let (prog, args) = argv.split_first().context(
        "empty command: give an argv list such as [\"systemctl\", \"--user\", \"restart\", \"x\"]",
    )?;
    let mut cmd = Command::new(prog);
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start command `{}`", argv.join(" ")))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        let text = text.to_string();
        std::thread::spawn(move || {
            let _ = pipe.write_all(text.as_bytes());
        });
    }
    let out = child.stdout.take().map(reader);
    let err = child.stderr.take().map(reader);
    let mut timed_out = false;
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break Some(st);
        }
        if start.elapsed() >= timeout {
            let _ = child.kill();
            let _ = child.wait();
            timed_out = true;
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let join = |h: Option<std::thread::JoinHandle<String>>| {
        h.map(|h| h.join().unwrap_or_default()).unwrap_or_default()
    };
    let output = CmdOutput {
        code: status.and_then(|s| s.code()),
        timed_out,
        stdout: join(out),
        stderr: join(err),
        duration: start.elapsed(),
    };
    log::info!(
        "command `{}`: {}{}{}",
        argv.join(" "),
        output.describe(),
        if output.stdout.trim().is_empty() {
            String::new()
        } else {
            format!("; stdout: {}", output.stdout.trim())
        },
        if output.stderr.trim().is_empty() {
            String::new()
        } else {
            format!("; stderr: {}", output.stderr.trim())
        },
    );
    Ok(output)
}

fn reader<R: Read + Send + 'static>(mut r: R) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        while let Ok(n) = r.read(&mut chunk) {
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.len() > 2 * KEEP {
                buf.drain(..buf.len() - KEEP);
            }
        }
        if buf.len() > KEEP {
            buf.drain(..buf.len() - KEEP);
        }
        String::from_utf8_lossy(&buf).into_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn captures_output_and_code() {
        let o = run(
            &argv(&["sh", "-c", "echo hi; echo err >&2; exit 3"]),
            Duration::from_secs(5),
            None,
            &[],
        )
        .unwrap();
        assert_eq!(o.code, Some(3));
        assert_eq!(o.stdout.trim(), "hi");
        assert_eq!(o.stderr.trim(), "err");
    }

    #[test]
    fn no_shell_expansion() {
        let o = run(
            &argv(&["echo", "$HOME", "*"]),
            Duration::from_secs(5),
            None,
            &[],
        )
        .unwrap();
        assert_eq!(o.stdout.trim(), "$HOME *");
    }

    #[test]
    fn timeout_kills() {
        let o = run(
            &argv(&["sleep", "5"]),
            Duration::from_millis(100),
            None,
            &[],
        )
        .unwrap();
        assert!(o.timed_out && !o.success());
        assert!(o.duration < Duration::from_secs(3));
    }

    #[test]
    fn stdin_and_env() {
        let o = run(
            &argv(&["sh", "-c", "cat; echo \" $X\""]),
            Duration::from_secs(5),
            Some("text"),
            &[("X", "y".into())],
        )
        .unwrap();
        assert_eq!(o.stdout.trim(), "text y");
    }

    #[test]
    fn missing_program_is_a_clear_error() {
        let err = run(
            &argv(&["/nonexistent/prog"]),
            Duration::from_secs(1),
            None,
            &[],
        )
        .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/prog"));
    }
}

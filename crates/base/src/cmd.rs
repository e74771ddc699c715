//! Running configured commands: an argv list, never a shell, with a timeout and bounded,
//! logged output. Used for alert commands, `on_open`/`on_close` hooks, gateway restarts and
//! external validators.

use anyhow::{Context, Result};
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Output kept per stream (the tail beyond this is dropped).
pub const KEEP: usize = 64 * 1024;

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

/// Run `argv` with `timeout`, optional stdin text and extra environment variables; the
/// output is logged at INFO.
pub fn run(
    argv: &[String],
    timeout: Duration,
    stdin: Option<&str>,
    env: &[(&str, String)],
) -> Result<CmdOutput> {
    run_spec(&Spec {
        argv,
        timeout,
        stdin,
        env,
        log_output: true,
        keep: KEEP,
    })
}

/// A command to run.
#[derive(Debug, Clone, Copy)]
pub struct Spec<'a> {
    pub argv: &'a [String],
    pub timeout: Duration,
    pub stdin: Option<&'a str>,
    pub env: &'a [(&'a str, String)],
    /// Log stdout and stderr with the result line (off for commands whose output is data).
    pub log_output: bool,
    /// Bytes kept per stream (the tail; [`KEEP`] for logged commands, more for data).
    pub keep: usize,
}

/// Run a command in its own process group. On timeout the whole group is killed; after the
/// command exits, helpers it left behind that still hold its output pipes are killed too, so
/// a call never hangs past its timeout.
pub fn run_spec(spec: &Spec<'_>) -> Result<CmdOutput> {
    use std::os::unix::process::CommandExt;
    let argv = spec.argv;
    let (prog, args) = argv.split_first().context(
        "empty command: give an argv list such as [\"systemctl\", \"--user\", \"restart\", \"x\"]",
    )?;
    let mut cmd = Command::new(prog);
    // stdin is a complete, already-written file (unlinked, private): a job killed while the
    // command starts can never hand it half a message.
    let stdin = match spec.stdin {
        Some(text) => Stdio::from(stdin_file(text)?),
        None => Stdio::null(),
    };
    cmd.args(args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    for (k, v) in spec.env {
        cmd.env(k, v);
    }
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start command `{}`", argv.join(" ")))?;
    let pgid = child.id();
    let out = child.stdout.take().map(|p| reader(p, spec.keep));
    let err = child.stderr.take().map(|p| reader(p, spec.keep));
    let mut timed_out = false;
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break Some(st);
        }
        if start.elapsed() >= spec.timeout {
            kill_group(pgid);
            let _ = child.kill();
            let _ = child.wait();
            timed_out = true;
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    // Output pipes close when every process holding them is gone: give leftovers a moment,
    // then kill the group.
    let grace = Instant::now() + Duration::from_secs(2);
    let mut killed = timed_out;
    let mut collect = |h: Option<Reader>| -> String {
        let Some(h) = h else { return String::new() };
        loop {
            match h.rx.recv_timeout(Duration::from_millis(20)) {
                Ok(s) => return s,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return String::new(),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    if Instant::now() >= grace && !killed {
                        kill_group(pgid);
                        killed = true;
                    }
                }
            }
        }
    };
    let stdout = collect(out);
    let stderr = collect(err);
    let output = CmdOutput {
        code: status.and_then(|s| s.code()),
        timed_out,
        stdout,
        stderr,
        duration: start.elapsed(),
    };
    if spec.log_output {
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
    } else {
        log::debug!("command `{}`: {}", argv.join(" "), output.describe());
    }
    Ok(output)
}

/// `text` in a private temp file, unlinked, positioned at its start.
fn stdin_file(text: &str) -> Result<std::fs::File> {
    use std::io::Seek;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = std::env::temp_dir();
    for _ in 0..16 {
        let p = dir.join(format!(
            ".agent-jobs-stdin.{}.{:016x}",
            std::process::id(),
            fastrand::u64(..)
        ));
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&p)
        {
            Ok(mut f) => {
                let _ = std::fs::remove_file(&p);
                f.write_all(text.as_bytes())?;
                f.seek(std::io::SeekFrom::Start(0))?;
                return Ok(f);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(e).with_context(|| {
                    format!(
                        "cannot create the command's input file in {}",
                        dir.display()
                    )
                });
            }
        }
    }
    anyhow::bail!(
        "cannot create the command's input file in {}",
        dir.display()
    )
}

/// SIGKILL to a process group (through kill(1): the workspace has no unsafe code).
fn kill_group(pgid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

struct Reader {
    rx: std::sync::mpsc::Receiver<String>,
}

fn reader<R: Read + Send + 'static>(mut r: R, keep: usize) -> Reader {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        while let Ok(n) = r.read(&mut chunk) {
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.len() > 2 * keep {
                buf.drain(..buf.len() - keep);
            }
        }
        if buf.len() > keep {
            buf.drain(..buf.len() - keep);
        }
        let _ = tx.send(String::from_utf8_lossy(&buf).into_owned());
    });
    Reader { rx }
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

